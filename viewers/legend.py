"""Which color and name each label gets on screen, and the two colors that must stand apart from
all of them: the canvas (background) and the `--diff` highlight. Pure numpy.

Where label colors come from, first match wins (see `resolve_legend`):
1. `labels.json` next to the file (what every dnerf export writes),
2. the legend the file carries itself (PLY header comments, GLB scene extras / node extras),
3. the file's own per-point colors when they are constant within every label (a cloud another
   tool already colored by label),
4. a generated palette (evenly spread hues), so any labeled file can be viewed.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from dnerf_core.labels import LabelSet

# Canvas and highlight candidates in order of preference; the first one far enough from every
# label color is used, so a part is never drawn in the background's or the highlight's color.
CANVAS_CANDIDATES = ((255, 255, 255), (0, 0, 0), (128, 128, 128), (32, 32, 96))
HIGHLIGHT_CANDIDATES = ((255, 0, 255), (0, 255, 255), (255, 255, 0), (128, 0, 255), (0, 255, 0))
# Max-channel distance below which two colors are considered confusable on screen.
MIN_COLOR_SEPARATION = 48
GOLDEN_RATIO_CONJUGATE = 0.618033988749895  # hue step that keeps generated hues far apart
DIFF_LEGEND_NAME = "label differs"


@dataclass(frozen=True)
class LegendEntry:
    """One labeled part as drawn: its id, display name and sRGB color (0..255)."""

    label_id: int
    name: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Legend:
    """Entries for the labels present in the geometry (ascending ids), and where colors came from."""

    entries: tuple[LegendEntry, ...]
    source: str  # "labels.json", "file legend", "file colors" or "generated"

    def color_table(self) -> np.ndarray:
        """[max_id+1, 3] uint8 lookup table: label id -> color (unused ids are grey)."""
        size = max((e.label_id for e in self.entries), default=0) + 1
        table = np.full((size, 3), 128, np.uint8)
        for e in self.entries:
            table[e.label_id] = e.color
        return table

    def colors_of(self, labels: np.ndarray) -> np.ndarray:
        """[N] label ids -> [N,3] uint8 colors."""
        return self.color_table()[labels]


def generated_color(label_id: int) -> tuple[int, int, int]:
    """A deterministic, saturated color for a label with no color anywhere."""
    hue = (label_id * GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.9)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def colors_from_points(labels: np.ndarray, colors: np.ndarray | None) -> dict[int, tuple[int, int, int]] | None:
    """{label: color} when every label's points share one non-black color, else None.

    Black is excluded because readers fill absent colors with zeros.
    """
    if colors is None or len(colors) == 0:
        return None
    out = {}
    for lab in np.unique(labels).tolist():
        c = colors[labels == lab]
        if not (c == c[0]).all() or not c[0].any():
            return None
        out[lab] = tuple(int(v) for v in c[0])
    # Two labels sharing one color means the colors are appearance, not a label coding.
    return out if len(set(out.values())) == len(out) else None


def resolve_legend(present_ids, names: dict[int, str] | None, label_sets: list[tuple[str, LabelSet | None]],
                   point_colors: dict[int, tuple[int, int, int]] | None = None) -> Legend:
    """Legend entries for `present_ids` (the labels in the geometry).

    label_sets: (source name, label set or None) in order of preference; names: names the file
    itself gives (GLB node names), used when no label set knows an id.
    """
    present = sorted(int(i) for i in present_ids)
    chosen_source, chosen = "generated", None
    for source, ls in label_sets:
        if ls is not None:
            chosen_source, chosen = source, ls
            break
    if chosen is None and point_colors is not None:
        chosen_source = "file colors"
    entries = []
    for lab in present:
        name = (names or {}).get(lab)
        if chosen is not None and 0 <= lab < len(chosen):
            label = chosen.labels[lab]
            entries.append(LegendEntry(lab, name or label.name, tuple(int(c) for c in label.color)))
            continue
        color = (point_colors or {}).get(lab) or generated_color(lab)
        entries.append(LegendEntry(lab, name or ("background" if lab == 0 else f"label {lab}"), color))
    return Legend(tuple(entries), chosen_source)


def _far_from(colors: list[tuple[int, int, int]], candidates, avoid=()) -> tuple[int, int, int]:
    """The first candidate at least MIN_COLOR_SEPARATION (max channel) from all `colors`."""
    taken = np.array(list(colors) + list(avoid), dtype=np.int32).reshape(-1, 3)
    best, best_dist = candidates[0], -1
    for cand in candidates:
        dist = int(np.abs(taken - np.array(cand)).max(axis=1).min()) if len(taken) else 255
        if dist >= MIN_COLOR_SEPARATION:
            return tuple(cand)
        if dist > best_dist:
            best, best_dist = cand, dist
    return tuple(best)  # every candidate is close to something: take the least confusable


def canvas_color(legend: Legend) -> tuple[int, int, int]:
    return _far_from([e.color for e in legend.entries], CANVAS_CANDIDATES)


def highlight_color(legend: Legend) -> tuple[int, int, int]:
    """The `--diff` highlight: far from every label color and from the canvas."""
    return _far_from([e.color for e in legend.entries], HIGHLIGHT_CANDIDATES, avoid=[canvas_color(legend)])
