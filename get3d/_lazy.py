"""PEP 562 lazy exports for get3d's packages: a package names what it offers and where it lives,
and each name is imported on first use, so importing the package (or a light submodule such as
get3d.text.options, the CLI's defaults) does not import torch."""
from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, namespace: dict, exports: dict[str, tuple[str, ...]], eager: tuple[str, ...] = ()):
    """-> (__getattr__, __dir__, __all__) for ``package``: ``exports`` maps a submodule to the names it
    provides; ``eager`` lists names the package defines itself (listed in __all__ too). Each
    resolved name is cached in the package's ``namespace``."""
    where = {name: module for module, names in exports.items() for name in names}
    names = sorted([*where, *eager])

    def __getattr__(name):
        if name in where:
            value = getattr(import_module(where[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return names

    return __getattr__, __dir__, names
