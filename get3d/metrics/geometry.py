"""Geometry metrics end to end: meshes or point clouds in, COV / MMD / 1-NNA (Chamfer) out.

Shapes arrive as a folder of mesh files (anything ``Mesh.load`` reads), a list of files, a list
of :class:`Mesh`, a tensor [K,N,3] of point clouds or a list of [N,3] clouds. Meshes are
normalised and sampled (chamfer.sample_mesh_points); clouds are normalised the same way (by
their own bounding box, which lies inside the surface's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import torch

from get3d.categories import SURFACE_POINTS
from get3d.errors import Get3dError
from get3d.geometry.mesh import MESH_FORMATS, Mesh
from get3d.metrics.chamfer import normalize_shape, pairwise_chamfer, sample_mesh_points
from get3d.metrics.coverage import coverage, mmd, one_nna

ShapeSource = Union[str, Path, torch.Tensor, Sequence[Union[str, Path, Mesh, torch.Tensor]]]


@dataclass
class ShapeSet:
    """points [K,N,3] (normalised), names [K], and (name, reason) of every skipped input."""

    points: torch.Tensor
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def mesh_files(folder: str | Path) -> list[Path]:
    """Mesh files (.obj .ply .glb .gltf .off .stl) under ``folder``, recursively, sorted."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise Get3dError(f"{folder}: no such mesh folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MESH_FORMATS and p.is_file())
    if not files:
        raise Get3dError(f"{folder}: no mesh files ({' '.join(MESH_FORMATS)}) found")
    return files


def load_shape_points(
    source: ShapeSource, num_points: int = SURFACE_POINTS, seed: int = 0, skip_bad: bool = False
) -> ShapeSet:
    """Normalised point clouds [K,num_points,3] from any ShapeSource (see module docstring).

    Sampling draws from one generator seeded with ``seed``, shape after shape, so a set gives
    the same points every time. Clouds passed in are used as they are (all must have the same
    number of points). A file that cannot be read or sampled raises Get3dError naming it, or
    with ``skip_bad=True`` is left out and listed in ``skipped``.
    """
    if num_points < 1:
        raise Get3dError(f"num_points must be >= 1, got {num_points}")
    if isinstance(source, torch.Tensor):
        if source.dim() != 3 or source.shape[-1] != 3:
            raise Get3dError(f"point clouds must be [K,N,3], got {tuple(source.shape)}")
        return ShapeSet(normalize_shape(source.float()), [str(i) for i in range(len(source))])
    items = mesh_files(source) if isinstance(source, (str, Path)) else list(source)
    generator = torch.Generator().manual_seed(seed)
    clouds, names, skipped = [], [], []
    for i, item in enumerate(items):
        name = str(item) if isinstance(item, (str, Path)) else str(i)
        try:
            if isinstance(item, torch.Tensor):
                if item.dim() != 2 or item.shape[-1] != 3:
                    raise Get3dError(f"shape {i}: a point cloud must be [N,3], got {tuple(item.shape)}")
                cloud = normalize_shape(item.float().cpu())
            else:
                mesh = item if isinstance(item, Mesh) else Mesh.load(item)
                cloud = sample_mesh_points(mesh.to("cpu"), num_points, generator)
        except Get3dError as err:
            message = str(err) if name in str(err) else f"{name}: {err}"  # always name the culprit
            if not skip_bad:
                raise Get3dError(message) from None
            skipped.append((name, message))
            continue
        clouds.append(cloud)
        names.append(name)
    if not clouds:
        raise Get3dError(f"no usable shapes in {source if isinstance(source, (str, Path)) else 'the input'}"
                         f" ({len(skipped)} skipped)")
    if len({c.shape[0] for c in clouds}) > 1:
        raise Get3dError(f"point clouds have different sizes {sorted({c.shape[0] for c in clouds})}; "
                         "resample them to one size")
    return ShapeSet(torch.stack(clouds), names, skipped)


def geometry_metrics(
    gen: ShapeSource,
    ref: ShapeSource,
    num_points: int = SURFACE_POINTS,
    seed: int = 0,
    with_1nna: bool = True,
    chunk: int | None = None,
    device: str | torch.device | None = None,
    skip_bad: bool = False,
) -> dict:
    """COV, MMD and 1-NNA with Chamfer distance between generated and reference shapes.

    Returns {"cov", "mmd", "1nna" (when ``with_1nna``), "num_gen", "num_ref", "skipped_gen",
    "skipped_ref"}; MMD is in squared-distance units of the normalised shapes (x 10^3 for
    GET3D-style tables). 1-NNA needs all three distance matrices (about 3x the work of COV/MMD).
    """
    gen_set = load_shape_points(gen, num_points, seed, skip_bad)
    ref_set = load_shape_points(ref, num_points, seed, skip_bad)
    d_gr = pairwise_chamfer(gen_set.points, ref_set.points, chunk=chunk, device=device)
    result = {
        "cov": coverage(d_gr),
        "mmd": mmd(d_gr),
        "num_gen": len(gen_set.names),
        "num_ref": len(ref_set.names),
        "skipped_gen": gen_set.skipped,
        "skipped_ref": ref_set.skipped,
    }
    if with_1nna:
        d_gg = pairwise_chamfer(gen_set.points, chunk=chunk, device=device)
        d_rr = pairwise_chamfer(ref_set.points, chunk=chunk, device=device)
        result["1nna"] = one_nna(d_gg, d_rr, d_gr)
    return result
