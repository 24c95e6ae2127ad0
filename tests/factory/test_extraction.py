"""Views, back-projected labeled clouds and labeled meshes, checked against the exact oracle."""
import numpy as np
import pytest
import torch

from dnerf_core.cameras import orbit_cameras, spread_orbit_cameras
from dnerf_core.errors import DnerfError
from dnerf_core.factory.mesh import extract_mesh, label_mesh_from_cloud, split_by_part
from dnerf_core.factory.pointcloud import (BackprojectConfig, backproject, default_voxel_size, labeled_point_cloud,
                                           voxel_downsample, voxel_downsample_slow)
from dnerf_core.factory.types import LabeledPointCloud
from dnerf_core.factory.views import ViewSet, render_views, z_depth
from dnerf_core.generators.procedural import CATEGORIES, ProceduralGenerator

pytestmark = pytest.mark.slow

RES = 96


@pytest.fixture(scope="module", params=CATEGORIES)
def subject_views(request):
    gen = ProceduralGenerator(request.param)
    subject = gen.sample([7])
    views = render_views(gen, subject, spread_orbit_cameras(8, gen.orbit), RES)
    return gen, subject, views


def _object_size(gen, subject):
    axis = torch.linspace(-gen.bounds, gen.bounds, 40)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    inside = grid[0, gen.sdf_at(subject, grid)[0] < 0]
    return (inside.max(0).values - inside.min(0).values).norm().item()


def test_views_shapes(subject_views):
    gen, subject, views = subject_views
    assert views.rgb.shape == (8, RES, RES, 3) and views.labels.shape == (8, RES, RES)
    assert views.depth.shape == views.opacity.shape == (8, RES, RES)
    zd = z_depth(views)
    hit = views.opacity > 0.5
    assert (zd[hit] <= views.depth[hit] + 1e-6).all() and (zd[hit] > 0).all()


def test_backprojected_points_on_surface_with_oracle_labels(subject_views):
    gen, subject, views = subject_views
    cloud = backproject(views)
    assert len(cloud) > 5000
    pts = torch.from_numpy(cloud.points)[None]
    sdf = gen.sdf_at(subject, pts)[0].abs()
    assert sdf.mean().item() < 0.005 * _object_size(gen, subject)
    agree = (gen.labels_at(subject, pts)[0].numpy() == cloud.labels).mean()
    assert agree >= 0.98
    assert (cloud.labels > 0).all()  # background pixels are not points
    # normals agree with the SDF gradient on the whole
    true_n = subject.params[0].normals(torch.from_numpy(cloud.points))
    assert (true_n * torch.from_numpy(cloud.normals)).sum(-1).mean() > 0.9


def test_merged_downsampled_cloud_keeps_labels(subject_views):
    gen, subject, views = subject_views
    cloud = voxel_downsample(backproject(views), default_voxel_size(gen))
    pts = torch.from_numpy(cloud.points)[None]
    assert (gen.labels_at(subject, pts)[0].numpy() == cloud.labels).mean() >= 0.98
    assert np.allclose(np.linalg.norm(cloud.normals, axis=1), 1, atol=1e-5)


def test_voxel_fast_equals_slow():
    rng = np.random.default_rng(0)
    n = 4000
    cloud = LabeledPointCloud(rng.random((n, 3)) * 0.3, rng.normal(size=(n, 3)), rng.integers(0, 256, (n, 3)),
                              rng.integers(0, 5, n))
    fast, slow = voxel_downsample(cloud, 0.05), voxel_downsample_slow(cloud, 0.05)
    assert len(fast) == len(slow) < n
    assert np.allclose(fast.points, slow.points, atol=1e-6)
    assert np.array_equal(fast.labels, slow.labels)  # includes deterministic tie-breaking
    assert np.array_equal(fast.colors, slow.colors.astype(np.uint8))
    assert np.allclose(fast.normals, slow.normals, atol=1e-5)
    with pytest.raises(DnerfError):
        voxel_downsample(cloud, 0.0)


def test_backproject_plane_analytic():
    """A synthetic depth map of the plane z = 0 seen head-on: points at z = 0, normals +z."""
    gen = ProceduralGenerator("face")
    cam = orbit_cameras(0.0, 0.0, gen.orbit)
    from dnerf_core.cameras import ray_bundle

    rays = ray_bundle(cam, 16)
    t = (0.0 - rays.origins[..., 2]) / rays.directions[..., 2]  # distance to z = 0 along each ray
    views = ViewSet(cam, torch.ones(1, 16, 16, 3), torch.ones(1, 16, 16, dtype=torch.int64),
                    t.reshape(1, 16, 16), torch.ones(1, 16, 16))
    cloud = backproject(views)
    assert len(cloud) == 256
    assert np.abs(cloud.points[:, 2]).max() < 1e-5
    assert np.allclose(cloud.normals, [0, 0, 1], atol=1e-4)


def test_labeled_point_cloud_deterministic():
    gen = ProceduralGenerator("car")
    subject = gen.sample([3])
    cams = spread_orbit_cameras(3, gen.orbit)
    a = labeled_point_cloud(gen, subject, cams, 48)
    b = labeled_point_cloud(gen, subject, cams, 48)
    for f in ("points", "normals", "colors", "labels"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    bg = backproject(render_views(gen, subject, cams, 48), BackprojectConfig(keep_background=True))
    assert len(bg) >= len(backproject(render_views(gen, subject, cams, 48)))


@pytest.mark.parametrize("category", CATEGORIES)
def test_mesh_on_surface_labeled_and_outward(category):
    import trimesh

    gen = ProceduralGenerator(category)
    subject = gen.sample([7])
    res = 80
    mesh = extract_mesh(gen, subject, resolution=res)
    cell = 2 * gen.bounds / (res - 1)
    sdf = gen.sdf_at(subject, torch.from_numpy(mesh.vertices)[None])[0].abs()
    assert sdf.max().item() < cell
    centroids = torch.from_numpy(mesh.vertices[mesh.faces].mean(1))[None]
    assert np.array_equal(gen.labels_at(subject, centroids)[0].numpy(), mesh.face_labels)
    assert trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).volume > 0  # faces wind outwards
    parts = split_by_part(mesh, gen.label_set)
    assert set(parts) <= set(gen.label_set.part_names) and len(parts) >= 5
    assert sum(len(p.faces) for p in parts.values()) == len(mesh.faces)
    for p in parts.values():
        assert p.faces.max() < len(p.vertices)
    again = extract_mesh(gen, subject, resolution=res)
    assert np.array_equal(again.vertices, mesh.vertices) and np.array_equal(again.faces, mesh.faces)


def test_mesh_labels_from_cloud_match_oracle():
    gen = ProceduralGenerator("car")
    subject = gen.sample([7])
    mesh = extract_mesh(gen, subject, resolution=64)
    cloud = labeled_point_cloud(gen, subject, spread_orbit_cameras(8, gen.orbit), 96)
    relabeled = label_mesh_from_cloud(mesh, cloud)
    assert (relabeled.face_labels == mesh.face_labels).mean() > 0.9


def test_errors():
    gen = ProceduralGenerator("car")
    with pytest.raises(DnerfError, match="one subject"):
        extract_mesh(gen, gen.sample([1, 2]), resolution=32)
    with pytest.raises(DnerfError, match="one subject"):
        render_views(gen, gen.sample([1, 2]), spread_orbit_cameras(2, gen.orbit))
