"""Labeled meshes: marching cubes on the generator's density, per-face part labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DnerfError
from ..generators.base import Generator, Subject
from ..labels import LabelSet
from .types import LabeledMesh, LabeledPointCloud

DEFAULT_CHUNK_POINTS = 1 << 18  # density queries per call: bounds memory on big grids


@dataclass(frozen=True)
class MeshConfig:
    """resolution: grid samples per axis over [-bounds, bounds]^3; chunk_points: points per query."""

    resolution: int = 128
    chunk_points: int = DEFAULT_CHUNK_POINTS


def _query(fn, subject: Subject, points: np.ndarray, chunk: int) -> torch.Tensor:
    pts = torch.from_numpy(points).float()
    return torch.cat([fn(subject, pts[None, i:i + chunk])[0] for i in range(0, len(pts), chunk)])


@torch.no_grad()
def density_grid(generator: Generator, subject: Subject, config: MeshConfig = MeshConfig()) -> np.ndarray:
    """[R,R,R] density, axes (x, y, z), sampled at R points per axis spanning [-bounds, bounds]."""
    axis = np.linspace(-generator.bounds, generator.bounds, config.resolution, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    dens = _query(generator.density, subject, grid, config.chunk_points)
    return dens.reshape(config.resolution, config.resolution, config.resolution).numpy()


@dataclass
class SurfaceGeometry:
    """The unlabeled iso-surface: vertices [V,3] float32, faces [F,3] int64 (wound outwards),
    resolution: the marching-cubes grid it came from; level_scale: its level over the generator's
    density threshold (1: the labeled mesh's surface)."""

    vertices: np.ndarray
    faces: np.ndarray
    resolution: int
    level_scale: float = 1.0


@torch.no_grad()
def extract_surface(generator: Generator, subject: Subject, config: MeshConfig = MeshConfig(),
                    level_scale: float = 1.0) -> SurfaceGeometry:
    """Marching cubes on the generator's density at its density threshold times level_scale (no
    labels): what the labeled mesh (level_scale 1) and the surface render path's bake are made of."""
    from skimage.measure import marching_cubes

    if len(subject) != 1:
        raise DnerfError(f"extract_mesh takes one subject, got {len(subject)}")
    vol = density_grid(generator, subject, config)
    level = generator.density_threshold * level_scale
    if not (vol.max() > level > vol.min()):
        raise DnerfError(f"no surface: the density never crosses {level:g} inside the box of half-size "
                         f"{generator.bounds:g}")
    step = 2 * generator.bounds / (config.resolution - 1)
    verts, faces, _, _ = marching_cubes(vol, level=level, spacing=(step, step, step))
    verts = (verts - generator.bounds).astype(np.float32)
    # skimage winds faces towards increasing values; density grows inwards, so flip them to face out
    faces = np.ascontiguousarray(faces[:, ::-1]).astype(np.int64)
    return SurfaceGeometry(verts, faces, config.resolution, level_scale)


@torch.no_grad()
def extract_mesh(generator: Generator, subject: Subject, resolution: int = 128,
                 config: MeshConfig | None = None, surface: SurfaceGeometry | None = None) -> LabeledMesh:
    """Marching cubes at the generator's density threshold; faces labeled by the generator's 3D
    labels at their centroids, vertices colored by its colors where it has them.
    surface: an already extracted surface of this subject (e.g. the surface path's bake)."""
    if len(subject) != 1:
        raise DnerfError(f"extract_mesh takes one subject, got {len(subject)}")
    config = config or MeshConfig(resolution=resolution)
    if surface is None or surface.resolution != config.resolution or surface.level_scale != 1.0:
        surface = extract_surface(generator, subject, config)
    verts, faces = surface.vertices, surface.faces
    centroids = verts[faces].mean(axis=1)
    labels = generator.labels_at(subject, torch.from_numpy(centroids)[None])
    if labels is None:
        raise DnerfError(f"{generator.name} gives no 3D labels; label the mesh from a cloud with label_mesh_from_cloud")
    colors = np.zeros((len(verts), 3), dtype=np.uint8)
    if hasattr(generator, "colors_at"):
        rgb = _query(generator.colors_at, subject, verts, config.chunk_points)
        colors = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return LabeledMesh(verts, faces.astype(np.int64), labels[0].int().numpy(), colors)


def nearest_labels(queries: np.ndarray, cloud: LabeledPointCloud) -> np.ndarray:
    """Label of the nearest cloud point for each query point [Q,3]."""
    from scipy.spatial import cKDTree

    if len(cloud) == 0:
        raise DnerfError("cannot label from an empty point cloud")
    _, idx = cKDTree(cloud.points).query(queries, k=1)
    return cloud.labels[idx]


def label_mesh_from_cloud(mesh: LabeledMesh, cloud: LabeledPointCloud) -> LabeledMesh:
    """Relabel every face with the label of the cloud point nearest to its centroid."""
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return LabeledMesh(mesh.vertices, mesh.faces, nearest_labels(centroids, cloud), mesh.vertex_colors)


def split_by_part(mesh: LabeledMesh, label_set: LabelSet) -> dict[str, LabeledMesh]:
    """One mesh per part present (vertices re-indexed), keyed by part name, in label-id order."""
    out = {}
    for lab in label_set.labels:
        sel = mesh.face_labels == lab.id
        if lab.id == 0 or not sel.any():
            continue
        faces = mesh.faces[sel]
        used, inverse = np.unique(faces, return_inverse=True)
        out[lab.name] = LabeledMesh(mesh.vertices[used], inverse.reshape(-1, 3), mesh.face_labels[sel],
                                    mesh.vertex_colors[used])
    return out
