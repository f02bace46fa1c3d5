"""``latents.safetensors``: an inversion's codes, as other commands read them.

Tensors: ``w_geo`` [1,num_ws_geo,w_dim] and ``w_tex`` [1,num_ws_tex,w_dim] (W+ codes: feed them
to ``Generator.synthesis`` / ``extract_meshes`` as they are; there is no z), ``rotation`` and
``elevation`` [V] (degrees, GET3D's camera convention: the views the codes were fitted to).
Metadata (safetensors' string map): ``format`` = ``get3d-latents``, ``version``, ``settings``
(JSON: checkpoint, target, options, metrics). Written atomically (temporary file + rename).

A *code spec* (``codes_from_spec``) is what ``generate --latents``, ``interpolate --latents``,
``refine --latents`` and ``--geometry-from / --texture-from`` accept: a latents file, or a seed
(a non-negative integer: its codes as ``get3d generate`` draws them, at the given truncation).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from get3d.errors import Get3dError

__all__ = ["FORMAT", "Latents", "codes_from_spec", "load_latents", "save_latents"]

FORMAT = "get3d-latents"
VERSION = 1


@dataclass
class Latents:
    w_geo: torch.Tensor  # [1,num_ws_geo,w_dim]
    w_tex: torch.Tensor  # [1,num_ws_tex,w_dim]
    rotation: torch.Tensor  # [V] degrees
    elevation: torch.Tensor  # [V] degrees
    settings: dict = field(default_factory=dict)

    def check(self, G, source: str = "latents") -> "Latents":
        """Raise naming ``source`` unless the codes fit generator G."""
        for name, ws, num in (("w_geo", self.w_geo, G.num_ws_geo), ("w_tex", self.w_tex, G.num_ws_tex)):
            if ws.dim() != 3 or tuple(ws.shape[1:]) != (num, G.w_dim):
                raise Get3dError(f"{source}: {name} has shape {tuple(ws.shape)} but this checkpoint's generator "
                                 f"takes [1, {num}, {G.w_dim}]; it was inverted with another model")
        return self


def save_latents(path, w_geo: torch.Tensor, w_tex: torch.Tensor, rotation, elevation, settings: dict) -> Path:
    from safetensors.torch import save

    path = Path(path)
    tensors = {"w_geo": w_geo.detach().float().cpu().contiguous(), "w_tex": w_tex.detach().float().cpu().contiguous(),
               "rotation": torch.as_tensor(rotation, dtype=torch.float32).detach().cpu().reshape(-1).contiguous(),
               "elevation": torch.as_tensor(elevation, dtype=torch.float32).detach().cpu().reshape(-1).contiguous()}
    blob = save(tensors, metadata={"format": FORMAT, "version": str(VERSION),
                                   "settings": json.dumps(settings, default=str)})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_latents(path, G=None) -> Latents:
    """Read a latents file (checked against generator ``G`` when given)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise Get3dError(f"{path}: latents file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # safetensors raises its own types for bad headers
        raise Get3dError(f"{path}: not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise Get3dError(f"{path}: not a get3d latents file (written by get3d invert)")
    missing = [k for k in ("w_geo", "w_tex", "rotation", "elevation") if k not in tensors]
    if missing:
        raise Get3dError(f"{path}: latents file lacks {missing[0]}")
    latents = Latents(tensors["w_geo"], tensors["w_tex"], tensors["rotation"], tensors["elevation"],
                      json.loads(meta.get("settings") or "{}"))
    return latents.check(G, str(path)) if G is not None else latents


def codes_from_spec(G, spec, truncation: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """A latents file or a seed -> (ws_geo [1,n,w], ws_tex [1,m,w]) on G's device (see the module docstring)."""
    from get3d.networks.generator import seed_latents

    dev = next(G.parameters()).device
    text = str(spec).strip()
    if text.isdigit():
        z_geo, z_tex = seed_latents(G, [int(text)], dev)
        with torch.no_grad():
            return G.mapping(z_geo, z_tex, psi=truncation)
    if not text:
        raise Get3dError("empty code: give a latents file (from get3d invert) or a seed")
    latents = load_latents(text, G)
    return latents.w_geo.to(dev), latents.w_tex.to(dev)
