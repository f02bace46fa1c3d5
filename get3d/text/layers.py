"""Which generator layers a text fine-tune trains: layer units, groups and adaptive selection.

A *unit* is the smallest piece that is frozen or trained as a whole, named after the GET3D
module it wraps. Units that one w code modulates carry that code's index (``branch`` "geo"
indexes ``ws_geo``, "tex" indexes ``ws_tex``), which adaptive selection uses:

* per backbone block ``b{R}``: ``geo.b{R}.conv0`` (not in b4), ``geo.b{R}.conv1``,
  ``geo.b{R}.togeo`` (one ws_geo each, in this order) and ``tex.b{R}.totex`` (one ws_tex);
  b4 also has ``geo.b4.const`` (its learned input; no w);
* per MLP layer ``k``: ``geo.mlp.{k}`` (SDF and deformation heads' layer k, which share a w) and
  ``tex.mlp.{k}`` (texture MLP layer k; the last one also holds ``to_rgb``, which reads the same w).

Groups (``--layers``): ``texture`` = every "tex" unit (texture triplane outputs, texture MLP,
to_rgb: the geometry, hence the extracted mesh, cannot change); ``geometry`` = every "geo" unit
(backbone convolutions and constant, geometry outputs, SDF and deformation heads; the backbone
also feeds the texture triplane, so colours change too); ``all`` = both; ``auto`` = StyleGAN-NADA's
adaptive choice among the units that have a w. The mapping networks are never trained.

Adaptive selection (StyleGAN-NADA's ``determine_opt_layers``): take W+ codes of fresh latents,
optimise them with SGD (lr 0.01) for ``iters`` steps on the global CLIP loss toward the target
text, and train the ``k`` units whose codes moved most (mean |delta w| over the code's
dimensions and the batch). StyleGAN-NADA re-selects every iteration, and so does the fine-tune.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import torch

from get3d.errors import Get3dError
from get3d.text.options import GROUPS

__all__ = ["GROUPS", "LayerUnit", "group_units", "layer_units", "set_trainable", "select_units",
           "unit_movement", "unit_parameters"]



@dataclass(frozen=True)
class LayerUnit:
    name: str  # e.g. "geo.b8.conv0"
    branch: str  # "geo" or "tex"
    w_index: Optional[int]  # index into ws_geo [B,num_ws_geo,w] / ws_tex [B,num_ws_tex,w]; None: no w
    prefixes: tuple  # parameter-name prefixes in the Generator's named_parameters()


def layer_units(G) -> list[LayerUnit]:
    """All units of a get3d Generator, geometry branch first, each in w order."""
    syn = G.generator.tri_plane_synthesis
    base = "generator.tri_plane_synthesis"
    geo: list[LayerUnit] = []
    tex: list[LayerUnit] = []
    i_geo = i_tex = 0
    for res in syn.block_resolutions:
        block = getattr(syn, f"b{res}")
        prefix = f"{base}.b{res}"
        if block.in_channels == 0:
            geo.append(LayerUnit(f"geo.b{res}.const", "geo", None, (f"{prefix}.const",)))
        names = (["conv0"] if block.in_channels else []) + ["conv1", "togeo"]
        for name in names:
            geo.append(LayerUnit(f"geo.b{res}.{name}", "geo", i_geo, (f"{prefix}.{name}.",)))
            i_geo += 1
        tex.append(LayerUnit(f"tex.b{res}.totex", "tex", i_tex, (f"{prefix}.totex.",)))
        i_tex += 1
    n_mlp = len(G.generator.mlp_synthesis_sdf.layers)
    for k in range(n_mlp):
        geo.append(LayerUnit(f"geo.mlp.{k}", "geo", i_geo + k, (f"generator.mlp_synthesis_sdf.layers.{k}.",
                                                                 f"generator.mlp_synthesis_def.layers.{k}.")))
    n_tex_mlp = len(G.generator.mlp_synthesis_tex.layers)
    for k in range(n_tex_mlp):
        prefixes = (f"generator.mlp_synthesis_tex.layers.{k}.",)
        if k == n_tex_mlp - 1 and getattr(G, "to_rgb", None) is not None:
            prefixes += ("to_rgb.",)
        tex.append(LayerUnit(f"tex.mlp.{k}", "tex", i_tex + k, prefixes))
    return geo + tex


def unit_parameters(G, units: Iterable[LayerUnit]) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) of the units, in the Generator's parameter order."""
    prefixes = tuple(p for u in units for p in u.prefixes)
    return [(n, p) for n, p in G.named_parameters() if n.startswith(prefixes) or n in prefixes]


def group_units(G, group: str) -> list[LayerUnit]:
    """The units a ``--layers`` group may train (``auto``: the candidates, those with a w)."""
    units = layer_units(G)
    if group == "texture":
        return [u for u in units if u.branch == "tex"]
    if group == "geometry":
        return [u for u in units if u.branch == "geo"]
    if group == "all":
        return units
    if group == "auto":
        return [u for u in units if u.w_index is not None]
    raise Get3dError(f"layers (--layers): unknown layer group {group!r}; choose from {', '.join(GROUPS)}")


def set_trainable(G, units: Iterable[LayerUnit]) -> list[str]:
    """Freeze every parameter of G, then unfreeze the units'; returns the trainable names."""
    G.requires_grad_(False)
    params = unit_parameters(G, units)
    for _, p in params:
        p.requires_grad_(True)
    return [n for n, _ in params]


def unit_movement(units: Sequence[LayerUnit], ws_geo0, ws_tex0, ws_geo, ws_tex) -> torch.Tensor:
    """[len(units)]: mean |w - w0| of each unit's code (over the batch and the w dimensions)."""
    geo = (ws_geo - ws_geo0).abs().mean(dim=(0, 2))
    tex = (ws_tex - ws_tex0).abs().mean(dim=(0, 2))
    return torch.stack([(geo if u.branch == "geo" else tex)[u.w_index] for u in units])


def select_units(units: Sequence[LayerUnit], ws_geo: torch.Tensor, ws_tex: torch.Tensor,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], k: int, iters: int = 1,
                 lr: float = 0.01) -> tuple[list[LayerUnit], torch.Tensor]:
    """StyleGAN-NADA's adaptive selection among ``units`` (each with a w index).

    ws_geo [B,num_ws_geo,w], ws_tex [B,num_ws_tex,w]: the starting W+ codes; ``loss_fn(ws_geo,
    ws_tex) -> scalar`` (the global CLIP loss of the renders). Returns (the k units whose codes
    moved most after ``iters`` SGD steps, highest first; the movement of every unit [len(units)]).
    """
    if not 1 <= k <= len(units):
        raise Get3dError(f"top_k (--top-k) must be between 1 and {len(units)} (the selectable layers), got {k}")
    if iters < 1:
        raise Get3dError(f"auto_iters (--auto-iters) must be >= 1, got {iters}")
    ws_geo0, ws_tex0 = ws_geo.detach(), ws_tex.detach()
    geo = ws_geo0.clone().requires_grad_(True)
    tex = ws_tex0.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([geo, tex], lr=lr)
    for _ in range(iters):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(geo, tex)
        loss.backward()
        for t in (geo, tex):
            if t.grad is not None:
                t.grad.nan_to_num_(0.0, 0.0, 0.0)
        optimizer.step()
    movement = unit_movement(units, ws_geo0, ws_tex0, geo.detach(), tex.detach())
    chosen = torch.topk(movement, k).indices.tolist()
    return [units[i] for i in chosen], movement
