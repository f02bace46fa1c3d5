"""nvdiffrast backend: forwards the four rasterizer operations to ``nvdiffrast.torch`` on CUDA.

Only the CUDA rasterizer context is ever created (``RasterizeCudaContext``); OpenGL/EGL contexts
fail on headless machines (GET3D issue #115). The context, and with it nvdiffrast's JIT-compiled
plugin, is created lazily on first use and kept inside the backend object. Any failure to build
or load the plugin (no CUDA, no nvcc, ninja error) becomes a one-line :class:`get3d.Get3dError`.
"""
from __future__ import annotations

from typing import Optional

import torch

from get3d.errors import Get3dError


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _import_nvdiffrast():
    try:
        import nvdiffrast.torch as dr
    except Exception as exc:  # ImportError, or a broken install raising something else
        raise Get3dError(f"nvdiffrast is not importable ({_one_line(exc)}); "
                         "install diffrp-nvdiffrast or use backend='torch'") from exc
    return dr


def _contiguous_i32(tri: torch.Tensor) -> torch.Tensor:
    """nvdiffrast requires contiguous int32 triangle tensors."""
    return tri.to(torch.int32).contiguous()


class NvdiffrastBackend:
    """Thin wrapper over ``nvdiffrast.torch`` holding one lazily created CUDA context."""

    name = "nvdiffrast"

    def __init__(self):
        if not torch.cuda.is_available():
            raise Get3dError("backend 'nvdiffrast' needs a CUDA GPU and none is available; use backend='torch'")
        self._dr = _import_nvdiffrast()
        self._ctx = None

    def _context(self, device: Optional[torch.device] = None):
        """Create the CUDA rasterizer context (this compiles/loads nvdiffrast's plugin)."""
        if self._ctx is None:
            try:
                self._ctx = self._dr.RasterizeCudaContext(device=device)
            except Exception as exc:
                raise Get3dError(f"nvdiffrast's CUDA plugin could not be compiled or loaded ({_one_line(exc)}); "
                                 "use backend='torch'") from exc
        return self._ctx

    def _ready(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise Get3dError(f"backend 'nvdiffrast' needs CUDA tensors, got tensors on {device}; "
                             "move them with .cuda() or use backend='torch'")
        self._context(device)

    def rasterize(self, pos, tri, resolution, ranges=None, grad_db=True):
        """pos: [B,V,4] (or [V,4] with ranges [N,2] int32 CPU), tri: [T,3] -> (rast, rast_db)."""
        self._ready(pos.device)
        return self._dr.rasterize(self._ctx, pos.contiguous(), _contiguous_i32(tri), tuple(resolution),
                                  ranges=ranges, grad_db=grad_db)

    def interpolate(self, attr, rast, tri, rast_db=None, diff_attrs=None):
        """attr: [B,V,C] or [V,C], rast: [B,H,W,4] -> (out [B,H,W,C], derivs)."""
        self._ready(attr.device)
        return self._dr.interpolate(attr.contiguous(), rast.contiguous(), _contiguous_i32(tri),
                                    rast_db=None if rast_db is None else rast_db.contiguous(),
                                    diff_attrs=diff_attrs)

    def texture(self, tex, uv, uv_da=None, mip_level_bias=None, mip=None, filter_mode="auto",
                boundary_mode="wrap", max_mip_level=None):
        """tex: [B,Ht,Wt,C], uv: [B,H,W,2] -> [B,H,W,C]."""
        self._ready(uv.device)
        return self._dr.texture(tex.contiguous(), uv.contiguous(),
                                uv_da=None if uv_da is None else uv_da.contiguous(),
                                mip_level_bias=mip_level_bias, mip=mip, filter_mode=filter_mode,
                                boundary_mode=boundary_mode, max_mip_level=max_mip_level)

    def antialias(self, color, rast, pos, tri, topology_hash=None, pos_gradient_boost=1.0):
        """color: [B,H,W,C], rast: [B,H,W,4], pos: [B,V,4] -> antialiased [B,H,W,C]."""
        self._ready(color.device)
        return self._dr.antialias(color.contiguous(), rast.contiguous(), pos.contiguous(), _contiguous_i32(tri),
                                  topology_hash=topology_hash, pos_gradient_boost=pos_gradient_boost)

    def antialias_construct_topology_hash(self, tri):
        self._ready(tri.device)
        return self._dr.antialias_construct_topology_hash(_contiguous_i32(tri))

    def __repr__(self) -> str:
        return f"NvdiffrastBackend(context={'ready' if self._ctx is not None else 'lazy'})"
