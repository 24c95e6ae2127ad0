"""Fitting objectives: targets map to the right pixels, and patch-wise semantic super-resolution
equals the whole view's logits away from the patch edges (the answer key is the full view)."""
import pytest
import torch

from dnerf_core.cameras import ray_bundle
from dnerf_core.inversion.fit import downsample_objective
from dnerf_core.inversion.objective import (NO_TARGET, PATCH_INTERIOR, ViewObjective, fitting_rendering,
                                            patch_logits, settled_cross_entropy, sr_margin, term_rays)
from dnerf_core.inversion.pose import Pose
from dnerf_core.inversion.targets import label_term, resize_labels, rgb_term
from dnerf_core.labels import IGNORE_ID


def test_rgb_term_pixels_and_targets():
    img = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    where = torch.zeros(8, 8, dtype=torch.bool)
    where[2, 5] = where[7, 0] = True
    term = rgb_term(img, 8, where=where)
    assert term.pixels.tolist() == [2 * 8 + 5, 7 * 8 + 0]
    assert torch.equal(term.target, torch.stack([img[:, 2, 5], img[:, 7, 0]]))
    half = rgb_term(img, 4)  # area average of 2x2 blocks
    assert torch.allclose(half.target[0], img[:, :2, :2].mean(dim=(1, 2)))


def test_label_term_skips_ignored_pixels_and_balances_classes():
    mask = torch.zeros(6, 6, dtype=torch.long)
    mask[0, 0] = 3  # one pixel of a small part
    mask[5, 5] = IGNORE_ID
    term = label_term(mask)
    assert len(term.pixels) == 35 and IGNORE_ID not in term.target.tolist()
    # the single part pixel is as likely to be drawn as all 34 background pixels together
    assert torch.isclose(term.draw[term.target == 3].sum(), term.draw[term.target == 0].sum())


def test_a_terms_share_of_the_ray_budget_survives_downsampling():
    mask = torch.zeros(8, 8, dtype=torch.long)
    term = label_term(mask, share=0.25)
    assert term_rays(term, 768) == 192 and term_rays(label_term(mask), 768) == 768
    assert term_rays(term, 2) == 1  # never zero
    (coarse,) = downsample_objective(ViewObjective(8, (term,)), 4).terms
    assert coarse.share == 0.25


def test_resize_labels_takes_nearest_centers():
    mask = torch.arange(16).reshape(4, 4)
    assert resize_labels(mask, 2).tolist() == [[5, 7], [13, 15]]


def test_downsample_objective_keeps_each_pixels_target():
    mask = torch.arange(64).reshape(8, 8) % 5
    coarse = downsample_objective(ViewObjective(8, (label_term(mask),)), 4)
    (term,) = coarse.terms
    assert term.kind == "labels_raw"
    assert torch.equal(term.target, resize_labels(mask, 4).reshape(-1)[term.pixels])


@pytest.mark.slow
@pytest.mark.parametrize("corner", [(0, 0), (20, 33), (64 - 12, 64 - 12)])
def test_patch_logits_equal_the_full_view_inside(face, corner):
    gen, branch = face.generator, face.branch
    subject = gen.sample([1000001])
    res = gen.rendering.neural_resolution
    rendering = fitting_rendering(gen.rendering, (16, 16), res)
    rays = ray_bundle(Pose(0.2, 0.1, gen.orbit.radius).cameras(gen.orbit), res)
    m = sr_margin(branch)
    patch = 2 * m + PATCH_INTERIOR
    with torch.no_grad():
        full = patch_logits(gen, branch, subject, rays, torch.tensor([[0, 0]]), res, res, rendering, None)[0]
        part = patch_logits(gen, branch, subject, rays, torch.tensor([corner]), patch, res, rendering, None)[0]
    r, c = corner
    want = full[:, r:r + patch, c:c + patch]
    # interior: identical to the whole view; sides on the image border see the same padding
    r0, c0 = (0 if r == 0 else m), (0 if c == 0 else m)
    r1, c1 = (patch if r + patch == res else patch - m), (patch if c + patch == res else patch - m)
    assert torch.allclose(part[:, r0:r1, c0:c1], want[:, r0:r1, c0:c1], atol=1e-4)
    # and the edge really differs (else the margin would be pointless): the test can fail
    if r > 0:
        assert not torch.allclose(part[:, 0], want[:, 0], atol=1e-4)


def test_settled_pixels_stop_pulling_but_still_count_in_the_mean():
    # three scored pixels: one settled (p = 0.95 of its target), two not; one pixel unscored
    p_right = torch.tensor([0.95, 0.5, 0.2, 0.9], dtype=torch.float64)
    logits = torch.stack([p_right.log(), (1 - p_right).log()])[None, :, :, None].requires_grad_(True)  # [1,K=2,4,1]
    targets = torch.tensor([[0, 0, 0, NO_TARGET]])[..., None]
    plain = settled_cross_entropy(logits, targets, None)
    assert torch.isclose(plain, -p_right[:3].log().mean())
    loss = settled_cross_entropy(logits, targets, 0.9)
    assert torch.isclose(loss, -(p_right[1].log() + p_right[2].log()) / 3)
    grad, = torch.autograd.grad(loss, logits)
    assert grad[0, :, 0].abs().sum() == 0 and grad[0, :, 3].abs().sum() == 0
    assert grad[0, :, 1].abs().sum() > 0 and grad[0, :, 2].abs().sum() > 0
    everything_settled = settled_cross_entropy(logits, targets, 0.1)
    assert everything_settled == 0
