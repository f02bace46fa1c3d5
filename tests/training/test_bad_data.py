"""Data errors during training: a truncated PNG (which passes the header check at start-up) must
not kill a run without a snapshot. Without --skip-bad the run stops with one line and a snapshot;
with it the image is skipped, logged, counted in TensorBoard and in the final summary."""
import shutil

import pytest
from click.testing import CliRunner

from get3d.cli import cli
from get3d.datasets import RenderFolderDataset
from get3d.snapshot import list_snapshots
from get3d.training.loop import train

from .conftest import tiny_config

TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu"]


@pytest.fixture
def truncated_data(tiny_data, tmp_path):
    """The tiny dataset (3 vases x 4 views) with one PNG cut to half its bytes."""
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    victim = root / "img" / "vase" / "vase_00001" / "002.png"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    return root, victim


def test_truncated_png_passes_the_header_check_but_fails_to_decode(truncated_data):
    root, victim = truncated_data
    ds = RenderFolderDataset(root, resolution=32)  # the default start-up check: headers only
    assert ds.report.problems == []
    index = [i for i, (s, v) in enumerate(ds.index) if ds.shapes[s].images[v] == victim][0]
    with pytest.raises(Exception, match="002.png: unreadable image"):
        ds[index]
    replaced = RenderFolderDataset(root, resolution=32, on_bad_image="replace")[index]
    assert str(victim) in replaced["bad_files"] and "\n" not in replaced["bad_files"]
    assert (replaced["shape_id"], replaced["view"]) == ("vase_00001", 3), "the next view stands in"


def test_without_skip_bad_the_run_stops_after_a_snapshot_with_one_line(truncated_data, tmp_path):
    root, victim = truncated_data
    out = tmp_path / "run"
    # snapshot every 100 steps: any snapshot on disk was written because of the bad image
    result = CliRunner().invoke(cli, ["train", "--data", str(root), "--outdir", str(out), *TINY[:-4],
                                      "--snapshot-kimg", "0.2", "--device", "cpu", "--max-steps", "12", "--quiet"])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"get3d: error: {victim}: unreadable image")
    assert f"get3d check-data {root}" in line and "--skip-bad" in line and "skip_bad=True" in line
    snaps = list_snapshots(out)
    assert len(snaps) == 1 and 0 < snaps[0].images_seen < 24, "stopped mid-run with the progress saved"
    assert f"snapshot {snaps[0].json_path}" in line

    # --resume auto --skip-bad continues from that snapshot to the end
    result = CliRunner().invoke(cli, ["train", "--data", str(root), "--outdir", str(out), "--resume", "auto",
                                      "--skip-bad", "--max-steps", "12", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "trained to step 12" in result.output
    assert "skipped bad data: 0 problems when opening" in result.output and "1 images that failed" in result.output


def test_with_skip_bad_the_image_is_skipped_logged_and_counted(truncated_data, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, victim = truncated_data
    out = tmp_path / "run"
    # 12 views, batch 2: six steps see every view once, twelve see each twice
    result = train(tiny_config(), root, out, device="cpu", max_steps=12, progress=False,
                   skip_bad=True)
    assert result.steps == 12
    assert len(result.skipped_images) == 1 and result.skipped_images[0].startswith(f"{victim}: unreadable image")
    err = capsys.readouterr().err
    assert err.count(f"skipped unreadable image {victim}") == 1, "logged once, not every epoch"
    events = EventAccumulator(str(out)).Reload()
    values = [e.value for e in events.Scalars("Progress/skipped_images")]
    assert values[-1] == 1 and min(values) >= 0


def test_skip_bad_lists_what_opening_the_folder_skipped(tiny_data, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    (root / "camera" / "vase" / "vase_00002" / "rotation.npy").unlink()
    result = train(tiny_config(), root, tmp_path / "run", device="cpu", max_steps=1, progress=False, skip_bad=True)
    assert [p for p, _ in result.data_problems] == [str(root / "camera/vase/vase_00002/rotation.npy")]
    err = capsys.readouterr().err
    assert "dataset: 2 shapes, 8 views" in err and "vase_00002/rotation.npy: missing camera file" in err


def test_init_starts_a_fresh_run_from_the_bundled_model(tiny_data, tmp_path):
    """--init: G and G_ema start as the bundled model's G_ema; the fresh D is what trains."""
    import torch

    from get3d.checkpoint import load_generator, resolve_checkpoint
    from get3d.snapshot import read_snapshot
    from get3d.training.loop import train
    from get3d.training.options import build_config

    base = read_snapshot(resolve_checkpoint("tiny-chair"), verify=False)[1]["config"]
    cfg = build_config(None, base=base, resolution=32, kimg=0.004, snapshot_kimg=0.004)
    cfg.data.workers = 0
    result = train(cfg, tiny_data, tmp_path / "run", device="cpu", progress=False, max_steps=0, init="tiny-chair")
    bundled, _ = load_generator("tiny-chair", device="cpu")
    for key, value in bundled.state_dict().items():
        assert torch.equal(result.state.G_ema.state_dict()[key], value), key
        assert torch.equal(result.state.G.state_dict()[key], value), key
