"""The terms inversion minimises, each a plain function of tensors.

* ``silhouette_loss``: 1 - soft IoU of the antialiased masks, per view, averaged. Soft IoU is
  scale free (a small object's silhouette counts as much as a large one's) and its gradient
  reaches the geometry through the renderer's antialiasing.
* ``colour_loss``: mean squared colour error (colour on black) over the target's foreground.
* ``chamfer_loss``: Chamfer distance (squared, GET3D's definition) between points sampled on the
  generated surface (differentiable w.r.t. the mesh) and the target's surface points, in the
  generator's own units (both live in its box; no per-shape normalisation, so size counts).
* ``WPrior``: how far codes are from the mapping network's output distribution: per-dimension
  mean and standard deviation of W (estimated from ``samples`` mapped z), and the term is
  ``mean(((w - mean) / std)^2)`` over layers and dimensions, which is ~1 for mapped samples and
  grows as W+ codes drift off the distribution (PULSE / Image2StyleGAN++ style regularisers).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from get3d.geometry.mesh import Mesh
from get3d.metrics.chamfer import chamfer_distance

__all__ = ["WPrior", "chamfer_loss", "colour_loss", "silhouette_loss", "soft_iou"]


def soft_iou(mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mask, target [V,1,H,W] in [0,1] -> [V] soft intersection over union (1 for identical masks)."""
    inter = (mask * target).sum((1, 2, 3))
    union = (mask + target - mask * target).sum((1, 2, 3))
    return inter / union.clamp_min(1e-6)


def silhouette_loss(mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[] 1 - mean soft IoU (0 when the silhouettes agree)."""
    return 1 - soft_iou(mask, target).mean()


def colour_loss(rgb: torch.Tensor, target_rgb: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """rgb, target_rgb [V,3,H,W] on black, target_mask [V,1,H,W] -> [] mean squared error on the
    target's foreground (weighted by its coverage)."""
    weight = target_mask
    return ((rgb - target_rgb) ** 2 * weight).sum() / (3 * weight.sum()).clamp_min(1e-6)


def chamfer_loss(verts: torch.Tensor, faces: torch.Tensor, target_points: torch.Tensor, num: int = 2048,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """verts [N,3], faces [F,3] (the generated mesh), target_points [P,3] -> [] Chamfer distance."""
    if faces.shape[0] == 0:
        return verts.sum() * 0 + 1.0  # no surface: a constant (the silhouette term does the work)
    points = Mesh(verts, faces).sample_points(num, generator=generator)
    return chamfer_distance(points[None], target_points[None].to(points))[0]


@dataclass
class WPrior:
    """Per-dimension statistics of W for both mapping networks (see the module docstring)."""

    geo_mean: torch.Tensor  # [w_dim]
    geo_std: torch.Tensor  # [w_dim]
    tex_mean: torch.Tensor  # [w_dim]
    tex_std: torch.Tensor  # [w_dim]

    @classmethod
    @torch.no_grad()
    def estimate(cls, G, samples: int = 2000, seed: int = 0) -> "WPrior":
        dev = next(G.parameters()).device
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(2, samples, G.z_dim, generator=gen).to(dev)
        w_geo = G.mapping_geo(z[0], None)[:, 0]  # every layer gets the same w from z
        w_tex = G.mapping_tex(z[1], None)[:, 0]
        return cls(w_geo.mean(0), w_geo.std(0).clamp_min(1e-8), w_tex.mean(0), w_tex.std(0).clamp_min(1e-8))

    def __call__(self, ws_geo: torch.Tensor, ws_tex: torch.Tensor) -> torch.Tensor:
        """ws_geo [B,n,w], ws_tex [B,m,w] -> [] mean squared standardised distance (~1 on the mapping's output)."""
        geo = ((ws_geo - self.geo_mean) / self.geo_std) ** 2
        tex = ((ws_tex - self.tex_mean) / self.tex_std) ** 2
        return 0.5 * (geo.mean() + tex.mean())
