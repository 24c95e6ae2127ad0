"""Render multi-view masks: dnerf's files per rig camera, and Blender's own render of the labeled
mesh agrees with dnerf's mask through the same camera."""
from __future__ import annotations

import json

import numpy as np
import pytest

from blender_addon import multiview, rig, subject
from conftest import SMALL
from dnerf_core.factory.export.depth import DEFAULT_DEPTH_SCALE, read_depth_png
from dnerf_core.io.masks import read_mask_png
from dnerf_core.factory.export.transforms import read_transforms_json

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A finer mesh than the other tests: agreement is limited by how finely marching cubes follows
# the part borders (faces take the label at their centroid).
MESH_RESOLUTION = 96
MIN_AGREEMENT = 0.95  # over the foreground pixels (either side) of all views
MIN_VIEW_AGREEMENT = 0.90  # any single view


def _render(scene, tmp_path, category: str, seed: int, engine: str = "CYCLES"):
    spec = f"procedural:{category}"
    ob = subject.generate_subject(subject.SubjectRequest(spec, seed=seed, mesh_resolution=MESH_RESOLUTION))
    rig_ob = rig.build_camera_rig(spec, SMALL["views"])
    out = tmp_path / category
    req = multiview.RenderRequest(str(out), resolution=SMALL["resolution"], engine=engine)
    result = multiview.render_multiview(ob, rig_ob, req, scene)
    return ob, rig_ob, out, result


@pytest.mark.parametrize("category, seed, engine", [("car", 3, "CYCLES"), ("face", 5, "CYCLES"),
                                                    ("car", 3, "WORKBENCH"), ("face", 5, "WORKBENCH")])
def test_blender_render_agrees_with_dnerf_masks(scene, tmp_path, category, seed, engine):
    ob, rig_ob, out, result = _render(scene, tmp_path, category, seed, engine)
    labels = subject.subject_label_set(ob)
    n = SMALL["views"]
    assert result.views == n and len(result.agreement) == n
    pooled_by_hand, total = 0, 0
    for i in range(n):
        dnerf_mask = read_mask_png(out / "mask" / f"{i:03d}.png", labels)
        blender_mask = read_mask_png(out / "blender_mask" / f"{i:03d}.png", labels)
        assert dnerf_mask.shape == blender_mask.shape == (SMALL["resolution"],) * 2
        fg = (dnerf_mask > 0) | (blender_mask > 0)
        assert fg.sum() > 0.1 * fg.size  # the subject fills a real part of the view
        pooled_by_hand += int((dnerf_mask[fg] == blender_mask[fg]).sum())
        total += int(fg.sum())
        assert result.agreement[i] >= MIN_VIEW_AGREEMENT, (i, result.agreement)
        assert len(np.unique(blender_mask[blender_mask > 0])) >= 2  # several parts seen, not one blob
    print(f"{category} {engine}: per view {np.round(result.agreement, 4).tolist()}, pooled {result.pooled_agreement:.4f}")
    assert pooled_by_hand / total == pytest.approx(result.pooled_agreement)
    assert result.pooled_agreement >= MIN_AGREEMENT
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["pooled_agreement"] == pytest.approx(result.pooled_agreement)


def test_written_views_match_the_rig_and_the_exporter(scene, tmp_path, car_export):
    ob, rig_ob, out, _ = _render(scene, tmp_path, "car", 3)
    cams, frames, w, h = read_transforms_json(out / "transforms.json")
    assert (w, h) == (SMALL["resolution"],) * 2 and len(frames) == SMALL["views"]
    np.testing.assert_allclose(cams.cam2world.numpy(), rig.cameras_from_rig(rig_ob).cam2world.numpy(), atol=1e-6)
    ex_cams, _, _, _ = read_transforms_json(car_export / "transforms.json")
    np.testing.assert_allclose(cams.cam2world.numpy(), ex_cams.cam2world.numpy(), atol=2e-6)
    np.testing.assert_allclose(cams.intrinsics.numpy(), ex_cams.intrinsics.numpy(), rtol=1e-6)
    labels = subject.subject_label_set(ob)
    for frame in frames:
        ours = read_mask_png(out / frame.part_mask_path, labels)
        theirs = read_mask_png(car_export / frame.part_mask_path, labels)
        # same subject, same cameras up to Blender's float32 matrices: the masks are the exporter's
        assert (ours == theirs).mean() >= 0.999
        d_ours, _ = read_depth_png(out / frame.depth_file_path)
        d_theirs, _ = read_depth_png(car_export / frame.depth_file_path)
        both = np.isfinite(d_ours) & np.isfinite(d_theirs)
        assert both.sum() > 0.1 * both.size
        # 1e-3 world units: at most one step of the PNG's 1e-3 quantization (a near-tie rounded apart)
        assert np.abs(d_ours[both] - d_theirs[both]).max() <= DEFAULT_DEPTH_SCALE + 1e-6
        assert (out / frame.file_path).is_file()
    assert (out / "labels.json").is_file()


def test_point_cloud_subject_cannot_be_compared(scene, tmp_path):
    ob = subject.generate_subject(subject.SubjectRequest("procedural:face", seed=1, representation="POINTCLOUD",
                                                         views=1, resolution=16))
    rig_ob = rig.build_camera_rig("procedural:face", 1)
    from dnerf_core.errors import DnerfError

    with pytest.raises(DnerfError, match="needs the mesh representation"):
        multiview.render_multiview(ob, rig_ob, multiview.RenderRequest(str(tmp_path)))
    # without the Blender side, dnerf's files are written for a point-cloud subject too
    result = multiview.render_multiview(ob, rig_ob, multiview.RenderRequest(str(tmp_path), 16, blender_render=False))
    assert result.views == 1 and (tmp_path / "mask" / "000.png").is_file()
    assert not (tmp_path / "blender").exists()


def test_hidden_parts_are_still_rendered_and_settings_restored(scene, tmp_path):
    from blender_addon import parts

    ob = subject.generate_subject(subject.SubjectRequest("procedural:car", seed=3, mesh_resolution=48))
    rig_ob = rig.build_camera_rig("procedural:car", 4)  # camera 1 (yaw 90 degrees) sees the side
    parts.set_part_hidden(ob, "wheel")
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = 333
    result = multiview.render_multiview(ob, rig_ob, multiview.RenderRequest(str(tmp_path), resolution=48))
    labels = subject.subject_label_set(ob)
    wheel = labels.id_of("wheel")
    blender_mask = read_mask_png(tmp_path / "blender_mask" / "001.png", labels)
    dnerf_mask = read_mask_png(tmp_path / "mask" / "001.png", labels)
    assert (dnerf_mask == wheel).sum() > 20
    # the comparison shows every part, hidden ones too
    assert (blender_mask == wheel).sum() > 0.8 * (dnerf_mask == wheel).sum()
    assert min(result.agreement) >= MIN_VIEW_AGREEMENT
    # the scene is as it was: hidden part still hidden, the user's render settings back
    assert ob.modifiers[parts.MODIFIER_NAME].show_render
    assert parts.hidden_parts(ob) == ["wheel"]
    assert scene.render.engine == "BLENDER_WORKBENCH" and scene.render.resolution_x == 333
    assert scene.camera is None
