"""The surface ray casters: fast libraries against the every-ray-every-face reference twin."""
import importlib.util

import numpy as np
import pytest
import torch

from dnerf_core.errors import DnerfError, MissingExtraError
from dnerf_core.render import surface_cast
from dnerf_core.render.surface_cast import MeshCaster, cast_rays, face_normals

HAS = {"open3d": importlib.util.find_spec("open3d") is not None,
       "embree": importlib.util.find_spec("embreex") is not None}
FAST = [pytest.param(c, marks=pytest.mark.skipif(not HAS[c], reason=f"{c} not installed")) for c in ("open3d", "embree")]


def _mesh():
    import trimesh

    # a closed, lumpy (non-convex) mesh: rays hit front and back faces at different depths
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    v = sphere.vertices * (1 + 0.2 * np.sin(5 * sphere.vertices[:, :1]))
    return v.astype(np.float32), sphere.faces.astype(np.int64)


def _rays(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    origins = torch.randn(n, 3, generator=g)
    origins = origins / origins.norm(dim=1, keepdim=True) * 2.0
    target = (torch.rand(n, 3, generator=g) - 0.5) * 1.6  # some rays miss the mesh, most hit
    d = target - origins
    return origins, d / d.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("caster", FAST)
def test_fast_caster_matches_slow_twin(caster):
    v, f = _mesh()
    o, d = _rays()
    fast = cast_rays(v, f, o, d, caster)
    slow = cast_rays(v, f, o, d, "reference")
    assert 0 < int(slow.hit.sum()) < len(o)  # both hits and misses are exercised
    assert torch.equal(fast.hit, slow.hit)
    h = slow.hit
    assert torch.allclose(fast.distance[h], slow.distance[h], atol=1e-4)
    assert torch.isinf(fast.distance[~h]).all() and (fast.face[~h] == -1).all()
    # the same face, or (on a shared edge) a face with the same hit point
    pf, ps = fast.points(o, d)[h], slow.points(o, d)[h]
    assert torch.allclose(pf, ps, atol=1e-4)
    assert (fast.face[h] == slow.face[h]).float().mean() > 0.98
    # barycentrics reproduce the hit point on the reported face
    tri = torch.from_numpy(v[f[fast.face[h].numpy()]])
    assert torch.allclose((fast.barycentric[h, :, None] * tri).sum(1), pf, atol=1e-4)
    assert torch.allclose(fast.barycentric[h].sum(1), torch.ones(int(h.sum())), atol=1e-5)
    assert (fast.barycentric[h] > -1e-4).all()


def test_normals_face_the_ray_on_a_closed_mesh():
    v, f = _mesh()
    o, d = _rays(seed=1)
    hits = cast_rays(v, f, o, d, "reference")
    h = hits.hit
    # rays from outside hit the outside: the outward normal points back towards the camera
    assert ((hits.normal[h] * d[h]).sum(1) < 0).all()
    assert torch.allclose(hits.normal[h].norm(dim=1), torch.ones(int(h.sum())), atol=1e-5)
    assert (hits.normal[~h] == 0).all()


def test_analytic_square():
    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    assert np.allclose(face_normals(v, f), [[0, 0, 1], [0, 0, 1]])
    o = torch.tensor([[0.25, 0.5, 3.0], [2.0, 0.0, 3.0], [0.0, 0.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    for caster in ["reference"] + [c for c in ("open3d", "embree") if HAS[c]]:
        hits = cast_rays(v, f, o, d, caster)
        assert hits.hit.tolist() == [True, False, False], caster  # the third ray points away
        assert hits.distance[0].item() == pytest.approx(3.0)
        assert hits.points(o, d)[0].tolist() == pytest.approx([0.25, 0.5, 0.0], abs=1e-6)


def test_errors(monkeypatch):
    v, f = _mesh()
    with pytest.raises(DnerfError, match="unknown ray caster"):
        MeshCaster(v, f, "optix")
    with pytest.raises(DnerfError, match="without faces"):
        MeshCaster(v, f[:0], "reference")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "open3d" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'dnerf\[fast\]'"):
        MeshCaster(v, f, "open3d")
    assert surface_cast.DEFAULT_CASTER == "open3d"
