"""What a backend draws, decided once without any rendering library: one layer per part (so a key
can toggle it), flat colors per point or per part, the legend rows, the canvas color and the
camera direction. Both backends (open3d_backend, pyvista_backend) draw exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .diff import LabelDiff
from .geometry import LabeledGeometry, part_counts
from .legend import DIFF_LEGEND_NAME, canvas_color, highlight_color

# Number keys toggle the first nine parts in legend order; 0 shows every part again.
TOGGLE_KEYS = "123456789"
SHOW_ALL_KEY = "0"
# Camera looks at the bounding-box center from this direction (world y-up; dnerf subjects face
# +z): a three-quarter view from the front, right and above, which shows every car part (wheels,
# lights, windows) and every face part at once.
VIEW_DIRECTION = (0.55, 0.45, 1.0)
VIEW_UP = (0.0, 1.0, 0.0)


@dataclass
class PartLayer:
    """One part as drawn. points: [n,3] float32 (mesh: the part's vertices); colors: [n,3] uint8
    per point (flat, unlit); faces: [m,3] int64 into `points` for meshes, None for clouds."""

    label_id: int
    name: str
    color: tuple[int, int, int]
    key: str | None
    points: np.ndarray
    colors: np.ndarray
    faces: np.ndarray | None = None
    visible: bool = True


@dataclass
class ViewScene:
    title: str
    kind: str  # "points" or "mesh"
    layers: list[PartLayer]
    legend_rows: list[tuple[str, tuple[int, int, int]]]  # (text, color), drawn top to bottom
    canvas: tuple[int, int, int]
    center: np.ndarray  # [3] look-at point
    extent: float  # bounding-box diagonal, for fitting the camera
    view_direction: tuple[float, float, float] = VIEW_DIRECTION
    view_up: tuple[float, float, float] = VIEW_UP
    highlight: tuple[int, int, int] | None = None
    notes: list[str] = field(default_factory=list)

    def layer_for_key(self, key: str) -> PartLayer | None:
        return next((layer for layer in self.layers if layer.key == key), None)

    def camera_position(self, distance_factor: float = 1.6) -> np.ndarray:
        """A camera position along `view_direction` that frames the whole bounding box."""
        d = np.asarray(self.view_direction, np.float64)
        return self.center + d / np.linalg.norm(d) * self.extent * distance_factor


def _mesh_part(geom: LabeledGeometry, label_id: int) -> tuple[np.ndarray, np.ndarray]:
    part_faces = geom.faces[geom.labels == label_id]  # [m,3] global vertex ids
    used, local = np.unique(part_faces, return_inverse=True)  # compact to this part's vertices
    return geom.points[used], local.reshape(-1, 3).astype(np.int64)


def build_scene(geom: LabeledGeometry, diff: LabelDiff | None = None) -> ViewScene:
    """Split `geom` into per-part layers colored by label; with `diff`, disagreeing points take
    the highlight color (and the legend gets a row for them)."""
    legend = geom.legend
    highlight = highlight_color(legend) if diff is not None else None
    point_colors = legend.colors_of(geom.labels) if geom.kind == "points" else None  # [N,3]
    if diff is not None:
        point_colors[diff.disagree] = highlight
    layers, rows = [], []
    counts = {c.label_id: c.count for c in part_counts(geom)}
    for i, entry in enumerate(legend.entries):
        key = TOGGLE_KEYS[i] if i < len(TOGGLE_KEYS) else None
        if geom.kind == "points":
            mask = geom.labels == entry.label_id
            pts, cols, faces = geom.points[mask], point_colors[mask], None
        else:
            pts, faces = _mesh_part(geom, entry.label_id)
            cols = np.tile(np.array(entry.color, np.uint8), (len(pts), 1))
        layers.append(PartLayer(entry.label_id, entry.name, entry.color, key, pts, cols, faces))
        rows.append((f"{key + ' ' if key else ''}{entry.name} ({counts[entry.label_id]})", entry.color))
    if diff is not None:
        rows.append((f"{DIFF_LEGEND_NAME} ({diff.count}, {100 * diff.share:.1f}%)", highlight))
    lo, hi = geom.points.min(axis=0).astype(np.float64), geom.points.max(axis=0).astype(np.float64)
    notes = []
    if len(legend.entries) > len(TOGGLE_KEYS):
        notes.append(f"only the first {len(TOGGLE_KEYS)} parts have toggle keys")
    return ViewScene(title=f"dnerf view: {geom.path.name}", kind=geom.kind, layers=layers, legend_rows=rows,
                     canvas=canvas_color(legend), center=(lo + hi) / 2,
                     extent=float(max(np.linalg.norm(hi - lo), 1e-6)), highlight=highlight, notes=notes)


def toggle(scene: ViewScene, key: str) -> PartLayer | None:
    """What a key press does: a number key flips its part's visibility, 0 shows every part.
    Returns the layer that changed (None for 0 or an unbound key)."""
    if key == SHOW_ALL_KEY:
        for layer in scene.layers:
            layer.visible = True
        return None
    layer = scene.layer_for_key(key)
    if layer is not None:
        layer.visible = not layer.visible
    return layer


def key_help(scene: ViewScene) -> list[str]:
    lines = [f"  {layer.key}  toggle {layer.name}" for layer in scene.layers if layer.key]
    lines.append(f"  {SHOW_ALL_KEY}  show every part")
    return lines
