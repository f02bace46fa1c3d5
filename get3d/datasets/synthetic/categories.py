"""The procedural categories (chair, vase, mushroom) and the registry that names them; see the
package docstring for what each draws.
"""
from __future__ import annotations

import hashlib
import math
from typing import Callable, Dict, Iterator, Tuple

import numpy as np

from get3d.datasets.synthetic.primitives import (Part, assemble, beam, box, cylinder, revolve, rotation_between,
                                                 rotation_x, smooth_curve, arc_length_v)
from get3d.datasets.synthetic.textures import (TEXTURE_SIZE, atlas, fabric, fbm, grid, hsv_to_rgb, metal, mix,
                                               random_palette, soft_step, solid, value_noise, wood)
from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh

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
