"""Differentiable marching tetrahedra (DMTet) and GET3D's SDF regularisers.

Convention: SDF negative inside, positive outside; a vertex with SDF exactly 0 counts as outside.
Faces wind counter-clockwise seen from outside, so a closed surface has positive signed volume.
Each grid edge whose ends differ in sign gives exactly one mesh vertex, placed at the linear zero
crossing, so neighbouring triangles share (weld) their vertices and the output is differentiable
with respect to both the grid vertex positions and the SDF values.

Speed: the grid is fixed, so its unique-edge table and tet-to-edge map come precomputed
(``tets.edge_table``); an extraction is a few gathers, one cumsum and two nonzero calls, with no
``torch.unique`` per call.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from get3d.errors import Get3dError
from get3d.geometry.tets import TET_EDGE_SLOTS, EdgeTable, edge_table


def _build_triangle_table() -> tuple[np.ndarray, np.ndarray]:
    """Triangles for each of the 16 inside/outside patterns of a tet, as local edge indices.

    Derived rather than typed in: for each pattern the crossed edges are listed, a two-inside
    pattern's four crossings are put in cyclic order and split into two triangles, and each
    triangle is oriented so its normal points from the inside corners to the outside corners of
    a reference tet with positive volume. Orientation of a separating triangle cannot change
    while the crossings slide along their edges, so the table holds for every positive tet.

    Returns tri_table [16,2,3] int64 (local edge ids, -1 = unused) and num_tris [16] int64.
    Bit i of the pattern index is set when corner i is inside (SDF < 0).
    """
    ref = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)  # det = +1
    slot_of = {pair: k for k, pair in enumerate(TET_EDGE_SLOTS)}

    def edge(a: int, b: int) -> int:
        return slot_of[(min(a, b), max(a, b))]

    tri_table = -np.ones((16, 2, 3), dtype=np.int64)
    num_tris = np.zeros(16, dtype=np.int64)
    for code in range(16):
        inside = [c for c in range(4) if code >> c & 1]
        outside = [c for c in range(4) if not code >> c & 1]
        if len(inside) in (0, 4):
            continue
        if len(inside) in (1, 3):
            lone, others = (inside[0], outside) if len(inside) == 1 else (outside[0], inside)
            tris = [[edge(lone, o) for o in others]]
        else:
            (a, b), (c, d) = inside, outside
            ring = [edge(a, c), edge(a, d), edge(b, d), edge(b, c)]  # consecutive ones share a corner
            tris = [[ring[0], ring[1], ring[2]], [ring[0], ring[2], ring[3]]]
        outward = ref[outside].mean(0) - ref[inside].mean(0)
        for k, tri in enumerate(tris):
            p = np.array([ref[list(TET_EDGE_SLOTS[e])].mean(0) for e in tri])
            if np.dot(np.cross(p[1] - p[0], p[2] - p[0]), outward) < 0:
                tri = [tri[0], tri[2], tri[1]]
            tri_table[code, k] = tri
        num_tris[code] = len(tris)
    return tri_table, num_tris


_TRI_TABLE_NP, _NUM_TRIS_NP = _build_triangle_table()
_TABLES: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tri_table [16,2,3], num_tris [16], corner bit weights [4]) on ``device``, made once."""
    key = str(device)
    if key not in _TABLES:
        _TABLES[key] = (
            torch.from_numpy(_TRI_TABLE_NP).to(device),
            torch.from_numpy(_NUM_TRIS_NP).to(device),
            torch.tensor([1, 2, 4, 8], dtype=torch.int64, device=device),
        )
    return _TABLES[key]


def _check_inputs(verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor) -> None:
    if sdf.dim() != 2:
        raise Get3dError(f"sdf must be [B,N], got shape {tuple(sdf.shape)}")
    if verts.dim() not in (2, 3) or verts.shape[-1] != 3:
        raise Get3dError(f"verts must be [N,3] or [B,N,3], got shape {tuple(verts.shape)}")
    if verts.shape[-2] != sdf.shape[1] or (verts.dim() == 3 and verts.shape[0] != sdf.shape[0]):
        raise Get3dError(f"verts {tuple(verts.shape)} and sdf {tuple(sdf.shape)} disagree on batch or vertex count")
    if tets.dim() != 2 or tets.shape[1] != 4 or tets.dtype not in (torch.int32, torch.int64):
        raise Get3dError(f"tets must be an integer [T,4] tensor, got {tets.dtype} {tuple(tets.shape)}")
    for name, value in (("verts", verts), ("sdf", sdf)):
        if not value.is_floating_point():  # an integer SDF would be truncated into verts' dtype
            raise Get3dError(f"{name} must be a float tensor, got {value.dtype}")
    if not torch.isfinite(sdf).all():
        raise Get3dError("sdf contains NaN or infinite values")


