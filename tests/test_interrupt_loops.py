"""SIGTERM / SIGINT stop refine and finetune-text gracefully (get3d._interrupt): the step in flight
finishes, a snapshot of it is written, the error names it, the exit status is 128 + signal, and
resume="auto" continues from exactly that step. Each loop runs in a subprocess with an analytic
stand-in model (no weights needed) so the signal reaches a real process."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from get3d.snapshot import list_snapshots, read_snapshot

ROOT = Path(__file__).resolve().parents[1]

REFINE = """
import sys, torch
from get3d._interrupt import Interrupted
from get3d.distill import AnalyticPrior
from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import refine
torch.set_num_threads(1)
prior = AnalyticPrior(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16).clone())
asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
try:
    r = refine(prior, asset, "p", RefineOptions(rule="sds", steps=int(sys.argv[2]), snapshot_every=2,
                                                texture_only=True, export=False), sys.argv[1], resume="auto")
    print("done", r.start_step, r.steps)
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(err.exit_code)
"""

FINETUNE = """
import sys, torch
from get3d._interrupt import Interrupted
from get3d.checkpoint import load_generator
from get3d.text.finetune import finetune_text
from tests.text.stand_ins import ColourEncoder
torch.set_num_threads(1)
G, config = load_generator("tiny-chair", device="cpu")
try:
    r = finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=int(sys.argv[2]), outdir=sys.argv[1],
                      resume="auto", return_result=True, layers="texture", lr=0.01, snapshot_every=2, batch=1,
                      views=2, resolution=32, templates="none", grid_seeds=1, grid_views=1)
    print("done", r.steps)
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(err.exit_code)
"""


def _run(script, outdir, steps):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(outdir), str(steps)], cwd=str(ROOT),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _stop_after_first_snapshot(proc, snap_dir, signum):
    deadline = time.monotonic() + 300
    while not list_snapshots(snap_dir):
        if proc.poll() is not None:
            pytest.fail(f"ended early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no snapshot appeared")
        time.sleep(0.05)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("did not stop after the signal (hang)")
    return proc.returncode, out, err


@pytest.mark.parametrize("script, what, sub, signum", [
    (REFINE, "refine", "snapshots", signal.SIGTERM),
    (FINETUNE, "finetune-text", "", signal.SIGINT),
])
def test_signal_saves_the_step_in_flight_and_resume_continues(tmp_path, script, what, sub, signum):
    out = tmp_path / "run"
    snap_dir = out / sub if sub else out
    code, _, err = _stop_after_first_snapshot(_run(script, out, 10_000), snap_dir, signum)
    assert code == 128 + signum, err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert f"{name} received; finishing the current step" in err
    assert last.startswith(f"{what} stopped by {name} at ") and "--resume auto" in last, last
    newest = list_snapshots(snap_dir)[-1]
    assert str(newest.json_path) in last
    step = read_snapshot(newest.json_path)[1]["step"]
    assert f" {step};" in last  # the snapshot holds the step the message names

    proc = _run(script, out, step + 1)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert stdout.split()[-1] == str(step + 1)
    assert read_snapshot(list_snapshots(snap_dir)[-1].json_path)[1]["step"] == step + 1
