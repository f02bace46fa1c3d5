"""Preview images of textured meshes: grids of views, turntable GIFs.

Previews are for people, not training: colour is shaded with a soft headlight (so shape reads
well) and composited over a light background.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from get3d.errors import Get3dError
from get3d.render.camera import Cameras
from get3d.render.renderer import Renderer

BACKGROUND = (1.0, 1.0, 1.0)


def image_grid(images: torch.Tensor | Sequence[torch.Tensor], cols: int) -> torch.Tensor:
    """Tile images [N,H,W,C] row by row into one [rows*H, cols*W, C] image (missing tiles blank)."""
    images = torch.stack(list(images)) if not isinstance(images, torch.Tensor) else images
    if images.dim() != 4 or images.shape[0] == 0:
        raise Get3dError(f"image_grid needs a non-empty [N,H,W,C] batch, got {tuple(images.shape)}")
    n, h, w, c = images.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    canvas = images.new_ones(rows * cols, h, w, c)
    canvas[:n] = images
    return canvas.reshape(rows, cols, h, w, c).permute(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def save_image(path: str | Path, image: torch.Tensor) -> Path:
    """Write [H,W,3] or [H,W,1] floats in [0,1] as PNG (or any format PIL knows by extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = to_uint8(image)
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
    return path


def save_gif(path: str | Path, frames: torch.Tensor, fps: float = 12.0) -> Path:
    """Write frames [T,H,W,3] in [0,1] as a looping GIF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = [Image.fromarray(to_uint8(f)) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=int(1000 / fps), loop=0)
    return path


def render_previews(meshes: Sequence, cameras: Cameras, resolution: int = 256, backend="auto",
                    background=BACKGROUND) -> torch.Tensor:
    """Render each mesh (``.verts``, ``.faces``, optional ``.uvs`` + ``.texture``) from each camera.

    Returns [len(meshes), len(cameras), H, W, 3] in [0,1]. Untextured meshes are light grey.
    """
    renderer = Renderer(backend)
    device = torch.device("cuda" if renderer.backend.name == "nvdiffrast" else "cpu")
    cameras = cameras.to(device)
    background = torch.tensor(background, device=device)
    out = []
    for mesh in meshes:
        if mesh.faces.shape[0] == 0:
            raise Get3dError("cannot preview an empty mesh")
        verts, faces = mesh.verts.to(device).float(), mesh.faces.to(device)
        textured = getattr(mesh, "uvs", None) is not None and getattr(mesh, "texture", None) is not None
        kwargs = {"uvs": [mesh.uvs.to(device)], "textures": [mesh.texture.to(device).float()]} if textured else {}
        with torch.no_grad():
            result = renderer.render(verts, faces, cameras, resolution, **kwargs)
            albedo = result.color if textured else torch.full_like(result.normal, 0.8)
            # Soft headlight: faces toward the camera brightest, grazing ones darker, never black.
            to_camera = torch.nn.functional.normalize(cameras.positions(), dim=-1)[:, None, None, :]
            shade = 0.55 + 0.45 * (result.normal * to_camera).sum(-1, keepdim=True).abs()
            colour = albedo * shade
            out.append(colour * result.mask + background * (1 - result.mask))
    return torch.stack(out)


def turntable(mesh, frames: int = 36, elevation: float = 20.0, resolution: int = 256, backend="auto") -> torch.Tensor:
    """[frames, H, W, 3] views of ``mesh`` orbiting once at ``elevation`` degrees."""
    return render_previews([mesh], Cameras.orbit(frames, elevation), resolution, backend)[0]
