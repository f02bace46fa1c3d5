"""Read folders of rendered images as uint8 batches, the way GET3D feeds its real images to FID.

GET3D's dataset (training/dataset.py) reads each RGBA render, resizes the RGB with bilinear
interpolation (OpenCV INTER_LINEAR: half-pixel centres, no antialiasing), resizes the alpha with
nearest-neighbour and keeps the colour only where alpha > 0 (black elsewhere). ``alpha="binary"``
reproduces that (up to OpenCV's fixed-point rounding, at most one grey level); ``alpha="blend"``
composites on black with the alpha as a weight (premultiplied) instead, for renders whose
antialiased edges should count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from get3d.errors import Get3dError

IMAGE_FORMATS = (".png", ".jpg", ".jpeg")
ALPHA_MODES = ("binary", "blend")


def list_images(folder: str | Path) -> list[Path]:
    """All PNG/JPEG files under ``folder`` (recursively), sorted, so the order is reproducible."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise Get3dError(f"{folder}: no such image folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_FORMATS and p.is_file())
    if not files:
        raise Get3dError(f"{folder}: no {'/'.join(IMAGE_FORMATS)} images found")
    return files


def _resize(x: torch.Tensor, resolution: int, mode: str) -> torch.Tensor:
    """x: [C,H,W] float -> [C,R,R]; bilinear = OpenCV INTER_LINEAR, nearest = INTER_NEAREST."""
    if x.shape[-2:] == (resolution, resolution):
        return x
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None], size=(resolution, resolution), mode=mode, **kwargs)[0]


def load_image(path: str | Path, resolution: int, alpha: str = "binary") -> torch.Tensor:
    """One image file -> [3,R,R] uint8, RGBA composited on black (see the module docstring)."""
    from PIL import Image

    if alpha not in ALPHA_MODES:
        raise Get3dError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}")
    path = Path(path)
    try:
        with Image.open(path) as img:
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            pixels = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    except Exception as err:  # noqa: BLE001 - any decoder failure means the file is unusable
        raise Get3dError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float()  # [C,H,W] in [0,255]
    rgb = x[:3]
    if has_alpha and alpha == "blend":
        rgb = _resize(rgb * (x[3:] / 255.0), resolution, "bilinear")
    else:
        rgb = _resize(rgb, resolution, "bilinear")
        if has_alpha:
            rgb = rgb * (_resize(x[3:], resolution, "nearest") > 0)
    return (rgb + 0.5).clamp(0, 255).to(torch.uint8)  # round to nearest, as cv2 does for uint8


def iter_image_batches(
    images: str | Path | Iterable[str | Path],
    resolution: int,
    batch_size: int = 64,
    alpha: str = "binary",
    max_images: int | None = None,
) -> Iterator[torch.Tensor]:
    """Yield uint8 batches [B,3,R,R] from a folder (or a list of files), in sorted order."""
    if not isinstance(resolution, int) or resolution < 1:
        raise Get3dError(f"resolution must be a positive integer, got {resolution!r}")
    if batch_size < 1:
        raise Get3dError(f"batch_size must be >= 1, got {batch_size}")
    files = list_images(images) if isinstance(images, (str, Path)) else [Path(p) for p in images]
    if max_images is not None:
        files = files[:max_images]
    for start in range(0, len(files), batch_size):
        yield torch.stack([load_image(f, resolution, alpha) for f in files[start:start + batch_size]])
