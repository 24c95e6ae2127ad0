"""The semantic branch's settings: its architecture (SemanticConfig) and its training
(SemanticTrainConfig), defined once; `dnerf train-semantic` derives its options from these fields.
No torch here, so the command line reads them without loading the library."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..options import opt, validate_fields


@dataclass(frozen=True)
class SemanticConfig:
    """num_classes: labels incl. background 0; hidden: decoder width (= channels of the projected
    planes); features: rendered semantic features (the first num_classes are logits);
    multiscale: augmented tri-plane from every backbone block (False: the generator's own planes
    only — ablation); density_prior: composite with the generator's density (False: the branch
    learns its own — ablation); sr_hidden: width of the super-resolution convs; hidden_layers:
    decoder layers of width `hidden` after the first one (0: the paper's one-hidden-layer MLP);
    position_frequencies: octaves of a positional encoding of the point the decoder also reads
    (semantic/position.py; 0: the paper's decoder, plane features only); latent_dim: width of the
    subject's latent w (ws[:, 0]) the first layer also reads, as a per-subject shift of its hidden
    units (the generator's w_dim; 0: the paper's decoder)."""

    num_classes: int
    hidden: int = field(default=64, metadata=opt(
        "semantic decoder width (= channels of the projected augmented planes)", min=1))
    features: int = field(default=32, metadata=opt("rendered semantic features", min=1, cli=False))
    multiscale: bool = True
    density_prior: bool = True
    sr_hidden: int = field(default=32, metadata=opt("super-resolution width", min=1, cli=False))
    hidden_layers: int = field(default=0, metadata=opt(
        "decoder layers after the first one (0: the paper's one-hidden-layer decoder)", min=0))
    position_frequencies: int = field(default=0, metadata=opt(
        "octaves of a positional encoding the decoder also reads (0: the paper's decoder, plane features only)",
        min=0))
    latent_dim: int = field(default=0, metadata=opt("width of the latent the decoder reads", min=0, cli=False))

    def validate(self) -> "SemanticConfig":
        validate_fields(self)
        return self


@dataclass(frozen=True)
class SemanticTrainConfig:
    """steps: optimization steps; views_per_step: annotated views per step (whole images, the
    super-resolution is convolutional); lr: Adam learning rate, decayed exponentially to
    lr * lr_final_fraction; raw_weight: weight of the cross-entropy on the raw (neural-resolution)
    map next to the super-resolved one; seed: order of the views; prune_weight: with the density
    prior, ray intervals whose generator weight is below this are left out of training (they
    hardly move the composite, and skipping them makes a step ~10x cheaper); 0 keeps all;
    class_balance: exponent p of per-class cross-entropy weights (pixel share of the class in the
    annotations) ** -p, normalized to a pixel-weighted mean of 1; 0 is the paper's plain
    cross-entropy, under which parts of a few pixels (eyes, lights) hardly count."""

    steps: int = field(default=1500, metadata=opt("optimization steps", min=1))
    views_per_step: int = field(default=2, metadata=opt("annotated views per step", min=1))
    lr: float = field(default=3e-3, metadata=opt("Adam learning rate", min=0, min_open=True, cli=False))
    lr_final_fraction: float = field(default=0.05, metadata=opt("final learning rate / lr", min=0, max=1, cli=False))
    raw_weight: float = field(default=1.0, metadata=opt("weight of the raw-map cross-entropy", min=0, cli=False))
    seed: int = field(default=0, metadata=opt("order of the views", min=0, cli=False))
    prune_weight: float = field(default=1e-4, metadata=opt("skip ray intervals below this weight", min=0, cli=False))
    class_balance: float = field(default=0.0, metadata=opt(
        "weight each class's cross-entropy by its pixel share ** -P (0: the paper's plain cross-entropy; "
        "0.5 lifts small parts)", min=0, max=1))

    def validate(self) -> "SemanticTrainConfig":
        validate_fields(self)
        return self


@dataclass(frozen=True)
class TrainSemanticOptions:
    """Which annotated views train the branch, and the paper's ablations (`dnerf train-semantic`)."""

    no_density_prior: bool = field(default=False, metadata=opt(
        "ablation: the branch learns its own density", flag=True))
    single_scale: bool = field(default=False, metadata=opt(
        "ablation: only the generator's own tri-plane, no block features", flag=True))
    max_views: int | None = field(default=None, metadata=opt("use only the first N annotated views", min=1))
    latent: bool = field(default=False, metadata=opt(
        "the decoder also reads the subject's latent w (a per-subject shift; off: the paper's decoder)", flag=True))

    def validate(self) -> "TrainSemanticOptions":
        validate_fields(self)
        return self
