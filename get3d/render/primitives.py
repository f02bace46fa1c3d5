"""Small closed test meshes (counter-clockwise winding seen from outside) for tests, benchmarks
and previews. All return ``(verts [V, 3] float32, faces [F, 3] int64)``."""
from __future__ import annotations

import math
from typing import Tuple

import torch

from get3d.errors import Get3dError

__all__ = ["icosphere", "cube"]


def _icosahedron() -> Tuple[torch.Tensor, torch.Tensor]:
    t = (1.0 + math.sqrt(5.0)) / 2.0
    verts = torch.tensor(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
         [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=torch.float32,
    )
    faces = torch.tensor(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
         [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
         [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
         [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=torch.int64,
    )
    return torch.nn.functional.normalize(verts, dim=-1), faces


def _subdivide(verts: torch.Tensor, faces: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split every triangle into four at its edge midpoints (shared midpoints), then project
    the new vertices onto the unit sphere."""
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # [3F, 2]
    edges_sorted, _ = edges.sort(dim=1)
    unique, inverse = torch.unique(edges_sorted, dim=0, return_inverse=True)
    mid = torch.nn.functional.normalize(verts[unique].mean(dim=1), dim=-1)
    mid_idx = (inverse + verts.shape[0]).reshape(3, -1).T  # [F, 3]: midpoints of e01, e12, e20
    a, b, c = faces.unbind(1)
    ab, bc, ca = mid_idx.unbind(1)
    new_faces = torch.cat(
        [torch.stack(t, dim=1) for t in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))]
    )
    return torch.cat([verts, mid]), new_faces


def icosphere(subdivisions: int = 3, radius: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Geodesic sphere with ``20 * 4**subdivisions`` faces (5 -> 20,480), vertices on the
    sphere of the given radius."""
    if not isinstance(subdivisions, int) or not 0 <= subdivisions <= 8:
        raise Get3dError(f"subdivisions must be an int in [0, 8], got {subdivisions!r}")
    verts, faces = _icosahedron()
    for _ in range(subdivisions):
        verts, faces = _subdivide(verts, faces)
    return verts * float(radius), faces


def cube(size: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Axis-aligned cube centred at the origin with edge length ``size``: 8 vertices shared by
    the 12 faces (so use flat normals to see its faces as planes)."""
    h = float(size) / 2.0
    verts = torch.tensor(
        [[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)], dtype=torch.float32
    )  # index = 4 * (x > 0) + 2 * (y > 0) + (z > 0)
    faces = torch.tensor(
        [[0, 1, 3], [0, 3, 2],  # -X
         [4, 6, 7], [4, 7, 5],  # +X
         [0, 4, 5], [0, 5, 1],  # -Y
         [2, 3, 7], [2, 7, 6],  # +Y
         [0, 2, 6], [0, 6, 4],  # -Z
         [1, 5, 7], [1, 7, 3]],  # +Z
        dtype=torch.int64,
    )
    return verts, faces
