"""`get3d refine --mesh`, `--tet-res` and `--background random`: a mesh file becomes an asset whose
SDF, colours and extracted surface match the file; the CLI runs each rule on it end to end with
the tiny random Stable Diffusion; the analytic prior moves a mesh asset's colour the right way."""
import json

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner

from get3d import Get3dError
from get3d.cli import cli
from get3d.distill import AnalyticPrior
from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.mesh_asset import asset_from_mesh
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import PHASES, parse_refine_background, refine
from get3d.geometry import Mesh
from tests.distill.test_refine import RED, _flat, _foreground_colour
from tests._support import require_module
from tests.distill.test_refine_cli import _assert_same_run

require_module("igl")  # libigl is in the test extra: a failure under CI

COLOURS = {0: (255, 0, 0), 1: (0, 0, 255), 2: (0, 200, 0)}  # +x faces, -x faces, the rest


def _coloured_box(path, coloured=True):
    """A 1 x 0.6 x 0.4 box with red +x, blue -x and green other faces -> path (PLY keeps face colours)."""
    box = trimesh.creation.box((1.0, 0.6, 0.4))
    if coloured:
        normal_x = box.face_normals[:, 0]
        kind = np.where(normal_x > 0.5, 0, np.where(normal_x < -0.5, 1, 2))
        box.visual.face_colors = np.array([COLOURS[k] + (255,) for k in kind], np.uint8)
    box.export(path)
    return path


def test_mesh_asset_matches_the_file_shape_and_colours(tmp_path):
    asset = asset_from_mesh(_coloured_box(tmp_path / "box.ply"), tet_res=24, plane_res=32, fit_steps=150,
                            device="cpu")
    verts, faces = asset.extract()
    # Normalised like the dataset meshes: largest side 0.9, centred; marching tets on a 24-grid
    # puts the surface within one cell (1/24) of the box's faces.
    assert torch.allclose(verts.amax(0), torch.tensor([0.45, 0.27, 0.18]), atol=1 / 24)
    assert torch.allclose(verts.amin(0), -torch.tensor([0.45, 0.27, 0.18]), atol=1 / 24)
    probes = torch.tensor([[0.45, 0.0, 0.0], [-0.45, 0.0, 0.0], [0.0, 0.27, 0.0]])
    colours = asset.colors(probes)
    expected = torch.tensor([COLOURS[0], COLOURS[1], COLOURS[2]], dtype=torch.float32) / 255
    assert (colours - expected).abs().max() < 0.15, colours
    assert asset.info["colour_fit_mean_abs_error"] < 0.1 and asset.info["has_colours"]
    assert asset.generator is None and asset.source == str(tmp_path / "box.ply")


def test_a_mesh_without_colours_is_neutral_grey_without_a_fit(tmp_path):
    asset = asset_from_mesh(_coloured_box(tmp_path / "box.obj", coloured=False), tet_res=16, plane_res=8,
                            device="cpu")
    assert asset.info["colour_fit_steps"] == 0 and not asset.info["has_colours"]
    assert torch.equal(asset.colors(torch.zeros(5, 3)), torch.full((5, 3), 0.5))


def test_tet_res_resamples_both_kinds_of_asset(tmp_path):
    box = _coloured_box(tmp_path / "box.ply")
    for res in (16, 32):
        verts, _ = asset_from_mesh(box, tet_res=res, plane_res=8, fit_steps=0, device="cpu").extract()
        assert torch.allclose(verts.amax(0), torch.tensor([0.45, 0.27, 0.18]), atol=1 / res)
    base = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    res = int(base.info["tet_res"])
    # The resampling path (the generator's SDF and deformation heads evaluated at the asked grid's
    # vertices) reproduces the generator's own values at its own grid...
    same = asset_from_checkpoint("tiny-chair", 0, device="cpu", tet_res=res)
    assert torch.allclose(same.params.sdf, base.params.sdf, atol=1e-5)
    assert torch.allclose(same.params.deformation, base.params.deformation, atol=1e-7)
    # ...and on a finer grid gives a finer surface with offsets bounded by the new cell size.
    fine = asset_from_checkpoint("tiny-chair", 0, device="cpu", tet_res=2 * res)
    assert fine.grid.shape[0] > 4 * base.grid.shape[0] and fine.info["checkpoint_tet_res"] == res
    assert fine.params.deformation.abs().max() <= 1 / (2 * res) + 1e-6
    assert fine.extract()[1].shape[0] > base.extract()[1].shape[0] > 0


