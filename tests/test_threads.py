"""Issue 24, point 1: --threads auto, before torch loads, keeps one thread per core and sets OpenMP's
passive wait policy when the machine is busy (the default spinning wait when idle); where that is no longer possible it uses the cores nobody else is using (1 on a busy
machine), measured from /proc/stat; explicit choices win."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from get3d import Get3dError
from get3d import threads as th


def test_parse_threads():
    assert th.parse_threads(None) == "auto" and th.parse_threads(" Auto ") == "auto"
    assert th.parse_threads("default") == "default" and th.parse_threads("3") == 3
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(Get3dError, match="--threads"):
            th.parse_threads(bad)


@pytest.mark.parametrize("free,cores,expected", [(0.0, 2, 1), (0.4, 2, 1), (1.0, 2, 1), (1.6, 2, 2), (2.0, 2, 2),
                                                 (5.2, 16, 5), (16.0, 16, 16), (0.2, 16, 1)])
def test_auto_rule_uses_the_free_cores(free, cores, expected):
    assert th.auto_threads(cores=cores, free=free) == expected


def test_free_cores_reads_the_idle_share_of_proc_stat(monkeypatch):
    samples = iter([(100.0, 1000.0), (150.0, 1200.0)])  # 50 idle of 200 jiffies: a quarter idle
    monkeypatch.setattr(th, "_cpu_times", lambda: next(samples))
    assert th.free_cores(cores=4, sample_seconds=0) == pytest.approx(1.0)


def test_a_busy_machine_gets_one_thread(monkeypatch):
    samples = iter([(0.0, 1000.0), (0.0, 1400.0)])  # nothing idle
    monkeypatch.setattr(th, "_cpu_times", lambda: next(samples))
    assert th.auto_threads(cores=2) == 1


@pytest.mark.parametrize("machine,policy", [("busy", "PASSIVE"), ("idle", "None")])
def test_configure_before_torch_picks_the_wait_by_load_and_the_cli_applies_it(machine, policy):
    """One fresh interpreter per case (OpenMP reads its environment once, when torch loads): auto
    chooses before torch is imported (one thread per core; passive wait only on a busy machine,
    where docs/benchmarks.md measured it 1.5-10x faster than the default, which in turn was 1.9x
    faster idle); then the CLI's option applies an explicit choice."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GET3D_THREADS")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    free = "0.0" if machine == "busy" else "float(cores or th.usable_cores())"
    code = ("import os, sys\n"
            "import get3d.threads as th\n"
            f"th.free_cores = lambda cores=None, sample_seconds=0.2: {free}\n"
            "n = th.configure_threads('auto')\n"
            "import torch\n"
            "print(n, torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))\n"
            "from get3d.cli import cli\n"
            "import click\n"
            "@cli.command('probe')\n"
            "def probe():\n    click.echo(torch.get_num_threads())\n"
            "cli(['probe', '--threads', '1'], prog_name='get3d')")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (n, torch_threads, got_policy), (probed,) = (line.split() for line in out.stdout.strip().splitlines())
    assert n == torch_threads == str(th.usable_cores()) and got_policy == policy
    assert probed == "1"


@pytest.mark.parametrize("free,cores,idle", [(2.0, 2, True), (1.6, 2, True), (1.4, 2, False), (0.0, 2, False),
                                              (15.5, 16, True), (12.0, 16, False)])
def test_idle_means_every_core_free(free, cores, idle):
    assert th.machine_is_idle(cores, free) is idle


def test_with_torch_loaded_and_no_passive_wait_auto_takes_the_free_cores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    samples = iter([(0.0, 1000.0), (0.0, 1400.0)])  # a busy machine
    monkeypatch.setattr(th, "_cpu_times", lambda: next(samples))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # restored by monkeypatch; configure_threads sets it
    try:
        assert th.configure_threads("auto") == 1 and torch.get_num_threads() == 1
        assert "OMP_WAIT_POLICY" not in os.environ  # too late for torch: not pretended
    finally:
        torch.set_num_threads(before)


def test_explicit_choices_win(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert th.configure_threads("auto") is None  # the user's OMP_NUM_THREADS wins over auto
        assert th.configure_threads("default") is None
        assert th.configure_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
