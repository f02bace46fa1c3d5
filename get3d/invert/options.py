"""Settings of ``get3d invert`` (get3d.invert.optimize.invert and get3d.invert.command), torch-free so
the CLI shows the same defaults without importing torch: one frozen :class:`InvertOptions`, validated
once by :meth:`InvertOptions.check` (errors name the parameter and its flag, e.g. ``steps (--steps)
must be >= 0, got -1``), recorded in the run's settings.json and snapshots (``dataclasses.asdict``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from get3d.categories import SURFACE_POINTS, TRUNCATION
from get3d.errors import Get3dError
from get3d.options import _at_least, param_name

__all__ = ["InvertOptions", "TUNE_STEPS", "KEY_TOLERANCE", "MESH_VIEWS", "MESH_SCALE", "FORMATS", "TEXTURE_RES"]

TUNE_STEPS = 100  # stage 3's steps when it is asked for (get3d invert --tune-generator) and none are given
# The target and export settings of get3d invert (get3d.invert.command / target arguments, the CLI's defaults):
KEY_TOLERANCE = 0.08  # keying an opaque image's background colour: max per-channel distance in [0, 1]
MESH_VIEWS = 8  # a mesh target: views rendered
MESH_SCALE = "dataset"  # a mesh target: normalised to the checkpoint's training data ('keep', or a number)
FORMATS = "glb,obj"  # the inverted mesh's files
TEXTURE_RES = 512  # its baked texture


@dataclass(frozen=True)
class InvertOptions:
    """Every setting that changes an inversion's result (settings.json records them all)."""

    candidates: int = 16  # stage 1: random codes tried
    truncation: float = TRUNCATION  # psi of the candidates
    search_seed: int = 0
    camera_rotations: int = 12  # unknown cameras: grid searched in stage 1
    camera_elevations: int = 3
    elevation_range: tuple = (0.0, 30.0)  # get3d invert: the checkpoint's training range replaces it
    steps: int = 200  # stage 2
    lr: float = 0.02
    lr_camera: float = 1.0  # degrees per step (unknown cameras)
    w_silhouette: float = 1.0
    w_colour: float = 1.0
    w_chamfer: float = 100.0  # Chamfer in generator units is ~1e-3 for a close match
    w_prior: float = 1e-3
    chamfer_points: int = SURFACE_POINTS
    tune_steps: int = 0  # stage 3 (pivotal tuning); 0 = off
    tune_lr: float = 3e-4
    w_locality: float = 1.0  # stage 3: keep other codes' renders as they were
    frame_every: int = 10  # progress frames (view 0) every k steps; 0 = none
    snapshot_every: int = 50
    resolution: Optional[int] = None  # default: the target's

    # get3d invert's flags (None: a library-only setting, named alone)
    _FLAGS = {"search_seed": "--seed", "camera_rotations": None, "camera_elevations": None,
              "elevation_range": None, "chamfer_points": None, "w_locality": None, "frame_every": None,
              "resolution": "--res"}

    def __post_init__(self):
        object.__setattr__(self, "elevation_range", tuple(float(v) for v in self.elevation_range))

    def check(self) -> "InvertOptions":
        _at_least(self, "candidates", 1)
        for name in ("steps", "tune_steps", "frame_every"):
            _at_least(self, name, 0)
        for name in ("camera_rotations", "camera_elevations", "chamfer_points", "snapshot_every"):
            _at_least(self, name, 1)
        for name in ("lr", "lr_camera", "tune_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise Get3dError(f"{param_name(name, self._FLAGS)} must be > 0, got {value!r}")
        for name in ("w_silhouette", "w_colour", "w_chamfer", "w_prior", "w_locality"):
            _at_least(self, name, 0)
        if not (isinstance(self.truncation, (int, float)) and math.isfinite(self.truncation)):
            raise Get3dError(f"{param_name('truncation', self._FLAGS)} must be a finite number, got {self.truncation!r}")
        if len(self.elevation_range) != 2:
            raise Get3dError(f"elevation_range must be (low, high) in degrees, got {self.elevation_range!r}")
        return self
