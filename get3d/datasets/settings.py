"""Settings of render-dataset / synth-data in one torch-free place, so the CLI's option defaults
come from these dataclasses (importing this module is cheap) and the renderer
(get3d.datasets.render_dataset) reads the same values."""
from __future__ import annotations

from dataclasses import dataclass

from get3d.categories import DEFAULT_RENDER_SCALE
from get3d.categories import render_scale as category_scale  # GET3D's size per category (name or synset)

__all__ = ["Lighting", "RenderSettings", "category_scale"]


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


@dataclass
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
