"""Benchmark the CLIP directional fine-tune (get3d finetune-text); prints one JSON document.

One iteration is exactly ``TextFinetuner.step``: map ``batch`` latents, render them from ``views``
cameras each through the frozen generator (no grad) and the trained copy, encode both with every
CLIP model, directional loss, backward into the trained layers, one Adam step.

  cpu:   the tiny preset's generator (random weights; 32^2 triplanes, tet_res 24) and a small
         random CLIP (ViT: 2 layers, width 64, patch 8, image 32^2) built from a config;
         batch 2 x 2 views; --quick: 2 timed iterations (smoke test).
  cuda:  a ShapeNet preset's generator (random weights, tet_res 90, 256^2 triplanes) and
         full-size CLIP ViT-B/32 and ViT-B/16 image towers built from their published configs
         (random weights, real compute: ViT-B/32 is CLIPConfig's default, B/16 the same with
         patch 16), renders at 224^2, batch 4 x 8 views (the issue's target: 1000 iterations in
         under 10 minutes, under 20 GB).

Text embeddings are random vectors of the projection width: text is encoded once per run, never
inside an iteration, so leaving the tokenizer out changes no timed work. Reported per row:
s_per_iter, iters_per_s, projected minutes for 1000 iterations, peak memory (CUDA: max
allocated; CPU: peak RSS of this process, which includes Python and torch), skipped steps.

    python bench/finetune_text.py [--quick] [--devices cpu,cuda] [--iters 5] [--warmup 1]
                                  [--layers all] [--preset shapenet-car]
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from _env import environment

from get3d.config import preset
from get3d.networks.generator import Generator
from get3d.text.encoder import CLIPEncoder
from get3d.text.finetune import FinetuneOptions, TextFinetuner


class _NoTextCLIP(CLIPEncoder):
    """A CLIPEncoder whose text side returns fixed random vectors (see the module docstring)."""

    def encode_text(self, texts):
        gen = torch.Generator().manual_seed(sum(map(ord, "".join(texts))))
        dim = self.model.config.projection_dim
        return torch.randn(len(texts), dim, generator=gen).to(self.device)


def _clip(device, full: bool, patch: int) -> _NoTextCLIP:
    from transformers import CLIPConfig, CLIPModel

    if full:  # CLIPConfig() is openai/clip-vit-base-patch32's architecture
        config = CLIPConfig()
        config.vision_config.patch_size = patch
    else:
        config = CLIPConfig(text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2),
                            vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                               num_attention_heads=2, image_size=32, patch_size=8),
                            projection_dim=32)
    torch.manual_seed(patch)
    model = CLIPModel(config).to(device).eval()
    return _NoTextCLIP(model, tokenizer=None, name=f"clip-random-{'B' if full else 'tiny'}/{patch}")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(device: torch.device, args) -> dict:
    full = device.type == "cuda"
    cfg = preset(args.preset if full else "tiny")
    torch.manual_seed(0)
    G = Generator(cfg.model).to(device).eval()
    encoders = [_clip(device, full, 32)] + ([_clip(device, full, 16)] if full else [])
    batch, views = (4, 8) if full else (2, 2)
    if args.quick:
        batch, views = 1, 2
    opts = FinetuneOptions(iters=args.iters + args.warmup, batch=batch, views=views, layers=args.layers,
                           templates="none", grid_seeds=1, grid_views=1)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    tuner = TextFinetuner(G, encoders, "a car", "a police car", opts,
                          camera_ranges=(tuple(cfg.data.rotation_range), tuple(cfg.data.elevation_range)))
    for _ in range(args.warmup):
        tuner.step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.iters):
        tuner.step()
    _sync(device)
    seconds = (time.perf_counter() - start) / args.iters
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "device": device.type, "preset": args.preset if full else "tiny", "clip": [e.name for e in encoders],
        "batch": batch, "views": views, "resolution": tuner.resolution, "layers": args.layers,
        "trainable_parameters": sum(p.numel() for p in tuner.tuned.parameters() if p.requires_grad),
        "s_per_iter": seconds, "iters_per_s": 1.0 / seconds, "minutes_per_1000_iters": 1000 * seconds / 60,
        "peak_memory_gb": peak / 2 ** 30, "peak_memory_kind": "cuda_max_allocated" if full else "cpu_peak_rss",
        "skipped_steps": tuner.skipped, "timed_iters": args.iters, "measured": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke test: 2 timed iterations, batch 1 x 2 views.")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--layers", default="all", choices=["texture", "geometry", "all", "auto"])
    parser.add_argument("--preset", default="shapenet-car", help="Generator preset on CUDA.")
    args = parser.parse_args()
    if args.quick:
        args.iters, args.warmup = 2, 0
    report = environment("finetune_text")
    report["quick"] = args.quick
    report["results"] = []
    for name in [d.strip() for d in args.devices.split(",") if d.strip()]:
        if name == "cuda" and not torch.cuda.is_available():
            report["results"].append({"device": "cuda", "measured": False, "reason": "no CUDA device"})
            continue
        report["results"].append(bench(torch.device(name), args))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
