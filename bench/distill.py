"""Benchmark the score-distillation rules: seconds per step and peak memory; prints one JSON document.

One step = encode a batch of images [B,3,S,S] through the VAE, the rule's loss (all its UNet
calls, with the reference defaults: SDS 1 batched guided call; ISM 1 to 5 unconditional inversion
calls + 1 target call + 1 guided call, depending on t; SDI one guided call per point of the
stride-100 grid below t (plus its start at a negative timestep) + 1 guided call at t: 4 to 11
with t annealed from 980 to 250), and the backward pass into the images: what a refinement step
costs besides rendering.

``unet_calls``: UNet calls per step (each a batched call, 2B rows for a guided one) as a function
of t, counted by running each rule with explicit draws (rule.loss(..., draws=...)) at the given
timesteps: SDS at any t, ISM at t = 21, 250, 500 (the range after the warm-up), 750, 979 (the
warm-up's start), SDI at the schedule's t for progress 0, 0.25, 0.5, 0.75, 1.

  cpu:   the tiny random pipeline of get3d.distill.tiny (image 16^2, latents 8^2).
  cuda:  a full-size Stable Diffusion 2.1-base UNet and VAE built from the published configs with
         random weights (real compute, no download), fp16, images 512^2, text embeddings random
         [B,77,1024] (the text encoder is not part of a step).

Reported per row: rule, batch, s_per_step (mean over --steps after --warmup), unet_calls_per_step,
peak memory (CUDA: max allocated; CPU: peak RSS of this process, which includes Python and torch).

    python bench/distill.py [--quick] [--devices cpu,cuda] [--steps 5] [--warmup 1] [--batches 1,4]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import torch
from _env import environment

from get3d.distill import make_rule
from get3d.distill.diffusion import StableDiffusionPrior, load_diffusion
from get3d.distill.tiny import save_tiny_pipeline

RULES = ("sds", "ism", "sdi")


class _Counting:
    """Wraps a prior to count UNet evaluations (each batched call counts once per item row-block)."""

    def __init__(self, prior):
        self.prior, self.calls = prior, 0
        self.alphas_cumprod, self.image_size, self.dtype = prior.alphas_cumprod, prior.image_size, prior.dtype

    def encode(self, images):
        return self.prior.encode(images)

    def decode(self, latents):
        return self.prior.decode(latents)

    def embed_text(self, prompts):
        return self.prior.embed_text(prompts)

    def predict_noise(self, x, t, emb):
        self.calls += 1
        return self.prior.predict_noise(x, t, emb)


def _sd21_base(device) -> StableDiffusionPrior:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=512,
    )
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0())
    dtype = torch.float16
    for m in (unet, vae):
        m.to(device, dtype).eval().requires_grad_(False)
    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    prior = StableDiffusionPrior(unet, vae, None, None, sched.alphas_cumprod, "epsilon", device, dtype, "sd21-base-random")
    return prior


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_rule(prior, rule_name: str, batch: int, emb_shape, steps: int, warmup: int, device) -> dict:
    counting = _Counting(prior)
    rule = make_rule(rule_name)
    gen = torch.Generator(device=device).manual_seed(0)
    cond = torch.randn(1, *emb_shape, device=device, dtype=prior.dtype, generator=gen)
    uncond = torch.randn(1, *emb_shape, device=device, dtype=prior.dtype, generator=gen)
    images = torch.rand(batch, 3, prior.image_size, prior.image_size, device=device, generator=gen).requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        counting.calls = 0
        _sync(device)
        clock = time.perf_counter()
        images.grad = None
        rule.loss(counting.encode(images), counting, cond, uncond, i, warmup + steps, generator=gen).backward()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - clock)
    peak = (torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    return {"rule": rule_name, "batch": batch, "image_size": prior.image_size, "dtype": str(prior.dtype),
            "s_per_step": sum(times) / len(times), "unet_calls_per_step": counting.calls,
            "peak_memory_gb": round(peak, 3), "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda"
            else "process_peak_rss"}


def unet_calls(prior, emb_shape) -> list[dict]:
    """UNet calls per step for each rule at chosen timesteps (explicit draws; see the docstring)."""
    from get3d.distill.rules import ISMDraws, SDIDraws, SDSDraws

    counting = _Counting(prior)
    device = prior.alphas_cumprod.device
    T = int(prior.alphas_cumprod.shape[0])
    size = prior.image_size // prior.vae_factor
    latents = torch.zeros(1, 4, size, size, device=device)
    cond = torch.zeros(1, *emb_shape, device=device, dtype=prior.dtype)
    rows = []
    for t in (20, 500, 980):
        counting.calls = 0
        make_rule("sds").loss(latents, counting, cond, cond, 0, 1,
                              draws=SDSDraws(torch.tensor([t], device=device), torch.zeros_like(latents)))
        rows.append({"rule": "sds", "t": t, "unet_calls": counting.calls})
    ism = make_rule("ism")
    for t in (21, 250, 500, 750, 979):
        counting.calls = 0
        ism.loss(latents, counting, cond, cond, 5000, 5000, draws=ISMDraws(t, torch.zeros_like(latents)), inverse=cond)
        rows.append({"rule": "ism", "t": t, "s": ism.last["s"], "unet_calls": counting.calls})
    sdi = make_rule("sdi")
    for progress in (0.0, 0.25, 0.5, 0.75, 1.0):
        t = sdi.timestep(int(progress * 1000), 1000, T)
        points = sdi.inversion_timesteps(t, 50, T)
        noise = torch.zeros(len(points) - 1, *latents.shape, device=device)
        counting.calls = 0
        sdi.loss(latents, counting, cond, cond, int(progress * 1000), 1000, draws=SDIDraws(t, 50, noise))
        rows.append({"rule": "sdi", "progress": progress, "t": t, "unet_calls": counting.calls})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 1, 1 step, CPU only")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batches", default="1,4")
    args = parser.parse_args()
    batches = [1] if args.quick else [int(b) for b in args.batches.split(",")]
    steps, warmup = (1, 0) if args.quick else (args.steps, args.warmup)
    report = environment("distill")
    report["results"] = []
    for name in args.devices.split(","):
        if name == "cuda" and (args.quick or not torch.cuda.is_available()):
            report.setdefault("skipped", []).append("cuda: no GPU" if not args.quick else "cuda: --quick")
            continue
        device = torch.device(name)
        with tempfile.TemporaryDirectory() as tmp:
            if name == "cpu":
                prior, emb_shape, model = load_diffusion(save_tiny_pipeline(tmp), device="cpu"), (16, 32), "tiny"
                report["unet_calls"] = unet_calls(prior, emb_shape)
            else:
                prior, emb_shape, model = _sd21_base(device), (77, 1024), "sd21-base-random-fp16"
            for batch in batches:
                for rule in RULES:
                    row = bench_rule(prior, rule, batch, emb_shape, steps, warmup, device)
                    report["results"].append({"device": name, "model": model, **row})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
