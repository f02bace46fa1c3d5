"""The training loop on a tiny procedural dataset: snapshots, exact resume, crash safety, the
NaN guard, the snapshot hook and what is logged."""
import json
import re

import pytest
import torch

from get3d.errors import Get3dError
from get3d.training import loss as loss_module
from get3d.snapshot import list_snapshots, read_snapshot, restore_modules, restore_optimizers
from get3d.training.loop import build_state, train
from tests.training.conftest import tiny_config


def _run(data, outdir, steps, **kwargs):
    kwargs.setdefault("config", tiny_config())
    return train(data_dir=data, outdir=outdir, max_steps=steps, device="cpu", progress=False, **kwargs)


def _tensors(state):
    out = {f"{name}.{k}": v for name, m in state.modules().items() for k, v in m.state_dict().items()}
    for name, opt in state.opt.items():
        for i, per_param in opt.state_dict()["state"].items():
            out.update({f"optim.{name}.{i}.{k}": torch.as_tensor(v) for k, v in per_param.items()})
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_run_writes_snapshots_config_grids_and_logs(tiny_data, tmp_path):
    result = _run(tiny_data, tmp_path, 5)
    assert (result.steps, result.images_seen, result.skipped_steps) == (5, 10, 0)
    # snapshots at 4, 8 images and at the end (10); keep_snapshots=3 keeps all three
    assert [s.images_seen for s in list_snapshots(tmp_path)] == [4, 8, 10]
    assert result.snapshot == tmp_path / "snapshot-000000010.json"
    assert json.loads((tmp_path / "config.json").read_text())["data"]["resolution"] == 32
    assert sorted(p.name for p in tmp_path.glob("fakes_*.png")) == [
        "fakes_000000004.png", "fakes_000000008.png", "fakes_000000010.png"]
    tensors, meta = read_snapshot(result.snapshot)
    assert meta["step"] == 5 and meta["config"]["train"]["batch"] == 2
    assert {"G.", "G_ema.", "D_rgb.", "D_mask."} <= {k.split(".")[0] + "." for k in tensors}
    assert set(meta["optimizers"]) == {"G", "D_rgb", "D_mask"}
    for key in ("Loss/G/total", "Loss/D/total", "Loss/R1/rgb", "Logits/real_rgb", "Logits/fake_mask", "SDF/mean",
                "Memory/cpu_rss_gb", "Timing/images_per_s"):
        assert key in result.losses

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path)).Reload()
    tags = events.Tags()
    assert {"Loss/G/total", "Loss/D/rgb", "Loss/R1/mask", "Logits/real_mask", "SDF/abs_mean",
            "Timing/sec_per_kimg", "Memory/cpu_rss_gb"} <= set(tags["scalars"])
    assert {"Fakes/rgb", "Fakes/mask"} <= set(tags["images"])


def test_snapshot_restores_bit_identical_state_including_optimizers(tiny_data, tmp_path):
    result = _run(tiny_data, tmp_path, 2)
    fresh = build_state(tiny_config(seed=5), torch.device("cpu"))
    tensors, meta = read_snapshot(result.snapshot)
    restore_modules(tensors, fresh.modules())
    restore_optimizers(tensors, meta, fresh.opt)
    _assert_same(_tensors(result.state), _tensors(fresh))
    for name, opt in fresh.opt.items():
        assert opt.param_groups[0]["lr"] == result.state.opt[name].param_groups[0]["lr"]
        assert opt.param_groups[0]["betas"] == result.state.opt[name].param_groups[0]["betas"]


def test_resume_continues_exactly_like_an_uninterrupted_run(tiny_data, tmp_path):
    straight = _run(tiny_data, tmp_path / "straight", 4)
    first = _run(tiny_data, tmp_path / "split", 2)
    assert first.steps == 2
    resumed = _run(tiny_data, tmp_path / "split", 4, resume="auto")
    assert resumed.resumed_from == tmp_path / "split" / "snapshot-000000004.json"
    assert (resumed.steps, resumed.images_seen) == (straight.steps, straight.images_seen) == (4, 8)
    _assert_same(_tensors(straight.state), _tensors(resumed.state))


def test_a_run_killed_while_writing_a_snapshot_resumes_from_the_previous_one(tiny_data, tmp_path):
    _run(tiny_data, tmp_path, 2)  # complete snapshot at 4 images
    (tmp_path / "snapshot-000000008.safetensors").write_bytes(b"half-written weights, no JSON yet")
    (tmp_path / ".snapshot-000000008.json.abc123.tmp").write_text("{")
    resumed = _run(tiny_data, tmp_path, 3, resume="auto")
    assert resumed.resumed_from == tmp_path / "snapshot-000000004.json"
    assert resumed.steps == 3


