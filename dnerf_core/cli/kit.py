"""`dnerf annotate-kit`: views of a generator to annotate (images/, masks/, kit.json, README.txt)."""
from __future__ import annotations

import click

from ..semantic.kit_options import KitOptions
from .common import CONTEXT, config_from, config_options, device_option, generator_option, views_or_poses


@click.command("annotate-kit", context_settings=CONTEXT)
@generator_option()
@config_options(KitOptions)
@device_option
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="new kit folder")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def annotate_kit_cmd(generator_spec, device, out, quiet, **options) -> None:
    """Write a kit of views to annotate (images/, empty masks/, kit.json, README.txt)."""
    from tqdm import tqdm

    import dnerf_core as dn
    from ..semantic.annotations import check_kit_request

    views_or_poses(options.get("poses"))
    opts = config_from(KitOptions, options)
    n_views = opts.views
    if opts.poses is not None:
        from ..pose_file import read_pose_file

        n_views = len(read_pose_file(opts.poses))  # a bad file fails before the generator loads
    # Every argument is checked before the (possibly slow) generator load, so a typo fails fast.
    check_kit_request(generator_spec, out, opts.subjects, n_views, opts.resolution, opts.seed_offset, opts.oracle,
                      opts.oracle_masks, opts.render)
    generator = dn.load_generator(generator_spec, semantic=False, device=device)
    with tqdm(total=opts.subjects * n_views, disable=quiet, unit="image", leave=False, desc="render kit") as bar:
        kit = dn.make_kit(generator, out, opts, progress=bar.update)
    n_images = len(list((kit / "images").glob("*.png")))
    n_masks = len(list((kit / "masks").glob("*.png")))
    click.echo(f"wrote annotation kit to {kit.resolve()}: {n_images} images, {n_masks} masks"
               + ("" if n_masks else f" (draw masks/ as {kit / 'README.txt'} explains)"))
