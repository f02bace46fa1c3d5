"""Datasets: GET3D render folders, meshes rendered into that layout, procedural categories."""
from get3d.datasets.render_folder import LoadReport, RenderFolderDataset, load_rgba, read_split_file

__all__ = ["LoadReport", "RenderFolderDataset", "load_rgba", "read_split_file"]
