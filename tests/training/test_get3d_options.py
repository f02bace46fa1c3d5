"""GET3D's remaining training options: a discriminator without camera conditioning
(--no-camera-cond, GET3D --add_camera_cond 0) and its named camera distributions (--camera-mode)."""

import pytest
import torch
from click.testing import CliRunner

from get3d import Get3dError
from get3d.cli import cli
from get3d.config import CAMERA_MODES, Config, preset
from get3d.networks.discriminator import build_discriminators
from get3d.render import Cameras
from get3d.snapshot import list_snapshots, read_snapshot
from get3d.training.loss import Get3dLoss
from get3d.training.options import build_config

TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu"]


def test_unconditioned_discriminators_ignore_the_camera():
    cfg = preset("tiny").model
    cfg.img_resolution = 32
    torch.manual_seed(0)
    cond, _ = build_discriminators(cfg)
    cfg.d_camera_cond = False
    torch.manual_seed(0)
    plain, plain_mask = build_discriminators(cfg)
    assert not hasattr(plain, "mapping") and not hasattr(plain_mask, "mapping") and hasattr(cond, "mapping")
    img = torch.rand(2, 3, 32, 32) * 2 - 1
    cam_a, cam_b = torch.tensor([[0.0, 10.0], [90.0, 20.0]]), torch.tensor([[200.0, 0.0], [10.0, 30.0]])
    assert torch.equal(plain(img, cam_a), plain(img, cam_b))
    assert not torch.allclose(cond(img, cam_a), cond(img, cam_b))  # the conditioned one does see it


def test_old_configs_keep_camera_conditioning():
    data = preset("tiny").to_dict()
    del data["model"]["d_camera_cond"]
    del data["data"]["camera_mode"]
    cfg = Config.from_dict(data)
    assert cfg.model.d_camera_cond is True and cfg.data.camera_mode is None


@pytest.mark.parametrize("mode, elevation", [("shapenet_chair", (0.0, 30.0)), ("ts_animal", (0.0, 45.0)),
                                             ("renderpeople", (0.0, 20.0)), ("ts_house", (0.0, 30.0))])
def test_camera_modes_set_gets_training_view_distribution(mode, elevation):
    cfg = build_config("tiny", camera_mode=mode)
    assert cfg.data.camera_mode == mode and cfg.data.elevation_range == elevation
    assert cfg.data.rotation_range == (0.0, 360.0)
    # The training cameras the loss draws: elevation uniform over the mode's range, radius 1.2,
    # i.e. polar angle from the up axis uniform in [90 - hi, 90 - lo].
    G = torch.nn.Module()
    loss = Get3dLoss(G, None, None, cfg.train, cfg.data, torch.device("cpu"))
    fake = loss.sample_fake(4000, 4, torch.Generator().manual_seed(0))
    elev, rot = fake.cameras.elevation, fake.cameras.rotation
    assert elev.min() >= elevation[0] and elev.max() <= elevation[1]
    assert elev.min() < elevation[0] + 1 and elev.max() > elevation[1] - 1
    assert abs(float(elev.mean()) - sum(elevation) / 2) < 1.0
    assert rot.min() < 2 and rot.max() > 358
    assert torch.allclose(torch.as_tensor(fake.cameras.radius, dtype=torch.float32), torch.tensor(1.2))
    assert set(CAMERA_MODES) >= {"shapenet_car", "shapenet_motorbike"}


def test_unknown_camera_mode_is_one_line():
    with pytest.raises(Get3dError, match="camera mode"):
        build_config("tiny", camera_mode="orbit")


def test_train_without_camera_conditioning_and_with_a_camera_mode(tiny_data, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_data), "--outdir", str(out), *TINY,
                                      "--no-camera-cond", "--camera-mode", "ts_animal", "--max-steps", "2",
                                      "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    tensors, meta = read_snapshot(list_snapshots(out)[-1].json_path)
    assert meta["config"]["model"]["d_camera_cond"] is False
    assert meta["config"]["data"]["camera_mode"] == "ts_animal" and meta["config"]["data"]["elevation_range"] == [0, 45]
    assert not any(k.startswith(("D_rgb.mapping", "D_mask.mapping")) for k in tensors)
    assert any(k.startswith("D_rgb.") for k in tensors)


def test_no_camera_cond_survives_the_torchrun_relaunch(monkeypatch, tiny_data, tmp_path):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    seen = {}
    import get3d._interrupt

    # the launcher runs torchrun through run_forwarding_signals (SIGTERM passed on, not fatal to it)
    monkeypatch.setattr(get3d._interrupt, "run_forwarding_signals", lambda command: seen.setdefault("command", command)
                        and 0)
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_data), "--outdir", str(tmp_path), *TINY,
                                      "--no-camera-cond", "--camera-mode", "renderpeople", "--gpus", "2"])
    assert result.exit_code == 0, result.output
    command = seen["command"]
    assert "--no-camera-cond" in command and "--camera-cond" not in command
    assert command[command.index("--camera-mode") + 1] == "renderpeople"


def test_a_get3d_discriminator_without_camera_mapping_converts_unconditioned():
    from get3d.official import official_model_config, split_official_state
    from get3d.networks.generator import Generator

    cfg = preset("tiny").model
    cfg.img_resolution = 32
    torch.manual_seed(0)
    G = Generator(cfg)
    g_state = {("synthesis." + k if k.startswith("generator.") else k): v for k, v in G.state_dict().items()}
    cfg.d_camera_cond = False
    d_rgb, d_mask = build_discriminators(cfg)
    d_state = {**d_rgb.state_dict(), **{"mask_" + k: v for k, v in d_mask.state_dict().items()}}
    assert not any(k.startswith("mapping.") for k in d_state)
    assert official_model_config(g_state, d_state, source="x.pt").d_camera_cond is False
    cfg.d_camera_cond = True
    d_rgb, d_mask = build_discriminators(cfg)
    d_state = {**d_rgb.state_dict(), **{"mask_" + k: v for k, v in d_mask.state_dict().items()}}
    assert official_model_config(g_state, d_state, source="x.pt").d_camera_cond is True
