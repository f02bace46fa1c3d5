"""Random cameras around the asset and the view-dependent prompt suffixes of each.

Cameras follow get3d.render.camera (GET3D's orbit convention, degrees for rotation/elevation,
RADIANS for fovy). Per view: azimuth (rotation) ~ U[0, 360), elevation ~ U[elevation range],
distance ~ U[distance range], vertical field of view ~ U[fov range] (degrees in the options).

Defaults (``ViewRanges()``, defined torch-free in get3d.distill.options), chosen for SD's framing of a single object:
- elevation [-10, 45] deg: threestudio's Magic3D/DreamFusion camera range;
- distance [1.2, 1.6] with fov [40, 60] deg: an asset about 1 unit across (the generator's
  units) fills 55-90% of the frame height, leaving background margin as in SD's object photos
  (GET3D's own renders use distance 1.2 and 49.1 deg, which crops nothing but fills the frame).

Suffixes (DreamFusion's view-dependent prompting, threestudio's thresholds): elevation above
``overhead`` (60 deg) -> ", overhead view"; else azimuth within +-45 deg of ``front_azimuth``
-> ", front view", within 45 deg of the opposite side -> ", back view", otherwise ", side view".
``front_azimuth`` is the camera rotation that sees the asset's front (0 = camera on -Z looking
along +Z, the ShapeNet convention of get3d.render.camera); set it per asset.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from get3d.distill.options import ViewRanges  # torch-free: RefineOptions holds one
from get3d.render.camera import Cameras

__all__ = ["SUFFIXES", "ViewRanges", "sample_views", "view_suffix_index"]

SUFFIXES = (", front view", ", side view", ", back view", ", overhead view")


def sample_views(batch: int, ranges: ViewRanges, generator: Optional[torch.Generator] = None,
                 device=None) -> tuple[list, torch.Tensor]:
    """-> (one single-view Cameras per item (fov differs per view), suffix index [B] long)."""
    u = torch.rand(4, batch, generator=generator)
    azimuth = 360.0 * u[0]
    elevation = ranges.elevation[0] + (ranges.elevation[1] - ranges.elevation[0]) * u[1]
    distance = ranges.distance[0] + (ranges.distance[1] - ranges.distance[0]) * u[2]
    fov = ranges.fov[0] + (ranges.fov[1] - ranges.fov[0]) * u[3]
    cameras = [Cameras(azimuth[b:b + 1], elevation[b:b + 1], float(distance[b]), math.radians(float(fov[b])))
               .to(device or "cpu") for b in range(batch)]
    return cameras, view_suffix_index(azimuth, elevation, ranges)


def view_suffix_index(azimuth: torch.Tensor, elevation: torch.Tensor, ranges: ViewRanges) -> torch.Tensor:
    """azimuth, elevation [B] degrees -> index into SUFFIXES [B] long."""
    offset = torch.remainder(azimuth - ranges.front_azimuth + 180.0, 360.0) - 180.0  # (-180, 180]
    index = torch.full_like(azimuth, 1, dtype=torch.long)
    index[offset.abs() <= 45.0] = 0
    index[offset.abs() >= 135.0] = 2
    index[elevation > ranges.overhead] = 3
    return index