def test_open_and_unreadable_meshes_are_one_line_errors(tmp_path):
    sheet = trimesh.creation.box((0.8, 0.8, 0.1))
    trimesh.Trimesh(sheet.vertices, sheet.faces[sheet.face_normals[:, 2] > 0.9]).export(tmp_path / "sheet.obj")
    with pytest.raises(Get3dError, match="no inside.*fill_holes"):
        asset_from_mesh(tmp_path / "sheet.obj", tet_res=16, device="cpu")
    (tmp_path / "bad.obj").write_text("v 0 0 0\nf 1 2 3 x\n")
    with pytest.raises(Get3dError, match="bad.obj"):
        asset_from_mesh(tmp_path / "bad.obj", tet_res=16, device="cpu")
    with pytest.raises(Get3dError, match="no such file"):
        asset_from_mesh(tmp_path / "missing.glb", tet_res=16, device="cpu")


def test_refining_a_mesh_asset_moves_its_colour_toward_the_target(tmp_path):
    asset = asset_from_mesh(_coloured_box(tmp_path / "box.ply"), tet_res=16, plane_res=16, fit_steps=50,
                            device="cpu")
    verts0, faces0 = (t.detach().clone() for t in asset.extract())
    before = (_foreground_colour(asset) - RED).norm()
    result = refine(AnalyticPrior(_flat(RED)), asset, "a red box",
                    RefineOptions(rule="sds", steps=20, lr_texture=0.1, texture_only=True))
    verts1, faces1 = asset.extract()
    assert torch.equal(verts0, verts1) and torch.equal(faces0, faces1)
    assert (_foreground_colour(asset) - RED).norm() < before - 0.1
    assert set(result.timings) == set(PHASES) and all(v > 0 for v in result.timings.values())


def test_random_background_gives_each_view_its_own_colour():
    seen = []

    class Recording(AnalyticPrior):
        def encode(self, images):
            seen.append(images.detach()[:, :, 0, 0])  # a corner pixel: background in these views
            return super().encode(images)

    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    refine(Recording(_flat(RED)), asset, "a chair",
           RefineOptions(rule="sds", steps=2, batch=3, background="random", texture_only=True))
    corners = torch.cat(seen)  # [6,3]
    assert torch.unique(corners, dim=0).shape[0] == 6 and not torch.allclose(corners, torch.ones_like(corners))
    assert parse_refine_background("grey") == (0.5, 0.5, 0.5)
    with pytest.raises(Get3dError, match="random, white"):
        parse_refine_background("purple")


def _cli(tiny_sd, outdir, mesh, *extra):
    args = ["refine", "--mesh", str(mesh), "--prompt", "a red box", "--model", str(tiny_sd), "--outdir", str(outdir),
            "--tet-res", "16", "--plane-res", "16", "--fit-steps", "20", "--texture-res", "32", "--preview-res", "32",
            *extra]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("rule,extra", [("sds", ["--background", "random", "--export-every", "1"]), ("ism", ["--texture-only"]),
                                        pytest.param("sdi", ["--texture-only"], marks=pytest.mark.slow)])
