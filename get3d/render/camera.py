"""GET3D's ShapeNet camera convention: orbit cameras around the origin, OpenGL matrices.

Convention (matches GET3D's Blender script ``render_shapenet.py``, so its renders and ours are
interchangeable):

* The mesh lives in its own Y-up coordinates (as stored in the ShapeNet OBJ), normalised into
  roughly ``[-0.5, 0.5]^3``.
* A view is a rotation ``r`` and an elevation ``e`` in DEGREES (as stored in GET3D's
  ``rotation.npy`` / ``elevation.npy``). The camera sits at
  ``radius * (-cos e * sin r,  sin e,  -cos e * cos r)`` with ``radius = 1.2``, looks at the
  origin, with +Y as up. (Derivation: Blender puts the camera at (0, 1.2, 0) in its Z-up frame,
  rotates it by Euler X=e then Z=r about the origin, and the OBJ importer maps OBJ (x, y, z) to
  Blender (x, -z, y).)
* So at r=0, e=0 the camera is at (0, 0, -1.2) looking along +Z; world +X appears on the LEFT
  of the image and +Y at the top. At r=90 the camera is at (-1.2, 0, 0) looking along +X and
  world +Z appears on the RIGHT.
* Field of view: square image, ``fovy = 2 * atan(16 / 35)`` (~49.13 deg; Blender's 35 mm lens
  on its 32 mm sensor).
* Camera space is OpenGL's: the camera looks down -Z, +Y up, +X right. Clip space is OpenGL's
  (what nvdiffrast expects): NDC x right, y up, z in [-1, 1] from near to far.
* Near/far planes: ``near = 0.1``, ``far = 10``. An object inside ``[-0.5, 0.5]^3`` seen from
  radius 1.2 spans camera distances ``1.2 -/+ sqrt(3)/2``, i.e. ``[0.33, 2.07]``; 0.1/10 leaves
  margin for meshes a few times larger or cameras further out, while a far/near ratio of 100
  keeps float32 clip-space depth precise enough for the rasterizer's depth test.

Pixel coordinates (:func:`world_to_pixel`) are continuous ``(x, y)`` with x to the right and y
DOWN from the top edge (top row first, like image files); pixel ``(col, row)`` covers
``[col, col+1) x [row, row+1)`` so pixel centres sit at ``+0.5``. This matches the renderer's
top-row-first outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch

from get3d.errors import Get3dError

__all__ = [
    "DEFAULT_RADIUS",
    "DEFAULT_FOVY",
    "DEFAULT_NEAR",
    "DEFAULT_FAR",
    "Cameras",
    "camera_position",
    "look_at",
    "perspective",
    "view_projection",
    "world_to_clip",
    "clip_to_pixel",
    "world_to_pixel",
    "sample_training_cameras",
    "orbit",
]

DEFAULT_RADIUS = 1.2
# Blender's default 32 mm sensor behind a 35 mm lens, square image: half-height 16 mm.
DEFAULT_FOVY = 2.0 * math.atan(16.0 / 35.0)
DEFAULT_NEAR = 0.1
DEFAULT_FAR = 10.0

ArrayLike = Union[float, int, Sequence[float], torch.Tensor]


def _as_1d(value: ArrayLike, name: str, device=None) -> torch.Tensor:
    """Any scalar / sequence / tensor -> float32 tensor of shape [B] (scalars give [1])."""
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 0:
        t = t.reshape(1)
    if t.dim() != 1:
        raise Get3dError(f"{name} must be a scalar or a 1-D tensor [B], got shape {tuple(t.shape)}")
    return t


def _broadcast_1d(name_values: dict) -> list:
    """Broadcast several [B] / [1] tensors to a common [B]; raise naming the first mismatch."""
    sizes = {n: v.shape[0] for n, v in name_values.items()}
    batch = max(sizes.values())
    for n, s in sizes.items():
        if s not in (1, batch):
            raise Get3dError(f"{n} has {s} entries but other camera arguments have {batch}")
    return [v.expand(batch) for v in name_values.values()]


def camera_position(
    rotation_deg: ArrayLike, elevation_deg: ArrayLike, radius: ArrayLike = DEFAULT_RADIUS
) -> torch.Tensor:
    """Camera centres in world (mesh, Y-up) coordinates.

    rotation_deg, elevation_deg, radius: scalars or [B] (broadcast against each other).
    Returns [B, 3] float32: ``radius * (-cos e sin r, sin e, -cos e cos r)``.
    """
    rot = _as_1d(rotation_deg, "rotation_deg")
    device = rot.device
    elev = _as_1d(elevation_deg, "elevation_deg", device)
    rad = _as_1d(radius, "radius", device)
    rot, elev, rad = _broadcast_1d({"rotation_deg": rot, "elevation_deg": elev, "radius": rad})
    r, e = torch.deg2rad(rot), torch.deg2rad(elev)
    return rad[:, None] * torch.stack(
        (-torch.cos(e) * torch.sin(r), torch.sin(e), -torch.cos(e) * torch.cos(r)), dim=-1
    )


def _as_points(value, name: str, batch: int, device) -> torch.Tensor:
    """[3] or [B, 3] -> [B, 3] float32."""
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 1:
        t = t[None]
    if t.dim() != 2 or t.shape[-1] != 3 or t.shape[0] not in (1, batch):
        raise Get3dError(f"{name} must have shape [3] or [{batch}, 3], got {tuple(t.shape)}")
    return t.expand(batch, 3)


def look_at(
    eye: torch.Tensor,
    target: ArrayLike = (0.0, 0.0, 0.0),
    up: ArrayLike = (0.0, 1.0, 0.0),
) -> torch.Tensor:
    """World-to-camera matrices of OpenGL cameras at ``eye`` looking at ``target``.

    eye: [B, 3] (or [3]); target, up: [3] or [B, 3].
    Returns [B, 4, 4]: camera looks down its -Z axis, +Y is up, +X is right.
    When the view direction is parallel to ``up`` (elevation +-90 deg) the cross product
    vanishes; those cameras use +Z as up instead, which is the limit of r=0 as e -> 90.
    """
    eye_t = torch.as_tensor(eye, dtype=torch.float32)
    if eye_t.dim() == 1:
        eye_t = eye_t[None]
    if eye_t.dim() != 2 or eye_t.shape[-1] != 3:
        raise Get3dError(f"eye must have shape [B, 3], got {tuple(eye_t.shape)}")
    batch, device = eye_t.shape[0], eye_t.device
    target_t = _as_points(target, "target", batch, device)
    up_t = _as_points(up, "up", batch, device)

    z_axis = torch.nn.functional.normalize(eye_t - target_t, dim=-1)  # camera looks down -Z
    x_axis = torch.linalg.cross(up_t, z_axis, dim=-1)
    degenerate = x_axis.norm(dim=-1, keepdim=True) < 1e-6
    if bool(degenerate.any()):
        alt_up = torch.tensor([0.0, 0.0, 1.0], device=device).expand(batch, 3)
        x_axis = torch.where(degenerate, torch.linalg.cross(alt_up, z_axis, dim=-1), x_axis)
    x_axis = torch.nn.functional.normalize(x_axis, dim=-1)
    y_axis = torch.linalg.cross(z_axis, x_axis, dim=-1)

    rot = torch.stack((x_axis, y_axis, z_axis), dim=1)  # [B, 3, 3], rows = camera axes in world
    view = torch.zeros(batch, 4, 4, dtype=torch.float32, device=device)
    view[:, :3, :3] = rot
    view[:, :3, 3] = -(rot @ eye_t[:, :, None])[:, :, 0]
    view[:, 3, 3] = 1.0
    return view


def perspective(
    fovy: float = DEFAULT_FOVY,
    aspect: float = 1.0,
    near: float = DEFAULT_NEAR,
    far: float = DEFAULT_FAR,
    device=None,
) -> torch.Tensor:
    """OpenGL perspective projection (camera space -> clip space), [4, 4] float32.

    fovy: vertical field of view in RADIANS; aspect: width / height; 0 < near < far.
    Points at camera distance ``near`` map to NDC z = -1 and at ``far`` to z = +1.
    """
    if not (0.0 < float(fovy) < math.pi):
        raise Get3dError(f"fovy must be in (0, pi) radians, got {fovy}")
    if not (0.0 < float(near) < float(far)):
        raise Get3dError(f"near/far must satisfy 0 < near < far, got near={near}, far={far}")
    if not float(aspect) > 0.0:
        raise Get3dError(f"aspect must be positive, got {aspect}")
    f = 1.0 / math.tan(float(fovy) / 2.0)
    n, fa = float(near), float(far)
    return torch.tensor(
        [
            [f / aspect, 0.0, 0.0, 0.0],
            [0.0, f, 0.0, 0.0],
            [0.0, 0.0, -(fa + n) / (fa - n), -2.0 * fa * n / (fa - n)],
            [0.0, 0.0, -1.0, 0.0],
        ],
        dtype=torch.float32,
        device=device,
    )


def view_projection(
    rotation_deg: ArrayLike,
    elevation_deg: ArrayLike,
    radius: ArrayLike = DEFAULT_RADIUS,
    fovy: float = DEFAULT_FOVY,
    near: float = DEFAULT_NEAR,
    far: float = DEFAULT_FAR,
) -> torch.Tensor:
    """World-to-clip matrices ``perspective @ look_at(camera_position(...))``, [B, 4, 4]."""
    eye = camera_position(rotation_deg, elevation_deg, radius)
    proj = perspective(fovy, 1.0, near, far, device=eye.device)
    return proj[None] @ look_at(eye)


def _check_points_mvp(points: torch.Tensor, mvp: torch.Tensor) -> None:
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or points.shape[-1] != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise Get3dError(f"points must be a tensor of shape [B, N, 3], got {shape}")
    if not isinstance(mvp, torch.Tensor) or mvp.dim() != 3 or mvp.shape[-2:] != (4, 4):
        shape = tuple(mvp.shape) if isinstance(mvp, torch.Tensor) else type(mvp).__name__
        raise Get3dError(f"mvp must be a tensor of shape [B, 4, 4], got {shape}")
    if points.shape[0] != mvp.shape[0]:
        raise Get3dError(
            f"mvp has batch {mvp.shape[0]} but points has batch {points.shape[0]}"
        )


def world_to_clip(points: torch.Tensor, mvp: torch.Tensor) -> torch.Tensor:
    """Homogeneous clip coordinates of world points: points [B, N, 3], mvp [B, 4, 4] -> [B, N, 4]."""
    _check_points_mvp(points, mvp)
    homogeneous = torch.cat((points, torch.ones_like(points[..., :1])), dim=-1)
    return homogeneous @ mvp.transpose(1, 2).to(points.dtype)


def clip_to_pixel(clip: torch.Tensor, resolution: Union[int, Tuple[int, int]]) -> torch.Tensor:
    """Clip coordinates [..., 4] -> continuous pixel coordinates [..., 2] = (x right, y down).

    resolution: ``size`` or ``(H, W)``. y counts from the TOP edge (top row first); the pixel
    ``(col, row)`` covers ``[col, col+1) x [row, row+1)``. Points behind the camera (w <= 0)
    give meaningless values; callers should check ``clip[..., 3] > 0``.
    """
    height, width = _resolution(resolution)
    ndc = clip[..., :2] / clip[..., 3:4]
    x = (ndc[..., 0] + 1.0) * 0.5 * width
    y = (1.0 - ndc[..., 1]) * 0.5 * height
    return torch.stack((x, y), dim=-1)


def world_to_pixel(
    points: torch.Tensor, mvp: torch.Tensor, resolution: Union[int, Tuple[int, int]]
) -> torch.Tensor:
    """Pixel coordinates of world points: points [B, N, 3], mvp [B, 4, 4] -> [B, N, 2] (x, y).

    x to the right, y down from the top edge; ``floor`` gives (col, row) of the pixel in a
    top-row-first image of the given resolution (``size`` or ``(H, W)``).
    """
    return clip_to_pixel(world_to_clip(points, mvp), resolution)


def _resolution(resolution) -> Tuple[int, int]:
    if isinstance(resolution, int):
        return resolution, resolution
    try:
        height, width = (int(v) for v in resolution)
    except (TypeError, ValueError):
        raise Get3dError(f"resolution must be an int or (H, W), got {resolution!r}") from None
    if height <= 0 or width <= 0:
        raise Get3dError(f"resolution must be positive, got {resolution!r}")
    return height, width


@dataclass
class Cameras:
    """A batch of GET3D orbit cameras.

    rotation, elevation: [B] float32 DEGREES (see the module docstring for the convention);
    radius: camera distance from the origin (float, or [B]); fovy: vertical field of view in
    RADIANS (square images); near/far: clip planes.
    """

    rotation: torch.Tensor
    elevation: torch.Tensor
    radius: Union[float, torch.Tensor] = DEFAULT_RADIUS
    fovy: float = DEFAULT_FOVY
    near: float = DEFAULT_NEAR
    far: float = DEFAULT_FAR

    def __post_init__(self):
        self.rotation = _as_1d(self.rotation, "rotation")
        self.elevation = _as_1d(self.elevation, "elevation", self.rotation.device)
        if self.rotation.shape != self.elevation.shape:
            raise Get3dError(
                f"elevation has {self.elevation.shape[0]} entries but rotation has "
                f"{self.rotation.shape[0]}"
            )
        if isinstance(self.radius, torch.Tensor) or not isinstance(self.radius, (int, float)):
            radius = _as_1d(self.radius, "radius", self.rotation.device)
            if radius.shape[0] not in (1, len(self)):
                raise Get3dError(f"radius has {radius.shape[0]} entries but rotation has {len(self)}")
            self.radius = radius
        # Validate the projection parameters eagerly so mistakes surface at construction.
        perspective(self.fovy, 1.0, self.near, self.far)

    def __len__(self) -> int:
        return int(self.rotation.shape[0])

    @property
    def device(self) -> torch.device:
        return self.rotation.device

    def to(self, device) -> "Cameras":
        radius = self.radius.to(device) if isinstance(self.radius, torch.Tensor) else self.radius
        return Cameras(self.rotation.to(device), self.elevation.to(device), radius,
                       self.fovy, self.near, self.far)

    def __getitem__(self, index) -> "Cameras":
        """Sub-batch (int, slice, or index tensor); always keeps a batch dimension."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        radius = self.radius
        if isinstance(radius, torch.Tensor) and radius.shape[0] == len(self):
            radius = radius[index]
        return Cameras(self.rotation[index], self.elevation[index], radius,
                       self.fovy, self.near, self.far)

    def positions(self) -> torch.Tensor:
        """Camera centres, [B, 3]."""
        return camera_position(self.rotation, self.elevation, self.radius)

    def view(self) -> torch.Tensor:
        """World-to-camera matrices, [B, 4, 4]."""
        return look_at(self.positions())

    def projection(self) -> torch.Tensor:
        """Camera-to-clip matrix, [4, 4]."""
        return perspective(self.fovy, 1.0, self.near, self.far, device=self.device)

    def mvp(self) -> torch.Tensor:
        """World-to-clip matrices, [B, 4, 4]."""
        return self.projection()[None] @ self.view()

    def world_to_pixel(self, points: torch.Tensor, resolution) -> torch.Tensor:
        """points [B, N, 3] -> pixel coordinates [B, N, 2] (x right, y down from the top)."""
        return world_to_pixel(points, self.mvp(), resolution)

    @classmethod
    def sample_training_cameras(
        cls,
        batch: int,
        generator: Optional[torch.Generator] = None,
        rot_range: Tuple[float, float] = (0.0, 360.0),
        elev_range: Tuple[float, float] = (0.0, 30.0),
        device=None,
        **kwargs,
    ) -> "Cameras":
        """Cameras with rotation ~ U(rot_range) and elevation ~ U(elev_range), in degrees.

        The defaults are GET3D's ShapeNet rendering ranges (rotation 0-360, elevation 0-30).
        Reproducible for a seeded ``generator``; values are drawn on the generator's device
        (CPU by default) and then moved to ``device``. Extra kwargs (radius, fovy, near, far)
        go to the constructor.
        """
        if not isinstance(batch, int) or batch <= 0:
            raise Get3dError(f"batch must be a positive int, got {batch!r}")
        rot_lo, rot_hi = _check_range(rot_range, "rot_range")
        elev_lo, elev_hi = _check_range(elev_range, "elev_range")
        gen_device = generator.device if generator is not None else "cpu"
        u = torch.rand(2, batch, generator=generator, device=gen_device)
        rotation = rot_lo + (rot_hi - rot_lo) * u[0]
        elevation = elev_lo + (elev_hi - elev_lo) * u[1]
        if device is not None:
            rotation, elevation = rotation.to(device), elevation.to(device)
        return cls(rotation, elevation, **kwargs)

    @classmethod
    def orbit(
        cls, n_views: int, elevation: float = 20.0, start: float = 0.0, device=None, **kwargs
    ) -> "Cameras":
        """``n_views`` cameras evenly spaced in rotation (start, start + 360/n, ...) at a fixed
        elevation (degrees): turntable previews. Extra kwargs go to the constructor."""
        if not isinstance(n_views, int) or n_views <= 0:
            raise Get3dError(f"n_views must be a positive int, got {n_views!r}")
        rotation = start + torch.arange(n_views, dtype=torch.float32, device=device) * (360.0 / n_views)
        return cls(rotation, torch.full_like(rotation, float(elevation)), **kwargs)


def _check_range(value, name: str) -> Tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise Get3dError(f"{name} must be a (low, high) pair, got {value!r}") from None
    if hi < lo:
        raise Get3dError(f"{name} must have low <= high, got {value!r}")
    return lo, hi


def sample_training_cameras(batch: int, generator: Optional[torch.Generator] = None, **kwargs) -> Cameras:
    """Module-level alias of :meth:`Cameras.sample_training_cameras`."""
    return Cameras.sample_training_cameras(batch, generator, **kwargs)


def orbit(n_views: int, elevation: float = 20.0, **kwargs) -> Cameras:
    """Module-level alias of :meth:`Cameras.orbit`."""
    return Cameras.orbit(n_views, elevation, **kwargs)
