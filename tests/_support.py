"""Test support: where reference fixtures live, and what "absent" means under CI.

* Reference fixtures (data written by a reference implementation: GET3D's own code, FlexiCubes',
  Stable Diffusion's) are read from ``tests/data/<name>`` when the project keeps a copy there, else
  from ``../shared/fixtures/<name>`` next to the repository (development machines and CI).
* A test that needs one carries ``@pytest.mark.reference_fixture(path)``: where the path is absent
  it is skipped with the path as reason on a developer's machine, and FAILS when ``CI`` is set to
  true (a CI run that silently skipped every converter test would prove nothing).
* :func:`require_module` is ``pytest.importorskip`` for the libraries of the ``test`` extra: under
  CI a missing one is a failure, not a skip.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def reference_fixture(name: str) -> Path:
    """tests/data/<name> when the project keeps a copy, else ../shared/fixtures/<name>."""
    own = DATA / name
    return own if own.exists() else SHARED_FIXTURES / name


def missing(message: str, module_level: bool = False):
    """Skip with ``message``, or fail under CI."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing requirement is a failure, not a skip)", pytrace=False)
    pytest.skip(message, allow_module_level=module_level)


def require_module(name: str, module_level: bool = True):
    """Import ``name`` (a library of the test extra); absent: skip, or fail under CI."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        missing(f"{name} is not importable ({err}); install the test extra: pip install -e '.[test]'", module_level)
