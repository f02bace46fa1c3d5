import numpy as np
import pytest
import torch
from PIL import Image

from get3d import Get3dError
from get3d.datasets import RenderFolderDataset, load_rgba
from get3d.render.camera import camera_position


def write_shape(root, shape, views=3, category="chair", size=16, mode="RGBA", seed=0):
    """A shape with a known pattern: left half opaque red, right half transparent."""
    img_dir = root / "img" / category / shape
    cam_dir = root / "camera" / category / shape
    img_dir.mkdir(parents=True)
    cam_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for v in range(views):
        rgba = np.zeros((size, size, 4), np.uint8)
        rgba[:, : size // 2] = (255, 0, 0, 255)
        rgba[:, size // 2:, :3] = 77  # colour under zero alpha must vanish
        Image.fromarray(rgba if mode == "RGBA" else rgba[..., :3], mode).save(img_dir / f"{v:03d}.png")
    np.save(cam_dir / "rotation.npy", rng.uniform(0, 360, views))
    np.save(cam_dir / "elevation.npy", rng.uniform(0, 30, views))
    return img_dir, cam_dir


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        write_shape(tmp_path, f"s{i}", seed=i)
    return tmp_path


def test_items_shapes_values_and_cameras(folder):
    ds = RenderFolderDataset(folder)
    assert len(ds) == 9 and ds.report.shapes == 3 and ds.report.categories == ["chair"]
    item = ds[4]
    assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (1, 16, 16)
    assert torch.all(item["image"][:, :, 8:] == 0), "transparent pixels composite to black"
    assert torch.all(item["image"][0, :, :8] == 1) and torch.all(item["mask"][:, :, :8] == 1)
    rot = np.load(folder / "camera/chair/s1/rotation.npy")[1]
    elev = np.load(folder / "camera/chair/s1/elevation.npy")[1]
    assert (item["shape_id"], item["view"]) == ("s1", 1)
    assert item["rotation"].item() == pytest.approx(rot) and item["elevation"].item() == pytest.approx(elev)
    # The pose is camera-to-world: its translation is the camera centre of the convention.
    centre = camera_position(torch.tensor([rot]), torch.tensor([elev]))[0]
    assert torch.allclose(item["pose"][:3, 3], centre.float(), atol=1e-5)
    # Camera looks at the origin: -Z axis of the camera points from the centre to the origin.
    assert torch.allclose(-item["pose"][:3, 2], -centre.float() / centre.norm(), atol=1e-5)


def test_resize_is_area_for_colour_and_mask(folder):
    item = RenderFolderDataset(folder, resolution=4)[0]
    assert item["image"].shape == (3, 4, 4)
    assert torch.allclose(item["mask"][0, :, :2], torch.ones(4, 2)) and torch.all(item["mask"][0, :, 2:] == 0)
    up = RenderFolderDataset(folder, resolution=32)[0]
    assert up["mask"].shape == (1, 32, 32) and 0 < up["mask"][0, 0, 15].item() < 1, "soft edge when enlarging"


def test_area_resize_averages_partial_coverage(tmp_path):
    path = tmp_path / "x.png"
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 255)  # one of the 4 pixels of the top-left 2x2 block
    Image.fromarray(rgba, "RGBA").save(path)
    image, mask = load_rgba(path, 2)
    assert mask[0, 0, 0].item() == pytest.approx(0.25) and image[0, 0, 0].item() == pytest.approx(0.25)


def test_split_file_restricts_shapes(folder):
    split = folder / "train.txt"
    split.write_text("s0\n\ns2  # comment\n")
    ds = RenderFolderDataset(folder, split_file=split)
    assert sorted({ds[i]["shape_id"] for i in range(len(ds))}) == ["s0", "s2"]


def test_works_with_dataloader_workers(folder):
    loader = torch.utils.data.DataLoader(RenderFolderDataset(folder, resolution=8), batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(len(b["shape_id"]) for b in batches) == 9 and batches[0]["image"].shape == (4, 3, 8, 8)


def _corrupt_png(folder):
    (folder / "img/chair/s1/001.png").write_bytes(b"\x89PNG garbage")
    return "s1/001.png"


def _rgb_png(folder):
    Image.new("RGB", (16, 16)).save(folder / "img/chair/s2/000.png")
    return "s2/000.png"


def _missing_rotation(folder):
    (folder / "camera/chair/s0/rotation.npy").unlink()
    return "s0/rotation.npy"


def _wrong_view_count(folder):
    np.save(folder / "camera/chair/s2/rotation.npy", np.zeros(5))
    np.save(folder / "camera/chair/s2/elevation.npy", np.zeros(5))
    return "s2"


def _mismatched_angles(folder):
    np.save(folder / "camera/chair/s1/elevation.npy", np.zeros(2))
    return "s1/elevation.npy"


def _nan_angle(folder):
    np.save(folder / "camera/chair/s0/elevation.npy", np.array([0.0, np.nan, 1.0]))
    return "s0/elevation.npy"


@pytest.mark.parametrize("break_it, skipped_views, skipped_shapes", [
    (_corrupt_png, 1, 0), (_rgb_png, 1, 0), (_missing_rotation, 0, 1),
    (_wrong_view_count, 0, 1), (_mismatched_angles, 0, 1), (_nan_angle, 0, 1),
])
def test_each_problem_names_the_file_or_is_skipped_and_counted(folder, break_it, skipped_views, skipped_shapes):
    culprit = break_it(folder)
    with pytest.raises(Get3dError, match=culprit) as err:
        RenderFolderDataset(folder)
    assert "\n" not in str(err.value) and "--skip-bad" in str(err.value)
    ds = RenderFolderDataset(folder, skip_bad=True)
    assert ds.report.skipped_views == skipped_views and ds.report.skipped_shapes == skipped_shapes
    assert len(ds) == 9 - skipped_views - 3 * skipped_shapes
    for i in range(len(ds)):  # everything left loads
        assert ds[i]["image"].shape == (3, 16, 16)


def test_error_counts_all_problems(folder):
    _corrupt_png(folder)
    _missing_rotation(folder)
    with pytest.raises(Get3dError, match="and 1 more problems"):
        RenderFolderDataset(folder)


def test_truncated_png_caught_by_full_verify(folder):
    path = folder / "img/chair/s0/002.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])
    with pytest.raises(Get3dError, match="s0/002.png"):
        RenderFolderDataset(folder, verify="full")


def test_empty_or_missing_folders(tmp_path):
    with pytest.raises(Get3dError, match="img.*not found"):
        RenderFolderDataset(tmp_path)
    (tmp_path / "img").mkdir()
    with pytest.raises(Get3dError, match="no category folders"):
        RenderFolderDataset(tmp_path)
    (tmp_path / "img" / "car").mkdir()
    with pytest.raises(Get3dError, match="car: category holds no shape folders"):
        RenderFolderDataset(tmp_path)
    with pytest.raises(Get3dError, match="no usable views"):
        RenderFolderDataset(tmp_path, skip_bad=True)
    with pytest.raises(Get3dError, match="no category folder 'plane'"):
        RenderFolderDataset(tmp_path, category="plane")


def test_split_file_errors(folder):
    with pytest.raises(Get3dError, match="nope.txt: split file not found"):
        RenderFolderDataset(folder, split_file=folder / "nope.txt")
    (folder / "other.txt").write_text("x1\nx2\n")
    with pytest.raises(Get3dError, match="listed in the split file"):
        RenderFolderDataset(folder, split_file=folder / "other.txt")
