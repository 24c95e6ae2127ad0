"""Part label sets: ids, names, colors. Background is always id 0; 255 means "ignore" in masks."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DnerfError

BACKGROUND_ID = 0
IGNORE_ID = 255  # Pascal-VOC convention for unlabeled pixels in palette masks


@dataclass(frozen=True)
class Label:
    id: int
    name: str
    color: tuple[int, int, int]  # sRGB 0..255


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of part labels whose ids are exactly 0..K-1 (0 = background)."""

    labels: tuple[Label, ...]

    def __post_init__(self) -> None:
        ids = [lab.id for lab in self.labels]
        if ids != list(range(len(ids))) or not ids:
            raise DnerfError(f"label ids must be 0..K-1 in order, got {ids}")
        if self.labels[0].id != BACKGROUND_ID:
            raise DnerfError("label 0 must be the background")
        if len(ids) >= IGNORE_ID:
            raise DnerfError(f"at most {IGNORE_ID - 1} labels fit in an 8-bit mask")
        names = [lab.name for lab in self.labels]
        if len(set(names)) != len(names):
            raise DnerfError(f"label names must be unique, got {names}")
        for lab in self.labels:
            if len(lab.color) != 3 or not all(0 <= int(c) <= 255 for c in lab.color):
                raise DnerfError(f"label {lab.name!r}: color must be three values in 0..255")

    @classmethod
    def from_names(cls, names: list[str], colors: list[tuple[int, int, int]]) -> "LabelSet":
        """Build from part names (background is prepended) and one color per name (+ background)."""
        all_names = ["background", *names]
        if len(colors) != len(all_names):
            raise DnerfError(f"need {len(all_names)} colors (background first), got {len(colors)}")
        return cls(tuple(Label(i, n, tuple(int(v) for v in c)) for i, (n, c) in enumerate(zip(all_names, colors))))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def part_names(self) -> list[str]:
        return self.names[1:]

    def palette(self) -> np.ndarray:
        """[K,3] uint8 colors indexed by label id."""
        return np.array([lab.color for lab in self.labels], dtype=np.uint8)

    def id_of(self, name: str) -> int:
        for lab in self.labels:
            if lab.name == name:
                return lab.id
        raise DnerfError(f"unknown part {name!r}; known parts: {', '.join(self.names)}")

    def to_dict(self) -> dict:
        return {"background": BACKGROUND_ID, "ignore": IGNORE_ID,
                "labels": [{"id": lab.id, "name": lab.name, "color": list(lab.color)} for lab in self.labels]}

    @classmethod
    def from_dict(cls, data: dict) -> "LabelSet":
        try:
            return cls(tuple(Label(int(d["id"]), str(d["name"]), tuple(int(v) for v in d["color"]))
                             for d in data["labels"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DnerfError(f"not a label set: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "LabelSet":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise DnerfError(f"labels JSON is not valid JSON: {exc}") from exc

    def save(self, path: str | Path) -> None:
        from .io.atomic import atomic_write_text

        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "LabelSet":
        path = Path(path)
        if not path.is_file():
            raise DnerfError(f"label file not found: {path}")
        return cls.from_json(path.read_text())
