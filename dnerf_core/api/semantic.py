"""Public API, semantic side: annotation kits and training the semantic branch.

    >>> import tempfile, dnerf_core as dn
    >>> work = tempfile.mkdtemp()
    >>> gen = dn.load_generator("default:car", semantic=False, device="cpu")
    >>> kit_dir = dn.make_kit(gen, f"{work}/kit", dn.KitOptions(subjects=2, views=1, resolution=32, oracle=True))
    >>> kit = dn.load_kit(kit_dir)
    >>> len(kit), kit.label_set.names[1]
    (2, 'body')
    >>> ckpt = dn.train_semantic(gen, kit, f"{work}/car.pt", train=dn.SemanticTrainConfig(steps=2))
    >>> labeled = dn.load_generator("default:car", semantic=ckpt, device="cpu")
    >>> labeled.label_set == kit.label_set
    True
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import DnerfError
from ..semantic.annotations import AnnotationKit, load_kit
from ..semantic.annotations import make_kit as _make_kit
from ..semantic.config import SemanticConfig, SemanticTrainConfig, TrainSemanticOptions
from ..semantic.kit_options import KitOptions

__all__ = ["AnnotationKit", "KitOptions", "SemanticConfig", "SemanticTrainConfig", "TrainSemanticOptions",
           "load_kit", "make_kit", "train_semantic"]


def make_kit(generator, out: str | Path, options: KitOptions | None = None,
             progress: Callable[[int], None] | None = None) -> Path:
    """Write an annotation kit of `generator` (loaded by load_generator) into the new folder `out`:
    images/, masks/ (filled with exact truth when options.oracle), kit.json, README.txt. Returns its path."""
    opts = (options or KitOptions()).validate()
    poses = None
    if opts.poses is not None:
        from ..pose_file import read_pose_file

        poses = read_pose_file(opts.poses)
    from ..factory.views import path_renderer

    return _make_kit(generator, out, subjects=opts.subjects, views=opts.views, resolution=opts.resolution,
                     seed_offset=opts.seed_offset, oracle=opts.oracle, oracle_masks=opts.oracle_masks,
                     progress=progress, poses=poses, render=opts.render, renderer=path_renderer(opts.render))


def train_semantic(generator, kit: AnnotationKit | str | Path, out: str | Path, *,
                   options: TrainSemanticOptions | None = None, semantic: SemanticConfig | None = None,
                   train: SemanticTrainConfig | None = None,
                   progress: Callable[[int, float], None] | None = None) -> Path:
    """Train the semantic branch of the frozen tri-plane `generator` on an annotation kit and write
    the checkpoint `out` (resumed when a run with the same settings was interrupted); returns its path.

    options: which views and which ablations (TrainSemanticOptions); semantic: the branch's
    architecture (its num_classes is the kit's, whatever is given); train: steps, batch, balance."""
    from dataclasses import replace

    from ..semantic.train import train_semantic as _train

    kit = kit if isinstance(kit, AnnotationKit) else load_kit(kit)
    opts = (options or TrainSemanticOptions()).validate()
    cfg = (train or SemanticTrainConfig()).validate()
    if not hasattr(generator, "backbone"):
        raise DnerfError(f"{getattr(generator, 'spec', None) or generator.name} is not a tri-plane generator: "
                         "only learned generators get a semantic branch")
    n = min(len(kit), opts.max_views or len(kit))
    base = semantic or SemanticConfig(num_classes=len(kit.label_set))
    semantic = replace(base, num_classes=len(kit.label_set), multiscale=base.multiscale and not opts.single_scale,
                       density_prior=base.density_prior and not opts.no_density_prior,
                       latent_dim=generator.config.w_dim if opts.latent else base.latent_dim).validate()
    poses = kit.body_poses[:n] if kit.body_poses is not None else None
    _train(generator, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n], semantic, cfg,
           checkpoint=out, progress=progress, poses=poses)
    return Path(out)
