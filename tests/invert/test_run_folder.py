"""Issue 24, point 3 for `get3d invert`: a folder holding another inversion is refused without
--resume (before anything is loaded), and a resume must keep the run's options."""
from click.testing import CliRunner

from get3d.cli import cli

FAST = ["--steps", "3", "--candidates", "2", "--texture-res", "16", "--quiet", "--snapshot-every", "2"]


def _run(args):
    return CliRunner().invoke(cli, ["invert", "--ckpt", "tiny-chair", *args])


def test_invert_refuses_another_run_and_a_resume_with_other_options(tmp_path, sample_pngs):
    args = ["--image", str(sample_pngs[0]), "--rotation", "178.652", "--elevation", "9.223", "--outdir",
            str(tmp_path / "inv"), *FAST]
    assert _run(args).exit_code == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "inv").rglob("*") if p.is_file()}
    again = _run(args)
    assert again.exit_code == 1 and "already holds an invert run" in again.output and "--resume auto" in again.output
    other = _run([*args, "--resume", "auto", "--lr", "0.5"])
    assert other.exit_code == 1 and "lr = 0.02, this run asks for 0.5" in other.output, other.output
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "inv").rglob("*") if p.is_file()} == before
    more = _run([*args, "--resume", "auto", "--steps", "4"])  # more steps: what a resume is for
    assert more.exit_code == 0, more.output
