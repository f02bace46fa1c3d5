import pytest
import torch

from get3d.config import preset
from get3d.networks.generator import Generator
from get3d.snapshot import write_snapshot


def tiny_generator(seed: int = 0) -> tuple[Generator, object]:
    cfg = preset("tiny")
    cfg.model.tet_res = 16  # small grid: the tests are about files and codes, not shape detail
    torch.manual_seed(seed)
    return Generator(cfg.model, render_backend="torch"), cfg


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A random tiny generator saved as a snapshot, loaded back through the real code path."""
    generator, cfg = tiny_generator()
    folder = tmp_path_factory.mktemp("ckpt")
    return write_snapshot(folder, 0, {"G_ema": generator}, config=cfg, save_rng=False).json_path


@pytest.fixture(scope="session")
def empty_ckpt(tmp_path_factory):
    """A generator whose SDF is positive everywhere: every seed gives an empty shape."""
    generator, cfg = tiny_generator()
    with torch.no_grad():
        # The SDF head's output bias, in GET3D's sign (positive inside): far outside everywhere.
        generator.generator.mlp_synthesis_sdf.layers[-1].bias.fill_(-1000.0)
    folder = tmp_path_factory.mktemp("empty")
    return write_snapshot(folder, 0, {"G_ema": generator}, config=cfg, save_rng=False).json_path
