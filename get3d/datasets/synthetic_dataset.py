"""`get3d synth-data`: a procedural category written in GET3D's layout, meshes kept beside it.

    OUT/mesh/<category>/<shape_id>.glb     the generated textured meshes (for geometry metrics)
    OUT/img/..., OUT/camera/...            their renders, exactly as render-dataset writes them

Meshes are generated deterministically from (category, seed), so a re-run regenerates nothing
that exists and renders only shapes that are not finished.
"""
from __future__ import annotations

from pathlib import Path

from get3d.datasets.render_dataset import RenderSettings, RenderSummary, check_workers, render_mesh_folder
from get3d.datasets.settings import SYNTH_RESOLUTION
from get3d.datasets.synthetic import category_names, generate_shape
from get3d.errors import Get3dError


def make_synthetic_dataset(category: str, num_shapes: int, out_dir: str | Path,
                           settings: RenderSettings = RenderSettings(resolution=SYNTH_RESOLUTION), seed: int = 0,
                           workers: int | None = None, progress: bool = True) -> RenderSummary:
    """Generate ``num_shapes`` shapes (seeds seed .. seed+num-1) and render them under ``out_dir``."""
    if category not in category_names():
        raise Get3dError(f"category (--category): unknown category {category!r}; choose from {', '.join(category_names())}")
    if num_shapes < 1:
        raise Get3dError(f"num_shapes (--num-shapes) must be >= 1, got {num_shapes}")
    check_workers(workers)  # before any mesh is written
    mesh_dir = Path(out_dir) / "mesh" / category
    mesh_dir.mkdir(parents=True, exist_ok=True)
    for shape_seed in range(seed, seed + num_shapes):
        path = mesh_dir / f"{category}_{shape_seed:05d}.glb"
        if not path.is_file():
            generate_shape(category, shape_seed).save(path)
    return render_mesh_folder(mesh_dir, out_dir, settings, category=category, workers=workers, progress=progress)
