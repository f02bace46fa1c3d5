"""Benchmark `get3d generate` per asset, split by stage; prints one JSON document.

Stages per seed (median over --seeds seeds, after one warm-up asset):
  mesh     mapping + triplanes + SDF/deformation heads + marching tets
  uv       xatlas UV atlas of the extracted mesh
  bake     rasterise the UV layout, query the texture field per texel, dilate seams
  glb      write the GLB (texture PNG-encoded and embedded)
for each --texture-res (default 1024 and 2048) and each device (cpu, and cuda when present).

The model is --ckpt (a snapshot or a bundled model's name) or, with --preset, randomly
initialised weights of that preset (random shapes are noisier than trained ones, so their
meshes and atlases are larger: mesh_faces in the output says how large).

    python bench/generate.py [--quick] [--ckpt NAME|PATH | --preset tiny] [--texture-res 1024,2048]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _env import environment

from get3d.checkpoint import load_generator
from get3d.generate import textured_mesh
from get3d.networks.generator import seed_latents

STAGES = ("mesh", "uv", "bake", "glb")


def _model(args, device):
    if args.preset:
        from get3d.config import preset
        from get3d.networks.generator import Generator

        cfg = preset(args.preset)
        torch.manual_seed(0)
        return Generator(cfg.model).to(device).eval().requires_grad_(False), f"random {args.preset}"
    generator, _ = load_generator(args.ckpt, device)
    return generator, str(args.ckpt)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_device(args, device: str, texture_res: int, folder: Path) -> dict:
    generator, weights = _model(args, device)
    seeds = list(range(args.seeds + 1))  # the first one warms up
    z_geo, z_tex = seed_latents(generator, seeds, device)
    per_stage = {stage: [] for stage in STAGES}
    faces = []
    for i, seed in enumerate(seeds):
        timings: dict[str, float] = {}
        with torch.no_grad():
            ws_geo, ws_tex = generator.mapping(z_geo[i:i + 1], z_tex[i:i + 1], psi=0.7)
        _sync(device)
        start = time.perf_counter()
        mesh = textured_mesh(generator, ws_geo, ws_tex, texture_res, backend=args.backend, timings=timings)
        _sync(device)
        if mesh is None:
            continue
        timings["mesh"] = timings["mesh"] + (time.perf_counter() - start) - sum(timings.values())
        clock = time.perf_counter()
        mesh.save(folder / f"seed{seed}.glb")
        timings["glb"] = time.perf_counter() - clock
        if i == 0:
            continue
        faces.append(int(mesh.faces.shape[0]))
        for stage in STAGES:
            per_stage[stage].append(timings[stage])
    if not faces:
        raise SystemExit("every benchmark seed gave an empty shape")
    medians = {f"{stage}_s": statistics.median(values) for stage, values in per_stage.items()}
    return {"device": device, "weights": weights, "texture_res": texture_res, "seeds": len(faces),
            "mesh_faces": int(statistics.median(faces)), **medians, "total_s": sum(medians.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--ckpt", default="tiny-chair", help="snapshot or bundled model name")
    parser.add_argument("--preset", default=None, help="random weights of this preset instead of --ckpt")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--texture-res", default="1024,2048")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    resolutions = [int(r) for r in args.texture_res.split(",")]
    if args.quick:
        args.seeds, resolutions = 1, [64]
        args.preset = args.preset or "tiny"
    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for device in devices:
            for res in resolutions:
                rows.append(bench_device(args, device, res, Path(folder)))
    print(json.dumps({**environment("generate"), "quick": args.quick, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
