"""Edit scores of the inversion benchmark, on hand-made views whose answers are known."""
import math
from dataclasses import replace

import pytest
import torch

from dnerf_core.inversion.edit import EDIT_FIT, EditResult, EditView, edit_region, edit_scores
from dnerf_core.inversion.pose import Pose
from dnerf_research.inversion_quality import EditCase, edit_case, part_iou, summarize

BG, ROOF, WINDOW = 0, 3, 4


def _result(before_labels, edited, after_labels, before_rgb, after_rgb):
    pose = Pose(0.0, 0.0, 1.0)
    return EditResult(fit=None, before=EditView(pose, before_rgb, before_labels), edited=edited,
                      region=edit_region(before_labels, edited), after=EditView(pose, after_rgb, after_labels))


def test_one_missed_pixel_of_a_one_pixel_label_costs_a_class_not_the_accuracy():
    before = torch.full((8, 8), ROOF)
    edited = before.clone()
    edited[:4] = BG          # the roof shrinks: 32 pixels become background ...
    edited[4, 0] = WINDOW    # ... and one becomes window
    after = edited.clone()
    after[4, 0] = ROOF       # the fit misses the single window pixel
    rgb = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = edit_scores(_result(before, edited, after, rgb, rgb), 7)
    assert scores["region_pixels"] == 33
    assert math.isclose(scores["region_accuracy"], 32 / 33)
    # classes in the region: background (IoU 1), roof (0 right of 1 predicted: IoU 0), window (IoU 0)
    assert math.isclose(scores["region_miou"], 1 / 3)
    assert scores["outside_psnr"] > 100  # nothing outside changed
    assert math.isclose(part_iou(after, edited, ROOF), 31 / 32)


def test_outside_psnr_and_part_iou_values():
    before = torch.zeros(4, 4, dtype=torch.long)
    edited = before.clone()
    edited[0, 0] = ROOF
    after = edited.clone()
    rgb0 = torch.zeros(3, 4, 4)
    rgb1 = rgb0.clone()
    rgb1[:, 3, 3] = 0.1  # one outside pixel off by 0.1: MSE over the 15 outside pixels = 0.01 / 15
    scores = edit_scores(_result(before, edited, after, rgb0, rgb1), 7)
    assert math.isclose(scores["outside_psnr"], 10 * math.log10(15 / 0.01), rel_tol=1e-5)
    assert scores["region_miou"] == 1.0 and scores["region_accuracy"] == 1.0
    assert part_iou(after, edited, ROOF) == 1.0 and part_iou(after, edited, WINDOW) == 1.0  # absent from both


def test_summarize_reports_the_worst_of_the_new_scores():
    cases = [EditCase(1, 2, "roof", (0.0, 0.0), 10, 1.0, 0.5, 30.0, 0.5, 0.0, region_accuracy=a, part_iou=p)
             for a, p in ((0.99, 0.9), (0.8, 0.95))]
    s = summarize(cases)
    assert s["worst"]["region_accuracy"] == 0.8 and s["worst"]["part_iou"] == 0.9
    assert math.isclose(s["mean"]["part_iou"], 0.925)


@pytest.mark.slow
def test_keeping_labels_outside_the_region_keeps_the_edited_part_whole(car):
    # held-out car edit case 2: with RGB alone kept outside the region, the roof's labels fade
    # elsewhere in the view (after 150 steps its IoU over the view was 0.04; 0.75 with labels kept)
    short = replace(EDIT_FIT, steps=25)
    rgb_only = edit_case(car, "car", 2, short, label_keep_weight=0.0)
    kept = edit_case(car, "car", 2, short)
    assert kept.part_iou > rgb_only.part_iou + 0.05
    assert kept.region_miou >= rgb_only.region_miou - 0.05 and kept.outside_psnr > 28
