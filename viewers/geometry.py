"""Load what `dnerf view` shows into one labeled geometry, and count its parts. Pure numpy
(trimesh for GLB files, dnerf's own PLY reader for PLY files); no rendering library here.

Inputs:
- a PLY point cloud with an integer `label` per vertex (dnerf's cloud.ply), or a PLY mesh with
  an integer `label` per face (dnerf's mesh PLY);
- a GLB with one mesh node per part, named by part (dnerf's mesh.glb);
- an export folder holding cloud.ply and/or mesh.glb (and labels.json).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnerf_core.errors import DnerfError
from dnerf_core.factory.export.glb import SCENE_EXTRAS_KEY
from dnerf_core.factory.export.ply import read_mesh_ply, read_point_cloud_ply
from dnerf_core.labels import LabelSet

from .legend import Legend, colors_from_points, resolve_legend

LABELS_FILE = "labels.json"  # the label set every dnerf export writes next to its files
CLOUD_FILE = "cloud.ply"
MESH_FILE = "mesh.glb"
POINT_SUFFIXES = (".ply",)
MESH_SUFFIXES = (".glb", ".gltf")


@dataclass
class LabeledGeometry:
    """A labeled point cloud (kind "points") or a labeled triangle mesh (kind "mesh").

    points: [N,3] float32 cloud points or mesh vertices; faces: [F,3] int64 (meshes only);
    labels: [N] int32 per point, or [F] int32 per face for meshes.
    """

    kind: str
    path: Path
    points: np.ndarray
    labels: np.ndarray
    legend: Legend
    faces: np.ndarray | None = None

    @property
    def unit(self) -> str:
        """What one label counts: points of a cloud, faces of a mesh."""
        return "points" if self.kind == "points" else "faces"


@dataclass(frozen=True)
class PartCount:
    label_id: int
    name: str
    color: tuple[int, int, int]
    count: int
    share: float  # of all points (or faces)


def part_counts(geom: LabeledGeometry) -> list[PartCount]:
    """Points (or faces) per part, in legend order (ascending label id)."""
    total = max(len(geom.labels), 1)
    ids, counts = np.unique(geom.labels, return_counts=True)
    by_id = dict(zip(ids.tolist(), counts.tolist()))
    return [PartCount(e.label_id, e.name, e.color, by_id.get(e.label_id, 0), by_id.get(e.label_id, 0) / total)
            for e in geom.legend.entries]


# --- loading ------------------------------------------------------------------------------------
def _sidecar_labels(path: Path) -> LabelSet | None:
    sidecar = path.parent / LABELS_FILE
    return LabelSet.load(sidecar) if sidecar.is_file() else None


def _load_ply(path: Path) -> LabeledGeometry:
    try:
        cloud, file_legend = read_point_cloud_ply(path)
    except DnerfError as cloud_error:
        # A PLY mesh carries its labels on faces; if it is not one either, the cloud error
        # (e.g. "has no 'label' property") is the one that explains the problem.
        try:
            mesh, file_legend = read_mesh_ply(path)
        except DnerfError:
            raise cloud_error from None
        if len(mesh.faces) == 0 or mesh.face_labels.min() < 0:
            raise DnerfError(f"{path} holds no faces or has negative face labels")
        legend = resolve_legend(np.unique(mesh.face_labels), None,
                                [("labels.json", _sidecar_labels(path)), ("file legend", file_legend)])
        return LabeledGeometry("mesh", path, mesh.vertices, mesh.face_labels, legend, mesh.faces)
    if len(cloud) == 0:
        raise DnerfError(f"{path} holds no points")
    if not np.isfinite(cloud.points).all():
        raise DnerfError(f"{path} has non-finite point coordinates")
    if cloud.labels.min() < 0:
        raise DnerfError(f"{path} has negative labels (label ids start at 0)")
    legend = resolve_legend(np.unique(cloud.labels), None,
                            [("labels.json", _sidecar_labels(path)), ("file legend", file_legend)],
                            point_colors=colors_from_points(cloud.labels, cloud.colors))
    return LabeledGeometry("points", path, cloud.points, cloud.labels, legend)


def _glb_label_set(scene) -> LabelSet | None:
    data = scene.metadata.get(SCENE_EXTRAS_KEY)
    return LabelSet.from_dict(data) if isinstance(data, dict) else None


def _load_glb(path: Path) -> LabeledGeometry:
    import trimesh

    try:
        scene = trimesh.load(str(path), force="scene")
    except Exception as exc:  # trimesh raises many kinds of errors for a file that is not a GLB
        raise DnerfError(f"{path}: not a readable GLB/glTF file ({type(exc).__name__}: {exc})") from None
    sidecar, embedded = _sidecar_labels(path), _glb_label_set(scene)
    known = sidecar or embedded
    verts, faces, labels = [], [], []
    names: dict[int, str] = {}
    node_colors: dict[int, tuple[int, int, int]] = {}
    next_free = len(known) if known is not None else 1  # ids for parts no label set knows
    offset = 0
    for node in scene.graph.nodes_geometry:  # one node per part (dnerf's layout)
        transform, geom_name = scene.graph[node]
        mesh = scene.geometry[geom_name]
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            continue  # points or lines in someone else's GLB: nothing to label
        label_id = mesh.metadata.get("label_id")
        if label_id is None and known is not None and node in known.names:
            label_id = known.id_of(node)
        if label_id is None:
            label_id = next((i for i, n in names.items() if n == node), None)
        if label_id is None:
            label_id, next_free = next_free, next_free + 1
        label_id = int(label_id)
        names.setdefault(label_id, str(node))
        if "label_color" in mesh.metadata:
            node_colors[label_id] = tuple(int(c) for c in mesh.metadata["label_color"])
        verts.append(trimesh.transformations.transform_points(mesh.vertices, transform))
        faces.append(np.asarray(mesh.faces, np.int64) + offset)
        labels.append(np.full(len(mesh.faces), label_id, np.int32))
        offset += len(mesh.vertices)
    if not faces:
        raise DnerfError(f"{path} holds no triangle meshes")
    labels_all = np.concatenate(labels)
    legend = resolve_legend(np.unique(labels_all), names,
                            [("labels.json", sidecar), ("file legend", embedded)],
                            point_colors=node_colors or None)
    return LabeledGeometry("mesh", path, np.concatenate(verts).astype(np.float32), labels_all, legend,
                           np.concatenate(faces))


def _load_folder(path: Path, prefer_mesh: bool) -> LabeledGeometry:
    order = (MESH_FILE, CLOUD_FILE) if prefer_mesh else (CLOUD_FILE, MESH_FILE)
    for name in order:
        if (path / name).is_file():
            return load_geometry(path / name)
    samples = sorted(p.parent for p in path.glob(f"*/{CLOUD_FILE}")) + sorted(p.parent for p in path.glob(f"*/{MESH_FILE}"))
    if samples:
        raise DnerfError(f"{path} is a dataset folder with {len(set(samples))} samples; view one of them, "
                         f"e.g. {samples[0]}")
    raise DnerfError(f"{path} holds neither {CLOUD_FILE} nor {MESH_FILE}")


def load_geometry(path: str | Path, prefer_mesh: bool = False) -> LabeledGeometry:
    """Load a labeled PLY, a part GLB, or an export folder (its cloud.ply, or mesh.glb when
    `prefer_mesh` or when there is no cloud)."""
    path = Path(path)
    if not path.exists():
        raise DnerfError(f"file not found: {path}")
    if path.is_dir():
        return _load_folder(path, prefer_mesh)
    suffix = path.suffix.lower()
    if suffix in POINT_SUFFIXES:
        return _load_ply(path)
    if suffix in MESH_SUFFIXES:
        return _load_glb(path)
    raise DnerfError(f"{path}: not a PLY or GLB file (dnerf view shows .ply, .glb or an export folder)")
