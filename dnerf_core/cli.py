"""Command line: `dnerf <command>` and the `dnerf-export` shortcut.

Every user error (bad option, unknown generator, unwritable folder, bad file) ends as one line
on stderr and exit code 2; nothing half-written is left behind.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from .allocator import retain_freed_memory
from .errors import DnerfError

EXIT_USAGE = 2

GENERATOR_HELP = ("generator spec: procedural:car|face (exact oracle), default:car|face (shipped tri-plane "
                  "generator), preset:NAME (random EG3D-sized weights), eg3d:FILE.pkl, or FILE.pt")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """dnerf: a 3D-aware labeled-data factory (DatasetNeRF on tri-plane generators)."""


def _export_options(fn):
    decorators = [
        click.option("--generator", "-g", "generator_spec", default="default:car", show_default=True, help=GENERATOR_HELP),
        click.option("--seed", "-s", type=click.IntRange(min=0), default=0, show_default=True, help="subject seed"),
        click.option("--views", "-n", type=click.IntRange(min=1), default=8, show_default=True,
                     help="number of views spread over the generator's camera range"),
        click.option("--resolution", "-r", type=click.IntRange(8, 4096), default=None,
                     help="view size in pixels [default: the generator's]"),
        click.option("--truncation", type=float, default=1.0, show_default=True, help="latent truncation psi"),
        click.option("--ply/--no-ply", default=False, help="labeled point cloud: cloud.ply"),
        click.option("--glb/--no-glb", default=False, help="one mesh node per part: mesh.glb"),
        click.option("--masks/--no-masks", default=False,
                     help="rgb/, mask/ (palette PNG), depth/ (16-bit PNG) and transforms.json"),
        click.option("--pts/--no-pts", default=False, help="ShapeNet-part pair: cloud.pts + cloud.seg"),
        click.option("--voxel-size", type=float, default=None, help="point-cloud voxel size [default: bounds/128]"),
        click.option("--mesh-resolution", type=click.IntRange(16, 512), default=128, show_default=True,
                     help="marching-cubes grid per axis"),
        click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None,
                     help="semantic checkpoint (dnerf train-semantic) labeling a learned generator"),
        click.option("--subject", "subject_file", type=click.Path(dir_okay=False), default=None,
                     help="export a fitted subject (subject.pt of dnerf invert / edit) instead of --seed's"),
        click.option("--bf16-superres", is_flag=True,
                     help="super-resolution convolutions in bfloat16: about 2x faster 512x512 views of "
                          "EG3D-size generators, not bit-identical to float32"),
        click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="output folder"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
        # issue #22; each default and meaning lives on ExportOptions (factory/subject_export.py)
        click.option("--poses", type=click.Path(dir_okay=False), default=None,
                     help="render these cameras instead of --views: a transforms.json or a JSON list of "
                          "[yaw, pitch, radius] in radians (see dnerf_core/pose_file.py)"),
        click.option("--eval-views", type=click.IntRange(min=0), default=None,
                     help="frames held out as nerfstudio's val/test split [default: max(2, 10%)]"),
        click.option("--nerf-mask", is_flag=True,
                     help="also write fg_mask/ as nerfstudio's mask_path (train on the object only)"),
        click.option("--video", type=click.IntRange(min=0), default=0,
                     help="orbit video of N frames: video_rgb, video_mask, video (side by side) [needs dnerf[video]]"),
        click.option("--video-format", type=click.Choice(["mp4", "gif"]), default="mp4", show_default=True),
        click.option("--video-fps", type=click.IntRange(1, 120), default=24, show_default=True),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _views_or_poses(poses, n_option: str = "views") -> None:
    """--poses replaces --views: refuse both given explicitly (one would be silently ignored)."""
    ctx = click.get_current_context()
    if poses is not None and ctx.get_parameter_source(n_option) == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --views or --poses, not both")


def _use_bf16_superres(generator, spec: str) -> None:
    import torch

    base = getattr(generator, "generator", generator)  # a labeled generator renders through its generator
    if getattr(base, "superresolution", None) is None:
        raise DnerfError(f"--bf16-superres: {spec} has no super-resolution to run in bfloat16")
    base.superres_dtype = torch.bfloat16


@cli.command("export")
@_export_options
def export_cmd(generator_spec, seed, views, resolution, truncation, ply, glb, masks, pts, voxel_size, mesh_resolution,
               semantic_ckpt, subject_file, bf16_superres, out, quiet, poses, eval_views, nerf_mask, video, video_format,
               video_fps) -> None:
    """Export one labeled subject: PLY cloud, per-part GLB, masks (all three if none is chosen)."""
    from .factory.subject_export import ExportOptions, export_subject
    from .generators.registry import load_labeled_generator

    _views_or_poses(poses)
    if not (ply or glb or masks or pts or video):
        ply = glb = masks = True
    opts = ExportOptions(seed=seed, views=views, resolution=resolution, truncation=truncation, ply=ply, glb=glb,
                         masks=masks, pts=pts, voxel_size=voxel_size, mesh_resolution=mesh_resolution,
                         subject_file=subject_file, poses=poses, eval_views=eval_views, nerf_mask=nerf_mask,
                         video=video, video_format=video_format, video_fps=video_fps)
    opts.validate()
    generator = load_labeled_generator(generator_spec, semantic_ckpt)
    if bf16_superres:
        _use_bf16_superres(generator, generator_spec)
    result = export_subject(generator, generator_spec, opts, out, show_progress=not quiet)
    click.echo(f"wrote {len(result.files)} files to {result.out.resolve()}"
               + (f" ({result.n_points} labeled points" if result.n_points else " (")
               + (f", {result.n_faces} mesh faces)" if result.n_faces else ")"))


@cli.command("annotate-kit")
@click.option("--generator", "-g", "generator_spec", default="default:car", show_default=True, help=GENERATOR_HELP)
@click.option("--subjects", type=click.IntRange(min=1), default=30, show_default=True,
              help="subjects (seeds 0..N-1 plus --seed-offset, all from the training range)")
@click.option("--views", "-n", type=click.IntRange(min=1), default=3, show_default=True,
              help="views per subject: frontal, two side views, then extra views spread over the range")
@click.option("--resolution", "-r", type=click.IntRange(8, 4096), default=None,
              help="image size in pixels [default: the generator's]")
@click.option("--seed-offset", type=click.IntRange(min=0), default=0, show_default=True, help="first subject seed")
@click.option("--oracle", is_flag=True, help="fill masks/ from the procedural ground truth (stand-in annotator)")
# the choices of semantic.annotations.ORACLE_MASKS, spelled out so `dnerf --help` does not import torch
@click.option("--oracle-masks", type=click.Choice(["image", "world"]), default="image", show_default=True,
              help="with --oracle: image = the true part of every surface point each image shows (what a careful "
                   "annotator of the image draws); world = the procedural subject's own render of the seed")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="new kit folder")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
@click.option("--poses", type=click.Path(dir_okay=False), default=None,
              help="every subject's cameras instead of --views: a transforms.json or a JSON list of "
                   "[yaw, pitch, radius] in radians (see dnerf_core/pose_file.py)")
def annotate_kit_cmd(generator_spec, subjects, views, resolution, seed_offset, oracle, oracle_masks, out,
                     quiet, poses) -> None:
    """Write a kit of views to annotate (images/, empty masks/, kit.json, README.txt)."""
    from tqdm import tqdm

    from .generators import load_generator
    from .pose_file import read_pose_file
    from .semantic.annotations import check_kit_request, make_kit

    # Every argument is checked before the (possibly slow) generator load, so a typo fails fast.
    _views_or_poses(poses)
    pose_file = read_pose_file(poses) if poses is not None else None
    views = len(pose_file) if pose_file is not None else views
    check_kit_request(generator_spec, out, subjects, views, resolution, seed_offset, oracle, oracle_masks)
    generator = load_generator(generator_spec)
    with tqdm(total=subjects * views, disable=quiet, unit="image", leave=False, desc="render kit") as bar:
        kit = make_kit(generator, generator_spec, out, subjects=subjects, views=views, resolution=resolution,
                       seed_offset=seed_offset, oracle=oracle, oracle_masks=oracle_masks, progress=bar.update,
                       poses=pose_file)
    n_images = len(list((kit / "images").glob("*.png")))
    n_masks = len(list((kit / "masks").glob("*.png")))
    click.echo(f"wrote annotation kit to {kit.resolve()}: {n_images} images, {n_masks} masks"
               + ("" if n_masks else f" (draw masks/ as {kit / 'README.txt'} explains)"))


@cli.command("train-semantic")
@click.option("--annotations", "-a", "kit_path", type=click.Path(), required=True,
              help="annotation kit folder (dnerf annotate-kit) with its masks/ filled")
@click.option("--generator", "-g", "generator_spec", default=None, help="generator spec [default: the kit's]")
@click.option("--steps", type=click.IntRange(min=1), default=1500, show_default=True, help="optimization steps")
@click.option("--views-per-step", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--no-density-prior", is_flag=True, help="ablation: the branch learns its own density")
@click.option("--single-scale", is_flag=True, help="ablation: only the generator's own tri-plane, no block features")
@click.option("--max-views", type=click.IntRange(min=1), default=None, help="use only the first N annotated views")
@click.option("--class-balance", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="weight each class's cross-entropy by its pixel share ** -P (0: the paper's plain "
                   "cross-entropy; 0.5 lifts small parts)")
@click.option("--hidden", type=click.IntRange(min=1), default=64, show_default=True,
              help="semantic decoder width (= channels of the projected augmented planes)")
@click.option("--hidden-layers", type=click.IntRange(min=0), default=0, show_default=True,
              help="decoder layers after the first one (0: the paper's one-hidden-layer decoder)")
@click.option("--position-frequencies", type=click.IntRange(min=0), default=0, show_default=True,
              help="octaves of a positional encoding the decoder also reads (0: the paper's decoder, "
                   "plane features only)")
@click.option("--latent", "latent", is_flag=True,
              help="the decoder also reads the subject's latent w (a per-subject shift; off: the paper's decoder)")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="checkpoint file (resumed if a run with the same settings was interrupted)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def train_semantic_cmd(kit_path, generator_spec, steps, views_per_step, no_density_prior, single_scale, max_views,
                       class_balance, hidden, hidden_layers, position_frequencies, latent, out, quiet) -> None:
    """Train the semantic branch of a frozen generator on an annotation kit (cross-entropy)."""
    from tqdm import tqdm

    from .generators import load_generator
    from .semantic.annotations import load_kit
    from .semantic.branch import SemanticConfig
    from .semantic.train import SemanticTrainConfig, train_semantic

    kit = load_kit(kit_path)
    spec = generator_spec or kit.generator_spec
    generator = load_generator(spec)
    if not hasattr(generator, "backbone"):
        raise DnerfError(f"{spec} is not a tri-plane generator: only learned generators get a semantic branch")
    n = min(len(kit), max_views or len(kit))
    semantic = SemanticConfig(num_classes=len(kit.label_set), multiscale=not single_scale,
                              density_prior=not no_density_prior, hidden=hidden, hidden_layers=hidden_layers,
                              position_frequencies=position_frequencies,
                              latent_dim=generator.config.w_dim if latent else 0)
    cfg = SemanticTrainConfig(steps=steps, views_per_step=views_per_step, class_balance=class_balance)
    with tqdm(total=steps, disable=quiet, unit="step", desc="train semantic") as bar:
        def progress(step, loss):
            bar.n = step
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.refresh()

        train_semantic(generator, spec, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n], semantic, cfg,
                       checkpoint=out, progress=progress)
    click.echo(f"wrote semantic checkpoint {Path(out).resolve()} ({n} annotated views, {steps} steps)")


def _window_size(ctx, param, value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT (e.g. 1024x768), got {value!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise click.BadParameter(f"width and height must lie in 16..8192, got {value!r}")
    return w, h


@cli.command("view")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--backend", "-b", type=click.Choice(["open3d", "pyvista"]), default="open3d", show_default=True,
              help="rendering library (optional extra: pip install 'dnerf[viewers]')")
@click.option("--diff", "diff_path", type=click.Path(path_type=Path), default=None,
              help="another labeled cloud (e.g. ground truth): highlight points whose label differs from "
                   "the label of the nearest point there")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="render offscreen into this PNG instead of opening a window")
@click.option("--size", callback=_window_size, default="1024x768", show_default=True, help="window/image WIDTHxHEIGHT")
@click.option("--point-size", type=click.FloatRange(0.5, 50), default=3.0, show_default=True, help="pixels")
@click.option("--legend/--no-legend", default=True, show_default=True, help="draw the legend")
@click.option("--mesh", "prefer_mesh", is_flag=True, help="for an export folder: show mesh.glb, not cloud.ply")
def view_cmd(path, backend, diff_path, screenshot, size, point_size, legend, prefer_mesh) -> None:
    """Show a labeled PLY, a part GLB or an export folder, colored by part (keys 1..9 toggle parts)."""
    from viewers.app import ViewOptions, run_view

    run_view(ViewOptions(path=path, backend=backend, diff=diff_path, screenshot=screenshot, size=size,
                         point_size=point_size, legend=legend, prefer_mesh=prefer_mesh), echo=click.echo)


def _parse_view(ctx, param, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        yaw, pitch = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected YAW,PITCH in degrees (e.g. 30,10), got {value!r}") from None
    if not (math.isfinite(yaw) and math.isfinite(pitch)) or abs(pitch) >= 85:
        raise click.BadParameter(f"yaw and pitch must be finite and |pitch| < 85 degrees, got {value!r}")
    return yaw, pitch


def _fit_options(steps_default: int):
    def deco(fn):
        options = [
            click.option("--generator", "-g", "generator_spec", default="default:car", show_default=True,
                         help=GENERATOR_HELP),
            click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None,
                         help="semantic checkpoint of the generator [default: the one shipped with default:*]"),
            click.option("--steps", type=click.IntRange(1, 100000), default=steps_default,
                         show_default=steps_default is not None,
                         help="Adam steps" + ("" if steps_default else " [default: the library's for the target kind]")),
            click.option("--fit-seed", type=click.IntRange(min=0), default=0, show_default=True,
                         help="randomness of the fit (ray subsets): same seed, same result"),
            click.option("--views", "-n", type=click.IntRange(0, 32), default=5, show_default=True,
                         help="preview views spread over the orbit (after the fitted view)"),
            click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
                         help="output folder: subject.pt, preview.png, report.json"),
            click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn
    return deco


class _LazyBar:
    """A step progress bar that appears with the first step (an input error before it prints
    nothing but its one message)."""

    def __init__(self, total: int, quiet: bool, desc: str):
        self.total, self.quiet, self.desc, self.bar = total, quiet, desc, None

    def __call__(self, step: int, loss: float) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.total, disable=self.quiet, unit="step", desc=self.desc)
        self.bar.n = step
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.bar.refresh()

    def __enter__(self) -> "_LazyBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


@cli.command("invert")
@click.option("--rgb", "rgb_path", type=click.Path(dir_okay=False), default=None, help="square RGB image to fit")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), default=None,
              help="part mask PNG to fit (palette, grayscale ids or label colors; the generator's view size)")
@click.option("--w-plus/--one-w", default=None,
              help="fit one w per synthesis layer, or one w for all [default: w+ for a mask, one w for an image]")
@click.option("--fit-radius", is_flag=True, help="also fit the camera's distance")
@click.option("--starts", type=click.IntRange(1, 12), default=2, show_default=True,
              help="best poses of the coarse search refined before one is kept")
@_fit_options(steps_default=None)
def invert_cmd(rgb_path, mask_path, w_plus, fit_radius, starts, generator_spec, semantic_ckpt, steps, fit_seed, views,
               out, quiet) -> None:
    """Fit a latent and camera pose to an RGB image or a part mask."""
    from dataclasses import replace

    from .generators.registry import load_labeled_generator
    from .inversion.fit import total_steps
    from .inversion.jobs import default_fit, read_target, run_invert

    if (rgb_path is None) == (mask_path is None):
        raise click.UsageError("give exactly one of --rgb IMAGE or --mask MASK")
    kind, path = ("rgb", rgb_path) if rgb_path else ("mask", mask_path)
    base = default_fit(kind)
    steps = steps or base.steps
    w_plus = base.w_plus if w_plus is None else w_plus
    cfg = replace(base, steps=steps, pose_starts=starts, w_plus=w_plus, fit_radius=fit_radius, seed=fit_seed,
                  search_steps=min(base.search_steps, steps - 1)).validate()
    labeled = load_labeled_generator(generator_spec, semantic_ckpt)
    target = read_target(labeled, kind, path)
    with _LazyBar(total_steps(cfg, starts), quiet, f"invert {kind}") as progress:
        outcome = run_invert(labeled, generator_spec, kind, target, str(path), out, cfg, views, progress)
    r = outcome.report
    score = f"PSNR {r['psnr']:.2f} dB" if kind == "rgb" else f"mIoU {r['miou']:.3f}"
    click.echo(f"fitted {kind} in {r['seconds']:.1f} s: yaw {r['pose_degrees'][0]:.1f}, pitch "
               f"{r['pose_degrees'][1]:.1f} degrees, {score}; wrote {Path(out).resolve()}")


def _edit_source(labeled, spec: str, seed, subject_path, view):
    """(ws [1,num_ws,w_dim], pose, provenance) of the subject an edit starts from."""
    from .inversion.inputs import require_branch
    from .inversion.pose import Pose
    from .inversion.subject_file import load_fitted

    gen, _ = require_branch(labeled, "editing")
    if (seed is None) == (subject_path is None):
        raise click.UsageError("give exactly one of --seed S or --subject FILE")
    if subject_path is not None:
        fitted = load_fitted(subject_path, labeled)
        ws, pose, info = fitted.ws, fitted.pose, {"subject": str(subject_path)}
    else:
        ws, pose, info = gen.sample([seed]).ws, None, {"seed": seed}
    if view is not None:
        pose = Pose(math.radians(view[0]), math.radians(view[1]), gen.orbit.radius)
    if pose is None:
        raise click.UsageError("--view YAW,PITCH is required with --seed")
    return ws, pose, info


@cli.command("edit")
@click.option("--seed", "-s", type=click.IntRange(min=0), default=None, help="subject seed to edit")
@click.option("--subject", "subject_path", type=click.Path(dir_okay=False), default=None,
              help="fitted subject (subject.pt of dnerf invert / edit) to edit")
@click.option("--view", callback=_parse_view, default=None,
              help="YAW,PITCH in degrees of the view the mask was drawn on [default: the subject file's pose]")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), required=True,
              help="edited part mask PNG of that view (start from `dnerf mask`)")
@click.option("--keep-weight", type=click.FloatRange(min=0), default=None,
              help="weight of keeping the RGB outside the edited region [default: inversion.edit.DEFAULT_KEEP_WEIGHT]")
@click.option("--label-keep-weight", type=click.FloatRange(min=0), default=None,
              help="weight of keeping the part labels outside the edited region, 0 = off "
                   "[default: inversion.edit.DEFAULT_LABEL_KEEP_WEIGHT]")
@click.option("--region-weight", type=click.FloatRange(min=0, min_open=True), default=None,
              help="weight of matching the edited labels inside the region "
                   "[default: inversion.edit.DEFAULT_REGION_WEIGHT]")
@_fit_options(steps_default=150)
def edit_cmd(seed, subject_path, view, mask_path, keep_weight, label_keep_weight, region_weight, generator_spec,
             semantic_ckpt, steps, fit_seed, views, out, quiet) -> None:
    """Edit a subject in 3D by redrawing its part mask in one view."""
    from dataclasses import replace

    from .generators.registry import load_labeled_generator
    from .inversion.edit import DEFAULT_KEEP_WEIGHT, DEFAULT_LABEL_KEEP_WEIGHT, DEFAULT_REGION_WEIGHT, EDIT_FIT
    from .inversion.jobs import read_target, run_edit

    labeled = load_labeled_generator(generator_spec, semantic_ckpt)
    ws, pose, info = _edit_source(labeled, generator_spec, seed, subject_path, view)
    mask = read_target(labeled, "mask", mask_path)
    cfg = replace(EDIT_FIT, steps=steps, seed=fit_seed).validate()
    keep_weight = DEFAULT_KEEP_WEIGHT if keep_weight is None else keep_weight
    label_keep_weight = DEFAULT_LABEL_KEEP_WEIGHT if label_keep_weight is None else label_keep_weight
    region_weight = DEFAULT_REGION_WEIGHT if region_weight is None else region_weight
    with _LazyBar(cfg.steps, quiet, "edit") as progress:
        outcome = run_edit(labeled, generator_spec, ws, pose, mask, out, cfg, keep_weight, views,
                           {**info, "mask": str(mask_path)}, progress, label_keep_weight, region_weight)
    r = outcome.report
    click.echo(f"edited {r['region_pixels']} pixels in {r['seconds']:.1f} s: region mIoU {r['region_miou']:.3f} "
               f"({100 * r['region_accuracy']:.1f}% of its pixels right), PSNR outside {r['outside_psnr']:.2f} dB; "
               f"wrote {Path(out).resolve()}")


@cli.command("mask")
@click.option("--generator", "-g", "generator_spec", default="default:car", show_default=True, help=GENERATOR_HELP)
@click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None,
              help="semantic checkpoint of the generator [default: the one shipped with default:*]")
@click.option("--seed", "-s", type=click.IntRange(min=0), default=None, help="subject seed")
@click.option("--subject", "subject_path", type=click.Path(dir_okay=False), default=None,
              help="fitted subject (subject.pt of dnerf invert / edit)")
@click.option("--view", callback=_parse_view, default=None,
              help="YAW,PITCH in degrees [default: the subject file's pose]")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="mask PNG to write")
def mask_cmd(generator_spec, semantic_ckpt, seed, subject_path, view, out) -> None:
    """Write one view's part mask (palette PNG) to paint an edit on."""
    from .generators.registry import load_labeled_generator
    from .inversion.fit import synthesize_ws
    from .inversion.jobs import write_view_mask

    labeled = load_labeled_generator(generator_spec, semantic_ckpt)
    ws, pose, _ = _edit_source(labeled, generator_spec, seed, subject_path, view)
    write_view_mask(labeled, synthesize_ws(labeled.generator, ws), pose, out)
    yaw, pitch = pose.degrees
    click.echo(f"wrote {Path(out).resolve()} (view yaw {yaw:.1f}, pitch {pitch:.1f} degrees); edit it and run "
               f"dnerf edit ... --view {yaw:.1f},{pitch:.1f} --mask EDITED.png")


from .cli_dataset import dataset_cmd  # noqa: E402  (#24; moves into cli/ with #21)

cli.add_command(dataset_cmd)


def _run(command: click.Command, args: list[str] | None, prog_name: str) -> int:
    try:
        rv = command.main(args=args, prog_name=prog_name, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"{prog_name}: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except DnerfError as exc:
        click.echo(f"{prog_name}: error: {exc}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo(f"{prog_name}: interrupted", err=True)
        return 130


def main(args: list[str] | None = None) -> None:
    retain_freed_memory()
    sys.exit(_run(cli, args, "dnerf"))


def export_main(args: list[str] | None = None) -> None:
    retain_freed_memory()
    sys.exit(_run(export_cmd, args, "dnerf-export"))
