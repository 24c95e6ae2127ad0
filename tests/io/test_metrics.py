import math

import pytest
import torch

from dnerf_core.io.metrics import confusion_matrix, mask_iou, masked_abs_error, psnr, segmentation_scores
from dnerf_core.labels import IGNORE_ID


def test_psnr_values():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.full((2, 3, 4, 4), 0.1)
    assert torch.allclose(psnr(a, b), torch.full((2,), 20.0))
    assert psnr(a, a).min() > 100


def test_mask_iou_values():
    a = torch.zeros(1, 4, 4, dtype=torch.bool)
    b = torch.zeros(1, 4, 4, dtype=torch.bool)
    a[0, :2] = True
    b[0, 1:3] = True
    assert mask_iou(a, b).item() == pytest.approx(4 / 12)
    assert mask_iou(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 1.0


def test_masked_abs_error():
    err = masked_abs_error(torch.tensor([[1.0, 5.0]]), torch.tensor([[0.5, 0.0]]), torch.tensor([[True, False]]))
    assert err.item() == pytest.approx(0.5)


def test_segmentation_scores_against_hand_count():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, IGNORE_ID]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 1]])
    conf = confusion_matrix(pred, target, 4)
    assert conf.sum() == 7  # the ignored pixel is not counted
    s = segmentation_scores(conf)
    # class 0: tp 1, fp 1 (a 2 predicted as 0), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 2, fn 1 -> 2/3
    assert s.iou[0].item() == pytest.approx(1 / 3) and s.iou[1].item() == pytest.approx(2 / 3)
    assert s.iou[2].item() == pytest.approx(2 / 3) and math.isnan(s.iou[3].item())
    assert s.miou == pytest.approx((1 / 3 + 2 / 3 + 2 / 3) / 3)
    assert s.accuracy == pytest.approx(5 / 7)
    assert segmentation_scores(conf, include_background=False).miou == pytest.approx(2 / 3)
