"""`dnerf invert`, `dnerf edit`, `dnerf mask`: fit a latent and pose, edit a subject in 3D by
redrawing one view's part mask, and write the mask to paint on."""
from __future__ import annotations

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

    if (rgb_path is None) == (mask_path is None):
        raise click.UsageError("give exactly one of --rgb IMAGE or --mask MASK")
    kind = "rgb" if rgb_path else "mask"
    opts = config_from(InvertOptions, options)
    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    with LazyBar(total_steps(opts.fit_config(kind), opts.starts), quiet, f"invert {kind}") as progress:
        outcome = dn.invert(labeled, out, rgb=rgb_path, mask=mask_path, options=opts, progress=progress)
    r = outcome.report
    score = f"PSNR {r['psnr']:.2f} dB" if kind == "rgb" else f"mIoU {r['miou']:.3f}"
    click.echo(f"fitted {kind} in {r['seconds']:.1f} s: yaw {r['pose_degrees'][0]:.1f}, pitch "
               f"{r['pose_degrees'][1]:.1f} degrees, {score}; wrote {Path(out).resolve()}")


def _edit_start(labeled, seed, subject_path, view):
    import dnerf_core as dn

    if (seed is None) == (subject_path is None):
        raise click.UsageError("give exactly one of --seed S or --subject FILE")
    try:
        return dn.edit_start(labeled, seed, subject_path, view)
    except dn.DnerfError as exc:
        if str(exc).startswith("--view"):
            raise click.UsageError(str(exc)) from None
        raise


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

    opts = config_from(EditOptions, options)
    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    start = _edit_start(labeled, seed, subject_path, view)
    with LazyBar(opts.steps, quiet, "edit") as progress:
        outcome = dn.edit(labeled, start, mask_path, out, opts, progress)
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

    labeled = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    start = _edit_start(labeled, seed, subject_path, view)
    dn.write_view_mask(labeled, start, out)
    pose = start.pose
    yaw, pitch = pose.degrees
    click.echo(f"wrote {Path(out).resolve()} (view yaw {yaw:.1f}, pitch {pitch:.1f} degrees); edit it and run "
               f"dnerf edit ... --view {yaw:.1f},{pitch:.1f} --mask EDITED.png")
