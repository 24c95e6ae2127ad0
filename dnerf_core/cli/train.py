"""`dnerf train-semantic`: the semantic branch of a frozen generator, trained on an annotation kit."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import DnerfError
from ..semantic.config import SemanticConfig, SemanticTrainConfig
from .common import CONTEXT, config_options, device_option, generator_option


@click.command("train-semantic", context_settings=CONTEXT)
@click.option("--annotations", "-a", "kit_path", type=click.Path(), required=True,
              help="annotation kit folder (dnerf annotate-kit) with its masks/ filled")
@generator_option(default=None, help="generator spec [default: the kit's]")
@config_options(SemanticTrainConfig)
@click.option("--no-density-prior", is_flag=True, help="ablation: the branch learns its own density")
@click.option("--single-scale", is_flag=True, help="ablation: only the generator's own tri-plane, no block features")
@click.option("--max-views", type=click.IntRange(min=1), default=None, help="use only the first N annotated views")
@config_options(SemanticConfig)
@click.option("--latent", "latent", is_flag=True,
              help="the decoder also reads the subject's latent w (a per-subject shift; off: the paper's decoder)")
@device_option
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="checkpoint file (resumed if a run with the same settings was interrupted)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def train_semantic_cmd(kit_path, generator_spec, no_density_prior, single_scale, max_views, latent, device, out, quiet,
                       steps, views_per_step, class_balance, hidden, hidden_layers, position_frequencies) -> None:
    """Train the semantic branch of a frozen generator on an annotation kit (cross-entropy)."""
    from tqdm import tqdm

    import dnerf_core as dn
    from ..semantic.annotations import load_kit
    from ..semantic.train import train_semantic

    cfg = SemanticTrainConfig(steps=steps, views_per_step=views_per_step, class_balance=class_balance).validate()
    kit = load_kit(kit_path)
    generator = dn.load_generator(generator_spec or kit.generator_spec, semantic=False, device=device)
    if not hasattr(generator, "backbone"):
        raise DnerfError(f"{generator.spec} is not a tri-plane generator: only learned generators get a semantic branch")
    n = min(len(kit), max_views or len(kit))
    semantic = SemanticConfig(num_classes=len(kit.label_set), multiscale=not single_scale,
                              density_prior=not no_density_prior, hidden=hidden, hidden_layers=hidden_layers,
                              position_frequencies=position_frequencies,
                              latent_dim=generator.config.w_dim if latent else 0).validate()
    with tqdm(total=cfg.steps, disable=quiet, unit="step", desc="train semantic") as bar:
        def progress(step, loss):
            bar.n = step
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.refresh()

        train_semantic(generator, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n], semantic, cfg,
                       checkpoint=out, progress=progress)
    click.echo(f"wrote semantic checkpoint {Path(out).resolve()} ({n} annotated views, {cfg.steps} steps)")
