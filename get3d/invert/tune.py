"""Stage 3, pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real
Images", 2021): fine-tune a COPY of the generator so that the found codes (the pivot) reproduce
the target more closely, while codes elsewhere keep rendering as before.

Trained: the synthesis network (triplane backbone, SDF / deformation / texture heads, to_rgb);
frozen: both mapping networks (so seeds and other inverted codes still mean what they meant).
Loss per step: the stage-2 image (and Chamfer) terms at the pivot, plus ``w_locality`` times
PTI's locality regulariser: a random code ``w_r`` is moved toward the pivot,
``w = w_p + alpha (w_r - w_p) / |w_r - w_p|`` with alpha = 30% of the mean distance between
random codes (PTI's alpha 30 in StyleGAN's units), rendered from a random training camera by the
copy and by the original, and the masks and colours must agree (mean squared error).
Adam at ``tune_lr`` (PTI: 3e-4), no schedule.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Callable, Optional

import torch

from get3d.invert.losses import WPrior, inversion_loss
from get3d.invert.render import render_codes
from get3d.invert.target import InvertTarget
from get3d.render.camera import Cameras

__all__ = ["tune_generator", "trainable_parameters"]


def trainable_parameters(G) -> list:
    """The synthesis parameters (everything but the mapping networks)."""
    return [p for name, p in G.named_parameters() if not name.startswith(("mapping_geo.", "mapping_tex."))]


def tune_generator(G, ws_geo: torch.Tensor, ws_tex: torch.Tensor, target: InvertTarget, cameras: Cameras, options,
                   prior: WPrior, *, start: int = 0, initial=None, history: Optional[list] = None,
                   callback: Optional[Callable] = None, on_snapshot: Optional[Callable] = None,
                   stop: Optional[Callable] = None, resume_state=None):
    """-> the tuned copy of G (eval mode, no grads). ``initial``: a partly tuned copy to continue
    from step ``start`` (resume); ``on_snapshot(step, module)`` every ``options.snapshot_every`` steps."""
    res = target.resolution
    dev = ws_geo.device
    tuned = copy.deepcopy(initial if initial is not None else G).eval()
    tuned.requires_grad_(False)
    params = trainable_parameters(tuned)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=options.tune_lr)
    if resume_state is not None and "adam_tune" in (resume_state[1].get("optimizers") or {}):
        from get3d.snapshot import restore_optimizers

        restore_optimizers(resume_state[0], resume_state[1], {"adam_tune": optimizer}, source="invert snapshot")
    no_prior = dataclasses.replace(options, w_prior=0.0)  # the codes are fixed: the prior is a constant
    with torch.no_grad():
        z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(1))
        spread = torch.cdist(G.mapping_geo(z.to(dev), None)[:, 0], G.mapping_geo(z.flip(0).to(dev), None)[:, 0]).diagonal()
    alpha = 0.3 * float(spread.mean())
    for step in range(start, options.tune_steps):
        if stop is not None:
            stop(step, tuned, optimizer)
        gen = torch.Generator().manual_seed(10_007 + step)
        loss, parts, _ = inversion_loss(tuned, ws_geo, ws_tex, cameras, target, no_prior, None, step, res)
        if options.w_locality > 0:
            with torch.no_grad():
                zr = torch.randn(2, 1, G.z_dim, generator=gen).to(dev)
                wr_geo, wr_tex = G.mapping(zr[0], zr[1])
                near_geo = _toward(ws_geo, wr_geo, alpha)
                near_tex = _toward(ws_tex, wr_tex, alpha)
                cam = Cameras.sample_training_cameras(1, gen, elev_range=options.elevation_range).to(dev)
                ref = render_codes(G, near_geo, near_tex, cam, res)
            now = render_codes(tuned, near_geo, near_tex, cam, res)
            locality = ((now.mask - ref.mask) ** 2).mean() + ((now.rgb - ref.rgb) ** 2).mean()
            loss = loss + options.w_locality * locality
            parts["locality"] = float(locality.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        parts["total"] = float(loss.detach())
        if history is not None:
            history.append(dict(stage="tune", step=options.steps + step, **parts))
        if callback is not None:
            callback("tune", options.steps + step, parts)
        if on_snapshot is not None and (step + 1) % options.snapshot_every == 0 and step + 1 < options.tune_steps:
            on_snapshot(step + 1, tuned, optimizer)
    return tuned.eval().requires_grad_(False)


def _toward(pivot: torch.Tensor, other: torch.Tensor, distance: float) -> torch.Tensor:
    """The point ``distance`` from ``pivot`` toward ``other`` (per layer of W+ codes [1,n,w])."""
    direction = other - pivot
    return pivot + distance * direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-8)
