import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests write tet-grid caches to a per-session temp dir, never to the user's ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "get3d-cache"
    monkeypatch.setenv("GET3D_CACHE_DIR", str(cache))
