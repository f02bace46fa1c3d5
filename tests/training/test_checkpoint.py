"""Snapshots: exact round trip, atomic/complete-only discovery, pruning, clear errors."""
import json
import random

import numpy as np
import pytest
import torch

from get3d.config import Config, preset
from get3d.errors import Get3dError
from get3d.snapshot import (latest_snapshot, list_snapshots, prune_snapshots, read_snapshot,
                                       restore_modules, restore_optimizers, restore_rng, write_snapshot)


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def _trained_optimizer(model):
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.0, 0.99))
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 3)).square().mean().backward()
        opt.step()
    return opt


def test_round_trip_weights_optimizer_rng_config(tmp_path):
    model = _model()
    opt = _trained_optimizer(model)
    cfg = preset("tiny")
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    snap = write_snapshot(tmp_path, 1234, {"G": model}, config=cfg, step=7, optimizers={"G": opt},
                          extra={"metrics": {"fid": 1.5}})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))

    tensors, meta = read_snapshot(snap.json_path)
    assert meta["step"] == 7 and meta["images_seen"] == 1234 and meta["metrics"] == {"fid": 1.5}
    assert Config.from_dict(meta["config"]) == cfg
    other = _model(seed=1)
    other_opt = torch.optim.Adam(other.parameters(), lr=0.5)
    restore_modules(tensors, {"G": other})
    restore_optimizers(tensors, meta, {"G": other_opt})
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_opt.param_groups[0]["lr"] == 0.01
    assert other_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(other_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    restore_rng(tensors, meta)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_latest_ignores_incomplete_and_prune_keeps_newest(tmp_path):
    model = _model()
    for images in (100, 2000, 30000):
        write_snapshot(tmp_path, images, {"G": model}, save_rng=False)
    # A run killed while writing: weights present, JSON missing; and a leftover temp file.
    (tmp_path / "snapshot-000040000.safetensors").write_bytes(b"partial")
    (tmp_path / ".snapshot-000050000.json.abc.tmp").write_text("{")
    assert latest_snapshot(tmp_path).images_seen == 30000
    assert [s.images_seen for s in list_snapshots(tmp_path)] == [100, 2000, 30000]
    prune_snapshots(tmp_path, keep=2)
    assert [s.images_seen for s in list_snapshots(tmp_path)] == [2000, 30000]
    assert latest_snapshot(tmp_path / "nothing-here") is None


def test_corrupt_or_mismatched_snapshots_are_named(tmp_path):
    model = _model()
    snap = write_snapshot(tmp_path, 10, {"G": model}, save_rng=False)
    data = bytearray(snap.weights_path.read_bytes())
    data[-1] ^= 0xFF
    snap.weights_path.write_bytes(bytes(data))
    with pytest.raises(Get3dError, match="checksum"):
        read_snapshot(snap.json_path)
    snap.weights_path.write_bytes(bytes(data[:20]))
    with pytest.raises(Get3dError, match="truncated"):
        read_snapshot(snap.json_path)
    snap.json_path.write_text("{not json")
    with pytest.raises(Get3dError, match="snapshot-000000010.json"):
        read_snapshot(snap.json_path)

    snap = write_snapshot(tmp_path, 20, {"G": model}, save_rng=False)
    tensors, _ = read_snapshot(snap.weights_path)  # the .safetensors path resolves to its JSON
    with pytest.raises(Get3dError, match="shape"):
        restore_modules(tensors, {"G": torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5))})
    with pytest.raises(Get3dError, match="missing"):
        restore_modules(tensors, {"G": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                                           torch.nn.Linear(4, 1))})
    with pytest.raises(Get3dError, match="no weights for 'D'"):
        restore_modules(tensors, {"D": model})


def test_refuses_to_write_non_finite_weights(tmp_path):
    model = _model()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(Get3dError, match="NaN"):
        write_snapshot(tmp_path, 10, {"G": model})
    assert list(tmp_path.iterdir()) == []


def test_named_snapshot_and_ordinary_permissions(tmp_path):
    import os
    import stat

    snap = write_snapshot(tmp_path, 5, {"G_ema": _model()}, save_rng=False, stem="tiny-thing")
    assert snap.json_path.name == "tiny-thing.json" and snap.weights_path.name == "tiny-thing.safetensors"
    tensors, meta = read_snapshot(tmp_path / "tiny-thing")
    assert meta["weights"]["file"] == "tiny-thing.safetensors" and "G_ema.0.weight" in tensors
    assert list_snapshots(tmp_path) == []  # only snapshot-<images> files are training snapshots
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(snap.weights_path).st_mode) == 0o666 & ~umask
