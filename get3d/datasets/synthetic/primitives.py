"""Geometry parts of the procedural categories: boxes, beams, surfaces of revolution, cylinders,
smooth curves, and :func:`assemble`, which joins parts into one textured Mesh.

Every part is a closed, outward-wound (counter-clockwise seen from outside) surface in numpy
float64 with per-vertex UVs in its own texture tile (``tile``); vertices are split where UVs are
discontinuous, as exact copies. Parts may interpenetrate (no boolean union).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch

from get3d.geometry.mesh import Mesh

TARGET_SIZE = 0.9  # largest bounding-box side of every generated shape

# =============================================================================== geometry parts


@dataclass
class Part:
    """One closed component: verts [V,3] float64, faces [F,3] int64, uvs [V,2] in its tile's
    own [0,1]^2 (OBJ convention), and the index of the atlas tile it maps into."""

    verts: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    tile: int = 0

    def transformed(self, rot: np.ndarray | None = None, shift=(0.0, 0.0, 0.0)) -> "Part":
        """Rotate (proper rotation [3,3], keeps the winding outward) then translate by shift [3]."""
        v = self.verts if rot is None else self.verts @ np.asarray(rot).T
        return Part(v + np.asarray(shift, dtype=np.float64), self.faces, self.uvs, self.tile)


def rotation_x(angle: float) -> np.ndarray:
    """[3,3] rotation by ``angle`` radians about +X (right-handed)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rotation_between(a, b) -> np.ndarray:
    """[3,3] rotation taking unit direction a [3] onto unit direction b [3] (Rodrigues)."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-12:  # opposite: half turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 0, 1.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


# Each box face: (normal axis, sign, u axis, v axis).
_BOX_FACES = [(0, 1, 2, 1), (0, -1, 2, 1), (1, 1, 0, 2), (1, -1, 0, 2), (2, 1, 0, 1), (2, -1, 0, 1)]


def box(size, centre=(0.0, 0.0, 0.0), tile: int = 0) -> Part:
    """Axis-aligned box: size (sx, sy, sz), centre [3] -> Part with 24 verts, 12 faces.

    Per-face UVs by box projection, isotropic: a face's (u, v) are its two tangent coordinates
    divided by the box's longest side, so no face is stretched (thin faces use a thin strip of
    the tile). v runs along Y on the side faces (wood grain follows a leg).
    """
    size = np.asarray(size, np.float64)
    half = size / 2
    scale = float(size.max())
    verts, uvs, faces = [], [], []
    for axis, sign, ua, va in _BOX_FACES:
        corners = []
        for cu, cv in ((0, 0), (1, 0), (1, 1), (0, 1)):
            p = np.zeros(3)
            p[axis] = sign * half[axis]
            p[ua] = (2 * cu - 1) * half[ua]
            p[va] = (2 * cv - 1) * half[va]
            corners.append(p)
            uvs.append((cu * size[ua] / scale, cv * size[va] / scale))
        base = len(verts)
        verts.extend(corners)
        normal = np.cross(corners[1] - corners[0], corners[3] - corners[0])
        quad = [(0, 1, 2), (0, 2, 3)] if normal[axis] * sign > 0 else [(0, 2, 1), (0, 3, 2)]
        faces.extend([(base + i, base + j, base + k) for i, j, k in quad])
    v = np.asarray(verts) + np.asarray(centre, np.float64)
    return Part(v, np.asarray(faces, np.int64), np.asarray(uvs, np.float64), tile)


def beam(p0, p1, width: float, depth: float | None = None, tile: int = 0) -> Part:
    """Box of cross-section width x depth whose long axis runs from point p0 [3] to p1 [3]."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    length = float(np.linalg.norm(p1 - p0))
    part = box((width, length, width if depth is None else depth), tile=tile)
    return part.transformed(rotation_between([0, 1, 0], p1 - p0), (p0 + p1) / 2)


