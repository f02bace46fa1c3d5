"""Issue 24, point 6: render-dataset renders a mesh about its own origin (as GET3D's Blender script
does), so a mesh whose box sits far from the origin is cut off in some views. Each such shape is
reported with its offset, counted in the summary, and pointed at --recentre; --recentre silences it."""
import trimesh
from click.testing import CliRunner

from get3d.cli import cli
from get3d.datasets.render_dataset import OFF_CENTRE_FRACTION, centre_offset
from get3d.datasets.settings import RenderSettings
from get3d.datasets.render_dataset import render_mesh_folder


def _boxes(folder):
    """Two unit boxes: one centred, one whose centre is 0.5 of its size away on x."""
    (folder / "chair").mkdir(parents=True)
    trimesh.creation.box((1, 1, 1)).export(folder / "chair" / "centred.ply")
    shifted = trimesh.creation.box((1, 1, 1))
    shifted.apply_translation((0.5, 0, 0))
    shifted.export(folder / "chair" / "shifted.ply")
    return folder


def test_centre_offset_is_the_box_centre_over_its_largest_side():
    import torch

    verts = torch.tensor([[1.0, 0, 0], [3.0, 1, 1]])  # centre (2, .5, .5), largest side 2
    assert abs(centre_offset(verts) - (2 ** 2 + 0.5) ** 0.5 / 2) < 1e-6


def test_off_centre_shapes_are_warned_counted_and_pointed_at_recentre(tmp_path):
    meshes = _boxes(tmp_path / "meshes")
    warnings = []
    settings = RenderSettings(views=1, resolution=16, backend="torch", recentre=False)
    summary = render_mesh_folder(meshes, tmp_path / "data", settings, workers=0, progress=False,
                                 warn=warnings.append)
    assert summary.rendered == 2 and [p for p, _ in summary.off_centre] == [str(meshes / "chair" / "shifted.ply")]
    assert abs(summary.off_centre[0][1] - 0.5) < 1e-6 and summary.off_centre[0][1] > OFF_CENTRE_FRACTION
    assert len(warnings) == 1 and "shifted.ply" in warnings[0] and "50%" in warnings[0]
    assert "--recentre" in warnings[0] and "1 off-centre" in summary.line() and "--recentre" in summary.line()

    summary = render_mesh_folder(meshes, tmp_path / "data2", RenderSettings(views=1, resolution=16, backend="torch",
                                                                         recentre=True),
                                 workers=0, progress=False, warn=warnings.append)
    assert summary.off_centre == [] and len(warnings) == 1


def test_cli_warns_per_shape_and_says_where_the_dataset_is(tmp_path):
    meshes = _boxes(tmp_path / "meshes")
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["render-dataset", str(meshes), str(out), "--views", "1", "--res", "16",
                                      "--workers", "0", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "shifted.ply: bounding-box centre is 50% of its size" in result.stderr
    assert "1 off-centre" in result.stdout and f"dataset in {out}" in result.stdout
