"""Chamfer distance between point clouds, single pairs and all-pairs matrices, GET3D's protocol.

Protocol (GET3D evaluation_scripts/compute_cd.py): every shape is scaled so the largest side of
its bounding box is 1, 2048 points are sampled uniformly by area on its surface, and

    CD(P, Q) = mean_{p in P} min_{q in Q} |p - q|^2 + mean_{q in Q} min_{p in P} |p - q|^2

(squared distances, kaolin's ``chamfer_distance``). Tables report CD x 10^3. We also centre the
bounding box at the origin (GET3D relies on ShapeNet being centred already); chamfer distance is
not translation invariant, so centring keeps off-centre meshes comparable.

Precision: nearest neighbours are found with one matrix product, |p|^2 - 2 p.q + |q|^2, which
loses a few digits to cancellation; the distance to each chosen neighbour is then recomputed
exactly as |p - q|^2, so identical clouds give exactly 0 and ties in the metrics are real ties.
"""
from __future__ import annotations

import math

import torch

from get3d.categories import SURFACE_POINTS
from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh

# Distance entries per batched product (pairs x N x M). On a CPU the product is limited by memory
# bandwidth, so a 64 MB block (4 pairs of 2048-point clouds) reused across blocks is as fast as
# bigger ones; a GPU wants large blocks to fill it (1 GB: 64 pairs).
BLOCK_ELEMENTS = {"cpu": 1 << 24, "cuda": 1 << 28}


