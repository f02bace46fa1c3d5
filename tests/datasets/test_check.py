"""`get3d check-data` finds what the training start-up check lets through (truncated pixels) and
layout errors, names each file, and exits non-zero when anything is bad."""
import shutil

import numpy as np
from click.testing import CliRunner

from get3d.cli import cli
from get3d.datasets.check import check_dataset


def test_clean_folder_passes(tiny_data):
    report = check_dataset(tiny_data, progress=False)
    assert report.ok and (report.shapes, report.images) == (3, 12)
    result = CliRunner().invoke(cli, ["check-data", str(tiny_data), "--quiet"])
    assert result.exit_code == 0 and "checked 3 shapes, 12 images" in result.output and "all good" in result.output


def test_bad_files_are_each_named_and_exit_non_zero(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    truncated = root / "img/vase/vase_00000/001.png"
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage = root / "img/vase/vase_00002/003.png"
    garbage.write_bytes(b"not a png")
    np.save(root / "camera/vase/vase_00001/elevation.npy", np.array([1.0, np.nan, 2.0, 3.0]))
    report = check_dataset(root, workers=2, progress=False)
    bad = dict(report.problems)
    assert set(bad) == {str(truncated), str(garbage), str(root / "camera/vase/vase_00001/elevation.npy")}
    assert "truncated" in bad[str(truncated)] and "NaN" in bad[str(root / "camera/vase/vase_00001/elevation.npy")]

    result = CliRunner().invoke(cli, ["check-data", str(root), "--quiet"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert sum(line.startswith("bad: ") for line in lines) == 3
    assert lines[-1].startswith("get3d: error: ") and "3 bad" in lines[-1] and "--skip-bad" in lines[-1]


def test_split_and_category_restrict_the_check(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    (root / "img/vase/vase_00002/000.png").write_bytes(b"")
    split = tmp_path / "train.txt"
    split.write_text("vase_00000\nvase_00001\n")
    assert check_dataset(root, "vase", split, progress=False).ok
    assert not check_dataset(root, progress=False).ok
    result = CliRunner().invoke(cli, ["check-data", str(root), "--category", "car"])
    assert result.exit_code == 1 and "no category folder 'car'" in result.output
