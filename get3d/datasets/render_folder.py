"""Loader for GET3D's render layout (ShapeNet renders made by GET3D's Blender script, or by get3d).

Layout under ``root``::

    img/<category>/<shape>/<view:03d>.png          RGBA renders, 000.png ... (V-1).png
    camera/<category>/<shape>/rotation.npy         [V] azimuth in degrees
    camera/<category>/<shape>/elevation.npy        [V] elevation in degrees

optionally restricted by a split file (GET3D's format: one shape id per line).

The whole folder is validated when the dataset is opened, so a broken folder fails at once with
the first bad file named, never as "0 images" and a crash later. ``skip_bad=True`` (CLI
``--skip-bad``) drops bad shapes (or single bad views) instead and counts them in
``dataset.report``. The default check reads each PNG's header only; pixel data that fails to
decode later (a truncated file) raises on access, or, with ``on_bad_image="replace"`` (what the
training loop uses), is replaced by the next readable view and named in the item's
``bad_files``, so the caller decides whether to skip it or stop. ``get3d check-data``
(:mod:`get3d.datasets.check`) decodes every file up front.

Resizing to the training resolution: colour is composited on black (premultiplied by alpha) and
the mask is the alpha channel, both resized with area averaging when shrinking (each output
pixel is the mean of the input pixels it covers, which is what a renderer with antialiasing at
the lower resolution approximates) and bilinearly when enlarging. The mask therefore stays soft
at silhouette edges, like the antialiased masks the generator produces.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from get3d.errors import Get3dError
from get3d.render.camera import Cameras

_VIEW_NAME = re.compile(r"^(\d{3,})\.png$")
ALPHA_MODES = ("blend", "binary")
MAX_ANGLE = 1e4  # degrees; camera angles beyond it are corrupt data (GET3D's lie in [0, 360])


@dataclass
class LoadReport:
    """What opening a folder found. ``problems`` holds (path, reason) for each bad file or shape."""

    categories: list[str] = field(default_factory=list)
    shapes: int = 0
    views: int = 0
    skipped_shapes: int = 0
    skipped_views: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.shapes} shapes, {self.views} views in {', '.join(self.categories) or 'no category'}"
        if self.problems:
            text += f"; skipped {self.skipped_shapes} shapes and {self.skipped_views} views ({len(self.problems)} problems)"
        return text


@dataclass
class _Shape:
    category: str
    shape_id: str
    images: list[Path]
    rotation: np.ndarray
    elevation: np.ndarray


def read_split_file(path: str | Path) -> list[str]:
    """Shape ids from a GET3D split file: one per line, blank lines and '#' comments ignored.

    ``path`` may also name one of GET3D's published splits (``get3d-chair``, ``get3d-car-test``;
    get3d.datasets.splits), fetched and verified on first use."""
    from get3d.datasets.splits import resolve_split

    path = resolve_split(path)
    if not path.is_file():
        raise Get3dError(f"{path}: split file not found")
    ids = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    ids = [i for i in ids if i]
    if not ids:
        raise Get3dError(f"{path}: split file lists no shape ids")
    return ids


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def check_image(path: Path, full: bool = True) -> str | None:
    """None when ``path`` is a readable RGBA PNG, else the reason it is not."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("RGBA", "LA"):
                return f"image mode {im.mode}, expected RGBA (alpha is the mask)"
            if full:
                im.load()  # decodes: catches truncated or corrupt pixel data
    except Exception as err:  # noqa: BLE001 - PIL raises many types for hostile files (bombs, struct, zlib)
        return f"unreadable image ({_first_line(err)})"
    return None


def load_angles(path: Path) -> np.ndarray | str:
    """Angles [V] float64 from a camera .npy file, or the reason it cannot be used."""
    if not path.is_file():
        return "missing camera file"
    try:
        values = np.load(path, allow_pickle=False)
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
            return f"camera file holds {getattr(values, 'dtype', type(values).__name__)} values, not angles"
        values = np.asarray(values, dtype=np.float64).reshape(-1)
    except Exception as err:  # noqa: BLE001 - a hostile .npy header trips numpy's parser in many ways
        return f"unreadable camera file ({_first_line(err)})"
    if not np.isfinite(values).all():
        return "camera file holds NaN or infinite angles"
    if values.size and np.abs(values).max() > MAX_ANGLE:  # finite in float64, inf in float32: NaN poses
        return f"camera file holds angle {float(values[np.abs(values).argmax()]):g}, outside +-{MAX_ANGLE:g} degrees"
    return values


@dataclass
class ShapeLayout:
    """The files of one shape: view images [V] (000.png ...) and camera angles [V] in degrees."""

    images: list[Path]
    angles: dict  # "rotation", "elevation" -> np.ndarray [V] float64


