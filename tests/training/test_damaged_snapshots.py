"""A damaged newest snapshot (truncated weights, invalid JSON, JSON without its weights, sha256
mismatch): folder look-ups (--resume auto, --ckpt RUN) skip it with a warning naming the file and
use the newest intact one; naming the damaged file itself is a one-line error."""
import json
import shutil

import pytest
import torch
from click.testing import CliRunner

import get3d.snapshot as snapshot_module
from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.snapshot import (BUNDLED_DIR, check_snapshot, latest_snapshot, read_snapshot, resolve_checkpoint,
                            resume_auto, write_snapshot)
from get3d.training.loop import train
from tests.training.conftest import tiny_config


def truncate(snap):
    data = snap.weights_path.read_bytes()
    snap.weights_path.write_bytes(data[: len(data) // 2])


def bad_json(snap):
    snap.json_path.write_text('{"format": "get3d-snapshot", "step": ')


def no_weights(snap):
    snap.weights_path.unlink()


def flip_byte(snap):  # same size: only the checksum can tell
    data = bytearray(snap.weights_path.read_bytes())
    data[len(data) // 2] ^= 0x55
    snap.weights_path.write_bytes(bytes(data))


def not_json_object(snap):
    snap.json_path.write_text('[1, 2]')


DAMAGE = {"truncated": truncate, "invalid-json": bad_json, "weights-missing": no_weights, "sha-mismatch": flip_byte,
          "not-an-object": not_json_object}


def _three(folder):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4)
    return [write_snapshot(folder, n, {"G": model}, step=n, save_rng=False) for n in (2, 4, 6)]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_folder_lookup_skips_a_damaged_newest_snapshot_with_a_warning(tmp_path, kind):
    snaps = _three(tmp_path)
    DAMAGE[kind](snaps[-1])
    warnings = []
    found = latest_snapshot(tmp_path, warn=warnings.append)
    assert found.json_path == snaps[1].json_path
    assert len(warnings) == 1 and "skipping damaged snapshot" in warnings[0]
    assert "snapshot-000000006" in warnings[0] and "\n" not in warnings[0]
    # named explicitly: one line naming the file, no fallback
    with pytest.raises(Get3dError, match="snapshot-000000006") as err:
        read_snapshot(snaps[-1].json_path)
    assert "\n" not in str(err.value)


def test_two_damaged_fall_back_further_and_all_damaged_is_an_error(tmp_path, capsys):
    snaps = _three(tmp_path)
    flip_byte(snaps[2])
    truncate(snaps[1])
    assert resume_auto(tmp_path).json_path == snaps[0].json_path
    err = capsys.readouterr().err
    assert err.count("get3d: warning: skipping damaged snapshot") == 2
    assert resolve_checkpoint(tmp_path) == snaps[0].json_path
    bad_json(snaps[0])
    with pytest.raises(Get3dError, match="all 3 snapshots are damaged"):
        resume_auto(tmp_path)
    with pytest.raises(Get3dError, match=r"no complete snapshot in this folder \(3 damaged"):
        resolve_checkpoint(tmp_path)
    assert resume_auto(tmp_path / "empty") is None  # no snapshots at all: a fresh run


def test_snapshots_without_a_checksum_stay_readable_and_are_checked_by_their_header(tmp_path):
    snaps = _three(tmp_path)
    for snap in snaps:  # as written before snapshots carried size and sha256
        meta = json.loads(snap.json_path.read_text())
        del meta["weights"]["sha256"], meta["weights"]["bytes"]
        snap.json_path.write_text(json.dumps(meta))
    assert check_snapshot(snaps[-1].json_path) is None
    tensors, _ = read_snapshot(snaps[-1].json_path)
    assert "G.weight" in tensors
    truncate(snaps[-1])
    assert "cannot read weights" in check_snapshot(snaps[-1].json_path)
    assert latest_snapshot(tmp_path, warn=lambda line: None).json_path == snaps[1].json_path


def test_the_checksum_is_computed_once_per_file_version(tmp_path, monkeypatch):
    snaps = _three(tmp_path)
    calls = []
    original = snapshot_module.sha256_file
    monkeypatch.setattr(snapshot_module, "sha256_file", lambda path: calls.append(path) or original(path))
    latest_snapshot(tmp_path)
    read_snapshot(resolve_checkpoint(tmp_path))
    assert calls == [snaps[-1].weights_path]
    flip_byte(snaps[-1])  # a new version of the file (mtime changes) is hashed again and fails
    assert latest_snapshot(tmp_path, warn=lambda line: None).json_path == snaps[1].json_path


def test_resume_auto_of_a_training_run_continues_from_the_newest_intact_snapshot(tiny_data, tmp_path, capsys):
    cfg = tiny_config()
    train(cfg, tiny_data, tmp_path, device="cpu", max_steps=4, progress=False)  # snapshots at 4 and 8 images
    flip_byte(latest_snapshot(tmp_path))
    result = train(tiny_config(), tiny_data, tmp_path, resume="auto", device="cpu", max_steps=5, progress=False)
    assert result.resumed_from == tmp_path / "snapshot-000000004.json"
    assert result.steps == 5
    assert "skipping damaged snapshot" in capsys.readouterr().err
    read_snapshot(tmp_path / "snapshot-000000010.json")


@pytest.fixture
def run_folder(tmp_path):
    """A run folder holding the bundled tiny generator twice; the newer copy damaged."""
    run = tmp_path / "run"
    run.mkdir()
    for images in (4, 8):
        for suffix in (".json", ".safetensors"):
            shutil.copy(BUNDLED_DIR / f"tiny-chair{suffix}", run / f"snapshot-{images:09d}{suffix}")
        meta = json.loads((run / f"snapshot-{images:09d}.json").read_text())
        meta["weights"]["file"] = f"snapshot-{images:09d}.safetensors"
        (run / f"snapshot-{images:09d}.json").write_text(json.dumps(meta))
    truncate(snapshot_module.Snapshot(run / "snapshot-000000008.json", run / "snapshot-000000008.safetensors", 8))
    return run


def test_generate_with_a_run_folder_skips_the_damaged_snapshot_and_a_named_one_is_an_error(run_folder, tmp_path):
    runner = CliRunner()
    args = ["--seeds", "0", "--outdir", str(tmp_path / "gen"), "--geometry-only", "--format", "ply",
            "--preview-views", "0", "--quiet", "--device", "cpu", "--backend", "torch"]
    result = runner.invoke(cli, ["generate", "--ckpt", str(run_folder), *args])
    assert result.exit_code == 0, result.output
    assert f"skipping damaged snapshot {run_folder / 'snapshot-000000008.safetensors'}: truncated" in result.output
    assert (tmp_path / "gen" / "seed0000.ply").is_file()
    result = runner.invoke(cli, ["generate", "--ckpt", str(run_folder / "snapshot-000000008.json"), *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"get3d: error: {run_folder / 'snapshot-000000008.safetensors'}")
