"""How well a learned generator reproduces the procedural oracle: PSNR, silhouette IoU, depth.

The learned generator and the oracle share seeds (both draw the subject from the same Gaussian
latent), so subject s of one is compared with subject s of the other, at the same random pose.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from dnerf_core.lab import (EVAL_POSE_SEED, Generator, heldout_seeds, mask_iou, masked_abs_error, psnr,
                            random_orbit_cameras)

SILHOUETTE_THRESHOLD = 0.5
SIZE_GRID = 48  # grid per axis used to measure each oracle subject's bounding-box diagonal
# Rays per pixel side of the antialiased reference (4 x 4 = 16 rays averaged per pixel).
SUPERSAMPLING = 4


@dataclass
class GeneratorQuality:
    """Means over held-out subjects (one random pose each) at the neural resolution.

    psnr_db: RGB PSNR; silhouette_iou: IoU of opacity > 0.5; depth_error_rel: mean |depth error|
    on pixels both hit, divided by the subject's bounding-box diagonal; part_psnr_db: label name ->
    RGB PSNR over the pixels the oracle shows that part in (squared errors pooled over all
    subjects; None for a part no view shows): how much of each part's look the generator renders
    (the semantic branch reads the same features, so a part it draws as a blur is hard to label)."""

    n_subjects: int
    resolution: int
    psnr_db: float
    silhouette_iou: float
    depth_error_rel: float
    depth_error_abs: float
    part_psnr_db: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class PartSquaredError:
    """Squared RGB errors summed per oracle label over many views -> per-part PSNR."""

    def __init__(self, names: list[str]):
        self.names = names
        self.sse = torch.zeros(len(names), dtype=torch.float64)
        self.count = torch.zeros(len(names), dtype=torch.float64)

    def add(self, pred, target, labels) -> None:
        """pred, target [B,3,H,W]; labels [B,H,W] the oracle's label ids."""
        err = ((pred - target) ** 2).double().sum(dim=1).flatten()
        ids = labels.flatten().long()
        k = len(self.names)
        self.sse += torch.bincount(ids, weights=err, minlength=k)[:k]
        self.count += 3 * torch.bincount(ids, minlength=k)[:k].double()

    def psnr_db(self) -> dict[str, float | None]:
        mse = self.sse / self.count.clamp_min(1)
        db = 10 * torch.log10(1 / mse.clamp_min(1e-12))
        return {n: (db[i].item() if self.count[i] > 0 else None) for i, n in enumerate(self.names)}


def object_size(oracle, subject) -> torch.Tensor:
    """[B] bounding-box diagonal of each oracle subject's solid (sdf < 0) on a grid."""
    b = oracle.bounds
    axis = torch.linspace(-b, b, SIZE_GRID)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    sizes = []
    for i in range(len(subject)):
        one = oracle.sample([subject.seeds[i]])
        inside = oracle.sdf_at(one, grid)[0] < 0
        pts = grid[0, inside]
        sizes.append((pts.max(0).values - pts.min(0).values).norm())
    return torch.stack(sizes)


def heldout_batches(oracle, n_subjects: int, batch: int):
    """(seeds, cameras) in batches: the held-out subjects, one random orbit pose each."""
    seeds = heldout_seeds(n_subjects)
    cams = random_orbit_cameras(n_subjects, oracle.orbit, torch.Generator().manual_seed(EVAL_POSE_SEED))
    for start in range(0, n_subjects, batch):
        chunk = seeds[start:start + batch]
        yield chunk, cams[start:start + len(chunk)]


@torch.no_grad()
def evaluate_generator(generator: Generator, oracle, n_subjects: int = 200, batch: int = 8,
                       resolution: int | None = None) -> GeneratorQuality:
    res = resolution or generator.rendering.neural_resolution
    psnrs, ious, rel, absolute = [], [], [], []
    parts = PartSquaredError(oracle.label_set.names)
    for chunk, cam in heldout_batches(oracle, n_subjects, batch):
        pred = generator.render(generator.sample(chunk), cam, res)
        truth_subject = oracle.sample(chunk)
        truth = oracle.render(truth_subject, cam, res)
        psnrs.append(psnr(pred.rgb_raw.clamp(0, 1), truth.rgb))
        parts.add(pred.rgb_raw.clamp(0, 1), truth.rgb, truth.labels)
        pred_mask = pred.opacity > SILHOUETTE_THRESHOLD
        true_mask = truth.opacity > SILHOUETTE_THRESHOLD
        ious.append(mask_iou(pred_mask, true_mask))
        err = masked_abs_error(pred.depth.double(), truth.depth.double(), pred_mask & true_mask)
        absolute.append(err)
        rel.append(err / object_size(oracle, truth_subject).double())
    cat = lambda xs: torch.cat(xs).double()  # noqa: E731
    return GeneratorQuality(n_subjects, res, cat(psnrs).mean().item(), cat(ious).mean().item(),
                            cat(rel).nanmean().item(), cat(absolute).nanmean().item(), parts.psnr_db())


@dataclass
class PSNRCalibration:
    """What the oracle's one-ray-per-pixel targets make of images that are right but not identical
    (mean RGB PSNR over the same held-out subjects and poses as evaluate_generator):
    antialiased_db: the exact world rendered with SUPERSAMPLING^2 rays per pixel, box-filtered
    (what a camera integrating each pixel would see); blurred_db: the exact target with a 3x3
    box blur (edges spread over one pixel each side); blurred_part_db: that blur's PSNR per part
    (as GeneratorQuality.part_psnr_db: what losing one pixel of detail costs each part)."""

    n_subjects: int
    resolution: int
    antialiased_db: float
    blurred_db: float
    blurred_part_db: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def psnr_calibration(oracle, n_subjects: int = 200, batch: int = 8, resolution: int | None = None) -> PSNRCalibration:
    res = resolution or oracle.rendering.neural_resolution
    aa, blur = [], []
    parts = PartSquaredError(oracle.label_set.names)
    for chunk, cam in heldout_batches(oracle, n_subjects, batch):
        subject = oracle.sample(chunk)
        out = oracle.render(subject, cam, res)
        truth = out.rgb
        fine = oracle.render(subject, cam, res * SUPERSAMPLING).rgb
        aa.append(psnr(F.avg_pool2d(fine, SUPERSAMPLING), truth))
        blurred = F.avg_pool2d(F.pad(truth, (1, 1, 1, 1), mode="replicate"), 3, 1)
        blur.append(psnr(blurred, truth))
        parts.add(blurred, truth, out.labels)
    return PSNRCalibration(n_subjects, res, torch.cat(aa).double().mean().item(), torch.cat(blur).double().mean().item(),
                           parts.psnr_db())
