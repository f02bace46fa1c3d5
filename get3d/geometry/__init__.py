"""Geometry core: tet grids, differentiable marching tetrahedra (DMTet), FlexiCubes, meshes."""
from get3d.geometry.dmtet import close_on_boundary, marching_tets, marching_tets_batched, replace_empty_shapes, sdf_reg_loss
from get3d.geometry.flexicubes import VoxelGrid, flexicubes, voxel_grid
from get3d.geometry.mesh import Mesh
from get3d.geometry.tets import EdgeTable, cells_for_resolution, edge_table, tet_grid, tet_grid_cells

__all__ = [
    "EdgeTable",
    "Mesh",
    "VoxelGrid",
    "cells_for_resolution",
    "close_on_boundary",
    "edge_table",
    "flexicubes",
    "marching_tets",
    "marching_tets_batched",
    "replace_empty_shapes",
    "sdf_reg_loss",
    "tet_grid",
    "tet_grid_cells",
    "voxel_grid",
]
