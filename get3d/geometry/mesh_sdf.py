"""Signed distance from a triangle mesh at query points (libigl), get3d's sign convention.

``mesh_sdf(verts [V,3], faces [F,3], points [P,3]) -> (sdf [P], winding [P])``, sdf NEGATIVE inside.

* Magnitude: the exact Euclidean distance to the nearest triangle (libigl's AABB tree, ``point_mesh_squared_distance``).
* Sign: the generalised winding number (Jacobson et al. 2013) in its fast hierarchical form
  (Barill et al. 2018, ``igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER``): inside where the
  winding number exceeds 0.5. Unlike ray parity it is robust to small holes, duplicated faces and
  self-intersections, which scanned and ShapeNet meshes have. Its absolute value is used, so
  inward-wound meshes (every face flipped, winding number -1 inside) work too.
* An open sheet (a single plane, a mesh missing whole sides) has winding number below 0.5
  everywhere: it has no inside, and callers report that (get3d.distill.mesh_asset).

Why libigl rather than our own: an exact torch version (all point-triangle pairs) costs
~2e6 pairs/s on 2 CPU cores, minutes for a 64^3 grid against a 20k-face mesh; libigl's tree does
the same in well under a second. tests/geometry/test_mesh_sdf.py checks it against an independent
brute-force torch computation and against a sphere's analytic SDF.
"""
from __future__ import annotations

import numpy as np
import torch

from get3d.errors import Get3dError

__all__ = ["mesh_sdf"]


def _igl():
    try:
        import igl
    except ImportError:
        raise Get3dError("the signed distance of a mesh needs libigl: pip install 'get3d[text]' "
                         "(or pip install libigl)") from None
    return igl


@torch.no_grad()
def mesh_sdf(verts: torch.Tensor, faces: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """verts [V,3], faces [F,3], points [P,3] -> (sdf [P] negative inside, winding number [P]),
    float32 on points' device."""
    if verts.dim() != 2 or verts.shape[-1] != 3 or points.dim() != 2 or points.shape[-1] != 3:
        raise Get3dError(f"verts and points must be [N,3], got {tuple(verts.shape)} and {tuple(points.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3 or faces.shape[0] == 0:
        raise Get3dError(f"faces must be a non-empty [F,3], got {tuple(faces.shape)}")
    igl = _igl()
    v = np.ascontiguousarray(verts.detach().cpu().double().numpy())
    f = np.ascontiguousarray(faces.detach().cpu().long().numpy())
    p = np.ascontiguousarray(points.detach().cpu().double().numpy())
    # Distance and sign separately: igl.signed_distance's winding-number modes return a bounded,
    # not exact, magnitude away from the surface (errors of 4e-2 measured on a torus).
    dist = np.sqrt(np.maximum(igl.point_mesh_squared_distance(p, v, f)[0], 0.0))
    winding = igl.fast_winding_number(v, f, p)
    sdf = np.where(np.abs(winding) > 0.5, -dist, dist)
    return (torch.from_numpy(sdf.astype(np.float32)).to(points.device),
            torch.from_numpy(winding.astype(np.float32)).to(points.device))
