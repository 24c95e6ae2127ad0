"""dnerf world (y-up) <-> Blender world (z-up).

dnerf data stays in dnerf coordinates inside every object (mesh vertices, point positions, camera
matrices relative to the rig); the object (or rig empty) transform carries one fixed rotation of
+90 degrees about x, which takes dnerf's +y (up) to Blender's +z and dnerf's front (+z) to
Blender's -y (what Blender's Front view looks at). So subjects stand upright in Blender while the
numbers inside stay exactly dnerf's.
"""
from __future__ import annotations

import math

import numpy as np
from mathutils import Matrix

DNERF_TO_BLENDER = Matrix.Rotation(math.pi / 2, 4, "X")


def to_matrix(array) -> Matrix:
    """4x4 numpy/torch array -> mathutils.Matrix (row-major, as both store it)."""
    a = np.asarray(array, dtype=np.float64).reshape(4, 4)
    return Matrix([list(map(float, row)) for row in a])


def to_numpy(matrix: Matrix) -> np.ndarray:
    return np.array([list(row) for row in matrix], dtype=np.float64)
