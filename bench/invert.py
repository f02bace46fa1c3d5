"""Benchmark `get3d invert` on the bundled tiny-chair: seconds per stage, peak memory, and how far the
result beats random codes; prints one JSON document.

Target: seed 1000 of tiny-chair (truncation 0.7) at the model's 64^2, from ``--views`` cameras drawn
from the training distribution (seed 0). Rows (per device):

  images-known    its renders with their cameras
  images-unknown  the same renders, cameras searched (12 x 3 grid) and refined jointly
  mesh-glb        the sample exported as GLB (generate's exporter), through the mesh path
                  (views rendered flat, 4096 surface points, Chamfer term)
  tune            images-known followed by ``--tune-steps`` of pivotal tuning

Each row: seconds of stage 1 (search, 16 candidates), stage 2 (W+ optimisation, ``--steps``), stage
3 (tuning), ms per stage-2 step, peak memory (CUDA: max allocated; CPU: peak RSS of this process,
which only grows, so later rows report the running maximum), and the metrics: mean silhouette IoU,
masked PSNR, Chamfer x1e3 in generator units (meshes; images: against the sample's own mesh),
beside the best of 16 random seeds seen from the TRUE cameras (iou_random_best,
chamfer_random_best).

    python bench/invert.py [--quick] [--devices cpu,cuda] [--steps 100] [--views 4] [--tune-steps 20]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

import torch
from _env import environment

from get3d.geometry.mesh import Mesh
from get3d.invert.optimize import InvertOptions, evaluate, invert
from get3d.invert.render import render_codes
from get3d.invert.target import InvertTarget, mesh_target
from get3d.networks.generator import seed_latents
from get3d.render import Cameras
from get3d.snapshot import load_generator


def codes(G, seed, device):
    z_geo, z_tex = seed_latents(G, [seed], device)
    with torch.no_grad():
        return G.mapping(z_geo, z_tex, psi=0.7)


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_best(G, target, cameras, device) -> dict:
    rows = [evaluate(G, *codes(G, s, device), cameras, target) for s in range(2000, 2016)]
    best = dict(iou_random_best=max(r["iou_mean"] for r in rows))
    if "chamfer_x1e3" in rows[0]:
        best["chamfer_random_best"] = min(r["chamfer_x1e3"] for r in rows)
    return best


def bench_device(device, args) -> list:
    G, _ = load_generator("tiny-chair", device)
    ws_geo, ws_tex = codes(G, 1000, device)
    cams = Cameras.sample_training_cameras(args.views, torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        out = render_codes(G, ws_geo, ws_tex, cams, G.img_resolution)
        (verts, faces), = G.extract_meshes(ws_geo)
    sample_mesh = Mesh(verts.cpu(), faces.cpu())
    options = InvertOptions(steps=args.steps, candidates=args.candidates, frame_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        from get3d.generate import save_asset, textured_mesh

        glb = save_asset(textured_mesh(G, ws_geo, ws_tex, 256), Path(tmp), "seed1000", ["glb"])[0]
        mesh_tgt = mesh_target(glb, G.img_resolution, views=args.views, scale=None, unlit=True)
    cases = [
        ("images-known", InvertTarget(out.rgb, out.mask, cams, mesh=sample_mesh), cams, options),
        ("images-unknown", InvertTarget(out.rgb, out.mask, None, mesh=sample_mesh), cams, options),
        ("mesh-glb", mesh_tgt, mesh_tgt.cameras, options),
        ("tune", InvertTarget(out.rgb, out.mask, cams, mesh=sample_mesh), cams,
         InvertOptions(steps=args.steps, candidates=args.candidates, frame_every=0, tune_steps=args.tune_steps)),
    ]
    rows = []
    for name, target, true_cams, opts in cases:
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
        result = invert(G, target, opts)
        if device.type == "cuda":
            torch.cuda.synchronize()
        m = result.metrics
        row = dict(case=name, device=str(device), views=len(target), resolution=target.resolution, steps=opts.steps,
                   candidates=opts.candidates, tune_steps=opts.tune_steps,
                   seconds={k: round(v, 3) for k, v in result.seconds.items()},
                   ms_per_step=round(1000 * result.seconds["optimize"] / max(opts.steps, 1), 1),
                   peak_mb=round(peak_mb(device), 1), iou=round(m["iou_mean"], 4), psnr=round(m["psnr_mean"], 2),
                   iou_search=round(result.search_metrics["iou_mean"], 4))
        if "chamfer_x1e3" in m:
            row.update(chamfer=round(m["chamfer_x1e3"], 4), chamfer_search=round(result.search_metrics["chamfer_x1e3"], 4))
        row.update({k: round(v, 4) for k, v in random_best(G, target, true_cams.to(device), device).items()})
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--tune-steps", type=int, default=20)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="3 steps, 2 candidates, 2 views, 2 tuning steps")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.candidates, args.views, args.tune_steps = 3, 2, 2, 2
    report = environment("invert")
    report.update(quick=args.quick, results=[])
    for name in args.devices.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            continue
        report["results"] += bench_device(torch.device(name), args)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
