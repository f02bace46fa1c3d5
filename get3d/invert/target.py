"""What an inversion matches: images with masks (and their cameras, when known), or a mesh.

Images: RGBA files use their alpha as the mask; RGB files (or RGBA ones that are fully opaque)
need a background colour to key out (``background=(r, g, b)`` in [0, 1]: pixels within ``tolerance``
of it, max over channels, are background). A mask is "usable" when it covers between 0.2% and 98%
of the image: anything else means the alpha or the key is wrong, and a one-line error names the
file. Images are resized (area-averaged) to the inversion's resolution and stored like the
generator renders them: colour premultiplied by the mask (on black).

Meshes: read by ``render-dataset``'s loader (get3d.datasets.render_dataset: any format trimesh
reads, their colours and textures), normalised like the training data (bounding box centred,
largest side ``scale``: get3d.categories.DEFAULT_RENDER_SCALE by default, GET3D's Blender script
for cars and get3d synth-data; ``render_scale(category)`` for data rendered with ``render-dataset``
per category; ``scale=None`` keeps the
file's own coordinates, e.g. a GLB that ``get3d generate`` wrote), rendered from ``views`` cameras
drawn from the training distribution (rotation 0-360, elevation 0-30 degrees, seeded) with
render-dataset's lighting (or flat albedo, ``unlit``), plus ``points`` area-uniform surface samples
for the Chamfer term. A mesh with no inside (an open sheet, by the generalised winding number)
is refused, as ``refine --mesh`` does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from get3d.categories import DEFAULT_RENDER_SCALE
from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh
from get3d.invert.options import KEY_TOLERANCE, MESH_VIEWS
from get3d.render.camera import Cameras

__all__ = ["InvertTarget", "image_target", "load_images", "mesh_target", "parse_colour"]

MIN_COVER, MAX_COVER = 0.002, 0.98


@dataclass
class InvertTarget:
    """V target views at one resolution S (and, for meshes, the shape itself)."""

    rgb: torch.Tensor  # [V,3,S,S] colour on black (premultiplied by the mask), in [0,1]
    mask: torch.Tensor  # [V,1,S,S] coverage in [0,1]
    cameras: Optional[Cameras] = None  # V cameras, None = unknown (searched, then refined)
    points: Optional[torch.Tensor] = None  # [P,3] surface samples in the generator's units (meshes)
    mesh: Optional[Mesh] = None  # the normalised target mesh (meshes), for the Chamfer metric
    names: list = field(default_factory=list)  # a name per view (file names, or view-003)
    info: dict = field(default_factory=dict)  # what was done to the input (scale, lighting, ...)

    def __post_init__(self):
        if self.rgb.dim() != 4 or self.rgb.shape[1] != 3 or self.mask.shape != (self.rgb.shape[0], 1, *self.rgb.shape[2:]):
            raise Get3dError(f"target images must be rgb [V,3,S,S] and mask [V,1,S,S], got "
                             f"{tuple(self.rgb.shape)} and {tuple(self.mask.shape)}")
        if self.cameras is not None and len(self.cameras) != self.rgb.shape[0]:
            raise Get3dError(f"{self.rgb.shape[0]} target images but {len(self.cameras)} cameras; give one "
                             f"camera per image")
        if not self.names:
            self.names = [f"view-{i:03d}" for i in range(self.rgb.shape[0])]

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.rgb.shape[-1])

    def to(self, device) -> "InvertTarget":
        return InvertTarget(self.rgb.to(device), self.mask.to(device),
                            self.cameras.to(device) if self.cameras is not None else None,
                            self.points.to(device) if self.points is not None else None, self.mesh,
                            list(self.names), dict(self.info))


def parse_colour(value) -> tuple[float, float, float]:
    """'white' | 'black' | 'grey' | 'R,G,B' (0-1 or 0-255) | a 3-sequence -> (r, g, b) in [0, 1]."""
    names = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5), "gray": (0.5, 0.5, 0.5)}
    if isinstance(value, str):
        text = value.strip().lower()
        if text in names:
            return names[text]
        try:
            value = [float(v) for v in text.split(",")]
        except ValueError:
            raise Get3dError(f"background (--background): {value!r} is not white, black, grey or R,G,B") from None
    values = [float(v) for v in value]
    if len(values) != 3:
        raise Get3dError(f"background (--background): need three numbers R,G,B, got {value!r}")
    if max(values) > 1.0:
        values = [v / 255.0 for v in values]
    if min(values) < 0 or max(values) > 1:
        raise Get3dError(f"background (--background): R,G,B must lie in [0, 1] (or 0-255), got {value!r}")
    return tuple(values)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """[C,H,W] -> [C,size,size] (area-averaged when shrinking, bilinear when enlarging)."""
    if image.shape[-2:] == (size, size):
        return image
    if image.shape[-2] != image.shape[-1]:
        raise Get3dError("not square")
    mode = "area" if image.shape[-1] > size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(image[None], size=(size, size), mode=mode, **kwargs)[0]


def _image_views(path: Path, resolution: int, background, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise Get3dError(f"images (--image) {path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            array = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise Get3dError(f"images (--image) {path}: cannot read image ({err})") from None
    if array.shape[0] != array.shape[1]:
        raise Get3dError(f"images (--image) {path}: {array.shape[1]}x{array.shape[0]} is not square; crop it to a square "
                         f"around the object (GET3D's cameras render square images)")
    rgb = torch.from_numpy(array[..., :3]).permute(2, 0, 1)
    alpha = torch.from_numpy(array[..., 3:]).permute(2, 0, 1)
    opaque = bool((alpha > 0.999).all())
    if background is not None:
        key = torch.tensor(background, dtype=torch.float32).view(3, 1, 1)
        keyed = ((rgb - key).abs().amax(0, keepdim=True) > tolerance).float()
        alpha = keyed if (not has_alpha or opaque) else alpha * keyed
    elif not has_alpha or opaque:
        raise Get3dError(f"images (--image) {path}: no usable mask (the image has no transparency); give an RGBA image "
                         f"whose alpha marks the object, or background (--background COLOUR) to key out a plain background")
    cover = float((alpha > 0.5).float().mean())
    if not MIN_COVER <= cover <= MAX_COVER:
        raise Get3dError(f"images (--image) {path}: no usable mask (the object covers {100 * cover:.1f}% of the image; "
                         f"expected {100 * MIN_COVER:.1f}-{100 * MAX_COVER:.0f}%); check its alpha or background (--background)")
    premultiplied = _resize(rgb * alpha, resolution)
    mask = _resize(alpha, resolution).clamp(0, 1)
    return premultiplied.clamp(0, 1), mask


def load_images(paths: Sequence, resolution: int, background=None, tolerance: float = KEY_TOLERANCE
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Image files -> (rgb [V,3,S,S] on black, mask [V,1,S,S]); see the module docstring."""
    if not paths:
        raise Get3dError("images (--image): give at least one image")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance <= 1):  # a max-channel distance in [0, 1]
        raise Get3dError(f"tolerance (--key-tolerance) must be in [0, 1], got {tolerance!r}")
    background = parse_colour(background) if background is not None else None
    views = [_image_views(Path(p), int(resolution), background, tolerance) for p in paths]
    return torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])


