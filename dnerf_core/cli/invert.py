"""`dnerf invert`, `dnerf edit`, `dnerf mask`: fit a latent and pose, edit a subject in 3D by
redrawing one view's part mask, and write the mask to paint on."""
from __future__ import annotations

import math
from pathlib import Path

import click

from ..inversion.options import EditOptions, InvertOptions
from .common import CONTEXT, LazyBar, config_from, config_options, device_option, generator_option, parse_view

SEMANTIC_HELP = "semantic checkpoint of the generator [default: the one shipped with default:*]"


def _common(fn):
    for deco in reversed([
        generator_option(),
        click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None, help=SEMANTIC_HELP),
        device_option,
    ]):
        fn = deco(fn)
    return fn


def _outputs(fn):
    for deco in reversed([
        click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
                     help="output folder: subject.pt, preview.png, report.json"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
    ]):
        fn = deco(fn)
    return fn


@click.command("invert", context_settings=CONTEXT)
@click.option("--rgb", "rgb_path", type=click.Path(dir_okay=False), default=None, help="square RGB image to fit")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), default=None,
              help="part mask PNG to fit (palette, grayscale ids or label colors; the generator's view size)")
@config_options(InvertOptions)
@_common
@_outputs
def invert_cmd(rgb_path, mask_path, generator_spec, semantic_ckpt, device, out, quiet, **options) -> None:
    """Fit a latent and camera pose to an RGB image or a part mask."""
    import dnerf_core as dn
    from ..inversion.fit import total_steps
    from ..inversion.jobs import read_target, run_invert

    if (rgb_path is None) == (mask_path is None):
        raise click.UsageError("give exactly one of --rgb IMAGE or --mask MASK")
    kind, path = ("rgb", rgb_path) if rgb_path else ("mask", mask_path)
    opts = config_from(InvertOptions, options)
    cfg = opts.fit_config(kind)
    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    target = read_target(labeled, kind, path)
    with LazyBar(total_steps(cfg, opts.starts), quiet, f"invert {kind}") as progress:
        outcome = run_invert(labeled, kind, target, str(path), out, cfg, opts.views, progress)
    r = outcome.report
    score = f"PSNR {r['psnr']:.2f} dB" if kind == "rgb" else f"mIoU {r['miou']:.3f}"
    click.echo(f"fitted {kind} in {r['seconds']:.1f} s: yaw {r['pose_degrees'][0]:.1f}, pitch "
               f"{r['pose_degrees'][1]:.1f} degrees, {score}; wrote {Path(out).resolve()}")


def _edit_source(labeled, seed, subject_path, view):
    """(ws [1,num_ws,w_dim], pose, provenance) of the subject an edit starts from."""
    from ..inversion.inputs import require_branch
    from ..inversion.pose import Pose
    from ..inversion.subject_file import load_fitted

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


def _source(fn):
    for deco in reversed([
        click.option("--seed", "-s", type=click.IntRange(min=0), default=None, help="subject seed"),
        click.option("--subject", "subject_path", type=click.Path(dir_okay=False), default=None,
                     help="fitted subject (subject.pt of dnerf invert / edit)"),
        click.option("--view", callback=parse_view, default=None,
                     help="YAW,PITCH in degrees of the view [default: the subject file's pose]"),
    ]):
        fn = deco(fn)
    return fn


@click.command("edit", context_settings=CONTEXT)
@_source
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), required=True,
              help="edited part mask PNG of that view (start from `dnerf mask`)")
@config_options(EditOptions)
@_common
@_outputs
def edit_cmd(seed, subject_path, view, mask_path, generator_spec, semantic_ckpt, device, out, quiet,
             **options) -> None:
    """Edit a subject in 3D by redrawing its part mask in one view."""
    import dnerf_core as dn
    from ..inversion.jobs import read_target, run_edit

    opts = config_from(EditOptions, options)
    cfg = opts.fit_config()
    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    ws, pose, info = _edit_source(labeled, seed, subject_path, view)
    mask = read_target(labeled, "mask", mask_path)
    with LazyBar(cfg.steps, quiet, "edit") as progress:
        outcome = run_edit(labeled, ws, pose, mask, out, cfg, opts.keep_weight, opts.views,
                           {**info, "mask": str(mask_path)}, progress, opts.label_keep_weight, opts.region_weight)
    r = outcome.report
    click.echo(f"edited {r['region_pixels']} pixels in {r['seconds']:.1f} s: region mIoU {r['region_miou']:.3f} "
               f"({100 * r['region_accuracy']:.1f}% of its pixels right), PSNR outside {r['outside_psnr']:.2f} dB; "
               f"wrote {Path(out).resolve()}")


@click.command("mask", context_settings=CONTEXT)
@_common
@_source
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="mask PNG to write")
def mask_cmd(generator_spec, semantic_ckpt, device, seed, subject_path, view, out) -> None:
    """Write one view's part mask (palette PNG) to paint an edit on."""
    import dnerf_core as dn
    from ..inversion.fit import synthesize_ws
    from ..inversion.jobs import write_view_mask

    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    ws, pose, _ = _edit_source(labeled, seed, subject_path, view)
    write_view_mask(labeled, synthesize_ws(labeled.generator, ws), pose, out)
    yaw, pitch = pose.degrees
    click.echo(f"wrote {Path(out).resolve()} (view yaw {yaw:.1f}, pitch {pitch:.1f} degrees); edit it and run "
               f"dnerf edit ... --view {yaw:.1f},{pitch:.1f} --mask EDITED.png")
