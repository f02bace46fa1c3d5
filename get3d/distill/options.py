"""Defaults of ``get3d refine`` in one torch-free place: get3d.distill.refine's signature and the
CLI's options both read them, so they cannot drift apart. Sources in docs/refine.md."""
from __future__ import annotations

from dataclasses import dataclass

from get3d.categories import GET3D_TET_RES, TRUNCATION

__all__ = ["RefineOptions"]


@dataclass(frozen=True)
class RefineOptions:
    rule: str = "sds"
    steps: int = 500  # a texture-and-detail pass from a plausible GET3D sample (docs/refine.md)
    lr_sdf: float = 1e-2  # SDF values near the surface are O(0.1-1) in the bundled models (ours)
    lr_deformation: float = 1e-4  # offsets are bounded by 1/tet_res (ours)
    lr_texture: float = 1e-2  # triplane features are O(1) (ours)
    sdf_reg_weight: float = 0.01  # GET3D's SDF regulariser weight
    laplacian_weight: float = 0.1  # ours
    batch: int = 1  # views per step
    background: str = "white"
    snapshot_every: int = 100
    export_every: int = 0
    max_bad_steps: int = 10
    texture_res: int = 1024
    preview_res: int = 256
    truncation: float = TRUNCATION  # as get3d generate
    run_seed: int = 0
    mesh_tet_res: int = GET3D_TET_RES  # --mesh: GET3D's ShapeNet grid
    plane_res: int = 128  # --mesh: colour triplane resolution
    fit_steps: int = 300  # --mesh: colour fit steps
