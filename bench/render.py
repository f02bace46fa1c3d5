"""Benchmark the mesh renderer: forward and forward+backward time and peak memory.

Scene: an icosphere of radius 0.45 (subdivision 5: 20,480 faces, 10,242 vertices; --quick uses
subdivision 1) rendered from GET3D training cameras with a small MLP-free texture field
(colour = position), so the timing covers rasterize + interpolate + texture-field gather/scatter
+ two antialias passes + the flip. Backward is of ``mask.sum() + color.sum()`` w.r.t. the
vertices.

Timing: median over ``--repeats`` runs after one warm-up run (excluded), with
``torch.cuda.synchronize()`` around each run on CUDA.
Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` (reset before each configuration),
reported as ``peak_mem_mb``. On CPU, process peak RSS from ``resource.getrusage`` (ru_maxrss):
a high-water mark for the whole process that never decreases, so later configurations report
at least the earlier ones' peak; reported as ``peak_rss_mb``.

Prints one JSON document to stdout:
``{"device": ..., "torch": ..., "mesh": {...}, "repeats": n, "results": [{"backend",
"resolution", "batch", "forward_ms", "forward_backward_ms", "peak_mem_mb" | "peak_rss_mb"}, ...],
"skipped": [{"backend", "reason"}, ...]}``

Usage: ``python bench/render.py [--quick] [--repeats N] [--backends torch,nvdiffrast]
[--resolutions 256,1024] [--batches 1,8] [--topology shared|distinct]``.
A backend entry may name a device, ``torch:cpu`` / ``torch:cuda``; plain ``torch`` is the CPU
and ``nvdiffrast`` is CUDA. Default: ``torch:cpu``, plus ``torch:cuda,nvdiffrast`` with CUDA.
``--topology distinct`` gives every batch item a different face count (item b drops b faces),
which exercises the range-mode path GET3D's generated meshes take; ``shared`` (default) renders
one mesh from B cameras (instanced mode).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch
from _env import environment

from get3d.render import Cameras, Renderer
from get3d.render.primitives import icosphere


def _parse_ints(text: str):
    return [int(v) for v in text.split(",") if v.strip()]


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--backends", default=None,
                        help="comma list; default: torch, plus nvdiffrast when CUDA is available")
    parser.add_argument("--resolutions", default="256,1024", help="comma list of square sizes")
    parser.add_argument("--batches", default="1,8", help="comma list of batch sizes")
    parser.add_argument("--topology", choices=("shared", "distinct"), default="shared",
                        help="same faces for all items (instanced) or per-item face counts (range mode)")
    parser.add_argument("--subdivisions", type=int, default=5, help="icosphere level (5 = 20,480 faces)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run: subdivision 1, 32 px, batch 1 and 2, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.resolutions, args.batches, args.subdivisions, args.repeats = "32", "1,2", 1, 1
    if args.backends is None:
        args.backends = "torch:cpu,torch:cuda,nvdiffrast" if torch.cuda.is_available() else "torch:cpu"
    return args


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, repeats, device):
    fn()  # warm-up: kernel compilation, context creation, allocator growth
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _peak_rss_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20  # KiB on Linux, bytes on macOS


def _bench_one(renderer, verts, faces, batch, res, repeats, device, topology):
    cams = Cameras.sample_training_cameras(batch, torch.Generator().manual_seed(0), device=device)
    verts_b = [verts.clone().requires_grad_(True) for _ in range(batch)]
    if topology == "distinct":
        faces = [faces[: faces.shape[0] - b] for b in range(batch)]
    field = lambda points, batch_index: points + 0.5  # noqa: E731  (colour = position)

    def forward():
        with torch.no_grad():
            renderer.render(verts_b, faces, cams, res, texture_fn=field)

    def forward_backward():
        out = renderer.render(verts_b, faces, cams, res, texture_fn=field)
        (out.mask.sum() + out.color.sum()).backward()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    row = {
        "forward_ms": round(_time(forward, repeats, device), 3),
        "forward_backward_ms": round(_time(forward_backward, repeats, device), 3),
    }
    if device.type == "cuda":
        row["peak_mem_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    else:
        row["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return row


def main(argv=None):
    args = _parse_args(argv)
    verts, faces = icosphere(args.subdivisions, radius=0.45)
    report = {
        **environment("render"),
        "mesh": {"kind": "icosphere", "subdivisions": args.subdivisions,
                 "vertices": int(verts.shape[0]), "faces": int(faces.shape[0])},
        "repeats": args.repeats,
        "results": [],
        "skipped": [],
    }
    for spec in [b.strip() for b in args.backends.split(",") if b.strip()]:
        backend, _, device_name = spec.partition(":")
        device = torch.device(device_name or ("cuda" if backend == "nvdiffrast" else "cpu"))
        try:
            if device.type == "cuda" and not torch.cuda.is_available():
                raise RuntimeError("CUDA is not available")
            renderer = Renderer(backend)
        except Exception as exc:  # noqa: BLE001 (report, keep benchmarking other backends)
            report["skipped"].append({"backend": spec, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        v, f = verts.to(device), faces.to(device)
        for res in _parse_ints(args.resolutions):
            for batch in _parse_ints(args.batches):
                row = {"backend": getattr(renderer.backend, "name", backend), "device": device.type,
                       "resolution": res, "batch": batch, "topology": args.topology}
                row.update(_bench_one(renderer, v, f, batch, res, args.repeats, device, args.topology))
                report["results"].append(row)
                print(json.dumps(row), file=sys.stderr)  # progress; stdout stays one JSON document
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
