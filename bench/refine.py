"""Benchmark `get3d refine`: seconds per step split into phases, and peak memory; prints one JSON document.

A step is exactly get3d.distill.refine_run's loop (``RefineOptions(profile=True, export=False)``), on the
bundled ``tiny-chair`` asset of seed 0, every part trained (geometry and texture); the phases are
RefineResult.timings: ``render`` (mesh extraction by marching tets + rasterising + texture
field), ``encode`` (the VAE encoder), ``rule`` (the rule's UNet calls and maths), ``backward``
(regularisers, backward through UNet inputs, VAE, renderer and asset, Adam step).

  cpu:   the tiny random pipeline of get3d.distill.tiny (image 16^2), the asset on its own grid.
  cuda:  a full-size Stable Diffusion 2.1-base UNet and VAE built from the published configs with
         random weights (bench/distill.py; real compute, no download), fp16, renders at 512^2, text
         embeddings random [77,1024] (the text encoder runs once per run, not per step), the asset
         re-evaluated on GET3D's tet_res 90 grid so extraction costs what a ShapeNet asset costs.

Each row: rule, device, batch, render_res, tet_res, s_per_step (mean over --steps after --warmup
steps), per-phase seconds per step, minutes for 5000 steps at that rate, peak memory (CUDA: max
allocated; CPU: peak RSS of this process).

    python bench/refine.py [--quick] [--devices cpu,cuda] [--steps 5] [--warmup 2] [--rules sds,ism,sdi]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile

import torch
from _env import environment

from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import PHASES, refine

RULES = ("sds", "ism", "sdi")


def _random_text(prior, emb_shape):
    """``prior`` with text embeddings drawn at random (the full-size SD of bench/distill.py has no
    text encoder); everything else is the prior's own (bench/distill.py's counting wrapper)."""
    from distill import _Counting

    class RandomText(_Counting):
        def embed_text(self, prompts):
            gen = torch.Generator().manual_seed(len(prompts))
            return torch.randn(len(prompts), *emb_shape, generator=gen).to(self.prior.device, self.dtype)

    return RandomText(prior)


def bench_rule(prior, rule: str, device, steps: int, warmup: int, batch: int, tet_res) -> dict:
    def run(n):
        asset = asset_from_checkpoint("tiny-chair", 0, device=device, tet_res=tet_res)
        return asset, refine(prior, asset, "a red chair",
                             RefineOptions(rule=rule, steps=n, batch=batch, export=False, profile=True))

    if warmup:
        run(warmup)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    asset, result = run(steps)
    finite = max(1, len(result.losses))
    phases = {f"{k}_s": result.timings[k] / finite for k in PHASES}
    per_step = sum(phases.values())
    peak = (torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    return {"rule": rule, "batch": batch, "render_res": int(prior.image_size), "tet_res": int(asset.info["tet_res"]),
            "grid_vertices": int(asset.grid.shape[0]), "steps_timed": len(result.losses), "skipped": result.skipped,
            "s_per_step": per_step, **phases, "minutes_per_5000_steps": per_step * 5000 / 60,
            "peak_memory_gb": round(peak, 3),
            "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "process_peak_rss"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 step of SDS, CPU only")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rules", default=",".join(RULES))
    args = parser.parse_args()
    rules = ["sds"] if args.quick else args.rules.split(",")
    steps, warmup = (1, 0) if args.quick else (args.steps, args.warmup)
    report = environment("refine")
    report["quick"] = args.quick
    report["results"] = []
    for name in args.devices.split(","):
        if name == "cuda" and (args.quick or not torch.cuda.is_available()):
            report.setdefault("skipped", []).append("cuda: no GPU" if not args.quick else "cuda: --quick")
            continue
        device = torch.device(name)
        with tempfile.TemporaryDirectory() as tmp:
            if name == "cpu":
                from get3d.distill.diffusion import load_diffusion
                from get3d.distill.tiny import save_tiny_pipeline

                prior, model, tet_res = load_diffusion(save_tiny_pipeline(tmp), device="cpu"), "tiny", None
            else:
                from distill import _sd21_base

                prior, model, tet_res = _random_text(_sd21_base(device), (77, 1024)), "sd21-base-random-fp16", 90
            for rule in rules:
                row = bench_rule(prior, rule, device, steps, warmup, args.batch, tet_res)
                report["results"].append({"device": name, "model": model, **row})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
