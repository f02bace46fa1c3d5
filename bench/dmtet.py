"""Benchmark surface extraction (DMTet and FlexiCubes); prints one JSON document.

For each device (cpu, and cuda when present), resolution (64/90/128: DMTet's tet_res and
FlexiCubes' cubes per axis, the same number as in GET3D's --tet_res for either --iso_surface) and
SDF (sphere, noisy blob) it times, as the median of --repeats runs after a warm-up:
  forward           extraction only (FlexiCubes: eval mode, 2 triangles per quad)
  forward_backward  extraction + backward of a loss on the mesh vertices into sdf and verts
                    (FlexiCubes: training mode, 4 triangles per quad, plus mean(L_dev), and the
                    gradient also flows into its 21 per-cube weights, GET3D's weight_scale 0.5)
and, for DMTet and for comparison, the same forward pass with the approach common public DMTet
code takes (``torch.unique`` over the edges of the surface tets on every call) as
``forward_unique_per_call``.

    python bench/dmtet.py [--repeats 20] [--res 64,90,128] [--devices cpu,cuda] [--no-baseline]
                          [--extractors dmtet,flexicubes]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from _env import environment

from get3d.geometry import marching_tets, tet_grid
from get3d.geometry.dmtet import _NUM_TRIS_NP, _TRI_TABLE_NP
from get3d.geometry import shapes
from get3d.geometry.flexicubes import flexicubes, voxel_grid
from get3d.geometry.tets import TET_EDGE_SLOTS


def unique_per_call_extract(verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor):
    """The usual public recipe, for timing only: rebuild the edge list with unique() each call."""
    dev = sdf.device
    inside = sdf < 0
    n_in = inside[tets].sum(-1)
    surface_tets = tets[(n_in > 0) & (n_in < 4)]
    slots = torch.tensor(TET_EDGE_SLOTS, device=dev)
    pairs = torch.sort(surface_tets[:, slots].reshape(-1, 2), dim=1).values
    edges, inverse = torch.unique(pairs, dim=0, return_inverse=True)
    crossed = inside[edges[:, 0]] != inside[edges[:, 1]]
    mapping = torch.full((len(edges),), -1, dtype=torch.long, device=dev)
    mapping[crossed] = torch.arange(int(crossed.sum()), device=dev)
    e = edges[crossed]
    s_a, s_b = sdf[e[:, 0]].unsqueeze(-1), sdf[e[:, 1]].unsqueeze(-1)
    mesh_verts = (verts[e[:, 0]] * s_b - verts[e[:, 1]] * s_a) / (s_b - s_a)
    tet_edge_vert = mapping[inverse.reshape(-1, 6)]
    code = (inside[surface_tets].long() * torch.tensor([1, 2, 4, 8], device=dev)).sum(-1)
    table = torch.from_numpy(_TRI_TABLE_NP).to(dev)
    two = torch.from_numpy(_NUM_TRIS_NP).to(dev)[code] == 2
    local = table[code]
    rows = torch.cat([torch.arange(len(code), device=dev), torch.arange(len(code), device=dev)[two]])
    faces = torch.gather(tet_edge_vert[rows], 1, torch.cat([local[:, 0], local[two, 1]]))
    return mesh_verts, faces


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_ms(fn, device: str, repeats: int) -> float:
    fn()  # warm-up: caches, allocator, kernels
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def bench_case(device: str, res: int, sdf_name: str, repeats: int, baseline: bool) -> dict:
    verts, tets = tet_grid(res, device)
    sdf = shapes.sphere_sdf(verts) if sdf_name == "sphere" else shapes.noisy_sdf(verts, seed=0, amplitude=0.08)
    mesh_verts, faces = marching_tets(verts, tets, sdf)

    def forward():
        marching_tets(verts, tets, sdf)

    def forward_backward():
        v = verts.clone().requires_grad_()
        s = sdf.clone().requires_grad_()
        out, _ = marching_tets(v, tets, s)
        out.square().sum().backward()

    row = {
        "extractor": "dmtet", "device": device, "tet_res": res, "sdf": sdf_name, "grid_verts": len(verts), "grid_tets": len(tets),
        "mesh_verts": len(mesh_verts), "mesh_faces": len(faces),
        "forward_ms": _median_ms(forward, device, repeats),
        "forward_backward_ms": _median_ms(forward_backward, device, repeats),
    }
    if baseline:
        row["forward_unique_per_call_ms"] = _median_ms(lambda: unique_per_call_extract(verts, tets, sdf), device, repeats)
    return row


def bench_flexicubes(device: str, res: int, sdf_name: str, repeats: int) -> dict:
    grid = voxel_grid(res, device)
    verts, cubes = grid.verts, grid.cubes
    sdf = shapes.sphere_sdf(verts) if sdf_name == "sphere" else shapes.noisy_sdf(verts, seed=0, amplitude=0.08)
    gen = torch.Generator().manual_seed(0)
    # Small raw weights, as GET3D's weight head gives them (x0.1), 12 beta + 8 alpha + 1 gamma.
    weights = (0.1 * torch.randn(res**3, 21, generator=gen)).to(device)
    mesh_verts, faces, _ = flexicubes(verts, sdf, cubes, res, weights[:, :12], weights[:, 12:20], weights[:, 20],
                                      weight_scale=0.5)

    def forward():
        flexicubes(verts, sdf, cubes, res, weights[:, :12], weights[:, 12:20], weights[:, 20], weight_scale=0.5)

    def forward_backward():
        v = verts.clone().requires_grad_()
        s = sdf.clone().requires_grad_()
        w = weights.clone().requires_grad_()
        out, _, l_dev = flexicubes(v, s, cubes, res, w[:, :12], w[:, 12:20], w[:, 20], training=True,
                                   weight_scale=0.5)
        (out.square().sum() + 0.5 * l_dev.mean()).backward()

    return {
        "extractor": "flexicubes", "device": device, "res": res, "sdf": sdf_name, "grid_verts": len(verts),
        "grid_cubes": len(cubes), "mesh_verts": len(mesh_verts), "mesh_faces": len(faces),
        "forward_ms": _median_ms(forward, device, repeats),
        "forward_backward_ms": _median_ms(forward_backward, device, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--res", default="64,90,128")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--extractors", default="dmtet,flexicubes")
    args = parser.parse_args()
    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    extractors = args.extractors.split(",")
    rows = []
    for device in devices:
        for res in args.res.split(","):
            for sdf_name in ("sphere", "noisy"):
                # Both extractors at the same resolution in the same run, one after the other.
                if "dmtet" in extractors:
                    rows.append(bench_case(device, int(res), sdf_name, args.repeats, not args.no_baseline))
                if "flexicubes" in extractors:
                    rows.append(bench_flexicubes(device, int(res), sdf_name, args.repeats))
    print(json.dumps({**environment("dmtet"), "repeats": args.repeats, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
