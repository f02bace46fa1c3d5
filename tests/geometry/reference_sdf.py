"""An independent, brute-force signed distance (exact point-triangle distance for every pair,
sign by the generalised winding number summed over all faces with Van Oosterom and Strackee's
solid-angle formula): the reference get3d.geometry.mesh_sdf (libigl) is checked against.
Slow (P x F pairs): test sizes only."""
import math

import torch

__all__ = ["reference_sdf"]


def _triangles(verts, faces):
    tri = verts[faces.long()]  # [F,3,3]
    return tri[:, 0], tri[:, 1], tri[:, 2]


def point_triangle_distance(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """points [P,3], triangle corners a, b, c [F,3] -> distances [P,F]."""
    p = points[:, None]  # [P,1,3]
    n = torch.cross(b - a, c - a, dim=-1)
    area2 = n.norm(dim=-1)  # twice the area [F]
    unit = n / area2.clamp_min(1e-20)[:, None]
    plane = ((p - a) * unit).sum(-1)  # [P,F] signed distance to the plane
    q = p - plane[..., None] * unit  # projection
    inside = (area2 > 1e-12)
    for u, v in ((a, b), (b, c), (c, a)):
        inside = inside & ((torch.cross((v - u).expand_as(q), q - u, dim=-1) * n).sum(-1) >= 0)

    def segment(u, v):
        d = v - u
        t = (((p - u) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-20)).clamp(0, 1)
        return (p - (u + t[..., None] * d)).norm(dim=-1)

    edge = torch.minimum(torch.minimum(segment(a, b), segment(b, c)), segment(c, a))
    return torch.where(inside, plane.abs(), edge)


def _solid_angles(points, a, b, c):
    pa, pb, pc = a - points[:, None], b - points[:, None], c - points[:, None]  # [P,F,3]
    la, lb, lc = pa.norm(dim=-1), pb.norm(dim=-1), pc.norm(dim=-1)
    numerator = (pa * torch.cross(pb, pc, dim=-1)).sum(-1)  # a . (b x c)
    denominator = la * lb * lc + (pa * pb).sum(-1) * lc + (pb * pc).sum(-1) * la + (pc * pa).sum(-1) * lb
    return 2 * torch.atan2(numerator, denominator)  # [P,F]


def _chunks(n_points: int, n_faces: int, chunk: int):
    step = max(1, chunk // max(1, n_faces))
    for start in range(0, n_points, step):
        yield slice(start, min(n_points, start + step))


def reference_sdf(verts, faces, points, chunk=1_000_000):
    """-> (sdf [P], negative inside; winding number [P])."""
    a, b, c = _triangles(verts.float(), faces)
    dist = torch.empty(points.shape[0])
    wind = torch.empty_like(dist)
    for part in _chunks(points.shape[0], faces.shape[0], chunk):
        p = points[part].float()
        dist[part] = point_triangle_distance(p, a, b, c).amin(-1)
        wind[part] = _solid_angles(p, a, b, c).sum(-1) / (4 * math.pi)
    return torch.where(wind.abs() > 0.5, -dist, dist), wind