def image_target(paths: Sequence, resolution: int, rotation=None, elevation=None, background=None,
                 tolerance: float = KEY_TOLERANCE) -> InvertTarget:
    """Images (and their cameras: ``rotation`` / ``elevation`` degrees per image, or None = unknown)."""
    rgb, mask = load_images(paths, resolution, background, tolerance)
    cameras = None
    if (rotation is None) != (elevation is None):
        raise Get3dError("give both rotation (--rotation) and elevation (--elevation), one per image, or neither (cameras searched)")
    if rotation is not None:
        rotation, elevation = list(np.atleast_1d(rotation)), list(np.atleast_1d(elevation))
        if len(rotation) != len(paths) or len(elevation) != len(paths):
            raise Get3dError(f"{len(paths)} images but {len(rotation)} rotations and {len(elevation)} elevations; "
                             f"give one camera per image")
        cameras = Cameras(torch.tensor(rotation, dtype=torch.float32), torch.tensor(elevation, dtype=torch.float32))
    info = dict(kind="images", files=[str(p) for p in paths], background_key=background, key_tolerance=tolerance,
                cameras="given" if cameras is not None else "unknown")
    return InvertTarget(rgb, mask, cameras, names=[Path(p).name for p in paths], info=info)


def read_camera_folder(folder, count: int) -> tuple[list, list]:
    """A GET3D camera folder (rotation.npy, elevation.npy) -> its first ``count`` views (degrees)."""
    folder = Path(folder)
    files = [folder / "rotation.npy", folder / "elevation.npy"]
    for f in files:
        if not f.is_file():
            raise Get3dError(f"cameras_dir (--cameras) {folder}: {f.name} not found (a GET3D camera folder holds rotation.npy "
                             f"and elevation.npy)")
    rotation, elevation = (np.load(f).reshape(-1).astype(np.float32) for f in files)
    if len(rotation) != len(elevation) or len(rotation) < count:
        raise Get3dError(f"cameras_dir (--cameras) {folder}: {len(rotation)} rotations and {len(elevation)} elevations for "
                         f"{count} images; give one camera per image")
    return rotation[:count].tolist(), elevation[:count].tolist()


