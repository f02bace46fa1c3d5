"""Datasets: GET3D render folders, meshes rendered into that layout, procedural categories.

Names load lazily (PEP 562), so ``get3d.datasets.settings`` (the CLI's defaults) imports without torch.
"""
from importlib import import_module

_EXPORTS = {
    "get3d.datasets.render_folder": ("LoadReport", "RenderFolderDataset", "load_rgba", "read_split_file"),
    "get3d.datasets.synthetic": ("CATEGORIES", "generate_shape", "generate_shapes"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'get3d.datasets' has no attribute {name!r}")


def __dir__():
    return __all__
