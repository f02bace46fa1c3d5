"""Issue 24, point 4: `get3d metrics --ckpt RUN --data DATA` (the README's row) runs the metrics whose
inputs are present and names the ones it skipped, instead of dying on the absent Inception network."""
import json

from click.testing import CliRunner

from get3d.cli import cli


def _run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def test_metrics_default_runs_what_it_can_and_names_what_it_skipped(tiny_ckpt, tiny_data, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-hub"))  # no Inception anywhere, downloads off
    monkeypatch.delenv("GET3D_INCEPTION", raising=False)
    monkeypatch.delenv("GET3D_INCEPTION_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = _run("metrics", "--ckpt", tiny_ckpt, "--data", tiny_data, "--num-shapes", "3", "--num-points", "64")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"cov", "mmd", "1nna"} <= set(report) and "fid" not in report
    assert "skipped fid: no Inception network" in result.stderr and "skipped clip: no prompt (--prompt)" in result.stderr
    assert "metrics: generated shapes" in result.stderr  # point 5: its progress bar
