"""A diffusion prior whose answer is known exactly: each prompt's data is a single image.

If the data distribution is a point mass at ``x0`` (in pixel space, with the identity as encoder
and decoder), the forward process gives ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` and the
optimal denoiser knows ``x0``, so its noise prediction is exact for every ``x_t``:

    eps(x_t, t) = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)

Its x0-prediction ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)`` is ``x0`` itself, whatever
``x_t``. That makes every rule's fixed point computable by hand (see tests/distill), and lets a
user check their own refinement code offline.

Prompts: the empty string embeds to the unconditional image (``uncond_image``, or the conditional
one when none is given); every other prompt (view suffixes included) to the conditional image.
Embeddings are one scalar per prompt: 1.0 = conditional, 0.0 = unconditional.
"""
from __future__ import annotations

from typing import List, Optional

import torch

from get3d.errors import Get3dError

__all__ = ["AnalyticPrior", "scaled_linear_alphas_cumprod"]


def scaled_linear_alphas_cumprod(num_timesteps: int = 1000, beta_start: float = 0.00085,
                                 beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's schedule: betas linear in sqrt space -> alpha-bar [T] float32."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


class AnalyticPrior:
    """Point-mass pixel-space prior (see the module docstring).

    Args:
        cond_image: [3,H,W] in [0,1], the data of every non-empty prompt.
        uncond_image: [3,H,W] in [0,1], the data of the empty prompt (default: cond_image).
        num_timesteps: T.
        alphas_cumprod: optional [T] schedule (default: Stable Diffusion's scaled-linear one).
    """

    def __init__(self, cond_image: torch.Tensor, uncond_image: Optional[torch.Tensor] = None,
                 num_timesteps: int = 1000, alphas_cumprod: Optional[torch.Tensor] = None):
        if not isinstance(cond_image, torch.Tensor) or cond_image.dim() != 3 or cond_image.shape[0] != 3:
            raise Get3dError(f"cond_image must be [3,H,W], got {getattr(cond_image, 'shape', cond_image)}")
        uncond_image = cond_image if uncond_image is None else uncond_image
        if uncond_image.shape != cond_image.shape:
            raise Get3dError(f"uncond_image must have cond_image's shape {tuple(cond_image.shape)}, "
                             f"got {tuple(uncond_image.shape)}")
        self.cond_image = cond_image.float()
        self.uncond_image = uncond_image.float().to(cond_image.device)
        abar = scaled_linear_alphas_cumprod(num_timesteps) if alphas_cumprod is None else alphas_cumprod
        self.alphas_cumprod = abar.float().to(cond_image.device)
        self.image_size = int(cond_image.shape[-1])
        self.calls = 0  # predict_noise calls (benchmarks and tests count model evaluations)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.clamp(0, 1)

    def embed_text(self, prompts: List[str]) -> torch.Tensor:
        return torch.tensor([0.0 if p == "" else 1.0 for p in prompts], device=self.cond_image.device)

    def x0(self, embeddings: torch.Tensor) -> torch.Tensor:
        """embeddings [B] -> the data image of each row [B,3,H,W]."""
        w = embeddings.float().view(-1, 1, 1, 1)
        return w * self.cond_image + (1 - w) * self.uncond_image

    def predict_noise(self, latents_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        abar = self.alphas_cumprod[t.long()].view(-1, 1, 1, 1).to(latents_t.dtype)
        return (latents_t - abar.sqrt() * self.x0(embeddings).to(latents_t)) / (1 - abar).sqrt()
