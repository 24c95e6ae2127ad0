"""DatasetGAN-style baseline: per-pixel MLP classifiers over the generator's 2D features, trained
on the same annotated views as the semantic branch (the paper's Tab. 1 comparison).

Per-pixel features. DatasetGAN upsamples every StyleGAN block's output to the image and
classifies each pixel's concatenated feature vector. A tri-plane generator's block outputs are
planes in 3D, not aligned with any image, so the 2D analogue on EG3D (what DatasetNeRF compares
against) reads the generator's image-aligned features instead: the volume-rendered feature image
(`render(...).features`, 32 channels at the neural resolution, upsampled bilinearly to the label
size) concatenated with the final RGB. Each view is labeled on its own, without any 3D
reasoning, which is exactly what the 3D-consistency numbers are meant to expose.

Classifier: an ensemble of small MLPs (DatasetGAN uses an ensemble too), each with its own
initialization and pixel order, trained with cross-entropy on the annotated pixels (255 =
ignore); the ensemble's prediction is the argmax of the mean of their softmax outputs.

The paper's other 2D row, transfer learning, is in eval/transfer.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dnerf_core import Cameras, IGNORE_ID, LabelSet
from dnerf_core.lab import (AnnotationError, LabelingWrapper, load_tagged, RenderOutput, resize_masks, save_tagged,
                            Subject, views_by_seed)

FORMAT = "dnerf-datasetgan-baseline"
VERSION = 1


@dataclass(frozen=True)
class BaselineConfig:
    """n_models: MLPs in the ensemble; hidden / layers: width and number of hidden layers;
    steps: Adam steps per MLP, each on batch_pixels annotated pixels drawn at random; lr: Adam
    learning rate; seed: initialization and pixel order (model m uses seed + m)."""

    n_models: int = 3
    hidden: int = 64
    layers: int = 2
    steps: int = 1500
    batch_pixels: int = 4096
    lr: float = 1e-3
    seed: int = 0


def pixel_features(out: RenderOutput) -> Tensor:
    """[B,C+3,H,W] per-pixel features at the label resolution (that of out.rgb): the rendered
    feature image upsampled bilinearly, then the final RGB."""
    if out.features is None:
        raise AnnotationError("the DatasetGAN-style baseline needs a generator that renders a feature image")
    size = tuple(out.rgb.shape[-2:])
    feats = out.features
    if tuple(feats.shape[-2:]) != size:
        feats = F.interpolate(feats, size=size, mode="bilinear", align_corners=False)
    return torch.cat([feats, out.rgb], dim=1).float()


def _mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods, width = [], n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*mods, nn.Linear(width, n_out))


class PixelClassifier(nn.Module):
    """Ensemble of MLPs over standardized per-pixel features: [N,C] -> [N,K] mean probabilities."""

    def __init__(self, n_features: int, num_classes: int, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        # Standardization from the training pixels: rendered features and RGB live on different
        # scales, and the MLPs train faster on unit-variance inputs.
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.models = nn.ModuleList(_mlp(n_features, num_classes, cfg.hidden, cfg.layers) for _ in range(cfg.n_models))

    def forward(self, x: Tensor) -> Tensor:
        x = (x - self.mean) / self.std
        return torch.stack([torch.softmax(m(x), dim=-1) for m in self.models]).mean(0)

    @torch.no_grad()
    def classify_image(self, feats: Tensor, chunk: int = 1 << 16) -> Tensor:
        """[B,C,H,W] -> [B,K,H,W] probabilities."""
        b, c, h, w = feats.shape
        flat = feats.permute(0, 2, 3, 1).reshape(-1, c)
        probs = torch.cat([self(x) for x in flat.split(chunk)])
        return probs.reshape(b, h, w, -1).permute(0, 3, 1, 2)


@torch.no_grad()
def annotated_pixels(generator, seeds: list[int], cameras: Cameras, masks: Tensor) -> tuple[Tensor, Tensor]:
    """(features [P,C], labels [P]) of every annotated (non-ignored) pixel; each subject is sampled
    once and all its views rendered together."""
    groups = views_by_seed(seeds)
    xs, ys = [], []
    for seed, idx in groups.items():
        out = generator.render(generator.sample([seed]), cameras[idx])
        feats = pixel_features(out)
        lab = resize_masks(masks[idx], tuple(feats.shape[-2:]))
        keep = lab != IGNORE_ID
        xs.append(feats.permute(0, 2, 3, 1)[keep])
        ys.append(lab[keep])
    return torch.cat(xs), torch.cat(ys)


def train_baseline(generator, label_set: LabelSet, seeds: list[int], cameras: Cameras, masks: Tensor,
                   cfg: BaselineConfig = BaselineConfig(),
                   progress: Callable[[int, float], None] | None = None) -> PixelClassifier:
    """Fit the ensemble on annotated views (masks [N,H,W], 255 = ignore) of `generator`.
    progress(step, loss) counts steps over all models (n_models * steps in total)."""
    if len(seeds) != len(cameras) or len(seeds) != len(masks):
        raise AnnotationError(f"{len(seeds)} seeds, {len(cameras)} cameras and {len(masks)} masks must match")
    x, y = annotated_pixels(generator, seeds, cameras, masks)
    if len(y) == 0:
        raise AnnotationError("no annotated pixels (every mask pixel is 255 = ignore)")
    if int(y.max()) >= len(label_set):
        raise AnnotationError(f"mask label {int(y.max())} is not in the label set of {len(label_set)} labels")
    torch.manual_seed(cfg.seed)
    clf = PixelClassifier(x.shape[1], len(label_set), cfg)
    clf.mean.copy_(x.mean(0))
    clf.std.copy_(x.std(0).clamp_min(1e-4))
    xn = (x - clf.mean) / clf.std
    done = 0
    for m, model in enumerate(clf.models):
        torch.manual_seed(cfg.seed + m)
        for p in model.parameters():  # re-initialize from this model's own seed
            if p.ndim > 1:
                nn.init.kaiming_uniform_(p, a=5 ** 0.5)
            else:
                nn.init.uniform_(p, -0.05, 0.05)
        order = torch.Generator().manual_seed(cfg.seed + m)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        model.train()
        for _ in range(cfg.steps):
            pick = torch.randint(len(y), (min(cfg.batch_pixels, len(y)),), generator=order)
            loss = F.cross_entropy(model(xn[pick]), y[pick])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if progress is not None:
                progress(done, loss.item())
        model.eval()
    return clf.eval()


def save_baseline(path: str | Path, clf: PixelClassifier, label_set: LabelSet, extra: dict | None = None) -> None:
    save_tagged(path, {"format": FORMAT, "version": VERSION, "config": asdict(clf.cfg),
                       "n_features": int(clf.mean.numel()), "labels": label_set.to_json(),
                       "state_dict": clf.state_dict(), "extra": extra or {}})


def load_baseline(path: str | Path) -> tuple[PixelClassifier, LabelSet, dict]:
    """(classifier, label set, extra) saved by save_baseline (plain data, weights_only)."""
    payload = load_tagged(path, FORMAT, VERSION, "baseline checkpoint")
    label_set = LabelSet.from_json(payload["labels"])
    clf = PixelClassifier(payload["n_features"], len(label_set), BaselineConfig(**payload["config"]))
    clf.load_state_dict(payload["state_dict"])
    return clf.eval(), label_set, payload["extra"]


class DatasetGANBaseline(LabelingWrapper):
    """The baseline as a Generator (generators/base.py): the generator's own RGB, depth and
    opacity, labels from the pixel classifier, so the evaluation treats it like the branch."""

    def __init__(self, generator, classifier: PixelClassifier, label_set: LabelSet):
        super().__init__(generator, label_set, "datasetgan")
        self.classifier = classifier

    def labels_at(self, subject: Subject, points: Tensor) -> None:
        return None  # a per-pixel classifier has no 3D field to query

    @torch.no_grad()
    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        out = self.generator.render(subject, cameras, resolution, path=path)
        probs = self.classifier.classify_image(pixel_features(out))
        return RenderOutput(rgb=out.rgb, rgb_raw=out.rgb_raw, depth=out.depth, opacity=out.opacity,
                            features=out.features, labels=probs.argmax(1), semantic=probs)
