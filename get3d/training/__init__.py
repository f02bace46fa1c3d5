"""GET3D training: losses (loss.py), one optimisation step (step.py), the loop (loop.py), run
options (options.py), multi-process helpers (distributed.py) and logging (monitor.py). Snapshot IO
is get3d.snapshot and checkpoint resolution get3d.checkpoint, below this package. See
docs/training.md.

Names load lazily (PEP 562, get3d._lazy), so ``from get3d.training import train`` imports the loop
only when used and ``get3d.training.options`` stays cheap for the CLI.
"""
from get3d._lazy import lazy_exports

_EXPORTS = {
    "get3d.training.loop": ("TrainResult", "train"),
    "get3d.training.options": ("build_config", "validate_config"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
