"""Settings of render-dataset / synth-data in one torch-free place, so the CLI's option defaults
come from these dataclasses (importing this module is cheap) and the renderer
(get3d.datasets.render_meshes) reads the same values."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATEGORY_SCALES", "DEFAULT_SCALE", "Lighting", "RenderSettings", "category_scale"]

CATEGORY_SCALES = {"car": 0.9, "chair": 0.7, "motorbike": 0.9,
                   "02958343": 0.9, "03001627": 0.7, "03790512": 0.9}
DEFAULT_SCALE = 0.9


def category_scale(category: str) -> float:
    """GET3D's normalised size (largest bounding-box side) for a category name or synset id."""
    return CATEGORY_SCALES.get(str(category).lower(), DEFAULT_SCALE)


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
    scale: float | None = 0.9  # largest bounding-box side; None = per category (category_scale, GET3D's)
    seed: int = 0
    lighting: Lighting = Lighting()
    backend: str = "auto"
    keep_meshes: bool = False  # also write the normalised mesh as OUT/mesh/<category>/<shape>.ply (COV/MMD)
    recentre: bool = True  # centre the bounding box first (render-dataset: off unless --recentre, as GET3D)

    def scale_for(self, category: str) -> float:
        return category_scale(category) if self.scale is None else float(self.scale)
