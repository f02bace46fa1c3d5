"""Choose a rasterizer backend: nvdiffrast on CUDA, or the pure-PyTorch fallback.

Both backends expose ``rasterize, interpolate, texture, antialias`` with nvdiffrast's signatures
(minus the context argument), ``antialias_construct_topology_hash`` and a ``.name``.
"""
from __future__ import annotations

import torch

from get3d.errors import Get3dError

BACKEND_NAMES = ("auto", "nvdiffrast", "torch")

_BACKENDS: dict = {}  # name -> backend object; contexts are expensive, build each once


def get_backend(name: str = "auto"):
    """Return the cached backend object for ``name``.

    ``"auto"`` picks nvdiffrast when ``torch.cuda.is_available()`` and the torch backend
    otherwise. Raises :class:`get3d.Get3dError` for an unknown name, or for ``"nvdiffrast"``
    on a machine without CUDA / without nvdiffrast.
    """
    if not isinstance(name, str) or name not in BACKEND_NAMES:
        raise Get3dError(f"backend must be one of {', '.join(BACKEND_NAMES)}; got {name!r}")
    if name == "auto":
        name = "nvdiffrast" if torch.cuda.is_available() else "torch"
    backend = _BACKENDS.get(name)
    if backend is None:
        if name == "torch":
            from get3d.render.raster_torch import TorchBackend
            backend = TorchBackend()
        else:
            from get3d.render.raster_nvdiffrast import NvdiffrastBackend
            backend = NvdiffrastBackend()
        _BACKENDS[name] = backend
    return backend
