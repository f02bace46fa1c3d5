"""Benchmark the score-distillation rules: seconds per step and peak memory; prints one JSON document.

One step = encode a batch of images [B,3,S,S] through the VAE, the rule's loss (all its UNet
calls: SDS 1 batched guided call; ISM up to 5 inversion calls + 1 target call + 1 guided call;
SDI 10 guided inversion calls + 1 guided call), and the backward pass into the images: what a
refinement step costs besides rendering.

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
            else:
                prior, emb_shape, model = _sd21_base(device), (77, 1024), "sd21-base-random-fp16"
            for batch in batches:
                for rule in RULES:
                    row = bench_rule(prior, rule, batch, emb_shape, steps, warmup, device)
                    report["results"].append({"device": name, "model": model, **row})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
