"""Benchmark the data side; prints one JSON document.

  render:  render-dataset throughput (images/s) for a ~20k-face textured mesh at each --res,
           on each available backend (torch on CPU, nvdiffrast on CUDA), in one process.
  loader:  RenderFolderDataset + DataLoader throughput (images/s) at 1024^2 PNGs resized to
           --train-res, for each --workers count.

    python bench/data.py [--res 256,1024] [--views 8] [--loader-images 96] [--workers 0,2]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _env import environment

from get3d.datasets import RenderFolderDataset
from get3d.datasets.render_dataset import RenderSettings, render_mesh_folder
from get3d.geometry import Mesh
from get3d.render.primitives import icosphere


def write_test_mesh(folder: Path) -> None:
    """A 20,480-face sphere with a random 256^2 texture and spherical UVs."""
    verts, faces = icosphere(5, radius=0.5)
    u = torch.atan2(verts[:, 2], verts[:, 0]) / (2 * np.pi) + 0.5
    v = torch.acos((verts[:, 1] / 0.5).clamp(-1, 1)) / np.pi
    texture = torch.rand(256, 256, 3, generator=torch.Generator().manual_seed(0))
    folder.mkdir(parents=True, exist_ok=True)
    Mesh(verts, faces, torch.stack([u, 1 - v], -1), texture).save(folder / "ball.glb")


def bench_render(tmp: Path, res: int, views: int, backend: str) -> dict:
    out = tmp / f"render_{backend}_{res}"
    settings = RenderSettings(views=views, resolution=res, backend=backend)
    start = time.perf_counter()
    summary = render_mesh_folder(tmp / "meshes", out, settings, workers=0, progress=False)
    seconds = time.perf_counter() - start
    assert summary.rendered == 1, summary.failed
    return {"task": "render", "backend": backend, "res": res, "views": views,
            "seconds": seconds, "images_per_s": views / seconds}


def write_loader_set(tmp: Path, images: int) -> Path:
    """``images`` 1024^2 RGBA PNGs in GET3D's layout (rendered once, then copied)."""
    root = tmp / "loader"
    settings = RenderSettings(views=8, resolution=1024, backend="torch")
    render_mesh_folder(tmp / "meshes", root, settings, workers=0, progress=False)
    src_img, src_cam = root / "img" / "meshes" / "ball", root / "camera" / "meshes" / "ball"
    for s in range(1, images // 8):
        (root / "img" / "meshes" / f"ball{s}").mkdir(parents=True, exist_ok=True)
        (root / "camera" / "meshes" / f"ball{s}").mkdir(parents=True, exist_ok=True)
        for f in src_img.iterdir():
            os.link(f, root / "img" / "meshes" / f"ball{s}" / f.name)
        for f in src_cam.iterdir():
            os.link(f, root / "camera" / "meshes" / f"ball{s}" / f.name)
    return root


def bench_loader(root: Path, workers: int, train_res: int, batch: int) -> dict:
    dataset = RenderFolderDataset(root, resolution=train_res)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=True)
    start = time.perf_counter()
    count = sum(len(b["image"]) for b in loader)
    seconds = time.perf_counter() - start
    return {"task": "loader", "workers": workers, "source_res": 1024, "train_res": train_res,
            "images": count, "seconds": seconds, "images_per_s": count / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", default="256,1024")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--loader-images", type=int, default=96)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--train-res", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    backends = ["torch"] + (["nvdiffrast"] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_test_mesh(tmp / "meshes")
        for backend in backends:
            for res in (int(r) for r in args.res.split(",")):
                rows.append(bench_render(tmp, res, args.views, backend))
        if args.loader_images > 0:
            root = write_loader_set(tmp, args.loader_images)
            for workers in (int(w) for w in args.workers.split(",")):
                rows.append(bench_loader(root, workers, args.train_res, args.batch))
    print(json.dumps({**environment("data"), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
