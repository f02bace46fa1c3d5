"""Benchmark GET3D training steps; prints one JSON document.

Times the exact step the trainer runs (get3d.training.step.StepRunner: Gmain, Dmain, lazy R1
every ``r1_interval`` steps, EMA) on in-memory real images, so data loading is not included
(bench/data.py measures the loader). Each configuration is timed over ``--steps`` steps after
``--warmup`` steps (which absorb torch.compile and allocator warm-up); with the default 16 steps
exactly one R1 step falls in the window, as in training.

  cpu:   the tiny preset at its 64^2 (batch 4); --quick: 32^2, batch 2, 2 steps (smoke test).
  cuda:  a ShapeNet preset at 1024^2 and 512^2, batch 4 on one GPU, with the speed options
         (mixed_precision = bf16 autocast, channels_last, compile) off, each alone, and all on.

Reported per row: images_per_s, s_per_kimg, peak memory (CUDA: max allocated; CPU: peak RSS of
this process, which includes Python and torch themselves), whether any step was non-finite. A
configuration that runs out of GPU memory is a row with ``out_of_memory: true``; any other error
stops the benchmark with its traceback and a non-zero exit (no table).

    python bench/train.py [--quick] [--devices cpu,cuda] [--steps 16] [--warmup 2]
                          [--preset shapenet-car] [--res 1024,512]
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from _env import environment

from get3d.training.distributed import DistEnv
from get3d.training.options import build_config, validate_config
from get3d.training.step import StepRunner, build_state

SPEED_OPTIONS = ("mixed_precision", "channels_last", "compile")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reals(batch: int, res: int, device: torch.device):
    """Soft disc silhouettes with random colours: the shapes do not matter for speed."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    mask = ((0.6 - (xx ** 2 + yy ** 2).sqrt()) * res / 4).clamp(0, 1)[None, None].repeat(batch, 1, 1, 1)
    rgb = torch.rand(batch, 3, 1, 1, generator=gen) * mask
    labels = torch.stack([torch.rand(batch, generator=gen) * 360, torch.rand(batch, generator=gen) * 30], 1)
    return rgb.to(device), mask.to(device), labels.to(device)


def bench_config(preset: str, res: int, batch: int, device: torch.device, steps: int, warmup: int,
                 options: dict) -> dict:
    cfg = build_config(preset, batch=batch, resolution=res)
    cfg.data.workers = 0
    for name in SPEED_OPTIONS:
        setattr(cfg.train, name, bool(options.get(name, False)))
    validate_config(cfg)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    state = build_state(cfg, device)
    runner = StepRunner(state, cfg, DistEnv(device=device), batch)
    real = _reals(batch, res, device)
    all_ok = True
    for step in range(warmup):
        all_ok &= runner(*real, step=step + 1, images_seen_after=(step + 1) * batch).ok  # no R1 in warm-up
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):  # step 0 of the window is an R1 step
        all_ok &= runner(*real, step=step, images_seen_after=(warmup + step + 1) * batch).ok
    _sync(device)
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak_gb = torch.cuda.max_memory_allocated(device) / 2 ** 30
    else:
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB -> GiB (Linux)
    images = steps * batch
    return {"device": str(device), "preset": preset, "res": res, "batch": batch, "steps": steps,
            **{name: bool(options.get(name, False)) for name in SPEED_OPTIONS},
            "images_per_s": images / seconds, "s_per_kimg": seconds / images * 1000,
            "peak_memory_gb": peak_gb, "all_steps_finite": all_ok}


def _cuda_option_sets() -> list[dict]:
    sets = [{}]
    sets += [{name: True} for name in SPEED_OPTIONS]
    sets.append({name: True for name in SPEED_OPTIONS})
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes on the CPU only (smoke test)")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--preset", default="shapenet-car", help="preset for the CUDA rows")
    parser.add_argument("--res", default="1024,512", help="CUDA resolutions")
    parser.add_argument("--batch", type=int, default=4, help="CUDA batch (one GPU)")
    args = parser.parse_args()
    rows = []
    devices = [d for d in args.devices.split(",") if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    if "cpu" in devices:
        if args.quick:
            rows.append(bench_config("tiny", 32, 2, torch.device("cpu"), steps=2, warmup=0, options={}))
        else:
            rows.append(bench_config("tiny", 64, 4, torch.device("cpu"), args.steps, args.warmup, options={}))
    if "cuda" in devices and not args.quick:
        for res in (int(r) for r in args.res.split(",")):
            for options in _cuda_option_sets():
                try:
                    rows.append(bench_config(args.preset, res, args.batch, torch.device("cuda"), args.steps,
                                             args.warmup, options))
                except torch.cuda.OutOfMemoryError as err:
                    # Not fitting in memory is a measurement (the row says so); any other error (a
                    # compile failure, a bug) propagates: the run fails loudly, no table is printed.
                    torch.cuda.empty_cache()
                    rows.append({"device": "cuda", "preset": args.preset, "res": res, "batch": args.batch,
                                 **{n: bool(options.get(n, False)) for n in SPEED_OPTIONS},
                                 "out_of_memory": True, "error": f"{type(err).__name__}: {str(err)[:300]}"})
    print(json.dumps({**environment("train"), "quick": args.quick, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
