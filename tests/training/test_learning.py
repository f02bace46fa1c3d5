"""Does training learn? A short CPU run must move simple image statistics of the generated
images toward those of the data (figures recorded in docs/training.md)."""
import pytest
import torch

from get3d.datasets import RenderFolderDataset
from get3d.datasets.render_dataset import RenderSettings
from get3d.datasets.synthetic_dataset import make_synthetic_dataset
from get3d.render import Cameras
from get3d.training.loop import build_state, train
from tests.training.conftest import tiny_config


def image_stats(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W], [N,1,H,W] -> [4] = (mean mask coverage, mean foreground colour r, g, b)."""
    coverage = mask.mean()
    colour = rgb.sum(dim=[0, 2, 3]) / mask.sum().clamp_min(1e-6)  # rgb is premultiplied (on black)
    return torch.cat([coverage[None], colour])


@torch.no_grad()
def fake_stats(G, n: int = 32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(123)
    z = torch.randn(2, n, G.z_dim, generator=gen)
    cams = Cameras.sample_training_cameras(n, generator=gen)
    rgb, mask = [], []
    for i in range(0, n, 8):
        out = G(z[0, i: i + 8], z[1, i: i + 8], cams[i: i + 8])
        rgb.append(out.rgb)
        mask.append(out.mask)
    return image_stats(torch.cat(rgb), torch.cat(mask))


@pytest.mark.slow
def test_short_cpu_run_moves_fake_statistics_toward_the_data(tmp_path):
    data = tmp_path / "data"
    make_synthetic_dataset("vase", 8, data, RenderSettings(views=8, resolution=32, backend="torch"), workers=0,
                           progress=False)
    items = [RenderFolderDataset(data, resolution=32)[i] for i in range(64)]
    real = image_stats(torch.stack([it["image"] for it in items]), torch.stack([it["mask"] for it in items]))

    cfg = tiny_config(batch=4, snapshot_kimg=1.0, kimg=10)
    before = fake_stats(build_state(cfg, torch.device("cpu")).G_ema)
    result = train(cfg, data, tmp_path / "run", device="cpu", max_steps=400, progress=False)
    after = fake_stats(result.state.G_ema)

    dist_before = (before - real).abs().sum().item()
    dist_after = (after - real).abs().sum().item()
    print(f"\nreal  {real.tolist()}\nbefore {before.tolist()} L1 {dist_before:.4f}\n"
          f"after  {after.tolist()} L1 {dist_after:.4f}\nskipped {result.skipped_steps}")
    assert result.skipped_steps == 0
    assert dist_after < 0.5 * dist_before
