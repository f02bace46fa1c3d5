"""Issue 24, points 5 and 8: every phase longer than a few seconds shows a progress bar (interpolate,
metrics, refine --mesh's fit, distill-2d's bar ending at N/N), each command ends by saying where its
outputs are, and refine's "wrote N files" counts the files on disk."""
import re
from pathlib import Path

import pytest
import torch
import trimesh
from click.testing import CliRunner

from get3d.cli import cli
from get3d.distill import AnalyticPrior
from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.options import Distill2dOptions
from get3d.distill.playground import distill_2d
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import refine


def _prior():
    return AnalyticPrior(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16).clone())


def test_interpolate_shows_progress_and_where_its_outputs_are(tmp_path):
    result = CliRunner().invoke(cli, ["interpolate", "--ckpt", "tiny-chair", "--seeds", "0,1,2", "--steps", "2",
                                      "--res", "32", "--outdir", str(tmp_path / "walk")])
    assert result.exit_code == 0, result.output
    assert re.search(r"interpolate: walks: 100%.*2/2", result.stderr), result.stderr
    assert f"outputs in {tmp_path / 'walk'}" in result.stdout


def test_distill_2d_bar_ends_at_n_of_n(tmp_path, capsys):
    distill_2d(_prior(), "a red square", Distill2dOptions("sds", steps=5, every=2), tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "6/6" not in err and not re.search(r"\b5/6\b", err), err


def test_refine_mesh_fit_shows_progress(tmp_path, capsys):
    pytest.importorskip("igl")
    from get3d.distill.mesh_asset import asset_from_mesh

    box = trimesh.creation.box((1.0, 0.6, 0.4))
    box.visual.face_colors = [255, 0, 0, 255]
    box.export(tmp_path / "box.ply")
    asset_from_mesh(tmp_path / "box.ply", tet_res=16, plane_res=8, fit_steps=3, device="cpu", progress=True)
    err = capsys.readouterr().err
    assert "mesh: SDF + colour fit" in err and "4/4" in err, err


def test_refine_counts_every_file_it_wrote(tmp_path):
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    result = refine(_prior(), asset, "a red chair", RefineOptions(rule="sds", steps=1, texture_only=True,
                                                                  texture_res=16, preview_res=16, turntable_frames=2),
                    tmp_path)
    on_disk = {p for p in tmp_path.iterdir() if p.is_file()}
    assert {Path(f) for f in result.files} == on_disk, sorted(p.name for p in on_disk)
    assert len(result.files) == len(on_disk)
    assert {"refined.glb", "refined.obj", "refined.mtl", "refined.png", "before_after.png", "turntable.gif",
            "settings.json"} <= {p.name for p in on_disk}
