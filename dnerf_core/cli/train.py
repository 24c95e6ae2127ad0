"""`dnerf train-semantic`: the semantic branch of a frozen generator, trained on an annotation kit."""
from __future__ import annotations

from pathlib import Path

import click

from ..semantic.config import SemanticConfig, SemanticTrainConfig, TrainSemanticOptions
from .common import CONTEXT, config_from, config_options, device_option, generator_option


@click.command("train-semantic", context_settings=CONTEXT)
@click.option("--annotations", "-a", "kit_path", type=click.Path(), required=True,
              help="annotation kit folder (dnerf annotate-kit) with its masks/ filled")
@generator_option(default=None, help="generator spec [default: the kit's]")
@config_options(SemanticTrainConfig)
@config_options(TrainSemanticOptions)
@config_options(SemanticConfig)
@device_option
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="checkpoint file (resumed if a run with the same settings was interrupted)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def train_semantic_cmd(kit_path, generator_spec, device, out, quiet, **options) -> None:
    """Train the semantic branch of a frozen generator on an annotation kit (cross-entropy)."""
    from tqdm import tqdm

    import dnerf_core as dn

    cfg = config_from(SemanticTrainConfig, options)
    opts = config_from(TrainSemanticOptions, options)
    kit = dn.load_kit(kit_path)
    semantic = config_from(SemanticConfig, options, num_classes=len(kit.label_set))
    generator = dn.load_generator(generator_spec or kit.generator_spec, semantic=False, device=device)
    n = min(len(kit), opts.max_views or len(kit))
    with tqdm(total=cfg.steps, disable=quiet, unit="step", desc="train semantic") as bar:
        def progress(step, loss):
            bar.n = step
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.refresh()

        dn.train_semantic(generator, kit, out, options=opts, semantic=semantic, train=cfg, progress=progress)
    click.echo(f"wrote semantic checkpoint {Path(out).resolve()} ({n} annotated views, {cfg.steps} steps)")
