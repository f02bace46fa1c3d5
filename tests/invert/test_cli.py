"""`get3d invert` from the command line: outputs, --resume, and one-line errors for bad input."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from get3d.cli import cli
from get3d.invert.latents import load_latents

from .conftest import write_rgba

FAST = ["--steps", "12", "--candidates", "4", "--texture-res", "32", "--quiet", "--snapshot-every", "5"]


def _run(args):
    return CliRunner().invoke(cli, ["invert", "--ckpt", "tiny-chair", *args], catch_exceptions=False)


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("get3d: error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_images_with_cameras_write_every_output(tmp_path, sample, sample_pngs):
    out = tmp_path / "out"
    rot = ",".join(f"{v:.3f}" for v in sample["cameras"].rotation[:2].tolist())
    elev = ",".join(f"{v:.3f}" for v in sample["cameras"].elevation[:2].tolist())
    result = _run(["--image", str(sample_pngs[0]), "--image", str(sample_pngs[1]), "--rotation", rot,
                   "--elevation", elev, "--outdir", str(out), *FAST])
    assert result.exit_code == 0, result.output
    for name in ("latents.safetensors", "inverted.glb", "inverted.obj", "before_after.png", "progress.gif",
                 "metrics.json", "settings.json", "index.html"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    # The gallery every export command writes, with the inverted GLB in a 3-D viewer (issue 24).
    page = (out / "index.html").read_text()
    assert "<model-viewer" in page and "before_after.png" in page and (out / "viewer").is_dir()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["final"]["iou"]) == 2 and metrics["final"]["iou_mean"] > metrics["search"]["iou_mean"]
    latents = load_latents(out / "latents.safetensors")
    assert latents.w_geo.shape == (1, 13, 64) and latents.w_tex.shape == (1, 6, 64)
    assert torch.allclose(latents.rotation, sample["cameras"].rotation[:2], atol=1e-3)
    assert latents.settings["target"]["cameras"] == "given"
    settings = json.loads((out / "settings.json").read_text())
    assert settings["options"]["steps"] == 12 and settings["metrics"]["iou_mean"] == metrics["final"]["iou_mean"]
    with Image.open(out / "before_after.png") as img:
        assert img.size == (2 * 64, 2 * 64)  # target row, result row; one column per view


def test_resume_auto_continues_to_the_same_codes(tmp_path, sample_pngs, monkeypatch):
    """A run stopped after its step-10 snapshot, resumed with --resume auto, ends where an
    uninterrupted run ends."""
    import get3d.invert.optimize as optimize

    args = ["--image", str(sample_pngs[0]), "--rotation", "178.652", "--elevation", "9.223", *FAST,
            "--snapshot-every", "5"]
    assert _run([*args, "--outdir", str(tmp_path / "whole")]).exit_code == 0
    real = optimize.inversion_loss

    def dies_at_step_11(*a, **k):
        if a[7] == 11:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(optimize, "inversion_loss", dies_at_step_11)
    assert _run([*args, "--outdir", str(tmp_path / "cut")]).exit_code != 0  # click: "Aborted!"
    monkeypatch.setattr(optimize, "inversion_loss", real)
    assert not (tmp_path / "cut" / "latents.safetensors").exists()
    result = _run([*args, "--outdir", str(tmp_path / "cut"), "--resume", "auto"])
    assert result.exit_code == 0, result.output
    whole = load_latents(tmp_path / "whole" / "latents.safetensors")
    cut = load_latents(tmp_path / "cut" / "latents.safetensors")
    assert cut.settings["resumed_from_step"] == 10
    assert torch.allclose(whole.w_geo, cut.w_geo, atol=1e-5) and torch.allclose(whole.w_tex, cut.w_tex, atol=1e-5)


def test_image_without_a_usable_mask(tmp_path):
    rgb = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(rgb)
    _one_line_error(_run(["--image", str(rgb), "--outdir", str(tmp_path / "o")]), "photo.png", "no usable mask")
    # Keyed against its own colour nothing is left: still no usable mask.
    _one_line_error(_run(["--image", str(rgb), "--background", "200,200,200", "--outdir", str(tmp_path / "o")]),
                    "photo.png", "no usable mask")


def test_background_keying_gives_the_mask(tmp_path, sample):
    """A render on a flat blue background, keyed, gives back the silhouette."""
    from get3d.invert.target import load_images

    blue = torch.tensor([0.1, 0.2, 0.9]).view(3, 1, 1)
    hard = (sample["mask"][0] > 0.5).float()
    rgb = sample["rgb"][0] * hard + blue * (1 - hard)
    path = tmp_path / "blue.png"
    Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(path)
    _, mask = load_images([path], 64, background="0.1,0.2,0.9")
    iou = ((mask[0] > 0.5) & (hard > 0.5)).sum() / ((mask[0] > 0.5) | (hard > 0.5)).sum()
    assert float(iou) > 0.97


def test_mismatched_image_and_camera_counts(tmp_path, sample_pngs):
    _one_line_error(_run(["--image", str(sample_pngs[0]), "--image", str(sample_pngs[1]), "--rotation", "30",
                          "--elevation", "10", "--outdir", str(tmp_path / "o")]), "2 images", "1 rotations")


def test_empty_and_open_meshes(tmp_path):
    empty = tmp_path / "empty.obj"
    empty.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    _one_line_error(_run(["--mesh", str(empty), "--outdir", str(tmp_path / "o")]), "empty.obj", "empty")
    sheet = tmp_path / "sheet.obj"
    sheet.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n")
    _one_line_error(_run(["--mesh", str(sheet), "--outdir", str(tmp_path / "o")]), "sheet.obj", "open")


def test_checkpoint_without_texture_branch(tmp_path, chair, sample_pngs):
    from get3d.checkpoint import resolve_checkpoint
    from get3d.snapshot import read_snapshot

    from safetensors.torch import save_file

    tensors, meta = read_snapshot(resolve_checkpoint("tiny-chair"))
    kept = {k: v for k, v in tensors.items() if "mapping_tex" not in k and "mlp_synthesis_tex" not in k}
    save_file(kept, str(tmp_path / "geo.safetensors"))
    meta["weights"] = {"file": "geo.safetensors"}
    (tmp_path / "geo.json").write_text(json.dumps(meta))
    result = CliRunner().invoke(cli, ["invert", "--ckpt", str(tmp_path / "geo.json"), "--image", str(sample_pngs[0]),
                                      "--outdir", str(tmp_path / "o")])
    _one_line_error(result, "geo.json", "no texture branch")


def test_target_and_options_are_checked_before_any_work(tmp_path, sample_pngs):
    _one_line_error(_run(["--outdir", str(tmp_path / "o")]), "--image", "--mesh")
    _one_line_error(_run(["--image", str(sample_pngs[0]), "--rotation", "0", "--outdir", str(tmp_path / "o")]),
                    "--elevation")
    _one_line_error(_run(["--image", str(sample_pngs[0]), "--steps", "-1", "--outdir", str(tmp_path / "o")]),
                    "--steps")


def test_mesh_through_the_cli_records_its_normalisation(tmp_path, sample_glb):
    out = tmp_path / "out"
    result = _run(["--mesh", str(sample_glb), "--views", "2", "--outdir", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "Chamfer" in result.output
    settings = json.loads((out / "settings.json").read_text())
    # tiny-chair records no category: render-dataset's / synth-data's 0.9, and it says so.
    assert settings["target"]["scale"] == 0.9 and "0.9" in settings["target"]["scale_from"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["chamfer_x1e3"] > 0 and len(metrics["final"]["iou"]) == 2


def test_camera_folder_gives_the_cameras(tmp_path, sample, sample_pngs):
    cams = tmp_path / "camera"
    cams.mkdir()
    np.save(cams / "rotation.npy", sample["cameras"].rotation.numpy())
    np.save(cams / "elevation.npy", sample["cameras"].elevation.numpy())
    out = tmp_path / "out"
    result = _run(["--image", str(sample_pngs[0]), "--image", str(sample_pngs[1]), "--cameras", str(cams),
                   "--outdir", str(out), *FAST])
    assert result.exit_code == 0, result.output
    latents = load_latents(out / "latents.safetensors")
    assert torch.allclose(latents.rotation, sample["cameras"].rotation[:2])
    np.save(cams / "rotation.npy", sample["cameras"].rotation.numpy()[:1])
    _one_line_error(_run(["--image", str(sample_pngs[0]), "--image", str(sample_pngs[1]), "--cameras", str(cams),
                          "--outdir", str(tmp_path / "o")]), "camera", "2 images")


@pytest.mark.parametrize("stage,at", [("optimize", 7), ("tune", 14)])
def test_sigint_stops_gracefully_and_resume_gives_the_uninterrupted_run(tmp_path, sample, stage, at):
    """Ctrl-C mid-run (get3d._interrupt): the step in flight finishes, a snapshot of it is written,
    Interrupted names it (exit status 130), and --resume auto ends where an uninterrupted run ends."""
    import os
    import signal

    from get3d._interrupt import Interrupted
    from get3d.invert.optimize import InvertOptions, invert
    from get3d.invert.target import InvertTarget
    from get3d.checkpoint import load_generator
    from get3d.snapshot import list_snapshots

    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, default_int_handler otherwise
    G, _ = load_generator("tiny-chair", "cpu")
    target = InvertTarget(sample["rgb"][:1], sample["mask"][:1], sample["cameras"][:1])
    options = InvertOptions(steps=12, candidates=2, tune_steps=6, snapshot_every=5, frame_every=0)
    whole = invert(G, target, options, snapshot_dir=tmp_path / "whole")

    def ctrl_c(stage_now, step, parts):
        if stage_now == stage and step == at:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted) as caught:
        invert(G, target, options, snapshot_dir=tmp_path / "cut", callback=ctrl_c)
    assert caught.value.exit_code == 130 and f"at step {at + 1}" in str(caught.value)
    assert list_snapshots(tmp_path / "cut")[-1].images_seen == at + 1
    resumed = invert(G, target, options, snapshot_dir=tmp_path / "cut", resume="auto")
    assert resumed.resumed_from == at + 1
    assert torch.allclose(resumed.ws_geo, whole.ws_geo, atol=1e-5)
    assert resumed.metrics["iou"] == pytest.approx(whole.metrics["iou"], abs=1e-4)
    assert signal.getsignal(signal.SIGINT) is handler_before  # handlers restored
