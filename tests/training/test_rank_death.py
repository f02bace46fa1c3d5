"""A rank of a 2-process torchrun (gloo, CPU) job dies: the survivor stops with one line, torchrun
exits (no hang), no snapshot is damaged, and --resume auto continues with 2 processes or with 1
(with a note saying what changes). A frozen rank (SIGSTOP: no socket closes) is bounded by the
process group's timeout, --dist-timeout. Fault injection: tests/training/_chaos.py."""
import os
import random
import signal

import pytest

from get3d.snapshot import latest_snapshot, list_snapshots, read_snapshot
from get3d.training.loop import _world_size_note, train
from tests.training import _chaos
from tests.training.conftest import tiny_config


def test_killed_rank_ends_the_job_and_one_process_resumes_with_a_note(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    record = _chaos.kill_rank_loop(tiny_data, out, random.Random(0), during_write=False, victim=1)
    assert record["killed"], record
    assert not record["hung"], record  # torchrun and the survivor exited by themselves
    assert record["exit"] != 0
    line = record["survivor_line"]
    assert line and line.startswith("get3d: error: another process of this torchrun job died or stopped answering "
                                    "(rank 0 of 2"), record
    assert "--resume auto" in line
    assert record["snapshots_verified"] >= 1 and record["damaged"] == []

    newest = latest_snapshot(out)
    meta = read_snapshot(newest.json_path)[1]
    assert meta["world_size"] == 2
    capsys.readouterr()
    result = train(tiny_config(batch=4, snapshot_kimg=0.008), tiny_data, out, resume="auto", device="cpu",
                   max_steps=meta["step"] + 1, progress=False)
    assert result.resumed_from == newest.json_path and result.steps == meta["step"] + 1
    err = capsys.readouterr().err
    assert "note: the snapshot was written by 2 processes, this run has 1: the total batch stays 4 but each " \
           "process now takes 4 images instead of 2" in err


def test_world_size_note_only_when_it_changes():
    assert _world_size_note(2, 2, 4) is None and _world_size_note(None, 1, 4) is None
    assert "each process now takes 2 images instead of 4" in _world_size_note(1, 2, 4)


@pytest.mark.slow
@pytest.mark.parametrize("victim", [0, 1])
def test_kill_during_a_snapshot_write_leaves_no_damaged_snapshot_and_two_ranks_resume(tiny_data, tmp_path, victim):
    out = tmp_path / "run"
    record = _chaos.kill_rank_loop(tiny_data, out, random.Random(victim), during_write=True, victim=victim)
    assert record["killed"] and not record["hung"], record
    assert record["damaged"] == [], record
    if victim == 0:  # the writer died mid-write: a stray temp file, never a listed snapshot
        assert record["stray_tmp"] >= 1
    resumed = _chaos.resume_after_kill(tiny_data, out, nproc=2)
    assert resumed["ok"], resumed
    assert resumed["note"] is None  # same world size: nothing changes
    for snap in list_snapshots(out):
        read_snapshot(snap.json_path)


@pytest.mark.slow
def test_a_frozen_rank_is_bounded_by_the_dist_timeout(tiny_data, tmp_path):
    out = tmp_path / "run"
    proc = _chaos.start_torchrun(tiny_data, out, "--max-steps", "200", "--dist-timeout", "5")
    pids = _chaos.rank_pids(proc)
    assert _chaos.wait_until(lambda: any(out.glob("snapshot-*.json")), proc)
    os.kill(pids[1], signal.SIGSTOP)  # alive, sockets open: only the timeout can tell
    try:
        code, _, err, hung = _chaos.finish(proc, limit=_chaos.HANG_LIMIT_S)
    finally:
        try:
            os.kill(pids[1], signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not hung and code != 0
    line = next(line for line in err.splitlines() if "another process of this torchrun job" in line)
    assert "rank 0 of 2" in line
    for snap in list_snapshots(out):
        read_snapshot(snap.json_path)


@pytest.mark.slow
def test_chaos_loops_summary(tmp_path):
    summary = _chaos.main(["--loops", "2", "--out", str(tmp_path)])
    assert summary["kills"] == 2 and summary["hangs"] == 0 and summary["damaged_snapshots"] == 0
    assert summary["failures"] == []
