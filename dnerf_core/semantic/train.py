"""Few-shot training of the semantic branch on a frozen generator (cross-entropy on ~90 masks).

The generator never changes, so each annotated view's march (sample depths and weights) is
computed once; a step only evaluates the semantic field at those samples. Checkpoints carry
the optimizer and random state so a killed run resumes where it stopped.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..errors import AnnotationError
from ..generators.spec import describe
from ..labels import IGNORE_ID, LabelSet
from ..render.raymarch import MarchResult, sample_points
from .branch import SemanticBranch, plane_frame
from .checkpoint import generator_identity, save_semantic
from .config import SemanticConfig, SemanticTrainConfig
from .masks import resize_masks
from .render import composite_semantics, log_probs, march_generator


def same_train_config(saved: dict | None, cfg: SemanticTrainConfig) -> bool:
    """Whether a checkpoint's recorded train config is `cfg`; fields added since it was written
    count as their defaults, so runs checkpointed by an older version still resume."""
    if saved is None:
        return False
    defaults = {f.name: f.default for f in fields(SemanticTrainConfig)}
    return {**defaults, **saved} == asdict(cfg)


@dataclass
class AnnotatedView:
    """One annotated view with its cached (pruned) march: mask [H,W] (output resolution), mask_raw
    [h,w] (neural resolution, nearest); points [1,M,3] the samples the kept intervals need, at
    flat sample indices sample_index [M] of the [R,S] grid; weights [1,R,S-1,1] the generator's
    interval weights, zero where pruned; depths [1,R,S,1] only for the ablation without the
    density prior (which keeps every sample and computes its own weights)."""

    subject_index: int
    mask: Tensor
    mask_raw: Tensor
    points: Tensor
    sample_index: Tensor
    weights: Tensor
    depths: Tensor | None = None


@dataclass
class TrainState:
    step: int
    losses: list[float]


def prune_march(marched: MarchResult, origins: Tensor, directions: Tensor, threshold: float):
    """Keep the intervals with weight > threshold and both end samples of each (compositing
    averages the two ends) -> (points [1,M,3], sample_index [M], pruned weights)."""
    w = marched.weights
    # threshold 0 keeps everything, intervals of exactly zero weight too (the no-prior ablation
    # computes its own weights and needs every sample)
    keep = w[0, ..., 0] > threshold if threshold > 0 else torch.ones_like(w[0, ..., 0], dtype=torch.bool)
    weights = torch.where(keep[None, ..., None], w, torch.zeros_like(w))
    need = torch.zeros(keep.shape[0], keep.shape[1] + 1, dtype=torch.bool, device=keep.device)
    need[:, :-1] |= keep
    need[:, 1:] |= keep
    index = need.flatten().nonzero()[:, 0]
    points = sample_points(origins, directions, marched.depths).reshape(-1, 3)[index]
    return points[None], index, weights


def prepare_views(generator, seeds: list[int], cameras: Cameras, masks: Tensor, prune_weight: float, progress=None,
                  poses: list | None = None):
    """Sample each annotated subject once and march each view once -> (subjects, views).

    poses: the body pose of each view (articulated generators; None: rigid). A view is marched in
    its pose, and its samples are stored where they read the subject's canonical planes (the warp
    is fixed, so it is computed once here, not every step): the branch learns canonical labels."""
    unique = sorted(set(seeds))
    subjects = {s: generator.sample([s]) for s in unique}
    res = generator.rendering.neural_resolution
    out_res = generator.config.img_resolution
    views = []
    for i, seed in enumerate(seeds):
        device = subjects[seed].planes.device  # the views' rays, masks and samples live there too
        rays = ray_bundle(cameras[i].to(device, torch.float32), res)
        subject = subjects[seed]
        if poses is not None and poses[i] is not None:
            subject = generator.repose(subject, poses[i])
        marched = march_generator(generator, subject, rays.origins, rays.directions)
        points, index, weights = prune_march(marched, rays.origins, rays.directions, prune_weight)
        frame = plane_frame(generator, subject)
        if frame is not None:
            with torch.no_grad():
                points = frame(points)
        mask = masks[i].to(device)
        views.append(AnnotatedView(unique.index(seed), resize_masks(mask, (out_res, out_res)),
                                   resize_masks(mask, (res, res)),
                                   points, index, weights, None if prune_weight > 0 else marched.depths))
        if progress is not None:
            progress(1)
    return [subjects[s] for s in unique], views


def class_weights(masks: Tensor, num_classes: int, power: float) -> Tensor | None:
    """[K] cross-entropy weights share_c ** -power over the annotated pixels (255 ignored), with
    sum_c share_c * weight_c = 1 so the loss keeps its scale; classes never annotated get 0.
    None for power 0 (plain cross-entropy)."""
    if power == 0:
        return None
    known = masks[masks != IGNORE_ID]
    share = torch.bincount(known, minlength=num_classes)[:num_classes].double() / max(len(known), 1)
    weight = torch.where(share > 0, share.clamp_min(1e-12) ** -power, torch.zeros_like(share))
    return (weight / (share * weight).sum()).float()


def view_loss(branch: SemanticBranch, planes: Tensor, view: AnnotatedView, cfg: SemanticTrainConfig,
              weight: Tensor | None = None) -> Tensor:
    k = branch.config.num_classes
    feats, sigma = branch.field(planes)(view.points)
    _, r, s1, _ = view.weights.shape
    dense = feats.new_zeros(r * (s1 + 1), feats.shape[-1]).index_copy(0, view.sample_index, feats[0])
    dense = dense.reshape(1, r, s1 + 1, -1)
    # without the density prior every sample is kept and the branch's own density gives the weights
    own_sigma = None if sigma is None else sigma.reshape(1, r, s1 + 1, 1)
    probs, composited = composite_semantics(dense, own_sigma, view.weights, view.depths, k)
    res = view.mask_raw.shape[-1]
    img = lambda x: x.reshape(1, res, res, -1).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    raw = log_probs(img(probs))
    logits = branch.superres(raw, img(composited))
    loss = F.cross_entropy(logits, view.mask[None], weight=weight, ignore_index=IGNORE_ID)
    return loss + cfg.raw_weight * F.nll_loss(raw, view.mask_raw[None], weight=weight, ignore_index=IGNORE_ID)


def decay_learning_rates(optimizer, base_lrs: list[float], step: int, cfg: SemanticTrainConfig) -> None:
    """Exponential decay from each group's base rate to lr_final_fraction of it over cfg.steps."""
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * cfg.lr_final_fraction ** (step / max(cfg.steps, 1))