def default_chunk(n: int, m: int, device: torch.device) -> int:
    """Pairs of n- and m-point clouds per batched product on ``device``."""
    return max(1, BLOCK_ELEMENTS.get(device.type, BLOCK_ELEMENTS["cuda"]) // (n * m))


def normalize_shape(points: torch.Tensor) -> torch.Tensor:
    """Centre each shape's bounding box at the origin and scale its largest side to 1.

    points: [N,3] or [B,N,3] (each of the B shapes separately). A shape with zero extent (one
    point repeated) is only centred.
    """
    if points.dim() not in (2, 3) or points.shape[-1] != 3:
        raise Get3dError(f"normalize_shape: points must be [N,3] or [B,N,3], got {tuple(points.shape)}")
    lo = points.min(dim=-2, keepdim=True).values
    hi = points.max(dim=-2, keepdim=True).values
    extent = (hi - lo).amax(dim=-1, keepdim=True)
    scale = torch.where(extent > 0, extent, torch.ones_like(extent))
    return (points - (lo + hi) / 2) / scale


def normalize_mesh(mesh: Mesh) -> Mesh:
    """The mesh with its bounding box (of vertices used by faces) centred and largest side 1."""
    used = mesh.verts[torch.unique(mesh.faces)] if mesh.num_faces else mesh.verts
    lo, hi = used.min(0).values, used.max(0).values
    extent = float((hi - lo).max())
    verts = (mesh.verts - (lo + hi) / 2) / (extent if extent > 0 else 1.0)
    return Mesh(verts, mesh.faces)


def sample_mesh_points(mesh: Mesh, num: int = SURFACE_POINTS, generator: torch.Generator | None = None) -> torch.Tensor:
    """[num,3] area-uniform surface points of the normalised mesh (GET3D: 2048 per shape)."""
    return normalize_mesh(mesh).sample_points(num, generator=generator)


def _check_clouds(p: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(p, torch.Tensor) or p.dim() != 3 or p.shape[-1] != 3 or p.shape[1] == 0:
        shape = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
        raise Get3dError(f"{name} must be a tensor [B,N,3] with N >= 1, got {shape}")
    if not p.dtype.is_floating_point:
        p = p.float()
    return p


def _as_rows(x: torch.Tensor) -> torch.Tensor:
    """[...,3] -> [...,5] row form [x, |x|^2, 1]; rows . cols = |x|^2 - 2 x.y + |y|^2 in one product."""
    return torch.cat([x, (x * x).sum(-1, keepdim=True), torch.ones_like(x[..., :1])], -1)


def _as_cols(y: torch.Tensor) -> torch.Tensor:
    """[...,3] -> [...,5] column form [-2y, 1, |y|^2] (see _as_rows)."""
    return torch.cat([-2 * y, torch.ones_like(y[..., :1]), (y * y).sum(-1, keepdim=True)], -1)


def _nearest_index(x: torch.Tensor, y: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """For x [a,N,3] and y [b,M,3]: index [a,N,b] of the nearest point of y[j] to each x[i,n].

    Nearest along the last, contiguous dimension only: index-returning reductions over any other
    dimension are several times slower on a CPU, so the other direction gets its own product.
    """
    a, n, _ = x.shape
    b, m, _ = y.shape
    d = buf[: a * n * b * m].view(a * n, b * m)
    torch.mm(_as_rows(x).reshape(a * n, 5), _as_cols(y).reshape(b * m, 5).T, out=d)
    return d.view(a, n, b, m).argmin(-1)


def _block_chamfer(p: torch.Tensor, q: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """Chamfer distance of all pairs of p [a,N,3] and q [b,M,3] -> [a,b], using scratch ``buf``."""
    a, b = p.shape[0], q.shape[0]
    q_near = q[torch.arange(b, device=q.device).view(1, 1, b), _nearest_index(p, q, buf)]  # [a,N,b,3]
    p_near = p[torch.arange(a, device=p.device).view(1, 1, a), _nearest_index(q, p, buf)]  # [b,M,a,3]
    d_pq = (p.unsqueeze(2) - q_near).square().sum(-1).mean(1)  # [a,b], exact |p - q|^2
    d_qp = (q.unsqueeze(2) - p_near).square().sum(-1).mean(1)  # [b,a]
    return d_pq + d_qp.T


def chamfer_distance(p: torch.Tensor, q: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Chamfer distance of each pair (p[b], q[b]): p [B,N,3], q [B,M,3] -> [B] (squared, see module doc).

    ``chunk``: pairs per batched product (default: see BLOCK_ELEMENTS).
    """
    p, q = _check_clouds(p, "chamfer_distance: p"), _check_clouds(q, "chamfer_distance: q")
    if p.shape[0] != q.shape[0]:
        raise Get3dError(f"chamfer_distance: p and q hold different numbers of clouds ({p.shape[0]} vs {q.shape[0]})")
    q = q.to(p.device, p.dtype)
    chunk = chunk or default_chunk(p.shape[1], q.shape[1], p.device)
    out = []
    for start in range(0, p.shape[0], chunk):
        pb, qb = p[start:start + chunk], q[start:start + chunk]
        idx_pq = torch.bmm(_as_rows(pb), _as_cols(qb).transpose(1, 2)).argmin(-1)  # [b,N]
        idx_qp = torch.bmm(_as_rows(qb), _as_cols(pb).transpose(1, 2)).argmin(-1)  # [b,M]
        q_near = torch.gather(qb, 1, idx_pq.unsqueeze(-1).expand(-1, -1, 3))
        p_near = torch.gather(pb, 1, idx_qp.unsqueeze(-1).expand(-1, -1, 3))
        out.append((pb - q_near).square().sum(-1).mean(1) + (qb - p_near).square().sum(-1).mean(1))
    return torch.cat(out)


def pairwise_chamfer(
    gen: torch.Tensor,
    ref: torch.Tensor | None = None,
    chunk: int | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Chamfer distance between every gen[i] and ref[j]: gen [G,N,3], ref [R,M,3] -> [G,R].

    ``ref=None`` computes the symmetric matrix of ``gen`` against itself, evaluating each pair
    once. ``chunk``: pairs per batched product (default: see BLOCK_ELEMENTS; memory is about
    4 * chunk * N * M bytes). Results do not depend on it. ``device``: where to compute (default: the
    device of ``gen``); the matrix is returned there.
    """
    gen = _check_clouds(gen, "pairwise_chamfer: gen")
    device = torch.device(device) if device is not None else gen.device
    gen = gen.to(device)
    symmetric = ref is None
    ref = gen if symmetric else _check_clouds(ref, "pairwise_chamfer: ref").to(device, gen.dtype)
    g, r = gen.shape[0], ref.shape[0]
    n, m = gen.shape[1], ref.shape[1]
    chunk = chunk or default_chunk(n, m, device)
    if chunk < 1:
        raise Get3dError(f"pairwise_chamfer: chunk must be >= 1, got {chunk}")
    out = torch.empty(g, r, dtype=gen.dtype, device=device)
    if symmetric:
        # Square blocks on and above the diagonal; the ones below are their transposes.
        side = max(1, math.isqrt(chunk))
        buf = torch.empty(min(g, side) ** 2 * n * n, dtype=gen.dtype, device=device)  # reused: no page faults
        for i in range(0, g, side):
            for j in range(i, g, side):
                block = _block_chamfer(gen[i:i + side], gen[j:j + side], buf)
                out[i:i + side, j:j + side] = block
                out[j:j + side, i:i + side] = block.T
        return out
    cols = min(r, chunk)
    rows = max(1, min(g, chunk // cols))
    buf = torch.empty(rows * cols * n * m, dtype=gen.dtype, device=device)  # reused: no page faults
    for i in range(0, g, rows):
        for j in range(0, r, cols):
            out[i:i + rows, j:j + cols] = _block_chamfer(gen[i:i + rows], ref[j:j + cols], buf)
    return out
