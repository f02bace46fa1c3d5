"""Stage 1: the best of K random codes (and, for unknown cameras, of a grid of cameras).

Candidate k is ``z ~ N(0, I)`` (drawn from ``torch.Generator().manual_seed(seed)``, both codes per
candidate) mapped with truncation ``psi``. Each is rendered once per camera, its mesh extracted once.

* Known cameras: a candidate's score is the inversion loss on the target's own views (silhouette
  + colour, + Chamfer for meshes, with the same weights as stage 2).
* Unknown cameras: each candidate is rendered from a grid over the training camera distribution
  (``rotations`` evenly spaced in [0, 360) x ``elevations`` evenly spaced in the elevation range,
  default 12 x 3 = 36 cameras); each target view takes its best grid camera, and the candidate's
  score is the mean over views of those best losses. The winner's cameras start stage 2, which
  refines them jointly with the codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from get3d.categories import TRUNCATION
from get3d.errors import Get3dError
from get3d.invert.losses import chamfer_loss
from get3d.invert.render import render_codes
from get3d.invert.target import InvertTarget
from get3d.render.camera import Cameras

__all__ = ["SearchResult", "camera_grid", "search_codes"]


@dataclass
class SearchResult:
    ws_geo: torch.Tensor  # [1,num_ws_geo,w_dim] the winner's codes
    ws_tex: torch.Tensor  # [1,num_ws_tex,w_dim]
    cameras: Cameras  # V cameras (the target's, or the best grid camera per view)
    index: int  # the winning candidate
    scores: list  # [K] score per candidate (lower is better)
    z: torch.Tensor  # [2,z_dim] the winner's (z_geo, z_tex)


def camera_grid(rotations: int = 12, elevations: int = 3, elevation_range=(0.0, 30.0), device=None) -> Cameras:
    """rotations x elevations cameras covering the training distribution (rotation-major)."""
    if rotations < 1 or elevations < 1:
        raise Get3dError(f"camera grid needs >= 1 rotation and elevation, got {rotations} x {elevations}")
    rot = torch.arange(rotations, dtype=torch.float32) * (360.0 / rotations)
    lo, hi = (float(v) for v in elevation_range)
    elev = torch.linspace(lo, hi, elevations) if elevations > 1 else torch.tensor([(lo + hi) / 2])
    r, e = torch.meshgrid(rot, elev, indexing="ij")
    return Cameras(r.reshape(-1), e.reshape(-1)).to(device or "cpu")


def _pair_losses(rgb, mask, target: InvertTarget, w_colour: float) -> torch.Tensor:
    """Renders [C,...] vs target views [V,...] -> [V,C] silhouette + w_colour * colour losses."""
    m, t = mask[None], target.mask[:, None]  # [1,C,1,S,S], [V,1,1,S,S]
    inter = (m * t).sum((2, 3, 4))
    union = (m + t - m * t).sum((2, 3, 4)).clamp_min(1e-6)
    loss = 1 - inter / union
    if w_colour:
        weight = target.mask[:, None]
        colour = ((rgb[None] - target.rgb[:, None]) ** 2 * weight).sum((2, 3, 4)) / (3 * weight.sum((2, 3, 4))).clamp_min(1e-6)
        loss = loss + w_colour * colour
    return loss


@torch.no_grad()
def search_codes(G, target: InvertTarget, candidates: int = 16, psi: float = TRUNCATION, seed: int = 0,
                 w_colour: float = 1.0, w_chamfer: float = 0.0, grid: Cameras | None = None,
                 resolution: int | None = None) -> SearchResult:
    """Stage 1 (see the module docstring). ``grid`` overrides the camera grid of unknown cameras."""
    if candidates < 1:
        raise Get3dError(f"candidates (--candidates) must be >= 1, got {candidates}")
    dev = next(G.parameters()).device
    res = int(resolution or target.resolution)
    target = target.to(dev)
    z = torch.randn(candidates, 2, G.z_dim, generator=torch.Generator().manual_seed(int(seed))).to(dev)
    known = target.cameras is not None
    cams = target.cameras if known else (grid if grid is not None else camera_grid()).to(dev)
    best, scores = None, []
    for k in range(candidates):
        ws_geo, ws_tex = G.mapping(z[k, :1], z[k, 1:], psi=psi)
        out = render_codes(G, ws_geo, ws_tex, cams, res)
        pair = _pair_losses(out.rgb, out.mask, target, w_colour)  # [V,C]
        if known:
            per_view = pair.diagonal()
            choice = torch.arange(len(target), device=dev)
        else:
            per_view, choice = pair.min(1)
        score = float(per_view.mean())
        if w_chamfer and target.points is not None:
            score += w_chamfer * float(chamfer_loss(out.verts, out.faces, target.points,
                                                    generator=torch.Generator().manual_seed(k)))
        if out.empty:
            score = float("inf")  # no surface: never the starting point
        scores.append(score)
        if best is None or score < best[0]:
            best = (score, k, ws_geo, ws_tex, choice)
    if best is None or best[0] == float("inf"):
        raise Get3dError(f"all {candidates} random codes gave empty shapes; is the checkpoint trained?")
    _, k, ws_geo, ws_tex, choice = best
    cameras = target.cameras if known else cams[choice]
    return SearchResult(ws_geo, ws_tex, cameras, k, scores, z[k])
