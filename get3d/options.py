"""Options of ``get3d generate``, ``get3d interpolate``, ``get3d metrics`` and ``get3d train --metrics``,
torch-free: the library functions (get3d.generate, get3d.metrics.evaluate) take their defaults from
these dataclasses, the CLI shows the same defaults, each set is validated once (:meth:`check`) and
recorded with the output (``settings.json``; the metrics JSON's ``options``; each line of a
training run's ``metrics.jsonl``).

Errors name the parameter as the library spells it and the CLI flag beside it, e.g.
``texture_res (--texture-res) must be >= 8, got 4``, so they read right from Python and the shell.
Other commands keep theirs beside their code: get3d.text.options (finetune-text),
get3d.distill.options (refine, distill-2d and the rules), get3d.training.options (train), get3d.categories
(defaults shared by several commands).
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Optional

from get3d.categories import SURFACE_POINTS, TRAIN_METRIC_IMAGES, TRAIN_METRIC_SHAPES, TRUNCATION
from get3d.errors import Get3dError

__all__ = ["param_name", "GenerateOptions", "InterpolateOptions", "MetricsOptions", "TrainMetricsOptions", "GeometryDemoOptions", "MODES",
           "IMAGE_METRICS", "GEOMETRY_METRICS", "TEXT_METRICS", "ALL_METRICS", "PROTOCOLS"]

MODES = ("geometry", "texture", "both", "grid")
IMAGE_METRICS = ("fid", "kid")
GEOMETRY_METRICS = ("cov", "mmd", "1nna")
TEXT_METRICS = ("clip",)
ALL_METRICS = IMAGE_METRICS + GEOMETRY_METRICS + TEXT_METRICS
PROTOCOLS = ("get3d", "dataset")


def param_name(field: str, flags: Optional[dict] = None) -> str:
    """``field (--flag)``: the flag is ``--field-with-dashes`` unless ``flags`` names another
    (or None: a library-only setting, named alone)."""
    flag = (flags or {}).get(field, f"--{field.replace('_', '-')}")
    return f"{field} ({flag})" if flag else field


def _at_least(options, field: str, low) -> None:
    value = getattr(options, field)
    if not (isinstance(value, numbers.Real) and value >= low):
        raise Get3dError(f"{param_name(field, getattr(options, '_FLAGS', None))} must be >= {low}, got {value!r}")


def _finite(options, field: str) -> None:
    value = getattr(options, field)
    if not (isinstance(value, (int, float)) and abs(value) < float("inf")):
        raise Get3dError(f"{param_name(field, getattr(options, '_FLAGS', None))} must be a finite number, got {value!r}")


def parse_metric_names(text, flags: Optional[dict] = None) -> list[str]:
    """'fid,cov' (or a list) -> ['fid', 'cov'], each of ALL_METRICS."""
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if str(m).strip()]
    bad = [m for m in names if m not in ALL_METRICS]
    if not names:
        raise Get3dError(f"{param_name('metrics', flags)}: give at least one of {', '.join(ALL_METRICS)}, got {text!r}")
    if bad:
        raise Get3dError(f"{param_name('metrics', flags)}: unknown metric {bad[0]!r}; choose from {', '.join(ALL_METRICS)}")
    return names


def check_protocol(protocol, flags: Optional[dict] = None) -> None:
    if protocol not in PROTOCOLS:
        raise Get3dError(f"{param_name('protocol', flags)} must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


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
            raise Get3dError(f"{param_name('mode')} must be one of {', '.join(MODES)}, got {self.mode!r}")
        _at_least(self, "steps", 2)
        _finite(self, "truncation")
        _at_least(self, "resolution", 8)
        _at_least(self, "texture_res", 8)
        return self


@dataclass(frozen=True)
class MetricsOptions(_Options):
    """Settings of ``get3d metrics`` (get3d.metrics.evaluate.evaluate / evaluate_generator: their
    defaults, checked there once, recorded as the result's ``options``). The counts are GET3D's
    evaluation sizes; ``train --metrics`` uses smaller ones (:class:`TrainMetricsOptions`)."""

    metrics: str = "fid,kid,cov,mmd,1nna"  # comma-separated, of ALL_METRICS
    num_images: int = 50_000  # generated images for FID/KID (GET3D: 50k)
    num_shapes: int = 1000  # generated shapes for COV/MMD/1-NNA
    truncation: float = 1.0  # GET3D evaluates without truncation
    num_points: int = SURFACE_POINTS  # surface points per shape
    seed: int = 0
    batch: int = 8  # generation batch
    clip_images: int = 100  # clip: generated latents
    clip_views: int = 4  # clip: views per latent
    protocol: str = "get3d"  # get3d (GET3D's metric_utils.py) or dataset

    def metric_names(self) -> list[str]:
        return parse_metric_names(self.metrics, getattr(self, "_FLAGS", None))

    def check(self) -> "MetricsOptions":
        names = self.metric_names()
        check_protocol(self.protocol, getattr(self, "_FLAGS", None))
        _finite(self, "truncation")
        _at_least(self, "batch", 1)
        if not isinstance(self.seed, numbers.Integral):
            raise Get3dError(f"{param_name('seed', getattr(self, '_FLAGS', None))} must be an integer, got {self.seed!r}")
        # A count only matters (and is only checked) when a metric that uses it runs.
        for field, used in (("num_images", IMAGE_METRICS), ("num_shapes", GEOMETRY_METRICS),
                            ("num_points", GEOMETRY_METRICS), ("clip_images", TEXT_METRICS),
                            ("clip_views", TEXT_METRICS)):
            if any(m in used for m in names):
                _at_least(self, field, 1)
        return self


@dataclass(frozen=True)
class TrainMetricsOptions(_Options):
    """Settings of ``get3d train --metrics``: the metrics computed for the EMA generator at each
    snapshot (get3d.metrics.evaluate.snapshot_metrics_hook takes this object; each line of the
    run's ``metrics.jsonl`` records it). Smaller counts than ``get3d metrics`` (they run during
    training: get3d.categories); the other settings are get3d metrics' own defaults."""

    metrics: str = ""  # comma-separated: fid, kid, cov, mmd, 1nna (clip needs a prompt: not here)
    num_images: int = TRAIN_METRIC_IMAGES  # generated images for fid/kid
    num_shapes: int = TRAIN_METRIC_SHAPES  # generated shapes for cov/mmd/1nna
    num_points: int = MetricsOptions.num_points
    truncation: float = MetricsOptions.truncation
    seed: int = MetricsOptions.seed
    batch: int = MetricsOptions.batch
    protocol: str = MetricsOptions.protocol
    inception: Optional[str] = None  # Inception TorchScript file (None: $GET3D_INCEPTION or the hub cache)
    ref_meshes: Optional[str] = None  # geometry reference (None: DATA/mesh)

    # train's flags for these fields (None: no flag; a library-only setting)
    _FLAGS = {"metrics": "--metrics", "num_images": "--metrics-images", "num_shapes": "--metrics-shapes",
              "num_points": None, "truncation": None, "seed": None, "batch": None, "protocol": None,
              "ref_meshes": None}

    def metric_names(self) -> list[str]:
        names = parse_metric_names(self.metrics, self._FLAGS)
        if "clip" in names:
            raise Get3dError("metrics (--metrics): clip is not a training metric (it needs a prompt); run "
                             "evaluate(metrics='clip', prompt=...) (get3d metrics --metrics clip --prompt TEXT) on a "
                             "snapshot instead")
        return names

    def check(self) -> "TrainMetricsOptions":
        MetricsOptions.check(self)  # the same rules, this class's names and flags
        return self

    def evaluate_kwargs(self) -> dict:
        """The keyword arguments of get3d.metrics.evaluate.evaluate_generator these options set."""
        return dict(num_images=self.num_images, num_shapes=self.num_shapes, num_points=self.num_points,
                    truncation=self.truncation, seed=self.seed, batch=self.batch, protocol=self.protocol,
                    ref_meshes=self.ref_meshes)


@dataclass(frozen=True)
class GeometryDemoOptions(_Options):
    """Settings of ``get3d geometry-demo`` (get3d.geometry.demo.run_geometry_demo; recorded in the
    output folder's settings.json)."""

    res: int = 64  # tet grid, named like GET3D's tet_res
    formats: str = "glb,obj,ply"  # comma-separated mesh formats (checked by get3d.geometry.demo.parse_formats)

    def check(self) -> "GeometryDemoOptions":
        if isinstance(self.res, bool) or not isinstance(self.res, numbers.Integral):
            raise Get3dError(f"{param_name('res')} must be an integer >= 3, got {self.res!r}")
        _at_least(self, "res", 3)
        return self