def batch_loss(branch: SemanticBranch, views: list[AnnotatedView], pick: list[int],
               planes_for: Callable[[int], Tensor], cfg: SemanticTrainConfig, weight: Tensor | None) -> Tensor:
    """Mean view_loss over views[pick]; planes_for(subject_index) -> that subject's planes,
    computed once per subject in the batch."""
    planes: dict[int, Tensor] = {}
    loss = 0.0
    for i in pick:
        v = views[i]
        if v.subject_index not in planes:
            planes[v.subject_index] = planes_for(v.subject_index)
        loss = loss + view_loss(branch, planes[v.subject_index], v, cfg, weight) / len(pick)
    return loss


def train_semantic(generator, label_set: LabelSet, seeds: list[int], cameras: Cameras,
                   masks: Tensor, semantic: SemanticConfig | None = None, cfg: SemanticTrainConfig = SemanticTrainConfig(),
                   checkpoint: str | Path | None = None, checkpoint_every: int = 100,
                   progress: Callable[[int, float], None] | None = None,
                   poses: list | None = None) -> SemanticBranch:
    """Train a semantic branch on annotated views (masks [N,H,W], 255 = ignore) of `generator`.

    poses: one body pose per view for an articulated generator (anything its repose() takes;
    None: rigid, or every view in the subject's sampled pose).
    The checkpoint records the generator's spec (`generator.spec`, else its name).
    With `checkpoint`, the branch + optimizer are saved there every `checkpoint_every` steps and at
    the end, and an existing checkpoint of the same run is resumed.
    """
    if len(seeds) != len(cameras) or len(seeds) != len(masks):
        raise AnnotationError(f"{len(seeds)} seeds, {len(cameras)} cameras and {len(masks)} masks must match")
    known = masks[masks != IGNORE_ID]
    if len(known) and int(known.max()) >= len(label_set):
        raise AnnotationError(f"mask label {int(known.max())} is not in the label set of {len(label_set)} labels")
    for p in generator.parameters():
        p.requires_grad_(False)
    semantic = semantic or SemanticConfig(num_classes=len(label_set))
    torch.manual_seed(cfg.seed)
    branch = SemanticBranch.for_generator(generator, semantic).train()
    optimizer = torch.optim.Adam(branch.parameters(), lr=cfg.lr)
    gen_id = generator_identity(generator)
    state = TrainState(0, [])
    ckpt_path = Path(checkpoint) if checkpoint else None
    resume_path = ckpt_path.with_suffix(ckpt_path.suffix + ".state") if ckpt_path else None
    order = torch.Generator().manual_seed(cfg.seed)
    if resume_path is not None and resume_path.is_file():
        saved = torch.load(resume_path, map_location="cpu", weights_only=True)
        if (saved["generator_identity"] == gen_id and same_train_config(saved["train_config"], cfg)
                and saved.get("semantic_config", asdict(semantic)) == asdict(semantic)):
            branch.load_state_dict(saved["branch"])
            optimizer.load_state_dict(saved["optimizer"])
            order.set_state(saved["order"])
            state = TrainState(int(saved["step"]), list(saved["losses"]))
    prune = cfg.prune_weight if semantic.density_prior else 0.0
    if poses is not None and len(poses) != len(seeds):
        raise AnnotationError(f"{len(poses)} body poses for {len(seeds)} views must match")
    if poses is not None and any(p is not None for p in poses) and not hasattr(generator, "repose"):
        raise AnnotationError("these views carry body poses, but the generator is not articulated")
    subjects, views = prepare_views(generator, seeds, cameras, masks, prune, poses=poses)
    weight = class_weights(masks, semantic.num_classes, cfg.class_balance)
    weight = None if weight is None else weight.to(subjects[0].planes.device)

    def save() -> None:
        from ..io.atomic import atomic_open

        save_semantic(ckpt_path, branch, label_set, gen_id, describe(generator),
                      extra={"train_config": asdict(cfg), "steps": state.step, "views": len(views),
                             "final_loss": state.losses[-1] if state.losses else None})
        with atomic_open(resume_path) as fh:
            torch.save({"generator_identity": gen_id, "train_config": asdict(cfg),
                        "semantic_config": asdict(semantic), "step": state.step,
                        "losses": state.losses, "branch": branch.state_dict(), "order": order.get_state(),
                        "optimizer": optimizer.state_dict()}, fh)

    while state.step < cfg.steps:
        decay_learning_rates(optimizer, [cfg.lr], state.step, cfg)
        pick = torch.randperm(len(views), generator=order)[:cfg.views_per_step].tolist()
        loss = batch_loss(branch, views, pick, lambda i: branch.planes(subjects[i]), cfg, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step += 1
        state.losses.append(loss.item())
        if not math.isfinite(state.losses[-1]):
            raise FloatingPointError(f"semantic training diverged at step {state.step}")
        if progress is not None:
            progress(state.step, state.losses[-1])
        if ckpt_path is not None and (state.step % checkpoint_every == 0 or state.step == cfg.steps):
            save()
    if ckpt_path is not None and not ckpt_path.is_file():
        save()
    return branch.eval()
