"""The diffusion prior the distillation rules talk to: a small protocol, not diffusers itself.

Conventions (every implementation follows them, so the rules need no special cases):

- ``alphas_cumprod`` [T] float32 on the prior's device: alpha-bar of the forward process at each
  of the T training timesteps, ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``.
- ``image_size``: the pixel size the encoder expects (512 for Stable Diffusion 1.5 / 2.1-base).
- ``encode(images [B,3,H,W] in [0,1]) -> latents [B,C,h,w]``: differentiable; this is where the
  rules' gradients flow back into the renders.
- ``decode(latents) -> images [B,3,H,W] in [0,1]``.
- ``embed_text(prompts: list[str]) -> embeddings [N,...]``: one row per prompt; the empty string
  is the unconditional prompt.
- ``predict_noise(latents_t [B,C,h,w], t [B] long, embeddings [B,...]) -> eps [B,C,h,w]``:
  always epsilon, whatever the underlying model predicts (v-prediction models convert).

Users plug in their own prior (another latent diffusion model, a pixel-space model, an analytic
one as in :mod:`get3d.distill.analytic`) by implementing these six members.
"""
from __future__ import annotations

from typing import List, Protocol, runtime_checkable

import torch

from get3d.errors import Get3dError

__all__ = ["DiffusionPrior", "check_prior", "check_latents", "expand_embeddings"]


@runtime_checkable
class DiffusionPrior(Protocol):
    alphas_cumprod: torch.Tensor
    image_size: int

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...

    def embed_text(self, prompts: List[str]) -> torch.Tensor: ...

    def predict_noise(self, latents_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor: ...


def check_prior(prior) -> None:
    """One line naming the first missing member when ``prior`` is not a DiffusionPrior."""
    for name in ("alphas_cumprod", "image_size", "encode", "decode", "embed_text", "predict_noise"):
        if not hasattr(prior, name):
            raise Get3dError(f"{type(prior).__name__} is not a DiffusionPrior: it has no {name!r}")


def check_latents(latents: torch.Tensor, name: str = "latents") -> None:
    """latents must be a finite [B,C,h,w] float tensor."""
    if not isinstance(latents, torch.Tensor) or latents.dim() != 4 or not latents.is_floating_point():
        shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise Get3dError(f"{name} must be a float tensor [B,C,h,w], got {shape}")
    if not bool(torch.isfinite(latents.detach()).all()):
        raise Get3dError(f"{name} contain NaN or Inf")


def expand_embeddings(embeddings: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """[1,...] or [B,...] -> [B,...] (a single prompt is shared by the whole batch)."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() < 1:
        raise Get3dError(f"{name} must be a tensor of text embeddings [1 or B, ...]")
    if embeddings.shape[0] == batch:
        return embeddings
    if embeddings.shape[0] == 1:
        return embeddings.expand(batch, *embeddings.shape[1:])
    raise Get3dError(f"{name} has {embeddings.shape[0]} rows for a batch of {batch} latents (give 1 or {batch})")