def marching_tets_batched(
    verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor, table: EdgeTable | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Extract one triangle mesh per SDF in a batch.

    Args:
        verts: [B,N,3] per-shape (deformed) grid vertices, or [N,3] shared by the batch.
        tets:  [T,4] int grid tetrahedra with positive volume (as ``tet_grid`` makes them).
        sdf:   [B,N] signed distance per grid vertex, negative inside.
        table: the grid's EdgeTable; looked up (built once) from ``tets`` when omitted.
    Returns:
        A list of B pairs (mesh_verts [V_b,3] like verts' dtype, faces [F_b,3] int64). A shape
        with no surface gives V_b = F_b = 0 and no error.
    """
    _check_inputs(verts, tets, sdf)
    device = sdf.device
    batch = sdf.shape[0]
    edges, tet_edges = table if table is not None else edge_table(tets)
    tri_table, num_tris, bit_weights = _tables(device)

    inside = sdf < 0  # [B,N]
    # Crossed edges: one output vertex each, numbered in (batch, edge) order.
    crossed = inside[:, edges[:, 0]] != inside[:, edges[:, 1]]  # [B,E]
    crossed_flat = crossed.reshape(-1)
    vertex_id = torch.cumsum(crossed_flat, 0) - 1  # [B*E], valid where crossed
    cross_b, cross_e = crossed.nonzero(as_tuple=True)
    end_a, end_b = edges[cross_e, 0], edges[cross_e, 1]
    # In verts' dtype (the documented output dtype): a float64 SDF on a float32 grid would
    # otherwise promote the mesh to float64.
    s_a = sdf[cross_b, end_a].unsqueeze(-1).to(verts.dtype)
    s_b = sdf[cross_b, end_b].unsqueeze(-1).to(verts.dtype)
    if verts.dim() == 3:
        p_a, p_b = verts[cross_b, end_a], verts[cross_b, end_b]
    else:
        p_a, p_b = verts[end_a], verts[end_b]
    # Zero crossing of the linear interpolant. The ends have opposite inside flags, so
    # |s_b - s_a| >= the inside end's |s| > 0; the clamp only guards against underflow of
    # two denormal values, keeping gradients finite.
    denom = s_b - s_a
    denom = torch.where(denom >= 0, denom.clamp_min(1e-20), denom.clamp_max(-1e-20))
    mesh_verts = (p_a * s_b - p_b * s_a) / denom

    # Tets with mixed corners, and their triangles from the pattern table.
    code = (inside[:, tets].long() * bit_weights).sum(-1)  # [B,T]
    tet_b, tet_t = ((code > 0) & (code < 15)).nonzero(as_tuple=True)
    tet_code = code[tet_b, tet_t]
    local = tri_table[tet_code]  # [K,2,3] local edge slots (-1 where unused)
    two = num_tris[tet_code] == 2
    face_b = torch.cat([tet_b, tet_b[two]])
    face_t = torch.cat([tet_t, tet_t[two]])
    face_local = torch.cat([local[:, 0], local[two, 1]])  # [F,3]
    global_edge = tet_edges[face_t.unsqueeze(-1), face_local]  # [F,3]
    faces = vertex_id[face_b.unsqueeze(-1) * edges.shape[0] + global_edge]  # [F,3] batch-global ids

    return _split_by_batch(mesh_verts, cross_b, faces, face_b, batch)


def _split_by_batch(
    mesh_verts: torch.Tensor, vert_b: torch.Tensor, faces: torch.Tensor, face_b: torch.Tensor, batch: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut batch-global vertices [V,3] and faces [F,3] into per-shape meshes with local ids."""
    vert_counts = torch.bincount(vert_b, minlength=batch)
    vert_offsets = torch.cumsum(vert_counts, 0) - vert_counts
    order = torch.sort(face_b, stable=True).indices
    faces, face_b = faces[order], face_b[order]
    faces = faces - vert_offsets[face_b].unsqueeze(-1)
    face_counts = torch.bincount(face_b, minlength=batch)
    # One device sync for both count vectors.
    counts = torch.stack([vert_counts, face_counts]).tolist()
    return list(zip(torch.split(mesh_verts, counts[0]), torch.split(faces, counts[1])))


def marching_tets(
    verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor, table: EdgeTable | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Extract the mesh of one SDF: verts [N,3], tets [T,4], sdf [N] -> (mesh_verts [V,3], faces [F,3] int64)."""
    if sdf.dim() != 1 or verts.dim() != 2:
        raise Get3dError(
            f"marching_tets takes one shape (verts [N,3], sdf [N]); got verts {tuple(verts.shape)}, "
            f"sdf {tuple(sdf.shape)}: use marching_tets_batched for batches"
        )
    return marching_tets_batched(verts, tets, sdf.unsqueeze(0), table)[0]


def sdf_reg_loss(sdf: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """GET3D's SDF regulariser: BCE between the two ends of every sign-changing grid edge.

    For each edge whose ends differ in sign, each end's SDF is treated as a logit and pushed
    toward the other end's sign, which discourages floaters and thin sign flips. GET3D weights
    it by 0.01. Because BCE-with-logits is symmetric under (logit, target) -> (-logit, 1 -
    target), the value is the same in GET3D's positive-inside convention and ours. GET3D sums
    over each tet's six edges (interior edges counted once per tet); here each unique grid edge
    counts once.

    Args:
        sdf:   [B,N] SDF values.
        edges: [E,2] unique grid edges (``edge_table(tets).edges``).
    Returns:
        [B] loss per shape (0 for a shape with no sign change).
    """
    if not sdf.is_floating_point():
        raise Get3dError(f"sdf must be a float tensor, got {sdf.dtype}")
    s_a, s_b = sdf[:, edges[:, 0]], sdf[:, edges[:, 1]]  # [B,E]
    mixed = (s_a < 0) != (s_b < 0)
    bce = F.binary_cross_entropy_with_logits(s_a, (s_b >= 0).to(sdf.dtype), reduction="none") + \
        F.binary_cross_entropy_with_logits(s_b, (s_a >= 0).to(sdf.dtype), reduction="none")
    per_shape = (bce * mixed).sum(-1) / mixed.sum(-1).clamp_min(1)
    return per_shape


def replace_empty_shapes(
    sdf: torch.Tensor, verts: torch.Tensor, ignore: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GET3D's training fix for shapes with no surface (every SDF value of one sign).

    Marching tets would give such a shape no faces, so nothing could be rendered or learned.
    As in GET3D, its SDF is replaced by a detached template (the grid vertex nearest the centre
    inside, the vertices on the grid's bounding box outside, everything else unchanged), which
    yields a surface, and an extra loss |sdf|.mean() pushes the network's values toward zero so
    a sign change appears on its own.

    Args:
        sdf:   [B,N] predicted SDF (negative inside).
        verts: [N,3] undeformed grid vertices (to find the centre and the boundary).
        ignore: [N] bool, vertices the emptiness check skips (FlexiCubes: the grid's boundary
            layer, where a sign change makes no faces; GET3D checks only the inner vertices).
    Returns:
        sdf_used [B,N] (template rows detached), empty [B] bool, empty_loss [B] (0 where not empty).
    """
    checked = sdf if ignore is None else sdf[:, ~ignore]
    any_inside = (checked < 0).any(-1)
    any_outside = (checked >= 0).any(-1)
    empty = ~(any_inside & any_outside)
    empty_loss = sdf.abs().mean(-1) * empty.to(sdf.dtype)
    if not bool(empty.any()):
        return sdf, empty, empty_loss
    centre = torch.argmin(verts.norm(dim=-1))
    extent = verts.abs().amax(-1)
    boundary = extent >= extent.max() - 1e-6
    magnitude = sdf.detach().abs().max() + 1.0
    template = sdf.detach().clone()
    template[:, centre] = -magnitude
    template[:, boundary] = magnitude
    sdf_used = torch.where(empty.unsqueeze(-1), template, sdf)
    return sdf_used, empty, empty_loss


def close_on_boundary(sdf: torch.Tensor, verts: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """Make the surface closed and outward-facing: the grid's bounding box counts as outside.

    A shape that reaches the edge of the generation grid is cut open there (marching tets only
    places faces between vertices of opposite sign, and there are no vertices beyond the box), which
    leaves holes on the box's faces. Setting the SDF of the boundary vertices to a positive value
    (``max(|sdf|, floor)``: inside ones are mirrored outside, so the cap sits between them and
    their inner neighbours) caps every such cut. Interior values are untouched.

    Which side is "outside" is taken per shape from the box itself: a GAN's renders never see the
    SDF's sign, so a generator can learn either (the bundled ``tiny-chair`` is negative around its
    chairs). Where most boundary vertices are negative, the shape's SDF is negated first, so the
    result always has the object inside (faces counter-clockwise from outside, positive volume)
    instead of a box wrapped around an inverted object.

    Args:
        sdf: [B,N] or [N] (negative inside, or the other way round per shape; see above).
        verts: [N,3] undeformed grid vertices (the box is their extent).
    Returns:
        sdf of the same shape: negative inside, positive on the box.
    """
    extent = verts.abs().amax(-1)
    boundary = extent >= extent.max() - 1e-6  # [N]
    inverted = (sdf[..., boundary] < 0).float().mean(-1, keepdim=True) > 0.5  # [B,1] or [1]
    sdf = torch.where(inverted, -sdf, sdf)
    return torch.where(boundary, sdf.abs().clamp(min=floor), sdf)


__all__ = ["close_on_boundary", "marching_tets", "marching_tets_batched", "sdf_reg_loss", "replace_empty_shapes"]

