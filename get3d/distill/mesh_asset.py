"""An asset for ``get3d refine --mesh PATH``: any mesh file as explicit SDF, deformation and colour field.

1. The file is read by ``render-dataset``'s loader (get3d.datasets.render_dataset: every format
   trimesh reads, scenes flattened, corner colours, face colours, vertex colours, textures) and
   normalised like the dataset meshes: bounding box centred at the origin, largest side ``scale``
   (get3d.categories.DEFAULT_RENDER_SCALE, GET3D's Blender script), inside the tet grid's box of side ``grid_scale``.
2. ``sdf`` [N] at the tet-grid vertices: exact distance to the surface in grid cells (world
   distance x tet_res / grid_scale, the scale of a generator's SDF, so --lr-sdf means the same for
   both kinds of asset), negative where the generalised winding number exceeds 0.5
   (get3d.geometry.mesh_sdf). A mesh with no grid vertex
   inside is an open surface (or too thin for the grid): a one-line error says how to fix it.
   ``deformation`` [N,3] starts at zero (the zero level set already lies on the surface to within
   the linear interpolation of marching tets).
3. ``tex_planes`` [1,3,3,R,R]: a colour field ``sigmoid(sum of three axis-aligned planes)``
   (get3d.distill.asset.plane_colours) fitted by Adam to the mesh's own base colours at uniformly
   sampled surface points (``fit_steps`` steps of ``fit_samples`` points from a pool of four times
   as many, mean squared error). A mesh with no colours (every face
   the loader's default grey, no textures) keeps zero planes: neutral grey 0.5, no fit.

The fit's final mean absolute colour error is kept in ``RefineAsset.info`` (settings.json records
it): three planes cannot hold every colour pattern exactly (a sum of 2D fields), which a textured
mesh's fine detail exposes.
"""
from __future__ import annotations

from pathlib import Path

import torch

from get3d.distill.asset import AssetParams, RefineAsset, plane_colours
from get3d.distill.options import RefineOptions
from get3d.errors import Get3dError
from get3d.categories import DEFAULT_RENDER_SCALE
from get3d.geometry import Mesh, edge_table, tet_grid

__all__ = ["asset_from_mesh"]

_D = RefineOptions()


def _has_colours(shading) -> bool:
    from get3d.geometry.mesh_io import DEFAULT_GREY

    grey = torch.tensor(DEFAULT_GREY)
    return bool(shading.textures) or not torch.allclose(shading.corner_color, grey.expand_as(shading.corner_color))


def _fit_colours(shading, verts, plane_res, steps, grid_scale, samples, lr, generator, backend, tick=None):
    """-> (planes [1,3,3,R,R], final mean |error|) fitted to the mesh's base colours.

    The mesh's colours are looked up once, at a pool of 4 x ``samples`` surface points; each step
    fits a random ``samples`` of them (the lookups, textures included, cost more than the fit)."""
    from get3d.geometry.mesh_io import surface_albedo

    pool_points, face, bary = Mesh(verts, shading.faces).sample_points(4 * samples, generator,
                                                                      return_barycentrics=True)
    with torch.no_grad():
        pool_target = surface_albedo(shading, face, bary, backend).clamp(0, 1)
    pool_points = pool_points / (0.5 * grid_scale)
    planes = torch.zeros(1, 3, 3, plane_res, plane_res, requires_grad=True)
    optimizer = torch.optim.Adam([planes], lr=lr)
    error = float("nan")
    for _ in range(steps):
        pick = torch.randint(0, pool_points.shape[0], (samples,), generator=generator)
        rgb = plane_colours(planes, pool_points[pick])
        loss = ((rgb - pool_target[pick]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        error = float((rgb.detach() - pool_target[pick]).abs().mean())
        if tick is not None:
            tick()
    return planes.detach(), error


def asset_from_mesh(path, tet_res: int | None = None, grid_scale: float = 1.0, scale: float = DEFAULT_RENDER_SCALE,
                    plane_res: int = _D.plane_res, fit_steps: int = _D.fit_steps, fit_samples: int = 32768,
                    fit_lr: float = 0.05, device=None, seed: int = 0, backend: str = "auto",
                    progress: bool = False) -> RefineAsset:
    """The mesh file ``path`` as a RefineAsset (see the module docstring); ``fit_steps=0`` skips the
    colour fit (zero planes: grey), as a resumed run does, whose snapshot holds the fitted planes.
    ``progress``: a bar over the SDF (one unit) and the colour-fit steps (tens of seconds on a CPU)."""
    from tqdm import tqdm

    from get3d.geometry.mesh_io import load_shading_mesh, normalize_verts
    from get3d.geometry.mesh_sdf import mesh_sdf
    from get3d.render.rasterizer import get_backend

    path = Path(path)
    res = int(tet_res or _D.mesh_tet_res)
    if res < 8:
        raise Get3dError(f"tet_res (--tet-res) must be >= 8, got {res}")
    if not 0 < scale < grid_scale:
        raise Get3dError(f"mesh scale {scale} must lie in (0, grid_scale={grid_scale}) to fit the grid's box")
    if plane_res < 2 or fit_steps < 0:
        raise Get3dError(f"plane_res must be >= 2 and fit_steps >= 0, got {plane_res} and {fit_steps}")
    if not path.is_file():
        raise Get3dError(f"mesh (--mesh) {path}: no such file")
    shading = load_shading_mesh(path)
    try:
        verts = normalize_verts(shading.verts, scale)
    except Get3dError as err:
        raise Get3dError(f"{path}: {err}") from None
    has_colours = _has_colours(shading)
    bar = tqdm(total=1 + (fit_steps if has_colours else 0), desc="mesh: SDF + colour fit", disable=not progress)
    grid, tets = tet_grid(res, "cpu")
    grid = grid * grid_scale
    sdf, winding = mesh_sdf(verts, shading.faces, grid)
    bar.update(1)
    # In grid cells, not world units: marching tets only sees the zero level set, but the shared
    # learning rate (--lr-sdf) and GET3D's SDF regulariser see the values, and a generator's SDF
    # near its surface is O(1) (measured: median 1.6-5 on the bundled model at tet_res 24-90)
    # where a world distance is O(1/tet_res) (0.04 at 32^3): the same lr would tear the mesh apart.
    sdf = sdf * (res / grid_scale)
    inside = int((winding.abs() > 0.5).sum())
    if inside == 0:
        raise Get3dError(f"{path}: the mesh has no inside (an open surface, or parts thinner than the "
                         f"tet_res {res} grid); close it (trimesh.repair.fill_holes, Blender's 3D-Print "
                         f"Toolbox 'Make Manifold') or raise tet_res (--tet-res)")
    generator = torch.Generator().manual_seed(int(seed))
    planes = torch.zeros(1, 3, 3, plane_res, plane_res)
    error, fitted = None, has_colours and fit_steps > 0
    if fitted:
        planes, error = _fit_colours(shading, verts, plane_res, fit_steps, grid_scale, fit_samples, fit_lr,
                                     generator, get_backend(backend), tick=lambda: bar.update(1))
    bar.close()
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    params = AssetParams(sdf, torch.zeros_like(grid), planes).to(dev)
    grid, tets = grid.to(dev), tets.to(dev)
    info = dict(mesh=str(path), tet_res=res, grid_scale=grid_scale, scale=scale, plane_res=plane_res,
                inside_vertices=inside, colour_fit_steps=fit_steps if fitted else 0,
                colour_fit_mean_abs_error=error, has_colours=has_colours)
    return RefineAsset(params, grid, tets, edge_table(tets).edges, None, None, None, float(grid_scale),
                       source=str(path), info=info)
