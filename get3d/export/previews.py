"""Preview images of textured meshes: grids of views, turntable GIFs.

Previews are for people, not training: by default the texture is lit by a key light from above
and a weak headlight (:func:`shade`, so shape reads), "clay" shows the geometry alone in grey
under the same light, "albedo" the texture unlit; composited over a light background.
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


MIN_TILE = 128  # labelled grids show no tile smaller than this (px): 32 px renders are unreadable
_INK = (40, 40, 40)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)  # a scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, AttributeError, OSError):
        return ImageFont.load_default()  # older Pillow: the small bitmap font


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` px (a long prompt must not run off the image)."""
    lines, line = [], ""
    for word in str(text).split():
        trial = f"{line} {word}".strip()
        if line and _text_size(draw, trial, font)[0] > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def labelled_grid(tiles, row_labels: Sequence[str] = (), col_labels: Sequence[str] = (), title: str = "",
                  min_tile: int = MIN_TILE) -> torch.Tensor:
    """A grid of images with words on it, for people: ``title`` across the top (wrapped; say the
    prompt, rule and step there), ``col_labels`` above the columns, ``row_labels`` left of the rows.

    tiles: [R,C,H,W,3] in [0,1] (or a nested R x C list of [H,W,3]). Tiles smaller than
    ``min_tile`` are enlarged by a whole factor with nearest-neighbour sampling (every rendered
    pixel stays visible as a square, nothing is invented). Returns [H',W',3] in [0,1] on white.
    """
    from PIL import ImageDraw

    if not isinstance(tiles, torch.Tensor):
        tiles = torch.stack([torch.stack([t.detach().float().cpu() for t in row]) for row in tiles])
    if tiles.dim() != 5 or tiles.shape[0] == 0 or tiles.shape[1] == 0:
        raise Get3dError(f"labelled_grid needs [R,C,H,W,3] tiles, got {tuple(tiles.shape)}")
    rows, cols, h, w, _ = tiles.shape
    scale = max(1, -(-min_tile // min(h, w)))
    th, tw = h * scale, w * scale
    font = _font(max(12, min(22, tw // 12)))
    title_font = _font(max(14, min(26, tw // 10)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = 6
    label_w = max([_text_size(probe, str(t), font)[0] for t in row_labels] + [0])
    left = label_w + 2 * pad if label_w else 0
    width = left + cols * tw
    line_h = _text_size(probe, "Ag", title_font)[1] + 4
    title_lines = _wrap(probe, title, title_font, width - 2 * pad) if title else []
    top_title = len(title_lines) * line_h + (2 * pad if title_lines else 0)
    col_h = _text_size(probe, "Ag", font)[1] + 2 * pad if col_labels else 0
    top = top_title + col_h
    canvas = Image.new("RGB", (width, top + rows * th), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title_lines):
        draw.text((pad, pad + i * line_h), line, fill=_INK, font=title_font)
    for c, label in enumerate(list(col_labels)[:cols]):
        text_w = _text_size(draw, str(label), font)[0]
        draw.text((left + c * tw + max(0, (tw - text_w) // 2), top_title + pad // 2), str(label), fill=_INK, font=font)
    for r in range(rows):
        if r < len(row_labels):
            text_h = _text_size(draw, str(row_labels[r]), font)[1]
            draw.text((pad, top + r * th + (th - text_h) // 2), str(row_labels[r]), fill=_INK, font=font)
        for c in range(cols):
            tile = Image.fromarray(to_uint8(tiles[r, c]))
            if scale > 1:
                tile = tile.resize((tw, th), Image.NEAREST)
            canvas.paste(tile, (left + c * tw, top + r * th))
    return torch.from_numpy(np.asarray(canvas).astype(np.float32) / 255.0)


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


SHADINGS = ("lit", "clay", "albedo")
CLAY = 0.8  # grey of untextured meshes and of "clay" previews


def shade(normal: torch.Tensor, to_camera: torch.Tensor) -> torch.Tensor:
    """Light on a surface for previews: normals [...,3], unit directions to the camera [...,3]
    (world frame, Y up) -> [...,1] in [0.3, 1.1].

    A key light from above, to the camera's left and in front, a weak headlight as fill, and
    ambient: tops read brighter than sides, and a face's tilt shows as a change of brightness
    (a headlight alone lights every face turned to the viewer alike, and albedo alone shows none
    of the shape). Normals are flipped toward the camera first, since meshes may hold faces wound
    either way.
    """
    facing = (normal * to_camera).sum(-1, keepdim=True)
    normal = torch.where(facing < 0, -normal, normal)
    up = torch.zeros_like(to_camera)
    up[..., 1] = 1.0
    left = torch.nn.functional.normalize(torch.cross(to_camera, up, dim=-1), dim=-1, eps=1e-6)
    key = torch.nn.functional.normalize(0.6 * to_camera + 0.8 * up + 0.4 * left, dim=-1)
    diffuse = (normal * key).sum(-1, keepdim=True).clamp_min(0)
    return 0.3 + 0.55 * diffuse + 0.25 * facing.abs()


def render_previews(meshes: Sequence, cameras: Cameras, resolution: int = 256, backend="auto",
                    background=BACKGROUND, shading: str = "lit") -> torch.Tensor:
    """Render each mesh (``.verts``, ``.faces``, optional ``.uvs`` + ``.texture``) from each camera.

    ``shading``: "lit" (default: the texture under :func:`shade`'s light), "clay" (grey under the
    same light: the geometry alone) or "albedo" (the texture as it is, no light: what the
    generator's own renders show). Untextured meshes are light grey.
    Returns [len(meshes), len(cameras), H, W, 3] in [0,1].
    """
    if shading not in SHADINGS:
        raise Get3dError(f"preview shading must be one of {', '.join(SHADINGS)}, got {shading!r}")
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
        textured = textured and shading != "clay"
        kwargs = {"uvs": [mesh.uvs.to(device)], "textures": [mesh.texture.to(device).float()]} if textured else {}
        with torch.no_grad():
            result = renderer.render(verts, faces, cameras, resolution, **kwargs)
            albedo = result.color if textured else torch.full_like(result.normal, CLAY)
            colour = albedo
            if shading != "albedo":
                to_camera = torch.nn.functional.normalize(cameras.positions(), dim=-1)[:, None, None, :]
                colour = (albedo * shade(result.normal, to_camera.expand_as(result.normal))).clamp(0, 1)
            out.append(colour * result.mask + background * (1 - result.mask))
    return torch.stack(out)


def turntable(mesh, frames: int = 36, elevation: float = 20.0, resolution: int = 256, backend="auto") -> torch.Tensor:
    """[frames, H, W, 3] views of ``mesh`` orbiting once at ``elevation`` degrees."""
    return render_previews([mesh], Cameras.orbit(frames, elevation), resolution, backend)[0]
