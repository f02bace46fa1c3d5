"""Settings of render-dataset / synth-data in one torch-free place, so the CLI's option defaults
come from these dataclasses (importing this module is cheap) and the renderer
(get3d.datasets.render_dataset) reads the same values. :meth:`RenderSettings.check` validates them
once (errors name the parameter and its flag); :meth:`RenderSettings.to_dict` is what each run
appends to the dataset's ``render_settings.jsonl``."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from get3d.categories import DEFAULT_RENDER_SCALE
from get3d.categories import render_scale as category_scale  # GET3D's size per category (name or synset)
from get3d.errors import Get3dError

__all__ = ["Lighting", "RenderSettings", "SYNTH_RESOLUTION", "category_scale"]

SYNTH_RESOLUTION = 256  # synth-data's image size (render-dataset's: RenderSettings.resolution, GET3D's 1024)


@dataclass(frozen=True)
class Lighting:
    """Lambert shading with a light fixed relative to the camera, so every view shows shape alike.

    colour = albedo * (ambient + diffuse * max(0, n . l)); ``direction`` in camera space
    (x right, y up, z toward the viewer). Faces are lit from whichever side the camera sees,
    because many ShapeNet meshes have inconsistent winding. ``Lighting(1, 0)`` renders flat albedo.
    """

    ambient: float = 0.45
    diffuse: float = 0.55
    direction: tuple = (-0.35, 0.55, 0.75)


@dataclass(frozen=True)
class RenderSettings:
    views: int = 24
    resolution: int = 1024
    scale: float | None = DEFAULT_RENDER_SCALE  # largest bounding-box side; None = per category (category_scale, GET3D's)
    seed: int = 0
    lighting: Lighting = Lighting()
    backend: str = "auto"
    keep_meshes: bool = False  # also write the normalised mesh as OUT/mesh/<category>/<shape>.ply (COV/MMD)
    recentre: bool = True  # centre the bounding box first (render-dataset: off unless --recentre, as GET3D)

    def scale_for(self, category: str) -> float:
        return category_scale(category) if self.scale is None else float(self.scale)

    def check(self) -> "RenderSettings":
        """Every value in range -> self; errors name ``settings.<field>`` and the CLI flag."""
        if not (isinstance(self.views, int) and self.views >= 1):
            raise Get3dError(f"settings.views (--views) must be >= 1, got {self.views!r}")
        if not (isinstance(self.resolution, int) and self.resolution >= 8):
            raise Get3dError(f"settings.resolution (--res) must be >= 8, got {self.resolution!r}")
        if self.scale is not None and not (isinstance(self.scale, (int, float)) and 0 < self.scale < math.inf):
            raise Get3dError(f"settings.scale (--scale) must be > 0, got {self.scale!r}")
        light = self.lighting
        for name in ("ambient", "diffuse"):
            value = getattr(light, name)
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise Get3dError(f"settings.lighting.{name} (--{name}) must be a number >= 0, got {value!r}")
        if len(light.direction) != 3 or not any(light.direction) or \
                not all(isinstance(v, (int, float)) and math.isfinite(v) for v in light.direction):
            raise Get3dError(f"settings.lighting.direction (--light-dir) must be three finite numbers, not all 0, "
                             f"got {light.direction!r}")
        return self

    def to_dict(self) -> dict:
        record = asdict(self)
        record["lighting"]["direction"] = list(self.lighting.direction)
        return record
