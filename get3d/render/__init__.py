"""Rendering: cameras (GET3D's ShapeNet convention), rasterizer backends (nvdiffrast or pure
PyTorch) and the differentiable mesh renderer."""
from get3d.render.camera import (
    DEFAULT_FAR,
    DEFAULT_FOVY,
    DEFAULT_NEAR,
    DEFAULT_RADIUS,
    Cameras,
    camera_position,
    look_at,
    orbit,
    perspective,
    sample_training_cameras,
    view_projection,
    world_to_clip,
    world_to_pixel,
)
from get3d.render.rasterizer import get_backend
from get3d.render.renderer import Fragments, RenderResult, Renderer, render, render_meshes

__all__ = [
    "DEFAULT_FAR",
    "DEFAULT_FOVY",
    "DEFAULT_NEAR",
    "DEFAULT_RADIUS",
    "Cameras",
    "Fragments",
    "RenderResult",
    "Renderer",
    "camera_position",
    "get_backend",
    "look_at",
    "orbit",
    "perspective",
    "render",
    "render_meshes",
    "sample_training_cameras",
    "view_projection",
    "world_to_clip",
    "world_to_pixel",
]
