import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """The network tests use tiny models: one intra-op thread is as fast and does not slow to a
    crawl when the (shared, small) machine is oversubscribed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
