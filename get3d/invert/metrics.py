"""How well an inversion matches its target: silhouette IoU per view, colour PSNR on the target's
mask, and (for meshes) the Chamfer distance under GET3D's protocol (get3d.metrics.chamfer: both
shapes centred, largest side 1, 2048 area-uniform points each, squared distances; reported x 10^3
like GET3D's tables). Sampling is seeded, so the same meshes give the same number."""
from __future__ import annotations

import math

import torch

from get3d.geometry.mesh import Mesh
from get3d.metrics.chamfer import chamfer_distance, sample_mesh_points

__all__ = ["image_metrics", "mask_iou", "masked_psnr", "mesh_chamfer"]


def mask_iou(mask: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """mask, target [V,1,H,W] -> [V] IoU of the masks thresholded at ``threshold`` (1 if both empty)."""
    a, b = mask > threshold, target > threshold
    inter = (a & b).sum((1, 2, 3)).float()
    union = (a | b).sum((1, 2, 3)).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def masked_psnr(rgb: torch.Tensor, target_rgb: torch.Tensor, target_mask: torch.Tensor,
                threshold: float = 0.5) -> torch.Tensor:
    """rgb, target_rgb [V,3,H,W] on black in [0,1], target_mask [V,1,H,W] -> [V] PSNR in dB over the
    target's foreground pixels (inf where identical, nan where the target mask is empty)."""
    sel = (target_mask > threshold).float()
    count = sel.sum((1, 2, 3)) * 3
    mse = ((rgb.clamp(0, 1) - target_rgb) ** 2 * sel).sum((1, 2, 3)) / count.clamp_min(1)
    psnr = 10 * torch.log10(1.0 / mse.clamp_min(1e-12))
    psnr = torch.where(mse > 0, psnr, torch.full_like(psnr, math.inf))
    return torch.where(count > 0, psnr, torch.full_like(psnr, math.nan))


def mesh_chamfer(mesh: Mesh, target: Mesh, num: int = 2048, seed: int = 0, normalize: bool = True) -> float:
    """Chamfer distance x 10^3 between two meshes: GET3D's protocol (see the module docstring), or
    with ``normalize=False`` in the meshes' own common frame (the generator's units)."""
    gen = torch.Generator().manual_seed(int(seed))
    meshes = [Mesh(m.verts.detach().float().cpu(), m.faces.cpu()) for m in (mesh, target)]
    if normalize:
        p, q = (sample_mesh_points(m, num, gen) for m in meshes)
    else:
        p, q = (m.sample_points(num, generator=gen) for m in meshes)
    return float(chamfer_distance(p[None], q[None])[0]) * 1e3


def image_metrics(rgb, mask, target_rgb, target_mask) -> dict:
    """-> {'iou': [V], 'psnr': [V], 'iou_mean', 'psnr_mean'} as plain floats."""
    iou = mask_iou(mask, target_mask)
    psnr = masked_psnr(rgb, target_rgb, target_mask)
    finite = psnr[torch.isfinite(psnr)]
    return dict(iou=[round(float(v), 5) for v in iou], psnr=[round(float(v), 3) for v in psnr],
                iou_mean=float(iou.mean()), psnr_mean=float(finite.mean()) if len(finite) else math.nan)
