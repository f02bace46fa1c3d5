"""Benchmark the triplane hot path before and after sampling per plane on views; prints one JSON document.

Cases (each timed as the median of --repeats runs, the two versions interleaved so load on a
shared machine hits both alike, a run averaging enough back-to-back calls to last ~0.2 s; max_abs_diff compares their outputs, ``equal`` is bit-equality):
  sample_*   get3d.networks.generator.sample_triplane on planes that are the geometry slice of a
             backbone output holding texture planes too (as Generator.triplanes returns them);
             full = GET3D's size (32 channels, 256^2, batch 4, 100k points), tiny = the tiny preset's
  texture_*  Generator.texture_colors with given texture planes (the ragged query the renderer and
             the texture baker make): bake = 1 item, render = 4 items, points sorted by item

"before" is the implementation this replaced, kept here as the reference: coordinate pairs
gathered with advanced indexing and stacked, planes reshaped to [B*3,C,R,R] (a copy when the
slice cannot merge), one grid_sample, reshape-sum-transpose; the texture query always padded
through a stable sort.

    python bench/triplane.py [--quick] [--repeats 7] [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from _env import environment

import get3d.networks.generator as gen_module
from get3d.config import preset
from get3d.networks.generator import Generator, sample_triplane


def sample_triplane_before(planes, points, shape_min, shape_length):
    batch, _, channels, res, _ = planes.shape
    planes = planes.float()
    p = ((points.detach().float() - shape_min) / shape_length).clamp(0, 1) * 2 - 1
    coords = torch.stack([p[..., [0, 1]], p[..., [1, 2]], p[..., [0, 2]]], dim=1)
    feat = F.grid_sample(planes.reshape(batch * 3, channels, res, res), coords.reshape(batch * 3, 1, -1, 2),
                         mode="bilinear", padding_mode="zeros", align_corners=False)
    return feat.reshape(batch, 3, channels, -1).sum(1).transpose(1, 2)


def ragged_to_padded_before(points, batch_index, batch):
    count = torch.bincount(batch_index, minlength=batch)
    p_max = max(int(count.max()), 1) if points.shape[0] else 1
    sorted_b, order = torch.sort(batch_index, stable=True)
    offset = torch.cumsum(count, 0) - count
    slot = torch.empty_like(batch_index)
    slot[order] = torch.arange(points.shape[0], device=points.device) - offset[sorted_b]
    padded = points.new_zeros(batch, p_max, points.shape[-1]).index_put((batch_index, slot), points)
    return padded, slot


def texture_before(G, tex_planes, ws_tex, points, batch_index):
    real = gen_module.sample_triplane
    gen_module.sample_triplane = sample_triplane_before
    try:
        padded, slot = ragged_to_padded_before(points, batch_index, ws_tex.shape[0])
        return G._texture_padded(tex_planes, ws_tex, padded)[batch_index, slot]
    finally:
        gen_module.sample_triplane = real


def texture_after(G, tex_planes, ws_tex, points, batch_index):
    return G.texture_colors(ws_tex, points, batch_index, tex_planes=tex_planes)


def _time(fn, device, inner: int) -> float:
    """Seconds per call, averaged over ``inner`` back-to-back calls (millisecond cases need many)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / inner


def compare(name: str, before, after, repeats: int, device: str, extra: dict) -> dict:
    with torch.no_grad():
        ref, ours = before(), after()  # warm-up, and the outputs compared
        inner = max(1, min(50, int(0.2 / max(_time(after, device, 1), 1e-6))))
        times = {"before": [], "after": []}
        for _ in range(repeats):
            for key, fn in (("before", before), ("after", after)):
                times[key].append(_time(fn, device, inner))
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    return {"case": name, **extra, "before_ms": round(1000 * b, 2), "after_ms": round(1000 * a, 2),
            "speedup": round(b / a, 2), "max_abs_diff": float((ref - ours).abs().max()),
            "equal": bool(torch.equal(ref, ours))}


def sample_case(name, batch, channels, res, points, repeats, device):
    gen = torch.Generator().manual_seed(0)
    backbone = torch.randn(batch, 6 * channels, res, res, generator=gen).to(device)
    planes = backbone[:, : 3 * channels].reshape(batch, 3, channels, res, res)  # as TriPlaneTexGeo.planes
    pts = (torch.rand(batch, points, 3, generator=gen) - 0.5).to(device)
    return compare(name, lambda: sample_triplane_before(planes, pts, -0.5, 1.0),
                   lambda: sample_triplane(planes, pts, -0.5, 1.0), repeats, device,
                   dict(batch=batch, channels=channels, res=res, points=points))


def texture_case(name, G, batch, points, repeats, device):
    gen = torch.Generator().manual_seed(1)
    c, r = G.generator.img_feat_dim, G.generator.tri_plane_synthesis.img_resolution
    tex_planes = torch.randn(batch, 3, c, r, r, generator=gen).to(device)
    z = torch.randn(batch, G.z_dim, generator=gen).to(device)
    with torch.no_grad():
        _, ws_tex = G.mapping(z, z)
    pts = (torch.rand(points, 3, generator=gen) - 0.5).to(device)
    index = torch.sort(torch.randint(0, batch, (points,), generator=gen)).values.to(device)
    return compare(name, lambda: texture_before(G, tex_planes, ws_tex, pts, index),
                   lambda: texture_after(G, tex_planes, ws_tex, pts, index), repeats, device,
                   dict(batch=batch, channels=c, res=r, points=points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes only (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    full_points = 10_000 if args.quick else 100_000
    sizes = [("sample_tiny", 4, 8, 32, 10_000)]
    if not args.quick:
        sizes += [("sample_full_b4", 4, 32, 256, full_points), ("sample_full_b1", 1, 32, 256, full_points)]
    for name, b, c, r, p in sizes:
        rows.append(sample_case(name, b, c, r, p, args.repeats, args.device))
    model = preset("tiny" if args.quick else "shapenet-car").model
    torch.manual_seed(0)
    G = Generator(model).to(args.device).eval().requires_grad_(False)
    rows.append(texture_case("texture_bake_b1", G, 1, full_points, args.repeats, args.device))
    rows.append(texture_case("texture_render_b4", G, 4, full_points, args.repeats, args.device))
    report = environment("triplane")
    report.update(device=args.device, repeats=args.repeats, results=rows)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