def read_shape_layout(root: Path, cat: str, shape_dir: Path) -> ShapeLayout | tuple[str, str]:
    """Check one shape's layout (camera files readable, one image per angle, numbered from 000):
    its :class:`ShapeLayout`, or (path, reason) naming what is wrong. Images are not opened."""
    cam_dir = Path(root) / "camera" / cat / shape_dir.name
    angles = {}
    for name in ("rotation", "elevation"):
        value = load_angles(cam_dir / f"{name}.npy")
        if isinstance(value, str):
            return str(cam_dir / f"{name}.npy"), value
        angles[name] = value
    n_views = len(angles["rotation"])
    if len(angles["elevation"]) != n_views:
        return str(cam_dir / "elevation.npy"), f"{len(angles['elevation'])} elevations but {n_views} rotations"
    images = sorted(p for p in shape_dir.iterdir() if _VIEW_NAME.match(p.name))
    numbers = [int(_VIEW_NAME.match(p.name).group(1)) for p in images]
    if not images:
        return str(shape_dir), "no view images (expected 000.png, 001.png, ...)"
    if numbers != list(range(len(images))) or len(images) != n_views:
        return str(shape_dir), (f"{len(images)} view images (numbered {numbers[0]}..{numbers[-1]}) "
                                f"but {n_views} camera angles")
    return ShapeLayout(images, angles)


class RenderFolderDataset(torch.utils.data.Dataset):
    """One item per rendered view: RGB on black, soft mask, camera angles and pose.

    Args:
        root: dataset folder with ``img/`` and ``camera/``.
        resolution: training resolution (square); None keeps the files' size.
        category: one category folder name, a list of them, or None for all under ``img/``.
        split_file: optional GET3D split file restricting the shape ids.
        skip_bad: skip and count bad shapes/views found at open instead of raising on the first one.
        verify: "header" (default: open every PNG and check it is RGBA; fast), "full" (also
            decode every image at open: catches truncated files, slow on big sets), or "none".
        on_bad_image: what an item does when its image fails to decode: "raise" (Get3dError
            naming the file) or "replace" (return the next readable view instead, with the
            failed files' messages in ``bad_files``).
        alpha: "blend" (soft mask, colour premultiplied; default) or "binary" (GET3D's reading,
            see the module docstring).
    Items (dict): image [3,H,W] float32 in [0,1] composited on black, mask [1,H,W] float32 in
        [0,1], rotation and elevation (degrees, float32 scalars), pose [4,4] camera-to-world
        (OpenGL axes, GET3D's camera convention), category, shape_id, view, bad_files (str: one
        "PATH: reason" line per image that failed and was replaced, "" when none).
    """

    MAX_REPLACEMENTS = 16  # consecutive unreadable views before an item gives up

    def __init__(self, root: str | Path, resolution: int | None = None, category: str | list[str] | None = None,
                 split_file: str | Path | None = None, skip_bad: bool = False, verify: str = "header",
                 on_bad_image: str = "raise", alpha: str = "blend"):
        self.root = Path(root)
        if alpha not in ALPHA_MODES:
            raise Get3dError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}")
        self.alpha = alpha
        if resolution is not None and (not isinstance(resolution, int) or resolution < 1):
            raise Get3dError(f"resolution must be a positive integer, got {resolution!r}")
        if verify not in ("header", "full", "none"):
            raise Get3dError(f"verify must be 'header', 'full' or 'none', got {verify!r}")
        if on_bad_image not in ("raise", "replace"):
            raise Get3dError(f"on_bad_image must be 'raise' or 'replace', got {on_bad_image!r}")
        self.on_bad_image = on_bad_image
        self.resolution = resolution
        self.skip_bad = skip_bad
        self.report = LoadReport()
        split = set(read_split_file(split_file)) if split_file is not None else None
        self.shapes = self._scan(category, split, verify)
        self.index = [(s, v) for s, shape in enumerate(self.shapes) for v in range(len(shape.images))]
        self.report.shapes = len(self.shapes)
        self.report.views = len(self.index)
        if not self.index:
            raise Get3dError(f"{self.root}: no usable views found ({self.report.summary()})")

    # ------------------------------------------------------------------ scanning
    def _categories(self, category) -> list[str]:
        img_root = self.root / "img"
        if not img_root.is_dir():
            raise Get3dError(f"{img_root}: not found (expected GET3D's layout img/<category>/<shape>/000.png)")
        found = sorted(p.name for p in img_root.iterdir() if p.is_dir())
        if category is None:
            wanted = found
        else:
            wanted = [category] if isinstance(category, str) else list(category)
            missing = [c for c in wanted if c not in found]
            if missing:
                raise Get3dError(f"{img_root}: no category folder {missing[0]!r} (found: {', '.join(found) or 'none'})")
        if not wanted:
            raise Get3dError(f"{img_root}: holds no category folders")
        return wanted

    def _scan(self, category, split, verify) -> list[_Shape]:
        shapes: list[_Shape] = []
        problems = self.report.problems
        self.report.categories = self._categories(category)
        for cat in self.report.categories:
            shape_dirs = sorted(p for p in (self.root / "img" / cat).iterdir() if p.is_dir())
            if split is not None:
                shape_dirs = [p for p in shape_dirs if p.name in split]
            if not shape_dirs:
                in_split = " listed in the split file" if split is not None else ""
                problems.append((str(self.root / "img" / cat), f"category holds no shape folders{in_split}"))
            for shape_dir in shape_dirs:
                shape, shape_problems = self._scan_shape(cat, shape_dir, verify)
                problems.extend(shape_problems)
                if shape is None:
                    self.report.skipped_shapes += 1
                else:
                    shapes.append(shape)
        if problems and not self.skip_bad:
            path, reason = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise Get3dError(f"{path}: {reason}{more}; skip bad shapes with skip_bad=True (--skip-bad), "
                             f"list them all with `get3d check-data {self.root}`")
        return shapes

    def _scan_shape(self, cat: str, shape_dir: Path, verify: str) -> tuple[_Shape | None, list[tuple[str, str]]]:
        """A valid shape (bad views dropped when skipping) or None, with the problems found."""
        layout = read_shape_layout(self.root, cat, shape_dir)
        if isinstance(layout, tuple):
            return None, [layout]
        images, angles = layout.images, layout.angles
        problems, keep = [], []
        for view, path in enumerate(images):
            reason = None if verify == "none" else check_image(path, full=verify == "full")
            if reason is None:
                keep.append(view)
            else:
                problems.append((str(path), reason))
        self.report.skipped_views += len(problems)
        if not keep:
            return None, problems
        return _Shape(cat, shape_dir.name, [images[v] for v in keep],
                      angles["rotation"][keep], angles["elevation"][keep]), problems

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: int) -> dict:
        bad_files = []
        for attempt in range(min(self.MAX_REPLACEMENTS, len(self.index))):
            try:
                item = self._load_item((idx + attempt) % len(self.index))
            except Get3dError as err:
                if self.on_bad_image == "raise":
                    raise
                bad_files.append(str(err))
                continue
            item["bad_files"] = "\n".join(bad_files)
            return item
        raise Get3dError(f"{len(bad_files)} consecutive views fail to decode, the last: {bad_files[-1]}; "
                         f"check the folder with `get3d check-data {self.root}`")

    def _load_item(self, idx: int) -> dict:
        shape_idx, view = self.index[idx]
        shape = self.shapes[shape_idx]
        image, mask = load_rgba(shape.images[view], self.resolution, self.alpha)
        rotation = torch.tensor(shape.rotation[view], dtype=torch.float32)
        elevation = torch.tensor(shape.elevation[view], dtype=torch.float32)
        pose = torch.linalg.inv(Cameras(rotation[None], elevation[None]).view()[0])
        return {"image": image, "mask": mask, "rotation": rotation, "elevation": elevation, "pose": pose,
                "category": shape.category, "shape_id": shape.shape_id, "view": view}


