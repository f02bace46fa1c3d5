"""Procedural, textured shape categories: the data that ships with get3d.

Every category is a function ``(rng: numpy.random.Generator) -> Mesh`` registered in
:data:`CATEGORIES`. A shape is assembled from parts; each part is a closed, outward-wound
(counter-clockwise seen from outside) surface, and parts may interpenetrate (no boolean union).
Vertices are split where UVs are discontinuous (UV seams, texture-tile borders, sharp creases), so
closedness holds for positions welded by exact equality: split copies are exact copies.

All shapes are Y-up, upright (chair legs and vase foot down), centred on their bounding box
and scaled so the largest bounding-box side is :data:`TARGET_SIZE`. Each has ONE texture atlas
(``texture_size`` square, row 0 at the top) with per-vertex UVs in the OBJ convention
((0, 0) = bottom-left).

Categories (see ``docs/datasets.md`` for the parameter ranges):

* ``chair``: box seat, solid-panel / slatted / framed backrest, 4 straight or splayed legs
  (boxes or tapered cylinders), optional armrests and crossbars; a 2x2 texture atlas with one
  tile per part type (seat, back, legs, arms + crossbars).
* ``vase``: a surface of revolution of a random smooth profile (foot, 1-3 bulges, neck, lip),
  with a wall thickness and an inner floor when open, or a domed lid when capped.
* ``mushroom``: a curved, tapered stem and a flat / conical / domed cap with gills underneath,
  sometimes a cluster of 2-3; spotted, banded or gradient caps.

Geometry is built in numpy float64 and converted to torch float32 at the end.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Tuple

import numpy as np
import torch

from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh

__all__ = ["CATEGORIES", "TARGET_SIZE", "TEXTURE_SIZE", "generate_shape", "generate_shapes", "category_names"]

TARGET_SIZE = 0.9  # largest bounding-box side of every generated shape
TEXTURE_SIZE = 256

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


# ============================================================================ texture helpers


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """Hue in turns [0,1), saturation and value in [0,1] -> rgb [3]."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def random_palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n,3] colours from a random harmony (analogous, complementary or triadic hues)."""
    base = rng.random()
    scheme = rng.integers(3)
    offsets = {0: [0.0, 0.06, -0.06, 0.12], 1: [0.0, 0.5, 0.04, 0.46], 2: [0.0, 1 / 3, 2 / 3, 0.08]}[int(scheme)]
    cols = []
    for i in range(n):
        h = (base + offsets[i % 4] + rng.normal(0, 0.02)) % 1.0
        cols.append(hsv_to_rgb(h, rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.95)))
    return np.asarray(cols)


def grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Texel-centre coordinates (u, v) [h,w] in [0,1]; row 0 is the TOP (v near 1)."""
    u = (np.arange(w) + 0.5) / w
    v = 1.0 - (np.arange(h) + 0.5) / h
    return np.broadcast_to(u[None, :], (h, w)), np.broadcast_to(v[:, None], (h, w))


def value_noise(rng: np.random.Generator, h: int, w: int, cells: Tuple[int, int], wrap_u: bool = False) -> np.ndarray:
    """[h,w] smooth noise in [0,1]: random values on a cells=(rows, cols) lattice, smoothstep-
    interpolated; ``wrap_u`` makes it periodic across the left/right edges (for u = angle)."""
    cy, cx = cells
    lattice = rng.random((cy + 1, cx + 1))
    if wrap_u:
        lattice[:, -1] = lattice[:, 0]
    gy = np.linspace(0, cy, h, endpoint=False) + cy / (2 * h)
    gx = np.linspace(0, cx, w, endpoint=False) + cx / (2 * w)
    iy, ix = np.minimum(gy.astype(int), cy - 1), np.minimum(gx.astype(int), cx - 1)
    fy, fx = gy - iy, gx - ix
    sy, sx = (fy * fy * (3 - 2 * fy))[:, None], (fx * fx * (3 - 2 * fx))[None, :]
    a = lattice[iy][:, ix]
    b = lattice[iy][:, ix + 1]
    c = lattice[iy + 1][:, ix]
    d = lattice[iy + 1][:, ix + 1]
    return (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy


def fbm(rng: np.random.Generator, h: int, w: int, base: int = 4, octaves: int = 3, wrap_u: bool = False) -> np.ndarray:
    """[h,w] fractal value noise in about [0,1]."""
    out, amp, total = np.zeros((h, w)), 1.0, 0.0
    for o in range(octaves):
        k = base * 2**o
        out += amp * value_noise(rng, h, w, (k, k), wrap_u)
        total += amp
        amp *= 0.5
    return out / total


def soft_step(x: np.ndarray, width: float) -> np.ndarray:
    """Antialiased step: 0 for x < -width/2, 1 for x > width/2, linear between."""
    return np.clip(x / max(width, 1e-9) + 0.5, 0.0, 1.0)


def mix(a: np.ndarray, b, t: np.ndarray) -> np.ndarray:
    """Blend images/colours: a [h,w,3] or [3], b likewise, t [h,w] -> [h,w,3]."""
    t = t[..., None]
    return np.asarray(a) * (1 - t) + np.asarray(b) * t


def solid(colour, h: int, w: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.float64), (h, w, 3)).copy()


# ------------------------------------------------------------------ square-tile materials (chair)


def wood(rng: np.random.Generator, size: int) -> np.ndarray:
    """[size,size,3] wood grain running along v (fibres vertical in the tile)."""
    u, v = grid(size, size)
    hue = rng.uniform(0.04, 0.11)
    light = hsv_to_rgb(hue, rng.uniform(0.35, 0.65), rng.uniform(0.55, 0.9))
    dark = light * rng.uniform(0.45, 0.7)
    warp = fbm(rng, size, size, base=3)
    rings = rng.uniform(8, 20)
    g = 0.5 + 0.5 * np.sin(2 * np.pi * (rings * u + 1.5 * warp + 0.3 * v))
    g = g ** rng.uniform(1.5, 4)
    fine = value_noise(rng, size, size, (4, 64))
    return mix(light, dark, np.clip(0.8 * g + 0.25 * fine, 0, 1))


def metal(rng: np.random.Generator, size: int) -> np.ndarray:
    """[size,size,3] brushed metal or painted metal: near-grey or one saturated colour plus streaks."""
    if rng.random() < 0.5:
        base = np.full(3, rng.uniform(0.35, 0.8)) * rng.uniform(0.95, 1.05, 3)
    else:
        base = hsv_to_rgb(rng.random(), rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.85))
    streaks = value_noise(rng, size, size, (2, 48))
    return np.clip(solid(base, size, size) * (0.85 + 0.3 * streaks[..., None]), 0, 1)


def fabric(rng: np.random.Generator, size: int) -> np.ndarray:
    """[size,size,3] upholstery: solid, stripes, gingham checks or polka dots, random palette."""
    u, v = grid(size, size)
    pal = random_palette(rng, 3)
    kind = rng.integers(4)
    px = 1.5 / size
    if kind == 0:
        img = solid(pal[0], size, size)
    elif kind == 1:
        angle = rng.choice([0.0, np.pi / 4, np.pi / 2, -np.pi / 4])
        period = rng.uniform(0.06, 0.25)
        duty = rng.uniform(0.2, 0.6)
        s = (np.cos(angle) * u + np.sin(angle) * v) / period
        frac = s - np.floor(s)
        m = soft_step(duty - frac, px / period) * soft_step(frac, px / period)
        img = mix(pal[0], pal[1], m)
    elif kind == 2:
        n = rng.integers(4, 12)
        a = soft_step(np.sin(2 * np.pi * n * u), 0.3)
        b = soft_step(np.sin(2 * np.pi * n * v), 0.3)
        img = mix(mix(pal[0], pal[1], 0.5 * a + 0.5 * b), pal[2], a * b * 0.5)
    else:
        n = rng.integers(4, 10)
        fu, fv = n * u, n * v
        offset = 0.5 * (np.floor(fv) % 2)
        du = (fu + offset) % 1.0 - 0.5
        dv = fv % 1.0 - 0.5
        rad = rng.uniform(0.15, 0.35)
        m = soft_step(rad - np.hypot(du, dv), 2 * px * n)
        img = mix(pal[0], pal[1], m)
    weave = value_noise(rng, size, size, (32, 32))
    return np.clip(img * (0.9 + 0.2 * weave[..., None]), 0, 1)


def atlas(tiles, texture_size: int) -> Tuple[np.ndarray, Callable[[np.ndarray, int], np.ndarray]]:
    """2x2 atlas of up to four square tiles [t,t,3] (tile k at row k // 2, column k % 2 from the
    top-left). Returns the [S,S,3] texture and ``place(uv [V,2] in [0,1], k) -> atlas uvs``,
    inset by 2 texels so bilinear filtering never reads a neighbouring tile."""
    half = texture_size // 2
    tex = np.zeros((texture_size, texture_size, 3))
    for k, tile in enumerate(tiles):
        r, c = divmod(k, 2)
        tex[r * half : (r + 1) * half, c * half : (c + 1) * half] = tile
    pad = 2.0

    def place(uv: np.ndarray, k: int) -> np.ndarray:
        r, c = divmod(k, 2)
        lo_u = (c * half + pad) / texture_size
        hi_v = 1.0 - (r * half + pad) / texture_size  # tile top edge in v
        span = (half - 2 * pad) / texture_size
        return np.stack([lo_u + np.clip(uv[:, 0], 0, 1) * span, hi_v - span + np.clip(uv[:, 1], 0, 1) * span], 1)

    return tex, place


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """Box-filter / repeat a square [s,s,3] image to [size,size,3] (size a multiple or divisor)."""
    s = img.shape[0]
    if s == size:
        return img
    if s > size:
        f = s // size
        return img.reshape(size, f, size, f, 3).mean((1, 3))
    f = size // s
    return img.repeat(f, 0).repeat(f, 1)


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


# ==================================================================================== chair

SEAT, BACK, LEGS, EXTRAS = 0, 1, 2, 3  # chair atlas tiles


def chair(rng: np.random.Generator, texture_size: int = TEXTURE_SIZE) -> Mesh:
    """A chair (front towards +Z): seat, backrest, 4 legs, optional armrests and crossbars."""
    parts = []
    w, d = rng.uniform(0.40, 0.62), rng.uniform(0.38, 0.60)
    seat_t = rng.uniform(0.025, 0.08)
    seat_top = rng.uniform(0.36, 0.52)
    seat_mid = seat_top - seat_t / 2
    parts.append(box((w, seat_t, d), (0, seat_mid, 0), SEAT))

    # legs: straight or splayed, square or tapered round
    round_legs = rng.random() < 0.4
    leg_t = rng.uniform(0.03, 0.06) if round_legs else rng.uniform(0.025, 0.06)
    inset = rng.uniform(0.0, 0.06)
    splay = 0.0 if rng.random() < 0.5 else rng.uniform(0.02, 0.08)
    taper = rng.uniform(0.6, 1.0)
    lx, lz = w / 2 - leg_t / 2 - inset, d / 2 - leg_t / 2 - inset
    legs = []  # (bottom, top) per leg
    for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        top = np.array([sx * lx, seat_mid, sz * lz])
        bottom = np.array([sx * (lx + splay), 0.0, sz * (lz + splay)])
        legs.append((bottom, top))
        if round_legs:
            parts.append(cylinder(bottom, top, taper * leg_t / 2, leg_t / 2, 16, LEGS))
        else:
            parts.append(beam(bottom, top, leg_t, tile=LEGS))

    def on_leg(k: int, height: float) -> np.ndarray:
        b, t = legs[k]
        return b + (t - b) * (height / t[1])

    # crossbars between the legs
    if rng.random() < 0.45:
        bar_t = leg_t * rng.uniform(0.4, 0.7)
        hc = rng.uniform(0.08, 0.2) * seat_top / 0.45
        style = rng.integers(3)
        if style == 0:  # box stretcher: all four sides
            pairs = [(0, 1), (1, 2), (2, 3), (3, 0)]
        else:  # side stretchers (left, right)
            pairs = [(0, 3), (1, 2)]
        for a, b in pairs:
            parts.append(beam(on_leg(a, hc), on_leg(b, hc), bar_t, tile=EXTRAS))
        if style == 2:  # H: a middle bar joining the side stretchers
            left = (on_leg(0, hc) + on_leg(3, hc)) / 2
            right = (on_leg(1, hc) + on_leg(2, hc)) / 2
            parts.append(beam(left, right, bar_t * 0.9, tile=EXTRAS))

    # backrest, built upright at the back edge then tilted backwards about the seat's back edge
    back = []
    back_h = rng.uniform(0.28, 0.55)
    tilt = rng.uniform(0.0, math.radians(14))
    style = rng.integers(3)
    post_t = rng.uniform(0.025, 0.05)
    back_z = -d / 2 + post_t / 2 + rng.uniform(0.0, 0.03)
    pivot = np.array([0.0, seat_top, back_z])
    bottom_y = seat_top - seat_t * 0.6  # everything upright starts inside the seat
    top_y = seat_top + back_h
    if style == 0:  # solid panel
        pw = w * rng.uniform(0.8, 1.0)
        pt = rng.uniform(0.02, 0.05)
        lift = rng.uniform(0.0, 0.12) * back_h
        if lift > 0.03:  # panel raised on two posts that reach into its middle
            post_top = top_y - (back_h - lift) / 2
            for sx in (-1, 1):
                centre = (sx * (pw / 2 - post_t), (post_top + bottom_y) / 2, back_z)
                back.append(box((post_t, post_top - bottom_y, pt * 0.8), centre, BACK))
            back.append(box((pw, back_h - lift, pt), (0, top_y - (back_h - lift) / 2, back_z), BACK))
        else:
            back.append(box((pw, top_y - bottom_y, pt), (0, (top_y + bottom_y) / 2, back_z), BACK))
    else:
        px = w / 2 - post_t / 2 - rng.uniform(0.0, 0.03)
        for sx in (-1, 1):
            back.append(box((post_t, top_y - bottom_y, post_t), (sx * px, (top_y + bottom_y) / 2, back_z), BACK))
        rail_h = rng.uniform(0.04, 0.12)
        rail_d = post_t * rng.uniform(0.6, 0.85)
        rail_y = top_y - rail_h / 2 - rng.uniform(0.0, 0.03)
        back.append(box((2 * px, rail_h, rail_d), (0, rail_y, back_z), BACK))
        if style == 1:  # vertical slats from the seat to the top rail
            n = int(rng.integers(2, 7))
            slat_w = rng.uniform(0.015, 0.045) * (1.0 if n < 5 else 0.7)
            xs = np.linspace(-px, px, n + 2)[1:-1]
            for x in xs:
                back.append(box((slat_w, rail_y - bottom_y, rail_d * 0.8), (x, (rail_y + bottom_y) / 2, back_z), BACK))
        else:  # frame with a hole: a lower rail, sometimes a ladder of extra rails
            low_y = seat_top + rng.uniform(0.04, 0.12)
            extra = int(rng.integers(0, 3))
            for y in np.linspace(low_y, rail_y, extra + 2)[:-1]:
                back.append(box((2 * px, rail_h * rng.uniform(0.4, 0.8), rail_d * 0.9), (0, y, back_z), BACK))
    rot = rotation_x(-tilt)  # top of the back moves towards -Z
    parts.extend(p.transformed(rot, pivot - rot @ pivot) for p in back)

    # armrests: a bar on each side, held by a front and a rear post
    if rng.random() < 0.35:
        arm_w = rng.uniform(0.035, 0.07)
        arm_y = seat_top + rng.uniform(0.16, 0.26)
        ax = w / 2 - arm_w / 2 + rng.uniform(-0.01, 0.03)
        z0, z1 = back_z - tilt * 0.15, d / 2 + rng.uniform(-0.05, 0.03)
        for sx in (-1, 1):
            parts.append(box((arm_w, arm_w * rng.uniform(0.5, 0.9), z1 - z0), (sx * ax, arm_y, (z0 + z1) / 2), EXTRAS))
            for z in (z0 + arm_w, z1 - arm_w * 1.2):
                h = arm_y - bottom_y
                parts.append(box((arm_w * 0.7, h, arm_w * 0.7), (sx * ax, bottom_y + h / 2, z), EXTRAS))

    # texture atlas: seat fabric or wood, back often matching, legs wood or metal
    half = texture_size // 2
    seat_tex = wood(rng, half) if rng.random() < 0.35 else fabric(rng, half)
    back_tex = seat_tex if rng.random() < 0.5 else (wood(rng, half) if rng.random() < 0.4 else fabric(rng, half))
    leg_tex = wood(rng, half) if rng.random() < 0.55 else metal(rng, half)
    extra_tex = leg_tex if rng.random() < 0.6 else metal(rng, half)
    tex, place = atlas([seat_tex, back_tex, leg_tex, extra_tex], texture_size)
    return assemble(parts, tex, place)


# ===================================================================================== vase


def _circumference_dots(rng, u, v, circ, length, count, size) -> np.ndarray:
    """[h,w] mask of round dots on a surface of revolution: texel (u, v) lies at arc position
    u * circ(v) around and v * length along, so spots stay round where the surface narrows.
    circ: [h] circumference of each texture row; length: total profile length of the v range."""
    mask = np.zeros(u.shape)
    for _ in range(count):
        u0, v0 = rng.random(), rng.random()
        du = np.abs(u - u0)
        du = np.minimum(du, 1 - du) * circ[:, None]
        dv = (v - v0) * length
        s = size * rng.uniform(0.6, 1.3)
        mask = np.maximum(mask, soft_step(s - np.hypot(du, dv), 0.004))
    return mask


def vase(rng: np.random.Generator, texture_size: int = TEXTURE_SIZE) -> Mesh:
    """A vase: revolution of a smooth random profile; open (with wall thickness) or lidded."""
    height = 1.0
    kind = rng.integers(3)  # 0 bottle (narrow neck), 1 urn / jar, 2 bowl-like wide mouth
    n_bulges = int(rng.integers(1, 4))
    foot_r = rng.uniform(0.12, 0.25)
    ys, rs = [0.0], [foot_r]
    if rng.random() < 0.5:  # a distinct foot ring
        ys.append(rng.uniform(0.03, 0.08))
        rs.append(foot_r * rng.uniform(0.7, 0.9))
    body_top = {0: rng.uniform(0.5, 0.7), 1: rng.uniform(0.6, 0.8), 2: rng.uniform(0.55, 0.8)}[int(kind)]
    knots = np.linspace(ys[-1], body_top, 2 * n_bulges)[1:]  # bulge, waist, bulge, ..., bulge
    spacing = knots[1] - knots[0] if n_bulges > 1 else 1.0
    for k, y in enumerate(knots):
        if k % 2 == 0:  # bulge
            rs.append(rng.uniform(0.22, 0.42))
        else:  # waist between bulges, shallower when bulges are close
            rs.append(rs[-1] * (1 - rng.uniform(0.1, 0.35) * min(1.0, spacing / 0.25)))
        ys.append(y)
    if kind == 0:  # bottle: shoulder, long narrow neck, small lip
        lip_r = rng.uniform(0.06, 0.13)
        ys += [body_top + (height - body_top) * rng.uniform(0.3, 0.5), height - 0.04]
        rs += [lip_r * rng.uniform(0.7, 0.9), lip_r * rng.uniform(0.8, 0.95)]
    elif kind == 1:  # urn: short neck then a flared lip
        lip_r = rs[-1] * rng.uniform(0.45, 0.8)
        ys.append(body_top + (height - body_top) * rng.uniform(0.4, 0.7))
        rs.append(lip_r * rng.uniform(0.6, 0.85))
    else:  # jar / bowl: the body narrows or opens straight into a wide mouth
        lip_r = rs[-1] * rng.uniform(0.7, 1.05)
    ys.append(height)
    rs.append(lip_r)
    py, pr = smooth_curve(ys, rs, 26)
    pr = np.maximum(pr, 0.05)

    lidded = rng.random() < 0.3
    wall = rng.uniform(0.015, 0.03)
    segments = 48
    # Texture rows: v in [V_OUT, 1] outer wall, below that the floor / lid / inside.
    v_out = 0.25
    outer_v = arc_length_v(pr, py, v_out, 1.0)
    if lidded:
        dome = rng.uniform(0.0, 0.6) * lip_r
        t = np.linspace(0, 1, 6)[1:]
        lid_r = pr[-1] * (1 - t)
        lid_y = height + dome * np.sin(t * np.pi / 2)
        rad = np.concatenate([[0.0], pr, lid_r])
        hgt = np.concatenate([[0.0], py, lid_y])
        v = np.concatenate([[0.0], outer_v, np.linspace(v_out - 0.02, 0.04, 5)])
        creases = (1, len(pr))
    else:
        floor = rng.uniform(0.03, 0.08)
        keep = py > floor + 0.01
        inner_r = np.maximum(pr[keep] - wall, 0.02)[::-1]
        inner_y = py[keep][::-1]
        rad = np.concatenate([[0.0], pr, inner_r, [inner_r[-1] * 0.98, 0.0]])
        hgt = np.concatenate([[0.0], py, inner_y, [floor, floor]])
        tail_r = np.concatenate([inner_r, [inner_r[-1] * 0.98, 0.0]])
        tail_y = np.concatenate([inner_y, [floor, floor]])
        v = np.concatenate([[0.0], outer_v, arc_length_v(tail_r, tail_y, v_out - 0.03, 0.02)])
        creases = (1, len(pr), len(pr) + 1, len(rad) - 3)
    part = revolve(rad, hgt, v, segments, creases=creases)

    # texture: outer wall pattern (periodic in u), plain glaze/interior below
    s = texture_size
    u, vv = grid(s, s)
    pal = random_palette(rng, 4)
    out_rows = int(round((1 - v_out) * s))
    # circumference and profile length of each outer texture row, for undistorted motifs
    row_v = vv[:, 0]
    circ = 2 * np.pi * np.interp(row_v, outer_v, pr)
    length = float(np.sum(np.hypot(np.diff(pr), np.diff(py))))
    lv = (row_v - v_out) / (1 - v_out)  # 0 at the foot, 1 at the lip
    base_kind = rng.integers(3)
    if base_kind == 0:
        img = solid(pal[0], s, s)
    elif base_kind == 1:  # vertical gradient
        img = mix(pal[0], pal[1], np.broadcast_to(np.clip(lv, 0, 1)[:, None], (s, s)) ** rng.uniform(0.5, 2))
    else:  # glaze drips: noise-modulated gradient
        n = fbm(rng, s, s, base=4, wrap_u=True)
        img = mix(pal[0], pal[1], np.clip(0.6 * np.clip(lv, 0, 1)[:, None] + 0.6 * n - 0.3, 0, 1))
    motifs = rng.choice(4, size=int(rng.integers(1, 4)), replace=False)
    px = 1.5 / s
    for m in motifs:
        col = pal[rng.integers(1, 4)]
        if m == 0:  # horizontal bands
            for _ in range(int(rng.integers(1, 5))):
                c, hw = rng.uniform(0.05, 0.95), rng.uniform(0.01, 0.06)
                img = mix(img, pal[rng.integers(0, 4)], soft_step(hw - np.abs(lv - c), px)[:, None].repeat(s, 1))
        elif m == 1:  # zigzag band, an integer number of teeth so u = 0 / 1 match
            c, amp = rng.uniform(0.2, 0.85), rng.uniform(0.02, 0.07)
            teeth = int(rng.integers(5, 16))
            tri = 2 * np.abs((u * teeth) % 1.0 - 0.5)
            line = c + amp * (tri - 0.5)
            img = mix(img, col, soft_step(rng.uniform(0.008, 0.025) - np.abs(lv[:, None] - line), px))
        elif m == 2:  # round dots
            count, size = int(rng.integers(10, 40)), rng.uniform(0.015, 0.04)
            img = mix(img, col, _circumference_dots(rng, u, lv[:, None] * np.ones((1, s)), circ, length, count, size))
        else:  # vertical fluting stripes
            k = int(rng.integers(6, 20))
            stripe = soft_step(np.sin(2 * np.pi * k * u) - rng.uniform(0.3, 0.8), 0.2)
            lo, hi = sorted(rng.uniform(0.0, 1.0, 2))
            img = mix(img, col, stripe * ((lv > lo) & (lv < hi + 0.2))[:, None])
    inside = pal[0] * rng.uniform(0.4, 0.8) if not lidded else pal[rng.integers(0, 4)]
    img[out_rows:] = inside
    img[out_rows - 2 : out_rows] = img[out_rows - 3 : out_rows - 2]  # no bleed across the split
    grain = value_noise(rng, s, s, (16, 16), wrap_u=True)
    img = np.clip(img * (0.93 + 0.14 * grain[..., None]), 0, 1)
    return assemble([part], img)


# ================================================================================= mushroom


def _mushroom_parts(rng: np.random.Generator, scale: float, segments: int):
    """Stem and cap parts of one mushroom at the origin (size ~ scale), plus the cap's texture
    geometry (circumference per cap-profile point, rim v) for drawing its spots."""
    stem_h = scale * rng.uniform(0.45, 0.9)
    stem_r = scale * rng.uniform(0.06, 0.14)
    cap_r = scale * rng.uniform(0.28, 0.5)
    cap_kind = rng.integers(3)  # 0 flat, 1 conical, 2 domed
    cap_h = cap_r * {0: rng.uniform(0.25, 0.4), 1: rng.uniform(0.6, 1.1), 2: rng.uniform(0.5, 0.9)}[int(cap_kind)]
    droop = cap_h * rng.uniform(0.0, 0.45)  # how far the rim hangs below the cap centre

    # stem: tapered, maybe a bulbous base, bent along a random horizontal direction
    n = 10
    t = np.linspace(0, 1, n)
    base_bulb = rng.uniform(1.0, 1.6)
    top_taper = rng.uniform(0.6, 1.0)
    radius = stem_r * (top_taper + (1 - top_taper) * (1 - t) + (base_bulb - 1) * np.exp(-((t / 0.18) ** 2)))
    y = stem_h * t
    bend = scale * rng.uniform(0.0, 0.12)
    phi = rng.uniform(0, 2 * np.pi)
    off = bend * t**2
    centres = np.stack([off * math.cos(phi), off * math.sin(phi)], 1)
    rim_y = stem_h  # cap underside meets the stem top here
    top_in = rim_y + droop + 0.35 * (cap_h - droop)  # stem top hidden inside the cap
    rad = np.concatenate([[0.0], radius, [radius[-1], 0.0]])
    hgt = np.concatenate([[0.0], y, [top_in, top_in]])
    cen = np.concatenate([centres[:1], centres, centres[-1:], centres[-1:]])
    v = arc_length_v(rad, hgt)
    stem = revolve(rad, hgt, v, max(segments // 2, 16), creases=(1, len(rad) - 2), centres=cen, tile=1)

    # cap: underside from the centre out to the rim, lip, then the top surface up to the apex
    m = 9
    s = np.linspace(0, 1, m)
    under_r = cap_r * s * 0.97
    under_y = rim_y + droop * (1 - s**1.5)
    under_y[0] = rim_y + droop  # centre of the underside
    top_s = np.linspace(1, 0, 13)
    if cap_kind == 0:
        shape = 1 - top_s**4
    elif cap_kind == 1:
        shape = 1 - top_s**1.2
    else:
        shape = np.sqrt(np.clip(1 - top_s**2, 0, 1))
    lip = cap_h * rng.uniform(0.08, 0.15)
    top_r = cap_r * top_s
    top_y = rim_y + lip + (cap_h + droop - lip) * shape
    top_y = np.maximum(top_y, rim_y + lip)
    # the solid is on the left walking centre-underside -> rim -> apex
    rad = np.concatenate([[0.0], under_r[1:], top_r])
    hgt = np.concatenate([[under_y[0]], under_y[1:], top_y])
    rim_v = 0.3
    v_under = arc_length_v(rad[:m], hgt[:m], 0.0, rim_v)
    v = np.concatenate([v_under, arc_length_v(rad[m - 1 :], hgt[m - 1 :], rim_v, 1.0)[1:]])
    cap = revolve(rad, hgt, v, segments, creases=(m - 1,), tile=0)
    tilt, azimuth = rng.uniform(0.0, math.radians(12)), rng.uniform(0, 2 * np.pi)
    axis = [math.sin(tilt) * math.cos(azimuth), math.cos(tilt), math.sin(tilt) * math.sin(azimuth)]
    rot = rotation_between([0, 1, 0], axis)
    pivot = np.array([centres[-1, 0], rim_y, centres[-1, 1]])
    cap = Part(cap.verts + [centres[-1, 0], 0.0, centres[-1, 1]], cap.faces, cap.uvs, cap.tile)
    cap = cap.transformed(rot, pivot - rot @ pivot)
    return stem, cap, (rad, hgt, v, rim_v)


def mushroom(rng: np.random.Generator, texture_size: int = TEXTURE_SIZE) -> Mesh:
    """One mushroom, or a cluster of 2-3 (caps kept apart); cap and stem tiles in one texture."""
    count = 1 if rng.random() < 0.65 else int(rng.integers(2, 4))
    parts = []
    profile = None
    placed = []  # (x, z, cap radius) of mushrooms already placed
    for k in range(count):
        scale = 1.0 if k == 0 else rng.uniform(0.45, 0.75)
        stem, cap, prof = _mushroom_parts(rng, scale, 48 if k == 0 else 32)
        profile = profile or prof
        cap_r = float(np.abs(cap.verts[:, [0, 2]]).max())
        x = z = 0.0
        if k > 0:
            for _ in range(20):
                ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0)
                x, z = dist * math.cos(ang), dist * math.sin(ang)
                if all(math.hypot(x - px_, z - pz_) > (cap_r + pr_) * 1.05 for px_, pz_, pr_ in placed):
                    break
            else:
                continue
        placed.append((x, z, cap_r))
        parts += [stem.transformed(None, (x, 0, z)), cap.transformed(None, (x, 0, z))]

    # texture: top rows the cap tile (u around, v from under-centre to apex), bottom the stem
    s = texture_size
    cap_rows = int(s * 0.625)
    pal = random_palette(rng, 4)
    if rng.random() < 0.4:  # classic red/brown caps
        pal[0] = hsv_to_rgb(rng.uniform(-0.02, 0.09) % 1, rng.uniform(0.6, 0.95), rng.uniform(0.45, 0.9))
    cu, cv = grid(cap_rows, s)
    rad, hgt, pv, rim_v = profile
    circ = 2 * np.pi * np.interp(cv[:, 0], pv, rad)
    length = float(np.sum(np.hypot(np.diff(rad), np.diff(hgt))))
    top = cv >= rim_v
    style = rng.integers(3)
    shade = np.clip((cv - rim_v) / (1 - rim_v), 0, 1)
    cap_img = mix(pal[0] * rng.uniform(0.6, 0.9), pal[0], shade ** rng.uniform(0.3, 1.0))
    if style == 1:  # gradient to a second colour at the apex
        cap_img = mix(cap_img, pal[1], shade ** rng.uniform(2, 5))
    elif style == 2:  # concentric bands
        k = rng.integers(2, 6)
        cap_img = mix(cap_img, pal[1], 0.6 * soft_step(np.sin(2 * np.pi * k * shade), 0.3))
    if rng.random() < 0.6:  # spots (round on the surface)
        spot_col = np.array([0.95, 0.93, 0.88]) if rng.random() < 0.6 else pal[2]
        v_top = np.where(top, cv, -10.0)  # no spots on the gills
        count, size = int(rng.integers(6, 25)), rng.uniform(0.03, 0.07) * length
        cap_img = mix(cap_img, spot_col, _circumference_dots(rng, cu, v_top, circ, length, count, size))
    gill = hsv_to_rgb(rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.4), rng.uniform(0.5, 0.9))
    gills = mix(gill, gill * 0.6, soft_step(np.sin(2 * np.pi * int(rng.integers(30, 70)) * cu), 0.5))
    cap_img = np.where(top[..., None], cap_img, gills)
    stem_col = hsv_to_rgb(rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.35), rng.uniform(0.65, 0.95))
    su, sv = grid(s - cap_rows, s)
    streak = value_noise(rng, s - cap_rows, s, (3, 24), wrap_u=True)
    stem_img = mix(stem_col * 0.8, stem_col, np.clip(sv + 0.3 * streak, 0, 1))
    img = np.concatenate([cap_img, stem_img])
    img = np.clip(img * (0.94 + 0.12 * value_noise(rng, s, s, (16, 16), wrap_u=True)[..., None]), 0, 1)

    cap_span = (cap_rows - 2.0) / s  # cap v range [1 - cap_span, 1], stem below a 2-texel gap
    stem_span = (s - cap_rows - 2.0) / s

    def place(uv: np.ndarray, tile: int) -> np.ndarray:
        if tile == 0:
            return np.stack([uv[:, 0], 1 - cap_span + uv[:, 1] * cap_span], 1)
        return np.stack([uv[:, 0], uv[:, 1] * stem_span], 1)

    return assemble(parts, img, place)


# ================================================================================= registry

CATEGORIES: Dict[str, Callable[[np.random.Generator], Mesh]] = {
    "chair": chair,
    "vase": vase,
    "mushroom": mushroom,
}


def category_names() -> list:
    return sorted(CATEGORIES)


def _rng(category: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(category.encode("utf-8")).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), int(seed)])


def generate_shape(category: str, seed: int) -> Mesh:
    """The shape number ``seed`` of ``category``; the same (category, seed) always gives the
    same mesh and texture (bit for bit on one platform)."""
    if category not in CATEGORIES:
        raise Get3dError(f"unknown shape category {category!r}; known categories: {', '.join(category_names())}")
    if int(seed) < 0:
        raise Get3dError(f"seed must be >= 0, got {seed}")
    return CATEGORIES[category](_rng(category, seed))


def generate_shapes(category: str, num: int, seed: int = 0) -> Iterator[Tuple[str, Mesh]]:
    """Iterate over ``num`` shapes ``(f"{category}_{s:05d}", generate_shape(category, s))`` for
    the shape seeds s = seed, seed + 1, ..., seed + num - 1, so an id names the same shape in
    any call. Arguments are checked at once (not on the first ``next``)."""
    if category not in CATEGORIES:
        raise Get3dError(f"unknown shape category {category!r}; known categories: {', '.join(category_names())}")
    if int(num) < 0 or int(seed) < 0:
        raise Get3dError(f"num and seed must be >= 0, got num={num}, seed={seed}")
    return ((f"{category}_{s:05d}", generate_shape(category, s)) for s in range(int(seed), int(seed) + int(num)))
