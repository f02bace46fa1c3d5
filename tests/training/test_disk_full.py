"""The disk fills up during a snapshot (injected with a file-size limit, RLIMIT_FSIZE, in a
subprocess: writes past it fail with EFBIG as they would with ENOSPC): one line naming the folder
and the space a snapshot needs, the previous snapshot stays loadable, no stray files, and
--resume auto afterwards continues."""
import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import get3d.snapshot as snapshot_module
from get3d.errors import Get3dError
from get3d.snapshot import latest_snapshot, list_snapshots, read_snapshot, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu",
        "--quiet"]


def file_size_limit(limit: int):
    """preexec_fn: files may not grow past `limit` bytes; SIGXFSZ ignored so the write fails (EFBIG)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


def train_cli(data, out, *extra, limit=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "get3d", "train", "--data", str(data), "--outdir", str(out), *TINY,
                           *extra], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=600,
                          preexec_fn=file_size_limit(limit) if limit else None)


def test_a_full_disk_during_a_snapshot_is_one_line_and_resume_auto_works_afterwards(tiny_data, tmp_path):
    out = tmp_path / "run"
    first = train_cli(tiny_data, out, "--max-steps", "2")
    assert first.returncode == 0, first.stderr
    good = latest_snapshot(out)
    size = good.weights_path.stat().st_size
    before = {p.name: p.read_bytes() for p in out.glob("snapshot-*")}

    full = train_cli(tiny_data, out, "--resume", "auto", "--max-steps", "4", limit=size // 2)
    assert full.returncode == 1
    lines = full.stderr.strip().splitlines()
    assert "Traceback" not in full.stderr
    assert lines[-1].startswith(f"get3d: error: {out}: no space for snapshot snapshot-000000008: it needs "), lines
    needed_mb = float(lines[-1].split("it needs ")[1].split(" MB")[0])
    assert needed_mb * 1e6 >= size  # the figure covers the weights
    assert "--resume auto" in lines[-1]
    # nothing half-written, nothing changed: the old snapshots are byte-identical and load
    assert {p.name: p.read_bytes() for p in out.glob("snapshot-*")} == before
    assert not list(out.glob(".*.tmp"))
    read_snapshot(good.json_path)

    after = train_cli(tiny_data, out, "--resume", "auto", "--max-steps", "4")
    assert after.returncode == 0, after.stderr
    assert [s.images_seen for s in list_snapshots(out)][-1] == 8
    assert "trained to step 4" in after.stdout


def test_write_snapshot_checks_free_space_first_and_cleans_up_a_failed_json(tmp_path, monkeypatch):
    model = torch.nn.Linear(4, 4)
    write_snapshot(tmp_path, 2, {"G": model}, save_rng=False)

    class Usage:
        free = 10

    monkeypatch.setattr(snapshot_module.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(Get3dError, match=r"no space for snapshot snapshot-000000004: it needs 0\.\d MB, 0\.0 MB free"):
        write_snapshot(tmp_path, 4, {"G": model}, save_rng=False)
    monkeypatch.undo()

    real = snapshot_module.atomic_write

    def json_fails(path, write):
        if path.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write)

    monkeypatch.setattr(snapshot_module, "atomic_write", json_fails)
    with pytest.raises(Get3dError, match="no space for snapshot snapshot-000000004"):
        write_snapshot(tmp_path, 4, {"G": model}, save_rng=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot-000000002.json", "snapshot-000000002.safetensors"]
