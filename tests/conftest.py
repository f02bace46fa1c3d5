import pytest
import torch


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """@pytest.mark.reference_fixture(path): skip when path is absent, fail under CI=true
    (tests/_support.py). A hook, not a fixture, so it runs before module fixtures load the data."""
    marker = item.get_closest_marker("reference_fixture")
    if marker is not None:
        from pathlib import Path

        from tests._support import missing

        path = Path(marker.args[0])
        if not path.exists():
            missing(f"reference fixture {path} is absent")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def any_device(request):
    """Run a test once per device: CPU always, CUDA where present (the gpu mark skips it elsewhere).
    Tests that compare a device against the CPU reference use it instead of a separate GPU copy."""
    return request.param


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def float_dtype(request):
    """Run a test once per float dtype the library claims (float32, float64). Compare against an
    independent float64 reference with ``tests._support.assert_close_in(dtype, ...)``, whose
    tolerance table (``DTYPE_TOLERANCE``) is per dtype; half types are listed explicitly where a
    path supports them (``tests._support.dtype_params``)."""
    return request.param


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests write tet-grid caches to a per-session temp dir, never to the user's ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "get3d-cache"
    monkeypatch.setenv("GET3D_CACHE_DIR", str(cache))
    monkeypatch.setenv("GET3D_OFFLINE", "1")  # no test downloads weights (tests of the download unset it)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """3 procedural vases x 4 views at 32^2 in GET3D's layout (12 images, meshes in mesh/vase)."""
    from get3d.datasets.render_dataset import RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset

    root = tmp_path_factory.mktemp("tiny-data")
    make_synthetic_dataset("vase", 3, root, RenderSettings(views=4, resolution=32, backend="torch"), workers=0,
                           progress=False)
    return root