def test_fresh_run_refuses_a_folder_with_snapshots_and_resume_auto_starts_fresh_when_empty(tiny_data, tmp_path):
    assert _run(tiny_data, tmp_path / "new", 1, resume="auto").resumed_from is None
    with pytest.raises(Get3dError, match=re.escape("already holds snapshots; pass resume='auto' (--resume auto)")):
        _run(tiny_data, tmp_path / "new", 2)
    with pytest.raises(Get3dError, match="model.triplane_res=32 but the config says 16"):
        cfg = tiny_config()
        cfg.model.triplane_res = 16
        _run(tiny_data, tmp_path / "new", 2, resume="auto", config=cfg)


def _nan_on(monkeypatch, bad_steps):
    """Make the generator loss NaN on the given (0-based) steps."""
    original = loss_module.Get3dLoss.generator_loss
    calls = {"n": 0}

    def patched(self, fake):
        loss, stats = original(self, fake)
        step = calls["n"]
        calls["n"] += 1
        return (loss * float("nan") if step in bad_steps else loss), stats

    monkeypatch.setattr(loss_module.Get3dLoss, "generator_loss", patched)


def test_non_finite_steps_are_skipped_and_counted(tiny_data, tmp_path, monkeypatch):
    _nan_on(monkeypatch, {1, 2})
    result = _run(tiny_data, tmp_path, 5)
    assert (result.steps, result.skipped_steps) == (5, 2)
    assert result.losses["Progress/skipped_steps"] == 2
    for m in result.state.modules().values():
        assert all(torch.isfinite(t).all() for t in m.state_dict().values())


def test_consecutive_non_finite_steps_stop_with_the_last_good_snapshot_intact(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_config()
    cfg.train.max_bad_steps = 3
    _nan_on(monkeypatch, set(range(2, 100)))
    with pytest.raises(Get3dError) as err:
        _run(tiny_data, tmp_path, 20, config=cfg)
    good = tmp_path / "snapshot-000000004.json"
    assert str(err.value) == f"training diverged: 3 consecutive non-finite steps (last good snapshot: {good})"
    assert [s.images_seen for s in list_snapshots(tmp_path)] == [4]
    tensors, meta = read_snapshot(good)  # verifies the checksum
    assert meta["step"] == 2 and all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


def test_on_snapshot_hook_is_called_and_its_metrics_logged(tiny_data, tmp_path):
    calls = []

    def hook(snapshot, G_ema, images_seen):
        calls.append((snapshot.images_seen, images_seen, G_ema.training))
        return {"fid": 100.0 - images_seen, "cov": torch.tensor(0.5)}

    _run(tiny_data, tmp_path, 4, on_snapshot=hook)
    assert calls == [(4, 4, False), (8, 8, False)]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["images_seen"], r["fid"], r["cov"], r["snapshot"]) for r in lines] == [
        (4, 96.0, 0.5, "snapshot-000000004"), (8, 92.0, 0.5, "snapshot-000000008")]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path)).Reload()
    assert [e.value for e in events.Scalars("metrics/fid")] == [96.0, 92.0]


def test_pruning_keeps_the_newest_snapshots(tiny_data, tmp_path):
    cfg = tiny_config()
    cfg.train.keep_snapshots = 2
    _run(tiny_data, tmp_path, 6, config=cfg)
    assert [s.images_seen for s in list_snapshots(tmp_path)] == [8, 12]


@pytest.mark.parametrize("interval,expected_steps", [(2, [0, 2, 4]), (1, [0, 1, 2, 3, 4])])
def test_lazy_r1_runs_every_r1_interval_steps_scaled_by_the_interval(tiny_data, tmp_path, monkeypatch, interval,
                                                                     expected_steps):
    """A spy on Get3dLoss.r1_loss in a 5-step run: R1 runs on steps 0, k, 2k, ... only, each time
    with its loss multiplied by k (lazy regularisation); R1 every step would show 5 calls."""
    calls, counter = [], {"G": 0}
    original_r1, original_g = loss_module.Get3dLoss.r1_loss, loss_module.Get3dLoss.generator_loss

    def generator_loss(self, *args, **kwargs):  # once per step: gives the step index
        counter["G"] += 1
        return original_g(self, *args, **kwargs)

    def r1_loss(self, real_rgb, real_mask, real_labels, interval_arg, *args, **kwargs):
        calls.append((counter["G"] - 1, interval_arg))
        return original_r1(self, real_rgb, real_mask, real_labels, interval_arg, *args, **kwargs)

    monkeypatch.setattr(loss_module.Get3dLoss, "generator_loss", generator_loss)
    monkeypatch.setattr(loss_module.Get3dLoss, "r1_loss", r1_loss)
    config = tiny_config()
    config.train.r1_interval = interval
    result = _run(tiny_data, tmp_path, 5, config=config)
    assert result.steps == 5 and result.skipped_steps == 0 and counter["G"] == 5
    assert calls == [(s, interval) for s in expected_steps]
