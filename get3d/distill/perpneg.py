"""Perp-Neg (Armandpour et al. 2023): negative prompts that only remove what is perpendicular to the
positive direction, with the view-dependent negatives that fight the Janus problem.

Guidance with Perp-Neg, per item (threestudio's ``predict_noise`` perp-neg branch and
LucidDreamer's ``weighted_perpendicular_aggregator`` compute the same):

    e_pos  = eps(cond) - eps(uncond)
    e_k    = eps(negative_k) - eps(uncond)                      k = 1..K
    eps_hat = eps(uncond) + s (e_pos + sum_k w_k perp(e_k, e_pos))
    perp(a, b) = a - (<a, b> / max(<b, b>, 1e-6)) b              (inner products over C, h, w)

The weights are negative (a negative prompt is pushed away from). Both references use the
``eps_u + s (...)`` form here, whatever form their plain guidance uses, and so does get3d.

View-dependent negatives (threestudio's ``get_text_embeddings_perp_neg``, its default weight
functions ``f(r) = a exp(-b r) + c``): with ``azimuth`` measured from the asset's front in
(-180, 180] degrees,

- ``|azimuth| < 90``: ``r = 1 - |azimuth| / 90``; cond = ``r front + (1 - r) side``;
  negatives (front, side) with weights ``(-f_fs(r), -f_sf(1 - r))``;
- otherwise: ``r = 2 - |azimuth| / 90``; cond = ``r side + (1 - r) back``; negatives
  (side, front) with weights ``(-f_sb(r), -f_fsb(r))``;
- elevation above the overhead threshold: cond = overhead, weights 0 (threestudio: dummy
  negatives).

``view_embeddings`` takes the four view prompts' embeddings in get3d's order
(``get3d.distill.views.SUFFIXES``: front, side, back, overhead).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from get3d.errors import Get3dError

__all__ = ["PerpNeg", "PerpNegWeights", "perpendicular_component", "perp_neg_combine", "view_embeddings"]


@dataclass
class PerpNegWeights:
    """(a, b, c) of ``f(r) = a exp(-b r) + c`` per pair: threestudio's PromptProcessor defaults."""

    f_sb: tuple = (1.0, 0.5, -0.606)
    f_fsb: tuple = (1.0, 0.5, 0.967)
    f_fs: tuple = (4.0, 0.5, -2.426)
    f_sf: tuple = (4.0, 0.5, -2.426)


@dataclass
class PerpNeg:
    """Negative prompts of one guided call: ``negatives`` [B or 1, K, ...] embeddings, ``weights``
    [B or 1, K] (negative numbers push away)."""

    negatives: torch.Tensor
    weights: torch.Tensor

    def expand(self, batch: int) -> "PerpNeg":
        neg, w = self.negatives, self.weights
        if neg.dim() < 2 or w.dim() != 2 or w.shape[0] != neg.shape[0] or w.shape[1] != neg.shape[1]:
            raise Get3dError(f"perp_neg: negatives must be [B, K, ...] and weights [B, K], got "
                             f"{tuple(neg.shape)} and {tuple(w.shape)}")
        if neg.shape[0] == 1 and batch != 1:
            neg, w = neg.expand(batch, *neg.shape[1:]), w.expand(batch, -1)
        elif neg.shape[0] != batch:
            raise Get3dError(f"perp_neg has {neg.shape[0]} rows for a batch of {batch} latents (give 1 or {batch})")
        return PerpNeg(neg, w)


def perpendicular_component(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x, y [B, ...] -> the part of each x[i] perpendicular to y[i]."""
    dims = tuple(range(1, x.dim()))
    coeff = (x * y).sum(dims) / (y * y).sum(dims).clamp(min=1e-6)
    return x - coeff.view(-1, *([1] * (x.dim() - 1))) * y


def perp_neg_combine(eps_c: torch.Tensor, eps_u: torch.Tensor, eps_neg: torch.Tensor, weights: torch.Tensor,
                     scale: float) -> torch.Tensor:
    """eps_c, eps_u [B, ...], eps_neg [B, K, ...], weights [B, K] -> the guided prediction (docstring)."""
    e_pos = eps_c - eps_u
    total = e_pos
    for k in range(eps_neg.shape[1]):
        w = weights[:, k].to(e_pos).view(-1, *([1] * (e_pos.dim() - 1)))
        total = total + w * perpendicular_component(eps_neg[:, k] - eps_u, e_pos)
    return eps_u + scale * total


def _f(params, r: torch.Tensor) -> torch.Tensor:
    a, b, c = params
    return a * torch.exp(-b * r) + c


def view_embeddings(views: torch.Tensor, azimuth: torch.Tensor, elevation: torch.Tensor,
                    front_azimuth: float = 0.0, overhead: float = 60.0,
                    weights: Optional[PerpNegWeights] = None) -> tuple[torch.Tensor, PerpNeg]:
    """views [4, ...] (front, side, back, overhead prompt embeddings), azimuth / elevation [B]
    degrees -> (cond [B, ...] the interpolated positive embedding, PerpNeg with K = 2)."""
    if views.shape[0] != 4:
        raise Get3dError(f"perp-neg needs the 4 view prompts' embeddings (front, side, back, overhead), got "
                         f"{views.shape[0]}")
    weights = weights or PerpNegWeights()
    front, side, back, top = views[0], views[1], views[2], views[3]
    azimuth = azimuth.detach().float().cpu()
    elevation = elevation.detach().float().cpu()
    offset = torch.remainder(azimuth - front_azimuth + 180.0, 360.0) - 180.0
    conds, negs, ws = [], [], []
    for azi, ele in zip(offset.tolist(), elevation.tolist()):
        azi_abs = abs(azi)
        if ele > overhead:
            conds.append(top)
            negs.append(torch.stack([top, top]))
            ws.append([0.0, 0.0])
        elif azi_abs < 90:
            r = torch.tensor(1.0 - azi_abs / 90.0)
            conds.append(float(r) * front + (1 - float(r)) * side)
            negs.append(torch.stack([front, side]))
            ws.append([-float(_f(weights.f_fs, r)), -float(_f(weights.f_sf, 1 - r))])
        else:
            r = torch.tensor(2.0 - azi_abs / 90.0)
            conds.append(float(r) * side + (1 - float(r)) * back)
            negs.append(torch.stack([side, front]))
            ws.append([-float(_f(weights.f_sb, r)), -float(_f(weights.f_fsb, r))])
    device = views.device
    return torch.stack(conds), PerpNeg(torch.stack(negs), torch.tensor(ws, dtype=torch.float32, device=device))
