"""Named results of the factory: labeled point clouds and labeled meshes (numpy, export-ready)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LabeledPointCloud:
    """points [N,3] float32, normals [N,3] float32 (unit), colors [N,3] uint8, labels [N] int32."""

    points: np.ndarray
    normals: np.ndarray
    colors: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.points)
        self.points = np.ascontiguousarray(self.points, dtype=np.float32).reshape(n, 3)
        self.normals = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(n, 3)
        self.colors = np.ascontiguousarray(self.colors, dtype=np.uint8).reshape(n, 3)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int32).reshape(n)

    def __len__(self) -> int:
        return len(self.points)

    def select(self, mask: np.ndarray) -> "LabeledPointCloud":
        return LabeledPointCloud(self.points[mask], self.normals[mask], self.colors[mask], self.labels[mask])


@dataclass
class LabeledMesh:
    """vertices [V,3] float32, faces [F,3] int64 (counter-clockwise seen from outside),
    face_labels [F] int32, vertex_colors [V,3] uint8 (appearance, may be all zero)."""

    vertices: np.ndarray
    faces: np.ndarray
    face_labels: np.ndarray
    vertex_colors: np.ndarray

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        self.face_labels = np.ascontiguousarray(self.face_labels, dtype=np.int32).reshape(-1)
        self.vertex_colors = np.ascontiguousarray(self.vertex_colors, dtype=np.uint8).reshape(-1, 3)
        if len(self.face_labels) != len(self.faces):
            raise ValueError("one label per face is required")
