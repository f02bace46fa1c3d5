"""Rendering: rasterizer backends (nvdiffrast or pure PyTorch)."""
from get3d.render.rasterizer import get_backend

__all__ = ["get_backend"]
