"""One generated asset as explicit, optimisable parameters: what ``get3d refine`` optimises.

From a checkpoint and a seed (codes drawn by :func:`get3d.generate.seed_latents`, mapped with the
same truncation as ``get3d generate``), the generator's output for that seed is frozen into:

- ``sdf`` [N]: signed distance at the N tet-grid vertices (get3d convention: NEGATIVE inside);
- ``deformation`` [N,3]: the vertex offsets after GET3D's ``tanh(.) / (tet_res * multiplier)``
  (world units; stored as offsets, not pre-tanh, so the start is bit-exact);
- ``tex_planes`` [1,3,C,R,R]: that seed's texture triplane.

The texture MLP and ``to_rgb`` stay the generator's (frozen), modulated by that seed's fixed
``ws_tex`` [1,num_ws_tex,w_dim]: colour(p) = generator.texture_colors(ws_tex, p, tex_planes).
With ``tet_res`` different from the checkpoint's, the generator's SDF and deformation heads are
evaluated at the finer (or coarser) grid's vertices: an exact resampling, not an interpolation
of the old grid's values (offsets bounded by the new grid's ``1 / tet_res``, as GET3D bounds them).

FlexiCubes generators (``model.iso_surface = "flexicubes"``) give FlexiCubes assets: the grid is
the voxel grid, ``tets`` holds its cubes [F,8], and a fourth parameter ``weights`` [F,21] (the
raw per-cube FlexiCubes weights: 12 beta, 8 alpha, 1 gamma) is refined with sdf and deformation;
extraction is get3d.geometry.flexicubes in evaluation mode (2 triangles per quad, as exports).

Assets made from a mesh file (get3d.distill.mesh_asset) have no generator: their colour field is
``sigmoid(sum of the three planes of tex_planes [1,3,3,R,R] sampled at p)`` (:func:`plane_colours`).
Mesh extraction is get3d.geometry's marching tets on ``grid + deformation``, rendering is
get3d.render's Renderer with the field as ``texture_fn``, export is ``get3d generate``'s
(get3d.export.uv_bake.bake_mesh: xatlas UVs, baked texture; then Mesh.save). With unchanged parameters the extracted mesh and baked
texture equal ``get3d generate``'s for that seed exactly (tests/distill/test_refine.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from get3d.categories import TRUNCATION
from get3d.errors import Get3dError
from get3d.geometry import Mesh, close_on_boundary, edge_table, marching_tets_batched, sdf_reg_loss, tet_grid
from get3d.geometry.flexicubes import flexicubes, voxel_grid

__all__ = ["AssetParams", "RefineAsset", "asset_from_checkpoint", "laplacian_loss", "plane_colours"]


class AssetParams(torch.nn.Module):
    """The optimised tensors only (what snapshots hold): sdf [N], deformation [N,3], tex_planes [1,3,C,R,R],
    and for FlexiCubes assets weights [F,21] (None otherwise)."""

    def __init__(self, sdf: torch.Tensor, deformation: torch.Tensor, tex_planes: torch.Tensor,
                 weights: torch.Tensor | None = None):
        super().__init__()
        self.sdf = torch.nn.Parameter(sdf.detach().float().clone())
        self.deformation = torch.nn.Parameter(deformation.detach().float().clone())
        self.tex_planes = torch.nn.Parameter(tex_planes.detach().float().clone())
        self.weights = None if weights is None else torch.nn.Parameter(weights.detach().float().clone())

    def geometry(self) -> list[torch.nn.Parameter]:
        """The geometry parameters: sdf, deformation (and weights for FlexiCubes)."""
        return [p for p in (self.sdf, self.deformation, self.weights) if p is not None]


@dataclass
class RefineAsset:
    """An explicit asset: parameters + the frozen pieces that turn them into a textured mesh.

    grid: [N,3] undeformed (scaled) tet-grid vertices; tets: [T,4] (FlexiCubes: cubes [F,8]);
    edges: [E,2] unique grid edges; ws_tex: [1,num_ws_tex,w_dim] fixed styles of the texture MLP; generator: the frozen
    GET3D generator whose texture MLP / to_rgb colour the surface.
    """

    params: AssetParams
    grid: torch.Tensor
    tets: torch.Tensor
    edges: torch.Tensor
    ws_tex: torch.Tensor | None
    generator: torch.nn.Module | None
    seed: int | None = None
    grid_scale: float = 1.0  # half-side of the grid's box is grid_scale / 2 (the plane field's frame)
    source: str | None = None  # the mesh file, for assets made from one
    info: dict = field(default_factory=dict)  # how the asset was made (settings.json records it)

    @property
    def device(self) -> torch.device:
        return self.grid.device

    @property
    def iso_surface(self) -> str:
        return "flexicubes" if self.params.weights is not None else "dmtet"

    def extract(self) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (verts [V,3], faces [F,3] int64), differentiable w.r.t. sdf and deformation (and weights).

        Extracted as ``get3d generate`` exports: closed on the grid's box (close_on_boundary), so
        the refined asset is watertight and a zero-step refine equals generate's mesh."""
        return self.extract_with_reg()[:2]

    def extract_with_reg(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``extract`` plus, for FlexiCubes assets, GET3D's two FlexiCubes regularisers as one
        scalar ``0.5 * mean(L_dev) + 0.1 * mean(weights^2)`` (None for DMTet assets)."""
        verts = self.grid + self.params.deformation
        sdf = close_on_boundary(self.params.sdf, self.grid)
        if self.params.weights is None:
            (mesh_verts, faces), = marching_tets_batched(verts.unsqueeze(0), self.tets, sdf.unsqueeze(0))
            return mesh_verts, faces, None
        from get3d.networks.generator import FLEXICUBES_WEIGHT_SCALE

        w = self.params.weights
        res = round(self.tets.shape[0] ** (1 / 3))
        mesh_verts, faces, l_dev = flexicubes(verts, sdf, self.tets, res, w[:, :12], w[:, 12:20], w[:, 20],
                                              weight_scale=FLEXICUBES_WEIGHT_SCALE)
        reg = 0.1 * (w ** 2).mean() + (0.5 * l_dev.mean() if l_dev.numel() else 0)
        return mesh_verts, faces, reg

    def colors(self, points: torch.Tensor) -> torch.Tensor:
        """points [P,3] world -> rgb [P,3] in [0,1] (differentiable w.r.t. tex_planes)."""
        if self.generator is None:
            return plane_colours(self.params.tex_planes, points / (0.5 * self.grid_scale))
        index = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
        return self.generator.texture_colors(self.ws_tex, points.to(self.ws_tex.device), index,
                                             tex_planes=self.params.tex_planes)

    def sdf_reg(self) -> torch.Tensor:
        """GET3D's SDF regulariser (get3d.geometry.sdf_reg_loss) of this asset -> scalar."""
        return sdf_reg_loss(self.params.sdf.unsqueeze(0), self.edges)[0]

    def mesh(self, texture_res: int = 1024, backend: str = "auto") -> Mesh:
        """The textured mesh as ``get3d generate`` exports it (get3d.export's bake_mesh: xatlas UVs
        + baked texture)."""
        from get3d.export.uv_bake import bake_mesh

        with torch.no_grad():
            verts, faces = self.extract()
        if faces.shape[0] == 0:
            raise Get3dError("the refined shape is empty (no surface left); lower the geometry "
                             "learning rates or use texture_only (--texture-only)")
        return bake_mesh(verts, faces, self.colors, texture_res, backend=backend)


def plane_colours(planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """planes [1,3,3,R,R] (xy, xz, yz planes of RGB logits), points [P,3] in [-1,1]^3 -> rgb [P,3].

    Bilinear lookups (align_corners=False, border padding) summed over the planes, then a sigmoid:
    zero planes are neutral grey (0.5)."""
    coords = torch.stack([points[:, [0, 1]], points[:, [0, 2]], points[:, [1, 2]]])  # [3,P,2]
    sampled = F.grid_sample(planes[0], coords.unsqueeze(1).to(planes.dtype), mode="bilinear",
                            padding_mode="border", align_corners=False)  # [3,3,1,P]
    return torch.sigmoid(sampled.sum(0)[:, 0].t())


def asset_from_checkpoint(ckpt, seed: int, truncation: float = TRUNCATION, device=None, tet_res: int | None = None,
                          category: str | None = None, latents=None) -> RefineAsset:
    """The generator's output for ``seed`` (as ``get3d generate`` makes it) as a RefineAsset;
    ``tet_res``: refine on another grid (the SDF re-evaluated there); ``category``: the grid of a
    GET3D ``.pt``; ``latents``: a latents file from ``get3d invert`` instead of a seed."""
    from get3d.invert.latents import codes_from_spec
    from get3d.networks.generator import seed_latents
    from get3d.checkpoint import load_generator

    if latents is None and (seed is None or int(seed) < 0):
        raise Get3dError(f"seed (--seed) must be a non-negative integer, got {seed!r}")
    if tet_res is not None and int(tet_res) < 8:
        raise Get3dError(f"tet_res (--tet-res) must be >= 8, got {tet_res}")
    generator, _ = load_generator(ckpt, device, category=category)
    dev = next(generator.parameters()).device
    if latents is not None:
        ws_geo, ws_tex = codes_from_spec(generator, latents)
    else:
        z_geo, z_tex = seed_latents(generator, [int(seed)], dev)
        with torch.no_grad():
            ws_geo, ws_tex = generator.mapping(z_geo, z_tex, psi=truncation)
    with torch.no_grad():
        geo_planes, tex_planes = generator.triplanes(ws_geo, ws_tex)
        geometry = generator._geometry(ws_geo.float(), geo_planes.float())
    if bool(geometry["empty"][0]):
        raise Get3dError(f"{latents or f'seed {seed}'}: the generated shape is empty (no surface); pick another seed")
    res = int(tet_res or generator.tet_res)
    flexi = getattr(generator, "iso_surface", "dmtet") == "flexicubes"
    if flexi:
        voxels = voxel_grid(res, dev)
        grid, tets, edges = voxels.verts, voxels.cubes, voxels.edges
    else:
        grid, tets = tet_grid(res, dev)
        edges = edge_table(tets).edges
    grid = grid * generator.grid_scale
    sdf, deformation = geometry["sdf"][0], geometry["deformation"][0]
    weights = geometry["weights"][0] if flexi else None
    if tet_res is not None:  # re-evaluate the heads on the asked grid (the same values at the checkpoint's own)
        with torch.no_grad():
            heads = generator.generator.sdf_def(geo_planes.float(), grid.unsqueeze(0), ws_geo.float(),
                                                cubes=tets if flexi else None)
        sdf_get3d, offsets = heads[:2]
        sdf = -sdf_get3d[0, :, 0].float()  # get3d convention: negative inside
        deformation = torch.tanh(offsets[0].float()) / (res * generator.deformation_multiplier)
        weights = heads[2][0].float() if flexi else None
    params = AssetParams(sdf, deformation, tex_planes.float(), weights)
    info = dict(tet_res=res, checkpoint_tet_res=int(generator.tet_res), grid_scale=float(generator.grid_scale),
                truncation=truncation, iso_surface="flexicubes" if flexi else "dmtet",
                latents=str(latents) if latents is not None else None)
    return RefineAsset(params.to(dev), grid, tets, edges, ws_tex.float().detach(), generator,
                       None if latents is not None else int(seed), float(generator.grid_scale), info=info)


def laplacian_loss(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Uniform Laplacian smoothness: mean over vertices of |mean(neighbours) - v|^2.

    verts [V,3], faces [F,3] -> scalar (0 for an empty mesh). Neighbours are the vertices sharing
    a face edge (edges shared by two faces count twice, which only reweights the mean).
    """
    if faces.shape[0] == 0:
        return verts.sum() * 0
    i = faces[:, [0, 1, 2, 1, 2, 0]].reshape(-1)
    j = faces[:, [1, 2, 0, 0, 1, 2]].reshape(-1)
    total = torch.zeros_like(verts).index_add_(0, i, verts[j])
    count = torch.zeros(verts.shape[0], device=verts.device, dtype=verts.dtype).index_add_(
        0, i, torch.ones_like(i, dtype=verts.dtype))
    used = count > 0
    delta = total[used] / count[used, None] - verts[used]
    return (delta ** 2).sum(-1).mean()
