"""Datasets: GET3D render folders, meshes rendered into that layout, procedural categories."""
from get3d.datasets.render_folder import LoadReport, RenderFolderDataset, load_rgba, read_split_file
from get3d.datasets.synthetic import CATEGORIES, generate_shape, generate_shapes

__all__ = [
    "CATEGORIES",
    "LoadReport",
    "RenderFolderDataset",
    "generate_shape",
    "generate_shapes",
    "load_rgba",
    "read_split_file",
]
