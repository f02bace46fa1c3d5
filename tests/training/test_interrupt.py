"""Ctrl-C / SIGTERM stop `get3d train` gracefully: the current step finishes, a snapshot of it is
written (it is newer than the last one), one line says so, the exit status is 128 + signal, and
--resume auto continues; a second Ctrl-C ends the process at once. Signals are sent to a real
subprocess."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from get3d._interrupt import GracefulStop, Interrupted
from get3d.snapshot import list_snapshots, read_snapshot

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu",
        "--quiet"]


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("RANK", None)
    return env


def start_train(data, out, *extra, env=None):
    """`get3d train` in a subprocess (its own session, so signals reach only it)."""
    cmd = [sys.executable, "-m", "get3d", "train", "--data", str(data), "--outdir", str(out), *TINY, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or _env(),
                            cwd=str(ROOT), start_new_session=True)


def wait_for(predicate, proc, limit=300.0):
    """Poll until predicate() holds; fail (not hang) when the process ended first or after limit."""
    deadline = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended early ({proc.returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("condition not reached")
        time.sleep(0.05)


def _finish(proc, limit=300):
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the process did not exit after the signal (hang)")
    return proc.returncode, out, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_finishes_the_step_saves_and_exits_non_zero_then_resume_auto(tiny_data, tmp_path, signum):
    out = tmp_path / "run"
    proc = start_train(tiny_data, out, "--max-steps", "100000")
    wait_for(lambda: len(list_snapshots(out)) >= 1, proc)  # in the loop, past the first snapshot
    proc.send_signal(signum)
    code, _, err = _finish(proc)
    assert code == 128 + signum, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert f"{signal.Signals(signum).name} received; finishing the current step" in lines[0]
    final = lines[-1]
    assert final.startswith(f"get3d: error: train stopped by {signal.Signals(signum).name} at step ")
    assert "Traceback" not in err
    newest = list_snapshots(out)[-1]
    step = int(final.split(" at step ")[1].split()[0])
    assert f"snapshot {newest.json_path};" in final and "--resume auto" in final
    tensors, meta = read_snapshot(newest.json_path)  # complete and verified (sha256)
    assert meta["step"] == step and meta["images_seen"] == 2 * step
    for snap in list_snapshots(out):
        read_snapshot(snap.json_path)

    proc = start_train(tiny_data, out, "--resume", "auto", "--max-steps", str(step + 1))
    code, stdout, err = _finish(proc)
    assert code == 0, err
    assert f"trained to step {step + 1} " in stdout


def test_second_ctrl_c_exits_at_once(tiny_data, tmp_path):
    out = tmp_path / "run"
    proc = start_train(tiny_data, out, "--max-steps", "100000")
    wait_for(lambda: len(list_snapshots(out)) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.3)  # past DUPLICATE_WINDOW_S: a user's second Ctrl-C, not a forwarded copy
    proc.send_signal(signal.SIGINT)
    code, _, err = _finish(proc)
    assert code in (-signal.SIGINT, 128 + signal.SIGINT), err  # killed by the default action (or stopped first)
    assert "Traceback" not in err
    for snap in list_snapshots(out):  # whatever was on disk is intact
        read_snapshot(snap.json_path)


def test_a_forwarded_copy_of_the_signal_does_not_cut_the_graceful_stop_short(tiny_data, tmp_path):
    """torchrun forwards the terminal's Ctrl-C to its workers: two SIGINTs within a moment, and
    a SIGTERM after them, are one request; the step finishes and its snapshot is written."""
    out = tmp_path / "run"
    proc = start_train(tiny_data, out, "--max-steps", "100000")
    wait_for(lambda: len(list_snapshots(out)) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    code, _, err = _finish(proc)
    assert code == 128 + signal.SIGINT, err
    assert "train stopped by SIGINT at step" in err.strip().splitlines()[-1]
    read_snapshot(list_snapshots(out)[-1].json_path)


def test_graceful_stop_restores_handlers_and_builds_the_error():
    before = signal.getsignal(signal.SIGTERM)
    lines = []
    with GracefulStop("invert", log=lines.append) as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            if stop.requested:
                break
            time.sleep(0.01)
        assert stop.requested and stop.signum == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGTERM)  # a repeated SIGTERM is the same request: still alive
        time.sleep(0.05)
        assert stop.signum == signal.SIGTERM
        err = stop.interrupted("at step 3; snapshot s.json")
    assert signal.getsignal(signal.SIGTERM) == before
    assert isinstance(err, Interrupted) and err.exit_code == 143
    assert str(err) == "invert stopped by SIGTERM at step 3; snapshot s.json"
    assert "SIGTERM received" in lines[0]
    other = GracefulStop("train")
    assert other.should_stop(lambda flag: True) and other.signum == signal.SIGTERM  # another rank was signalled