def revolve(
    radius,
    height,
    v,
    segments: int,
    creases=(),
    centres=None,
    tile: int = 0,
) -> Part:
    """Surface of revolution about +Y of a profile polyline; a closed surface when the profile
    starts and ends on the axis (radius 0).

    radius, height, v: [N] profile points in order (radius >= 0; a point with radius 0 becomes
        a pole), and the texture v of each point. Walk the profile so the solid lies on its
        left in the (radius, height) half-plane (e.g. bottom centre -> outer wall up -> top
        centre) for an outward-wound surface.
    segments: points around the axis. UV u = angle / 2pi; the seam at u = 0 / 1 is split (its
        u = 1 copy is an exact copy of the u = 0 vertex). Pole points get one vertex per segment
        (u at the segment middle, same position) so UVs stay per-vertex.
    creases: indices of profile points where the surface has a sharp corner: the ring is split
        into two exact copies so per-vertex normals do not smear across it.
    centres: optional [N,2] (x, z) axis offset per profile point (a bent axis, e.g. a stem).
    Returns a Part with uvs (u, v).
    """
    r = np.asarray(radius, np.float64)
    y = np.asarray(height, np.float64)
    vv = np.asarray(v, np.float64)
    n = len(r)
    c = np.zeros((n, 2)) if centres is None else np.asarray(centres, np.float64)
    theta = 2 * np.pi * np.arange(segments) / segments
    cos, sin = np.cos(theta), np.sin(theta)  # with the fan/quad order below: outward winding
    verts, uvs, faces = [], [], []
    count = 0

    def add_row(i: int) -> np.ndarray:
        nonlocal count
        if r[i] == 0:
            pos = np.tile([c[i, 0], y[i], c[i, 1]], (segments, 1))
            uv = np.stack([(np.arange(segments) + 0.5) / segments, np.full(segments, vv[i])], 1)
        else:
            ring = np.stack([c[i, 0] + r[i] * cos, np.full(segments, y[i]), c[i, 1] + r[i] * sin], 1)
            pos = np.concatenate([ring, ring[:1]])  # exact copy closes the seam
            uv = np.stack([np.arange(segments + 1) / segments, np.full(segments + 1, vv[i])], 1)
        verts.append(pos)
        uvs.append(uv)
        idx = np.arange(count, count + len(pos))
        count += len(pos)
        return idx

    rows_out = []  # the row each profile point's outgoing faces use
    rows_in = []  # the row its incoming faces use
    for i in range(n):
        row = add_row(i)
        rows_in.append(row)
        rows_out.append(add_row(i) if (i in creases and r[i] > 0) else row)
    j = np.arange(segments)
    for i in range(n - 1):
        lo, hi = rows_out[i], rows_in[i + 1]
        if r[i] == 0 and r[i + 1] == 0:
            continue
        if r[i] == 0:  # fan from a pole below
            faces.append(np.stack([lo[j], hi[j], hi[j + 1]], 1))
        elif r[i + 1] == 0:  # fan to a pole above
            faces.append(np.stack([lo[j], hi[j], lo[j + 1]], 1))
        else:
            faces.append(np.stack([lo[j], hi[j], hi[j + 1]], 1))
            faces.append(np.stack([lo[j], hi[j + 1], lo[j + 1]], 1))
    return Part(np.concatenate(verts), np.concatenate(faces).astype(np.int64), np.concatenate(uvs), tile)


def arc_length_v(radius, height, start: float = 0.0, end: float = 1.0) -> np.ndarray:
    """Texture v for profile points [N] spread from start to end in proportion to arc length."""
    d = np.hypot(np.diff(radius), np.diff(height))
    t = np.concatenate([[0.0], np.cumsum(d)])
    return start + (end - start) * t / max(t[-1], 1e-12)


def cylinder(p0, p1, r0: float, r1: float, segments: int = 16, tile: int = 0) -> Part:
    """Closed (tapered) cylinder from point p0 (radius r0) to p1 (radius r1), capped, sharp rims.

    UVs are isotropic within the tile: u around, v along, both divided by the longer of the
    mean circumference and the profile length.
    """
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    length = float(np.linalg.norm(p1 - p0))
    rad = [0.0, r0, r1, 0.0]
    hgt = [0.0, 0.0, length, length]
    v = arc_length_v(rad, hgt)
    part = revolve(rad, hgt, v, segments, creases=(1, 2), tile=tile)
    circumference = math.pi * (r0 + r1)
    profile = r0 + r1 + math.hypot(length, r1 - r0)
    scale = max(circumference, profile)
    part.uvs = part.uvs * np.array([circumference / scale, profile / scale])
    return part.transformed(rotation_between([0, 1, 0], p1 - p0), p0)


def smooth_curve(xs, ys, num: int) -> Tuple[np.ndarray, np.ndarray]:
    """Monotone-in-x cubic Hermite (Catmull-Rom tangents) through control points xs [K], ys [K]
    (xs strictly increasing), sampled at ``num`` points from xs[0] to xs[-1]. Returns (x, y)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    tangents = np.gradient(ys, xs)
    x = np.linspace(xs[0], xs[-1], num)
    k = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
    h = xs[k + 1] - xs[k]
    t = (x - xs[k]) / h
    h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
    h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
    y = h00 * ys[k] + h10 * h * tangents[k] + h01 * ys[k + 1] + h11 * h * tangents[k + 1]
    return x, y


# ================================================================================ assembly


def assemble(parts, texture: np.ndarray, place=None) -> Mesh:
    """Concatenate parts into one Mesh, map each part's tile uvs into the atlas with ``place``
    (identity when None), centre the bounding box and scale its largest side to TARGET_SIZE."""
    verts, faces, uvs = [], [], []
    offset = 0
    for p in parts:
        verts.append(p.verts)
        faces.append(p.faces + offset)
        uvs.append(place(p.uvs, p.tile) if place is not None else p.uvs)
        offset += len(p.verts)
    v = np.concatenate(verts)
    lo, hi = v.min(0), v.max(0)
    v = (v - (lo + hi) / 2) * (TARGET_SIZE / float((hi - lo).max()))
    return Mesh(
        torch.from_numpy(v.astype(np.float32)),
        torch.from_numpy(np.concatenate(faces).astype(np.int64)),
        torch.from_numpy(np.clip(np.concatenate(uvs), 0, 1).astype(np.float32)),
        torch.from_numpy(np.clip(texture, 0, 1).astype(np.float32)),
    )