def _check_closed(path, verts: torch.Tensor, faces: torch.Tensor) -> None:
    """Refuse a mesh with no inside (generalised winding number below 0.5 at every probe)."""
    from get3d.geometry.mesh_sdf import mesh_sdf

    lo, hi = verts.amin(0), verts.amax(0)
    t = torch.linspace(0.05, 0.95, 12)
    grid = torch.stack(torch.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3)
    _, winding = mesh_sdf(verts, faces, lo + (hi - lo) * grid)
    if int((winding.abs() > 0.5).sum()) == 0:
        raise Get3dError(f"mesh (--mesh) {path}: the mesh is open (no inside: an open sheet, or missing whole sides); "
                         f"close it (trimesh.repair.fill_holes, Blender's 3D-Print Toolbox 'Make Manifold')")


def mesh_target(path, resolution: int, views: int = MESH_VIEWS, scale: Optional[float] = DEFAULT_RENDER_SCALE, seed: int = 0,
                points: int = 4096, unlit: bool = False, rotation=None, elevation=None, backend: str = "auto",
                known_cameras: bool = True, elevation_range=(0.0, 30.0)) -> InvertTarget:
    """A mesh file as a target (see the module docstring). ``rotation``/``elevation`` choose the
    views instead of the seeded training-distribution draw; ``known_cameras=False`` hides them from
    the inversion (the unknown-camera path, for tests and studies)."""
    from get3d.datasets.render_dataset import render_views
    from get3d.geometry.mesh_io import load_shading_mesh, normalize_verts
    from get3d.datasets.settings import Lighting
    from get3d.render.renderer import Renderer

    path = Path(path)
    if not path.is_file():
        raise Get3dError(f"mesh (--mesh) {path}: no such file")
    if views < 1:
        raise Get3dError(f"views (--views) must be >= 1, got {views}")
    try:
        shading = load_shading_mesh(path)
    except Get3dError as err:
        detail = str(err).replace(f"{path}: ", "")
        raise Get3dError(f"mesh (--mesh) {path}: the mesh is empty or unreadable ({detail})") from None
    if shading.faces.shape[0] == 0:
        raise Get3dError(f"mesh (--mesh) {path}: the mesh is empty (no faces)")
    try:
        shading.verts = normalize_verts(shading.verts, scale) if scale is not None else shading.verts
    except Get3dError as err:
        raise Get3dError(f"mesh (--mesh) {path}: {err}") from None
    _check_closed(path, shading.verts, shading.faces)
    if rotation is None:
        cams = Cameras.sample_training_cameras(views, torch.Generator().manual_seed(int(seed)),
                                               elev_range=tuple(elevation_range))
        rotation, elevation = cams.rotation.numpy(), cams.elevation.numpy()
    rotation, elevation = np.asarray(rotation, np.float32), np.asarray(elevation, np.float32)
    lighting = Lighting(1.0, 0.0) if unlit else Lighting()
    rgba = render_views(shading, rotation, elevation, resolution, Renderer(backend), lighting)
    rgba = torch.from_numpy(rgba).float().div(255).permute(0, 3, 1, 2)
    mask = rgba[:, 3:]
    rgb = rgba[:, :3] * mask
    mesh = Mesh(shading.verts, shading.faces)
    samples = mesh.sample_points(points, generator=torch.Generator().manual_seed(int(seed)))
    cameras = Cameras(torch.from_numpy(rotation), torch.from_numpy(elevation))
    info = dict(kind="mesh", file=str(path), normalisation=(f"bounding box centred, largest side {scale}"
                                                          if scale is not None else "none (the file's own units)"),
                scale=scale, views=int(len(rotation)), lighting="flat albedo" if unlit else "render-dataset's",
                surface_points=points, view_rotation=rotation.tolist(), view_elevation=elevation.tolist(),
                cameras="given" if known_cameras else "unknown")
    return InvertTarget(rgb, mask, cameras if known_cameras else None, samples, mesh, info=info)
