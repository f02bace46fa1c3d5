"""DDIM steps in either direction, on a prior's alpha-bar schedule.

A deterministic DDIM step (Song et al. 2021, eta = 0) from timestep ``a`` to ``b`` first predicts
the clean sample and then re-noises it with the same epsilon:

    x0_hat = (x_a - sqrt(1 - abar_a) eps) / sqrt(abar_a)
    x_b    = sqrt(abar_b) x0_hat + sqrt(1 - abar_b) eps

With ``b < a`` it denoises; with ``b > a`` it is DDIM inversion (the eps used is the one predicted
at ``x_a``, the usual first-order approximation). Timestep ``-1`` stands for the clean sample
(abar = 1), so inversion can start from the latents themselves.
"""
from __future__ import annotations

from typing import Callable, List

import torch

__all__ = ["abar_at", "ddim_step", "predict_x0", "invert"]

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [B,...], t [B] long) -> eps


def abar_at(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """t [B] long (-1 = clean) -> abar [B,1,1,1]."""
    t = t.long()
    values = torch.where(t < 0, torch.ones_like(t, dtype=alphas_cumprod.dtype), alphas_cumprod[t.clamp(min=0)])
    return values.view(-1, 1, 1, 1)


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddim_step(x_a: torch.Tensor, eps: torch.Tensor, abar_a: torch.Tensor, abar_b: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step from alpha-bar ``abar_a`` to ``abar_b`` (each [B,1,1,1])."""
    return abar_b.sqrt() * predict_x0(x_a, eps, abar_a) + (1 - abar_b).sqrt() * eps


def invert(x: torch.Tensor, timesteps: List[torch.Tensor], eps_fn: EpsFn, alphas_cumprod: torch.Tensor):
    """DDIM-invert along ``timesteps`` (increasing, each [B] long; the first may be -1 = clean).

    -> (x at the last timestep, the eps used for the last step). eps_fn is evaluated at every
    timestep but the last one.
    """
    eps = torch.zeros_like(x)
    for a, b in zip(timesteps[:-1], timesteps[1:]):
        eps = eps_fn(x, a.clamp(min=0))
        x = ddim_step(x, eps, abar_at(alphas_cumprod, a), abar_at(alphas_cumprod, b))
    return x, eps
