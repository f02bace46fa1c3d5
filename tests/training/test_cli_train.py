"""`get3d train` on the command line: smoke run, resume from the run's own config, errors, and
the torchrun relaunch of --gpus N."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from get3d.snapshot import list_snapshots, read_snapshot

TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu"]


def _train(*args):
    return CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)


def test_train_smoke_then_resume_with_the_runs_own_config(tiny_data, tmp_path):
    out = tmp_path / "run"
    result = _train("--data", str(tiny_data), "--outdir", str(out), *TINY, "--max-steps", "3", "--quiet")
    assert result.exit_code == 0, result.output
    assert "trained to step 3 (0.006 kimg, 0 steps skipped)" in result.output
    assert f"last snapshot: {out / 'snapshot-000000006.json'}" in result.output
    assert f"tensorboard --logdir {out}" in result.output
    assert [s.images_seen for s in list_snapshots(out)] == [4, 6]

    # no --preset: --resume auto takes the config saved in the run folder
    result = _train("--data", str(tiny_data), "--outdir", str(out), "--resume", "auto", "--max-steps", "4",
                    "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "trained to step 4 (0.008 kimg" in result.output
    assert read_snapshot(out / "snapshot-000000008.json")[1]["config"]["data"]["resolution"] == 32


@pytest.mark.parametrize("extra, message", [
    (["--resolution", "48"], "get3d: error: data.resolution (--resolution) must be a power of two >= 16, got 48"),
    (["--gpus", "0"], "get3d: error: --gpus must be >= 1, got 0"),
])
def test_bad_options_give_one_line_errors(tiny_data, tmp_path, extra, message):
    result = _train("--data", str(tiny_data), "--outdir", str(tmp_path), "--preset", "tiny", *extra)
    assert result.exit_code == 1
    assert result.output.strip() == message


def test_missing_snapshot_and_unavailable_device_are_named(tiny_data, tmp_path):
    result = _train("--data", str(tiny_data), "--outdir", str(tmp_path), *TINY, "--resume", str(tmp_path / "s.json"))
    assert result.exit_code == 1 and result.output.strip() == f"get3d: error: {tmp_path / 's.json'}: snapshot not found"
    if not torch.cuda.is_available():
        result = _train("--data", str(tiny_data), "--outdir", str(tmp_path), *TINY[:-2], "--device", "cuda")
        assert result.output.strip() == "get3d: error: device (--device) cuda: CUDA is not available on this machine"


def test_missing_dataset_and_missing_preset_are_named(tmp_path):
    result = _train("--data", str(tmp_path / "nowhere"), "--outdir", str(tmp_path / "o"), *TINY)
    assert result.exit_code == 1 and "nowhere/img: not found" in result.output
    result = _train("--data", str(tmp_path), "--outdir", str(tmp_path / "o"))
    assert result.exit_code == 1 and "give preset_name (--preset NAME) or config_file (--config FILE)" in result.output


def test_gpus_relaunches_through_torchrun(monkeypatch, tmp_path):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    seen = {}

    def fake_run(command):
        seen["command"] = command
        return 0

    import get3d._interrupt

    # the launcher runs torchrun through run_forwarding_signals (SIGTERM passed on, not fatal to it)
    monkeypatch.setattr(get3d._interrupt, "run_forwarding_signals", fake_run)
    result = _train("--data", "d", "--outdir", "o", "--preset", "tiny", "--gpus", "2", "--kimg", "5", "--quiet")
    assert result.exit_code == 0, result.output
    assert seen["command"] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               "-m", "get3d", "train", "--data", "d", "--outdir", "o", "--preset", "tiny",
                               "--kimg", "5.0", "--quiet"]


@pytest.mark.slow
def test_gpus_2_on_cpu_runs_two_gloo_ranks_through_torchrun(tiny_data, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "get3d", "train", "--data", str(tiny_data), "--outdir",
                           str(tmp_path), *TINY[:-2], "--batch", "4", "--gpus", "2", "--device", "cpu",
                           "--max-steps", "2", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained to step 2 (0.008 kimg" in proc.stdout
    [snap] = [s for s in list_snapshots(tmp_path) if s.images_seen == 8]
    assert read_snapshot(snap.json_path)[1]["world_size"] == 2


def test_metrics_at_snapshots_are_logged(tiny_data, tmp_path):
    """`--metrics cov,mmd` computes geometry metrics of G_ema at each snapshot into metrics.jsonl."""
    import json

    out = tmp_path / "run"
    result = _train("--data", str(tiny_data), "--outdir", str(out), *TINY, "--max-steps", "2", "--quiet",
                    "--metrics", "cov,mmd", "--metrics-shapes", "3")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # Every snapshot (the one at 2 steps) logs both metrics: this seed's early generator has shapes.
    assert len(records) == 1 and records[0]["images_seen"] == 4, records
    assert 0 <= records[0]["cov"] <= 1 and records[0]["mmd"] > 0, records
    assert "generated shapes are empty" not in result.output
    result = _train("--data", str(tiny_data), "--outdir", str(tmp_path / "x"), *TINY, "--metrics", "fid,psnr")
    assert result.exit_code == 1 and "unknown metric 'psnr'" in result.output


def test_train_split_and_category_reach_the_config(tiny_data, tmp_path):
    from get3d.cli import cli
    from click.testing import CliRunner

    shapes = sorted(p.name for p in (tiny_data / "img" / "vase").iterdir())
    split = tmp_path / "train.txt"
    split.write_text(shapes[0] + "\n" + shapes[1] + "\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_data), "--outdir", str(out), "--preset", "tiny",
                                      "--resolution", "32", "--max-steps", "1", "--split", str(split),
                                      "--category", "vase", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    import json

    saved = json.loads((out / "config.json").read_text())["data"]
    assert saved["split_file"] == str(split) and saved["category"] == "vase"


def test_the_relaunch_repasses_every_train_option_given(monkeypatch):
    """Built from the command's own click parameters: an option added to `train` later is
    re-passed to the torchrun workers without anyone keeping a list."""
    import click

    from get3d.cli import cli

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    seen = {}
    import get3d._interrupt

    monkeypatch.setattr(get3d._interrupt, "run_forwarding_signals", lambda command: seen.setdefault("command", command)
                        and 0)
    given = []
    for param in cli.commands["train"].params:
        # --threads reaches the workers through the environment it sets (OMP_NUM_THREADS), not argv.
        if not isinstance(param, click.Option) or param.name in ("gpus", "help", "threads"):
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            given.append((flag,))
        else:
            if isinstance(param.type, click.Choice):
                given.append((flag, str(param.type.choices[-1])))
                continue
            kind = param.type.name if hasattr(param.type, "name") else "text"
            given.append((flag, {"integer": "3", "float": "0.5", "integer range": "16",
                                 "float range": "0.5"}.get(kind, "x")))
    args = [a for pair in given for a in pair]
    assert "--data" in args and "--skip-bad" in args
    result = _train(*args, "--gpus", "2")
    assert result.exit_code == 0, result.output
    relaunched = seen["command"][seen["command"].index("train") + 1:]
    pairs, i = set(), 0
    while i < len(relaunched):
        if i + 1 < len(relaunched) and not relaunched[i + 1].startswith("--"):
            pairs.add((relaunched[i], relaunched[i + 1]))
            i += 2
        else:
            pairs.add((relaunched[i],))
            i += 1
    assert pairs == set(given) and "--gpus" not in relaunched