def test_each_rule_refines_a_mesh_file_through_the_cli(tiny_sd, offline, tmp_path, rule, extra):
    result = _cli(tiny_sd, tmp_path / "out", _coloured_box(tmp_path / "box.ply"), "--rule", rule, "--steps", "2",
                  *extra)
    assert result.exit_code == 0, result.output
    mesh = Mesh.load(tmp_path / "out" / "refined.obj")
    assert mesh.num_faces > 0 and mesh.texture is not None
    assert sum(len(g.faces) for g in trimesh.load(tmp_path / "out" / "refined.glb").geometry.values()) == mesh.num_faces
    assert (tmp_path / "out" / "before_after.png").is_file() and (tmp_path / "out" / "turntable.gif").is_file()
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["rule"] == rule and settings["mesh"] == str(tmp_path / "box.ply")
    assert settings["asset"]["tet_res"] == 16 and settings["asset"]["colour_fit_steps"] == 20
    assert settings["finite_steps"] == 2
    if "--export-every" in extra:  # the mesh after step 1 too (the last step's is refined.*)
        assert Mesh.load(tmp_path / "out" / "progress" / "step-000001.obj").num_faces > 0


def test_mesh_refine_resumes_without_refitting_and_gives_the_uninterrupted_run(tiny_sd, offline, tmp_path):
    box = _coloured_box(tmp_path / "box.ply")
    assert _cli(tiny_sd, tmp_path / "a", box, "--steps", "2").exit_code == 0
    assert _cli(tiny_sd, tmp_path / "out", box, "--steps", "1").exit_code == 0
    result = _cli(tiny_sd, tmp_path / "out", box, "--steps", "2", "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert "refined steps 1-2" in result.output
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["resumed_from_step"] == 1 and settings["asset"]["colour_fit_steps"] == 0
    _assert_same_run(tmp_path / "a", tmp_path / "out")


@pytest.mark.parametrize("args,message", [
    (["--mesh", "M", "--ckpt", "tiny-chair"], "--mesh replaces --ckpt"),
    ([], "give the asset to refine"),
    (["--ckpt", "tiny-chair"], "--seed is missing"),
    (["--mesh", "M", "--background", "purple"], "--background"),
    (["--mesh", "/no/such/mesh.obj"], "no such file"),
])
def test_bad_asset_arguments_are_one_line(tiny_sd, offline, tmp_path, args, message):
    box = str(_coloured_box(tmp_path / "box.ply"))
    args = [box if a == "M" else a for a in args]
    result = CliRunner().invoke(cli, ["refine", "--prompt", "a box", "--model", str(tiny_sd), "--outdir",
                                      str(tmp_path / "out"), "--steps", "1", "--tet-res", "16", *args])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("get3d: error")]
    assert len(lines) == 1 and message in lines[0], result.output


def test_a_textured_mesh_file_fits_its_texture(tmp_path):
    from PIL import Image

    box = trimesh.creation.box((1.0, 0.6, 0.4))
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    image.paste((0, 0, 255), (2, 0, 4, 4))  # left half of the texture red, right half blue
    uv = np.stack([np.where(box.vertices[:, 0] > 0, 0.875, 0.125), np.full(len(box.vertices), 0.5)], -1)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    box.export(tmp_path / "textured.obj")
    asset = asset_from_mesh(tmp_path / "textured.obj", tet_res=16, plane_res=16, fit_steps=150, fit_samples=4096,
                            device="cpu")
    colours = asset.colors(torch.tensor([[0.45, 0.0, 0.0], [-0.45, 0.0, 0.0]]))
    assert asset.info["has_colours"]
    assert (colours - torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])).abs().max() < 0.15, colours


def test_a_few_geometry_steps_keep_a_mesh_asset_whole(tmp_path):
    """The mesh's SDF is in grid cells, the scale of a generator's, so the shared --lr-sdf moves the
    surface gently (with world distances, 30x smaller at 32^3, 5 steps grew the face count by half)."""
    asset = asset_from_mesh(_coloured_box(tmp_path / "box.ply"), tet_res=32, plane_res=16, fit_steps=0,
                            device="cpu")
    faces_before = asset.extract()[1].shape[0]
    refine(AnalyticPrior(torch.full((3, 16, 16), 0.5)), asset, "a box", RefineOptions(rule="sds", steps=5))
    assert abs(asset.extract()[1].shape[0] - faces_before) < 0.2 * faces_before
