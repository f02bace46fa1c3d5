"""Worker counts and the keying tolerance: a bad value is refused by name before any work,
from the CLI and from Python (a negative --workers used to render in-process silently)."""
import pytest
from click.testing import CliRunner
from PIL import Image

from get3d.cli import cli
from get3d.datasets.check import check_dataset
from get3d.datasets.render_dataset import render_mesh_folder
from get3d.errors import Get3dError
from get3d.invert.target import load_images


@pytest.mark.parametrize("args,message", [
    (["synth-data", "OUT", "--category", "chair", "--num-shapes", "1", "--workers", "-5"],
     "workers (--workers) must be >= 0"),
    (["render-dataset", "MESHES", "OUT", "--workers", "-1"], "workers (--workers) must be >= 0"),
    (["check-data", "DATA", "--workers", "0"], "workers (--workers) must be >= 1"),
])
def test_cli_refuses_bad_worker_counts_before_any_work(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    for folder in ("MESHES", "DATA/img/chair/s0"):
        (tmp_path / folder).mkdir(parents=True)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "OUT").exists()


def test_library_refuses_bad_worker_counts(tmp_path):
    with pytest.raises(Get3dError, match=r"workers \(--workers\) must be >= 0 \(0: render in this process\), got -2"):
        render_mesh_folder(tmp_path, tmp_path / "out", workers=-2)
    with pytest.raises(Get3dError, match=r"workers \(--workers\) must be >= 1, got 0"):
        check_dataset(tmp_path, workers=0)


@pytest.mark.parametrize("tolerance", [-5, 1.5, float("nan")])
def test_key_tolerance_outside_zero_one_is_named(tmp_path, tolerance):
    Image.new("RGB", (32, 32), (255, 255, 255)).save(tmp_path / "a.png")
    with pytest.raises(Get3dError, match=r"tolerance \(--key-tolerance\) must be in \[0, 1\]"):
        load_images([tmp_path / "a.png"], 32, background="white", tolerance=tolerance)


def test_key_tolerance_in_range_still_keys_the_background(tmp_path):
    image = Image.new("RGB", (32, 32), (255, 255, 255))
    image.paste((200, 0, 0), (8, 8, 24, 24))
    image.save(tmp_path / "a.png")
    _, mask = load_images([tmp_path / "a.png"], 32, background="white", tolerance=0.08)
    assert 0.2 < float(mask.mean()) < 0.3  # the 16x16 square of 32x32
