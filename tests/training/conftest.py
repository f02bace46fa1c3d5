import pytest
import torch

from get3d.training.options import build_config


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is as fast, keeps CPU results bit-reproducible run to run,
    and does not crawl when the shared 2-core machine is oversubscribed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**overrides):
    """The tiny preset at 32^2, batch 2, a snapshot every 2 steps (4 images)."""
    values = dict(resolution=32, batch=2, snapshot_kimg=0.004)
    values.update(overrides)
    return build_config("tiny", **values)
