"""Datasets: GET3D render folders, meshes rendered into that layout, procedural categories.

Names load lazily (PEP 562), so ``get3d.datasets.settings`` (the CLI's defaults) imports without torch.
"""
from get3d._lazy import lazy_exports

_EXPORTS = {
    "get3d.datasets.render_folder": ("LoadReport", "RenderFolderDataset", "load_rgba", "read_split_file"),
    "get3d.datasets.synthetic": ("CATEGORIES", "generate_shape", "generate_shapes"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
