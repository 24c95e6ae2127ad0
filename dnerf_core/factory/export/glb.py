"""Part-segmented GLB: one node per part present in the mesh, each with its own PBR material.

Layout of the file (glTF 2.0, binary):
- one node and one mesh per part, both named by the part ("hood", "wheel", ...); the node's
  `extras` hold {"label_id": id, "label_color": [r, g, b]} (sRGB 0..255, the exact label color);
- one material per part, named by the part: metallic 0, roughness ROUGHNESS, baseColorFactor =
  the label color converted from sRGB to linear (glTF factors are linear; a viewer then shows
  the label color itself);
- scene `extras` hold the whole label set ({"dnerf_labels": LabelSet.to_dict()});
- smooth vertex normals computed on the whole mesh (so shading has no seams at part borders);
- world is y-up like glTF; coordinates are written in the units given (no rescaling);
- the mesh's vertex colors (appearance) are not written: glTF multiplies COLOR_0 into the base
  color, which would hide the part colors. `ply.write_mesh_ply` keeps them.
Same inputs give byte-identical files (no timestamps; trimesh's JSON keeps insertion order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DnerfError
from ...labels import LabelSet
from ..types import LabeledMesh
from ...io.atomic import atomic_write_bytes

METALLIC = 0.0
ROUGHNESS = 0.8  # matte: part colors read the same from every viewing angle
SCENE_EXTRAS_KEY = "dnerf_labels"
# The name trimesh gives the scene graph's root frame. It is not written as a glTF node, but a
# part with this name would clash with it, so our scenes use a name no label set will contain.
ROOT_FRAME = "__dnerf_root__"
FALLBACK_NORMAL = (0.0, 1.0, 0.0)  # for vertices touched only by degenerate faces (glTF wants unit normals)
# bufferView.target values of the glTF spec (WebGL enums); the validator hints when they are missing.
GL_ARRAY_BUFFER = 34962  # vertex attributes
GL_ELEMENT_ARRAY_BUFFER = 34963  # triangle indices


def srgb_to_linear(rgb_u8) -> np.ndarray:
    """[...,3] sRGB 0..255 -> linear 0..1 (the IEC 61966-2-1 transfer curve)."""
    c = np.asarray(rgb_u8, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(rgb_linear) -> np.ndarray:
    """[...,3] linear 0..1 -> sRGB 0..255 (float; round for the 8-bit color)."""
    c = np.clip(np.asarray(rgb_linear, dtype=np.float64), 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V,3] unit area-weighted vertex normals of a triangle mesh (vertices [V,3], faces [F,3])."""
    tri = vertices[faces].astype(np.float64)  # [F,3,3]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F,3], length = 2 * area
    acc = np.zeros((len(vertices), 3), np.float64)  # [V,3] sum of adjacent face normals
    for corner in range(3):
        for axis in range(3):  # bincount: a fast scatter-add
            acc[:, axis] += np.bincount(faces[:, corner], weights=face_n[:, axis], minlength=len(vertices))
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    ok = length[:, 0] > 1e-20
    out = np.tile(np.asarray(FALLBACK_NORMAL), (len(vertices), 1))
    out[ok] = acc[ok] / length[ok]
    return out.astype(np.float32)


def _validate(path: Path, mesh: LabeledMesh, label_set: LabelSet) -> None:
    if len(mesh.faces) == 0:
        raise DnerfError(f"cannot write {path}: the mesh has no faces (nothing was extracted)")
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        raise DnerfError(f"cannot write {path}: face indices must lie in 0..{len(mesh.vertices) - 1}")
    if not np.isfinite(mesh.vertices).all():
        raise DnerfError(f"cannot write {path}: the mesh has non-finite vertex coordinates")
    bad = np.unique(mesh.face_labels[(mesh.face_labels < 0) | (mesh.face_labels >= len(label_set))])
    if bad.size:
        raise DnerfError(f"cannot write {path}: face labels {bad[:8].tolist()} are not in the label set "
                         f"(ids 0..{len(label_set) - 1})")


def glb_bytes(mesh: LabeledMesh, label_set: LabelSet) -> bytes:
    """The GLB file contents (see the module docstring); `write_glb` writes them atomically."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    normals = vertex_normals(mesh.vertices, mesh.faces)  # [V,3], on the whole mesh: no seams
    scene = trimesh.Scene(base_frame=ROOT_FRAME)
    scene.metadata[SCENE_EXTRAS_KEY] = label_set.to_dict()
    for label_id in np.unique(mesh.face_labels).tolist():  # ascending ids: a stable node order
        label = label_set.labels[label_id]
        part_faces = mesh.faces[mesh.face_labels == label_id]  # [Fp,3] global vertex ids
        used, local_faces = np.unique(part_faces, return_inverse=True)  # compact to this part's vertices
        part = trimesh.Trimesh(vertices=mesh.vertices[used], faces=local_faces.reshape(-1, 3),
                               vertex_normals=normals[used], process=False, validate=False)
        part.visual = trimesh.visual.TextureVisuals(material=PBRMaterial(
            name=label.name, baseColorFactor=[*label.color, 255], metallicFactor=METALLIC,
            roughnessFactor=ROUGHNESS))
        extras = {"label_id": label.id, "label_color": list(label.color)}
        # Mesh extras (from .metadata) come back as geometry metadata in trimesh; node extras
        # become object custom properties in Blender. Both carry the label.
        part.metadata.update(extras)
        scene.add_geometry(part, node_name=label.name, geom_name=label.name, metadata=dict(extras))
    # include_normals: ours, already unit length (trimesh would otherwise leave them out).
    return scene.export(file_type="glb", include_normals=True, tree_postprocessor=_finish_tree)


def _finish_tree(tree: dict) -> None:
    """Edit trimesh's glTF JSON in place before it is serialized.

    trimesh stores material colors as 8-bit values, which would round dark linear colors
    badly (sRGB 10 -> linear 0.003 -> 1/255 -> sRGB 13); write exact linear floats instead,
    from the label color kept in each mesh's extras. Also set bufferView targets.
    """
    accessors = tree["accessors"]
    targets: dict[int, set[int]] = {}  # bufferView index -> the uses seen
    for mesh in tree["meshes"]:
        color = mesh.get("extras", {}).get("label_color")
        for prim in mesh["primitives"]:
            if color is not None and "material" in prim:
                pbr = tree["materials"][prim["material"]]["pbrMetallicRoughness"]
                pbr["baseColorFactor"] = [*srgb_to_linear(color).tolist(), 1.0]
            for acc in prim["attributes"].values():
                targets.setdefault(accessors[acc]["bufferView"], set()).add(GL_ARRAY_BUFFER)
            targets.setdefault(accessors[prim["indices"]]["bufferView"], set()).add(GL_ELEMENT_ARRAY_BUFFER)
    for view, uses in targets.items():
        # trimesh shares one accessor between byte-identical arrays; a view used both ways gets none.
        if len(uses) == 1:
            tree["bufferViews"][view]["target"] = uses.pop()


def write_glb(path: str | Path, mesh: LabeledMesh, label_set: LabelSet) -> None:
    """Write `mesh` as a GLB with one named node + material per part present in it."""
    path = Path(path)
    _validate(path, mesh, label_set)
    atomic_write_bytes(path, glb_bytes(mesh, label_set))
