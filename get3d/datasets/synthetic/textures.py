"""Procedural textures of the synthetic categories (numpy, [H,W,3] float in [0, 1], row 0 at the
top): palettes, value noise and fBm, wood / metal / fabric materials, and texture atlases of
square tiles with the UV mapping into them.
"""
from __future__ import annotations

import math
from typing import Callable, Tuple

import numpy as np

TEXTURE_SIZE = 256  # side of a category's texture atlas

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


