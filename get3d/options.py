"""Options of ``get3d generate``, ``get3d interpolate`` and ``get3d metrics``, torch-free: the library functions
(get3d.generate) take their defaults from these dataclasses, the CLI shows the same defaults,
each set is validated once (:meth:`check`) and recorded in the output's ``settings.json``.

Errors name the parameter as the library spells it and the CLI flag beside it, e.g.
``texture_res (--texture-res) must be >= 8, got 4``, so they read right from Python and the shell.
Other commands keep theirs beside their code: get3d.text.options (finetune-text),
get3d.distill.options (refine and the rules), get3d.training.options (train), get3d.categories
(defaults shared by several commands).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from get3d.categories import SURFACE_POINTS, TRUNCATION
from get3d.errors import Get3dError

__all__ = ["GenerateOptions", "InterpolateOptions", "MetricsOptions", "MODES"]

MODES = ("geometry", "texture", "both", "grid")


def _name(field: str) -> str:
    return f"{field} (--{field.replace('_', '-')})"


def _at_least(options, field: str, low) -> None:
    value = getattr(options, field)
    if not value >= low:
        raise Get3dError(f"{_name(field)} must be >= {low}, got {value!r}")


def _finite(options, field: str) -> None:
    value = getattr(options, field)
    if not (isinstance(value, (int, float)) and abs(value) < float("inf")):
        raise Get3dError(f"{_name(field)} must be a finite number, got {value!r}")


class _Options:
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self):
        return self


@dataclass(frozen=True)
class GenerateOptions(_Options):
    truncation: float = TRUNCATION  # psi (1 = none)
    formats: str = "glb,obj"  # comma-separated: glb, obj, ply (checked by get3d.export.files.parse_formats)
    texture_res: int = 1024  # baked texture side
    geometry_only: bool = False  # meshes only: no UV atlas, no texture
    raw_mesh: bool = False  # keep surfaces the grid's box cuts open (default: capped, watertight)
    preview_views: int = 4  # views per seed in preview.png (0: none)
    turntable_frames: int = 0  # frames of a turntable GIF per seed (0: none)
    preview_res: int = 256
    backend: str = "auto"  # rasterizer: auto, torch, nvdiffrast (checked by get3d.render.rasterizer)
    preview_shading: str = "lit"  # preview.png and turntables: lit, clay, albedo (checked against export.previews)

    def check(self) -> "GenerateOptions":
        _finite(self, "truncation")
        _at_least(self, "texture_res", 8)
        _at_least(self, "preview_views", 0)
        _at_least(self, "turntable_frames", 0)
        _at_least(self, "preview_res", 8)
        return self


@dataclass(frozen=True)
class InterpolateOptions(_Options):
    steps: int = 8  # frames per walk, endpoints included
    mode: str = "both"  # of MODES
    truncation: float = TRUNCATION
    resolution: int = 256  # image side
    write_meshes: bool = False  # also write every step as a textured GLB
    texture_res: int = 512  # texture side of write_meshes
    rotation: float = 30.0  # camera, degrees
    elevation: float = 20.0
    raw_mesh: bool = False
    backend: str = "auto"

    def check(self) -> "InterpolateOptions":
        if self.mode not in MODES:
            raise Get3dError(f"{_name('mode')} must be one of {', '.join(MODES)}, got {self.mode!r}")
        _at_least(self, "steps", 2)
        _finite(self, "truncation")
        _at_least(self, "resolution", 8)
        _at_least(self, "texture_res", 8)
        return self


@dataclass(frozen=True)
class MetricsOptions(_Options):
    """Defaults of ``get3d metrics`` (get3d.metrics.evaluate.evaluate / evaluate_generator). The
    counts are GET3D's evaluation sizes; ``train --metrics`` uses smaller ones
    (get3d.categories.TRAIN_METRIC_IMAGES / TRAIN_METRIC_SHAPES). Checks stay in get3d.metrics."""

    metrics: str = "fid,kid,cov,mmd,1nna"
    num_images: int = 50_000  # generated images for FID/KID (GET3D: 50k)
    num_shapes: int = 1000  # generated shapes for COV/MMD/1-NNA
    truncation: float = 1.0  # GET3D evaluates without truncation
    num_points: int = SURFACE_POINTS  # surface points per shape
    seed: int = 0
    batch: int = 8  # generation batch
    clip_images: int = 100  # clip: generated latents
    clip_views: int = 4  # clip: views per latent
    protocol: str = "get3d"  # get3d (GET3D's metric_utils.py) or dataset
