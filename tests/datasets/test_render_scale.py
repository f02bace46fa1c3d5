"""render-dataset normalises like GET3D's Blender script: per-category scale (chair 0.7, car and
motorbike 0.9, others 0.9), about the file's own origin unless --recentre."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from get3d.datasets.render_dataset import RenderSettings, category_scale
from get3d.geometry.mesh_io import normalize_verts
from get3d.geometry import Mesh
from get3d.render.primitives import icosphere


@pytest.fixture(scope="module")
def off_centre(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    verts, faces = icosphere(1, radius=0.5)
    verts = verts * torch.tensor([2.0, 1.0, 1.0]) + torch.tensor([0.3, 0.2, 0.0])  # extent 2, centre (0.3, 0.2, 0)
    for cat in ("chair", "car", "03001627", "lamp"):
        (root / cat).mkdir()
        Mesh(verts, faces).save(root / cat / "s1.ply")
    return root, verts


def test_category_scales():
    assert category_scale("chair") == 0.7 and category_scale("03001627") == 0.7
    assert category_scale("car") == category_scale("02958343") == category_scale("motorbike") == 0.9
    assert category_scale("lamp") == 0.9
    assert RenderSettings(scale=None).scale_for("chair") == 0.7 and RenderSettings().scale_for("chair") == 0.9


def test_normalize_without_recentre_scales_about_the_origin():
    v = torch.tensor([[0.0, 0.0, 0.0], [2.0, 1.0, 0.5]]) + 1.0
    assert torch.allclose(normalize_verts(v, 0.7, recentre=False), v * 0.35)
    centred = normalize_verts(v, 0.7)
    assert torch.allclose(centred.amin(0) + centred.amax(0), torch.zeros(3), atol=1e-6)


@pytest.mark.parametrize("recentre", [False, True])
def test_cli_render_dataset_scales_per_category(off_centre, tmp_path, recentre):
    import trimesh

    root, verts = off_centre
    out = tmp_path / "o"
    args = ["render-dataset", str(root), str(out), "--keep-meshes", "--views", "1", "--res", "16",
            "--workers", "0", "--backend", "torch"] + (["--recentre"] if recentre else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for cat, scale in (("chair", 0.7), ("03001627", 0.7), ("car", 0.9), ("lamp", 0.9)):
        kept = np.asarray(trimesh.load(out / "mesh" / cat / "s1.ply", process=False).vertices)
        assert (kept.max(0) - kept.min(0)).max() == pytest.approx(scale, abs=1e-5)
        centre = (kept.max(0) + kept.min(0)) / 2
        expected_centre = np.zeros(3) if recentre else np.array([0.3, 0.2, 0.0]) * scale / 2.0
        assert np.allclose(centre, expected_centre, atol=1e-5)
    # an explicit --scale wins over the category's
    result = CliRunner().invoke(cli, args[:3] + ["--scale", "0.5"] + args[3:])
    assert result.exit_code == 0


def test_cli_render_dataset_rejects_bad_scale(off_centre, tmp_path):
    root, _ = off_centre
    result = CliRunner().invoke(cli, ["render-dataset", str(root), str(tmp_path / "x"), "--scale", "0"])
    assert result.exit_code != 0 and "--scale" in result.output