def load_rgba(path: Path, resolution: int | None, alpha: str = "blend") -> tuple[torch.Tensor, torch.Tensor]:
    """Read an RGBA PNG -> (rgb on black [3,H,W], mask [1,H,W]) in [0,1], resized to ``resolution``
    ("blend": premultiplied colour and soft mask; "binary": GET3D's reading, mask in {0, 1})."""
    try:
        with Image.open(path) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except Exception as err:  # noqa: BLE001 - PIL raises many types for hostile files (bombs, struct, zlib)
        raise Get3dError(f"{path}: unreadable image ({_first_line(err)})") from None
    x = torch.from_numpy(rgba.copy()).permute(2, 0, 1).float().div_(255.0)  # [4,H,W]
    resize = resolution is not None and tuple(x.shape[1:]) != (resolution, resolution)
    if alpha == "binary":
        rgb, a = x[:3], x[3:4]
        if resize:
            size = (resolution, resolution)
            rgb = F.interpolate(rgb[None], size=size, mode="bilinear", align_corners=False)[0].clamp_(0, 1)
            a = F.interpolate(a[None], size=size, mode="nearest")[0]  # OpenCV INTER_NEAREST's pixel choice
        mask = (a > 0).float()
        return (rgb * mask).contiguous(), mask.contiguous()
    alpha_ch = x[3:4]
    x = torch.cat([x[:3] * alpha_ch, alpha_ch])  # premultiply: colour on black
    if resize:
        shrinking = x.shape[1] >= resolution and x.shape[2] >= resolution
        if shrinking:
            x = F.interpolate(x[None], size=(resolution, resolution), mode="area")[0]
        else:
            x = F.interpolate(x[None], size=(resolution, resolution), mode="bilinear", align_corners=False)[0]
        x = x.clamp_(0, 1)
    return x[:3].contiguous(), x[3:4].contiguous()
