"""Test support: where reference fixtures live, and what "absent" means under CI.

* Reference fixtures (data written by a reference implementation: GET3D's own code, FlexiCubes',
  Stable Diffusion's) are read from ``tests/data/<name>`` when the project keeps a copy there, else
  from ``../shared/fixtures/<name>`` next to the repository (development machines and CI).
* A test that needs one carries ``@pytest.mark.reference_fixture(path)``: where the path is absent
  it is skipped with the path as reason on a developer's machine, and FAILS when ``CI`` is set to
  true (a CI run that silently skipped every converter test would prove nothing).
* :func:`require_module` is ``pytest.importorskip`` for the libraries of the ``test`` extra: under
  CI a missing one is a failure, not a skip.
* Dtype parametrisation (docs/testing.md): ``DTYPE_TOLERANCE`` is the per-dtype tolerance of a
  computation compared with an independent float64 reference, :func:`assert_close_in` applies it,
  :func:`dtype_params` builds a ``parametrize`` list with readable ids.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

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


# Per-dtype tolerance of a result against an independent float64 reference, for quantities of
# order one (pass ``scale`` for others): a few units in the last place of the dtype, times the
# handful of roundings a short computation makes. float64 is not exact either: references that
# sum in another order differ by ~1e-15.
DTYPE_TOLERANCE = {
    torch.float64: dict(rtol=1e-10, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=5e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=3e-2, atol=1e-2),
}


def dtype_params(*dtypes: torch.dtype) -> list:
    """``@pytest.mark.parametrize("dtype", dtype_params(torch.float16, ...))`` with ids like float16."""
    return [pytest.param(d, id=str(d).removeprefix("torch.")) for d in dtypes]


def assert_close_in(dtype: torch.dtype, actual, expected, scale: float = 1.0, what: str = "") -> None:
    """``actual`` (computed in ``dtype``) matches the float64 ``expected`` within DTYPE_TOLERANCE[dtype]
    (atol times ``scale``, the magnitude of the quantity), and is of ``dtype`` itself."""
    actual = torch.as_tensor(actual)
    assert actual.dtype == dtype, f"{what}: computed in {dtype}, returned {actual.dtype}"
    tol = DTYPE_TOLERANCE[dtype]
    if not torch.is_tensor(expected):  # numpy (a copy: a read-only view would warn) or Python numbers
        expected = torch.tensor(np.array(expected, dtype=np.float64))
    torch.testing.assert_close(actual.double(), expected.to(actual.device, torch.float64), rtol=tol["rtol"],
                               atol=tol["atol"] * scale, msg=lambda m: f"{what} ({dtype}): {m}")
