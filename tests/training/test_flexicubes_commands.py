"""Every command that works with DMTet works with `--iso-surface flexicubes`, on tiny settings.

One tiny FlexiCubes run is trained through `get3d train` (module fixture); the other commands
then read its snapshot through the real loading code: resume, generate, interpolate, metrics,
refine (a FlexiCubes asset refines sdf, deformation and its weights) and finetune-text.
"""
import json

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from get3d.geometry import Mesh
from get3d.snapshot import list_snapshots, read_snapshot

TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu",
        "--iso-surface", "flexicubes"]


def _invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def flexi_run(tiny_data, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("flexi") / "run"
    config = out.parent / "small-grid.json"
    config.write_text(json.dumps({"model": {"tet_res": 12}}))
    result = _invoke("train", "--data", str(tiny_data), "--outdir", str(out), *TINY, "--config", str(config),
                     "--max-steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_train_records_flexicubes_and_resumes(flexi_run, tiny_data):
    snaps = list_snapshots(flexi_run)
    tensors, meta = read_snapshot(snaps[-1].json_path)
    assert meta["config"]["model"]["iso_surface"] == "flexicubes" and meta["config"]["model"]["tet_res"] == 12
    head = [k for k in tensors if "mlp_synthesis_weight" in k]
    assert head and any(k.startswith("G_ema.") for k in head)
    # --resume auto takes the run's own config (FlexiCubes included) and continues.
    result = _invoke("train", "--data", str(tiny_data), "--outdir", str(flexi_run), "--resume", "auto",
                     "--max-steps", "3", "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "trained to step 3" in result.output
    assert read_snapshot(list_snapshots(flexi_run)[-1].json_path)[1]["config"]["model"]["iso_surface"] == "flexicubes"


def test_generate_and_interpolate_write_closed_textured_meshes(flexi_run, tmp_path):
    out = tmp_path / "gen"
    result = _invoke("generate", "--ckpt", str(flexi_run), "--seeds", "0-1", "--outdir", str(out), "--format", "obj",
                     "--texture-res", "32", "--preview-views", "0", "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    meshes = [Mesh.load(p) for p in sorted(out.glob("seed*.obj"))]
    assert meshes
    for mesh in meshes:
        assert mesh.num_faces > 0 and mesh.texture is not None
        # OBJ export splits vertices at UV seams, so check closedness on welded positions.
        welded, inverse = torch.unique(mesh.verts, dim=0, return_inverse=True)
        closed = Mesh(welded, inverse[mesh.faces])
        assert closed.boundary_and_nonmanifold_edges() == (0, 0)
        assert closed.signed_volume() > 0
    result = _invoke("interpolate", "--ckpt", str(flexi_run), "--seeds", "0,1", "--steps", "2", "--mode", "geometry",
                     "--res", "32", "--outdir", str(tmp_path / "interp"), "--meshes", "--texture-res", "16",
                     "--backend", "torch", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "interp" / "interp_geometry_meshes").glob("*.glb"))) == 2


def test_metrics_on_a_flexicubes_checkpoint(flexi_run, tiny_data, tmp_path):
    out = tmp_path / "metrics.json"
    result = _invoke("metrics", "--ckpt", str(flexi_run), "--data", str(tiny_data), "--metrics", "cov,mmd",
                     "--num-shapes", "3", "--num-points", "128", "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["num_gen"] + report["empty_generated"] == 3 and 0 <= report["cov"] <= 1


def test_refine_optimises_a_flexicubes_asset_with_its_weights(flexi_run, tmp_path, monkeypatch):
    from get3d.distill.asset import asset_from_checkpoint
    from get3d.distill.tiny import save_tiny_pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asset = asset_from_checkpoint(str(flexi_run), 0, device="cpu")
    assert asset.iso_surface == "flexicubes" and asset.params.weights.shape == (12**3, 21)
    sd = save_tiny_pipeline(tmp_path / "sd")
    out = tmp_path / "refine"
    result = _invoke("refine", "--ckpt", str(flexi_run), "--seed", "0", "--prompt", "a red vase", "--model", str(sd),
                     "--outdir", str(out), "--texture-res", "16", "--preview-res", "32", "--steps", "2",
                     "--device", "cpu")
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "settings.json").read_text())
    assert settings["asset"]["iso_surface"] == "flexicubes" and settings["finite_steps"] == 2
    tensors, _ = read_snapshot(sorted((out / "snapshots").glob("snapshot-*.json"))[-1])
    refined = tensors["asset.weights"]
    assert refined.shape == asset.params.weights.shape
    assert not torch.equal(refined, asset.params.weights.detach()), "the weights were refined"
    mesh = Mesh.load(out / "refined.obj")
    assert mesh.num_faces > 0


def test_finetune_text_on_a_flexicubes_checkpoint(flexi_run, tmp_path, monkeypatch):
    from tests.text.stand_ins import save_tiny_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = save_tiny_clip(tmp_path / "clip")
    out = tmp_path / "ft"
    result = _invoke("finetune-text", "--ckpt", str(flexi_run), "--source", "a vase", "--target", "a golden vase",
                     "--outdir", str(out), "--clip", str(clip), "--batch", "1", "--views", "2", "--grid-seeds", "1",
                     "--iters", "1", "--layers", "all", "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    snap = sorted(out.glob("snapshot-*.json"))[-1]
    assert read_snapshot(snap)[1]["config"]["model"]["iso_surface"] == "flexicubes"
    gen = _invoke("generate", "--ckpt", str(out), "--seeds", "0", "--outdir", str(tmp_path / "samples"),
                  "--format", "obj", "--texture-res", "16", "--preview-views", "0", "--quiet", "--device", "cpu")
    assert gen.exit_code == 0, gen.output


@pytest.mark.slow  # ~35 s; the DMTet twin in test_cli_train.py covers the relaunch in the default suite
def test_torchrun_two_ranks_train_flexicubes(tiny_data, tmp_path):
    """`--gpus 2` relaunches through torchrun with --iso-surface passed on; both gloo ranks train."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    config = tmp_path / "small-grid.json"
    config.write_text(json.dumps({"model": {"tet_res": 10}}))
    proc = subprocess.run([sys.executable, "-m", "get3d", "train", "--data", str(tiny_data), "--outdir",
                           str(tmp_path / "run"), *TINY, "--config", str(config), "--batch", "4", "--gpus", "2",
                           "--max-steps", "2", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--iso-surface flexicubes" in proc.stderr  # the relaunch command line
    [snap] = [s for s in list_snapshots(tmp_path / "run") if s.images_seen == 8]
    meta = read_snapshot(snap.json_path)[1]
    assert meta["world_size"] == 2 and meta["config"]["model"]["iso_surface"] == "flexicubes"
