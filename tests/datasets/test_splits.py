"""GET3D's published splits by name (`--split get3d-chair`): fetched from a file:// mirror laid out
like GET3D's 3dgan_data_split/, sha256-verified, cached; clear errors offline or when corrupt."""
import hashlib

import pytest
from click.testing import CliRunner

from get3d import Get3dError
from get3d.cli import cli
from get3d.datasets import splits
from get3d.datasets.render_folder import read_split_file
from get3d.datasets.splits import GET3D_SPLITS, resolve_split


def _mirror(tmp_path, monkeypatch, contents: dict[tuple[str, str], str]):
    """A local copy of GET3D's split folder; the expected hashes are pinned to these contents."""
    root = tmp_path / "mirror"
    pins = dict(GET3D_SPLITS)
    for (category, part), text in contents.items():
        path = root / f"shapenet_{category}" / f"{part}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        pins[(category, part)] = (hashlib.sha256(text.encode()).hexdigest(), len(text.split()))
    monkeypatch.setattr(splits, "GET3D_SPLITS", pins)
    monkeypatch.setenv("GET3D_SPLIT_URL", root.as_uri())
    monkeypatch.setenv("GET3D_OFFLINE", "0")
    return root


def test_name_is_fetched_verified_and_cached(tmp_path, monkeypatch):
    root = _mirror(tmp_path, monkeypatch, {("chair", "train"): "aaa\nbbb\n", ("chair", "test"): "ccc\n"})
    path = resolve_split("get3d-chair")
    assert path.name == "get3d-chair-train.txt" and read_split_file("get3d-chair") == ["aaa", "bbb"]
    assert read_split_file("get3d-chair-test") == ["ccc"]
    # Cached: works with the mirror gone and downloads off.
    (root / "shapenet_chair" / "train.txt").unlink()
    monkeypatch.setenv("GET3D_OFFLINE", "1")
    assert resolve_split("get3d-chair") == path


def test_corrupt_download_leaves_nothing_and_says_so(tmp_path, monkeypatch):
    root = _mirror(tmp_path, monkeypatch, {("car", "train"): "x1\n"})
    (root / "shapenet_car" / "train.txt").write_text("tampered\n")
    with pytest.raises(Get3dError, match="sha256") as err:
        resolve_split("get3d-car")
    assert "\n" not in str(err.value)
    assert not list((tmp_path.parent).rglob("get3d-car-train.txt"))


def test_offline_unknown_and_plain_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("GET3D_OFFLINE", "1")
    with pytest.raises(Get3dError, match="downloads are off"):
        resolve_split("get3d-motorbike-val")
    with pytest.raises(Get3dError, match="unknown split 'get3d-plane'"):
        resolve_split("get3d-plane")
    plain = tmp_path / "mine.txt"
    plain.write_text("s1\n")
    assert resolve_split(plain) == plain and read_split_file(plain) == ["s1"]


def test_pinned_hashes_cover_every_published_split():
    assert {c for c, _ in GET3D_SPLITS} == {"car", "chair", "motorbike"}
    assert all(len(sha) == 64 and count > 0 for sha, count in GET3D_SPLITS.values())
    assert splits.SPLIT_BASE_URL.startswith("https://raw.githubusercontent.com/nv-tlabs/GET3D/")


def test_check_data_and_train_accept_a_split_name(tiny_data, tmp_path, monkeypatch):
    from get3d.datasets.render_folder import RenderFolderDataset

    shapes = [s.shape_id for s in RenderFolderDataset(tiny_data, verify="none").shapes][:2]
    _mirror(tmp_path, monkeypatch, {("chair", "train"): "\n".join(shapes) + "\n"})
    result = CliRunner().invoke(cli, ["check-data", str(tiny_data), "--split", "get3d-chair", "--quiet"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_data), "--outdir", str(out), "--preset", "tiny",
                                      "--resolution", "32", "--batch", "2", "--device", "cpu", "--max-steps", "1",
                                      "--split", "get3d-chair", "--quiet"])
    assert result.exit_code == 0, result.output
    assert RenderFolderDataset(tiny_data, split_file="get3d-chair", verify="none").shapes[0].shape_id in shapes
    assert len(RenderFolderDataset(tiny_data, split_file="get3d-chair", verify="none").shapes) == 2


def test_offline_cli_error_is_one_line(tiny_data, monkeypatch):
    monkeypatch.setenv("GET3D_OFFLINE", "1")
    result = CliRunner().invoke(cli, ["check-data", str(tiny_data), "--split", "get3d-car-test", "--quiet"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("get3d: error: split get3d-car-test")
    assert "downloads are off" in lines[0]
