"""GET3D training: losses, the loop, snapshots, multi-process helpers. See docs/training.md.

``from get3d.training import train, build_config`` loads the loop lazily, so importing
``get3d.snapshot`` alone stays cheap.
"""
_LAZY = {
    "train": "get3d.training.loop",
    "TrainResult": "get3d.training.loop",
    "build_config": "get3d.training.options",
    "validate_config": "get3d.training.options",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'get3d.training' has no attribute {name!r}")
