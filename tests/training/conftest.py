import pytest
import torch

from get3d.datasets.render_meshes import RenderSettings
from get3d.datasets.synthetic_dataset import make_synthetic_dataset
from get3d.training.options import build_config


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is as fast, keeps CPU results bit-reproducible run to run,
    and does not crawl when the shared 2-core machine is oversubscribed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """3 procedural vases x 4 views at 32^2 in GET3D's layout (12 images)."""
    root = tmp_path_factory.mktemp("train-data")
    make_synthetic_dataset("vase", 3, root, RenderSettings(views=4, resolution=32, backend="torch"), workers=0,
                           progress=False)
    return root


def tiny_config(**overrides):
    """The tiny preset at 32^2, batch 2, a snapshot every 2 steps (4 images)."""
    values = dict(resolution=32, batch=2, snapshot_kimg=0.004)
    values.update(overrides)
    return build_config("tiny", **values)
