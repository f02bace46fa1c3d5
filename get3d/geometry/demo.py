"""The geometry demo: analytic SDFs -> marching tets -> mesh files, with quality figures.

It exercises the whole geometry core the way the generator will (a tet grid, SDF values at its
vertices, extraction, export) and reports whether each mesh is closed, its Euler characteristic
and its volume error, so a user sees at once that the installation works.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from get3d.errors import Get3dError
from get3d.geometry import shapes
from get3d.geometry.dmtet import marching_tets
from get3d.geometry.mesh import MESH_FORMATS, Mesh
from get3d.geometry.tets import tet_grid
from get3d.options import GeometryDemoOptions

_D = GeometryDemoOptions()  # the defaults, stated once in get3d.options

# name -> (sdf function of points [N,3], analytic volume or None)
DEMO_SHAPES = {
    "sphere": (shapes.sphere_sdf, shapes.sphere_volume()),
    "torus": (shapes.torus_sdf, shapes.torus_volume()),
    "box": (shapes.box_sdf, shapes.box_volume()),
    "blob": (lambda p: shapes.noisy_sdf(p, seed=0, amplitude=0.08), None),
}


def parse_formats(formats: str | list[str]) -> list[str]:
    """'glb,obj' -> ['.glb', '.obj'], rejecting unknown formats by name."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = []
    for item in items:
        ext = "." + item.strip().lower().lstrip(".")
        if ext not in MESH_FORMATS:
            raise Get3dError(f"formats (--format): unknown mesh format {item.strip()!r}; choose from {', '.join(f[1:] for f in MESH_FORMATS)}")
        out.append(ext)
    if not out:
        raise Get3dError("formats (--format): give at least one mesh format")
    return out


def run_geometry_demo(outdir: str | Path, res: int = _D.res, formats: str | list[str] = _D.formats,
                      device: str | None = None) -> list[dict]:
    """Extract each demo shape on the ``res`` grid and write it in each format under ``outdir``,
    with settings.json (the options, get3d.options.GeometryDemoOptions, and the device).

    Returns one record per shape: name, verts, faces, closed, euler, volume_error (relative, or
    None), seconds (extraction only) and files.
    """
    options = GeometryDemoOptions(res, ",".join(formats) if isinstance(formats, (list, tuple)) else formats).check()
    exts = parse_formats(formats)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    outdir = Path(outdir)
    verts, tets = tet_grid(res, device)
    records = []
    for name, (sdf_fn, volume) in DEMO_SHAPES.items():
        sdf = sdf_fn(verts)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        mesh_verts, faces = marching_tets(verts, tets, sdf)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        mesh = Mesh(mesh_verts.cpu(), faces.cpu())
        holes, nonmanifold = mesh.boundary_and_nonmanifold_edges()
        signed = mesh.signed_volume().item()
        files = [str(mesh.save(outdir / f"{name}{ext}")) for ext in exts]
        records.append({
            "name": name,
            "verts": mesh.num_verts,
            "faces": mesh.num_faces,
            "closed": holes == 0 and nonmanifold == 0,
            "euler": mesh.euler_characteristic(),
            "volume_error": None if volume is None else (signed - volume) / volume,
            "seconds": seconds,
            "files": files,
        })
    from get3d._io import atomic_write

    record = dict(command="geometry-demo", device=device, **options.to_dict())
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write(outdir / "settings.json", (json.dumps(record, indent=2) + "\n").encode(), fsync=False)
    return records
