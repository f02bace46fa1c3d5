import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from get3d import Get3dError
from get3d.cli import cli
from get3d.datasets import RenderFolderDataset
from get3d.datasets.render_dataset import RenderSettings
from get3d.geometry.mesh_io import corner_normals
from get3d.datasets.synthetic_dataset import make_synthetic_dataset
from get3d.geometry import Mesh
from get3d.render.primitives import cube, icosphere

SETTINGS = RenderSettings(views=2, resolution=32, backend="torch")


def test_cli_writes_layout_meshes_and_loads(tmp_path):
    result = CliRunner().invoke(cli, ["synth-data", str(tmp_path), "--category", "mushroom", "--num-shapes", "3",
                                      "--views", "2", "--res", "32", "--workers", "0", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "rendered 3, skipped 0 (already done), failed 0" in result.output
    meshes = sorted(p.name for p in (tmp_path / "mesh" / "mushroom").iterdir())
    assert meshes == ["mushroom_00000.glb", "mushroom_00001.glb", "mushroom_00002.glb"]
    assert Mesh.load(tmp_path / "mesh" / "mushroom" / meshes[0]).texture is not None
    ds = RenderFolderDataset(tmp_path)
    assert len(ds) == 6 and ds.report.categories == ["mushroom"]
    assert all(ds[i]["mask"].mean() > 0.05 for i in range(len(ds)))


def test_deterministic_per_seed_and_shapes_distinct(tmp_path):
    make_synthetic_dataset("chair", 2, tmp_path / "a", SETTINGS, progress=False)
    make_synthetic_dataset("chair", 2, tmp_path / "b", SETTINGS, progress=False)
    images = {}
    for run in ("a", "b"):
        for shape in ("chair_00000", "chair_00001"):
            images[run, shape] = np.asarray(Image.open(tmp_path / run / "img" / "chair" / shape / "000.png"))
    assert np.array_equal(images["a", "chair_00000"], images["b", "chair_00000"])
    assert not np.array_equal(images["a", "chair_00000"], images["a", "chair_00001"])
    # A re-run renders nothing new.
    assert make_synthetic_dataset("chair", 2, tmp_path / "a", SETTINGS, progress=False).skipped == 2


def test_bad_arguments(tmp_path):
    with pytest.raises(Get3dError, match="unknown category 'dog'"):
        make_synthetic_dataset("dog", 2, tmp_path, SETTINGS)
    with pytest.raises(Get3dError, match="num-shapes"):
        make_synthetic_dataset("vase", 0, tmp_path, SETTINGS)


def test_corner_normals_smooth_across_seams_sharp_at_creases():
    verts, faces = icosphere(2, radius=1.0)
    # Split every face into its own vertices (like UV seams everywhere): still smooth.
    split_verts = verts[faces].reshape(-1, 3)
    split_faces = torch.arange(len(split_verts)).reshape(-1, 3)
    normals = corner_normals(split_verts, split_faces)
    radial = torch.nn.functional.normalize(split_verts[split_faces], dim=-1)
    assert (normals * radial).sum(-1).min() > 0.995
    box_verts, box_faces = cube(1.0)
    box_normals = corner_normals(box_verts, box_faces)
    face_n = torch.nn.functional.normalize(torch.cross(
        box_verts[box_faces[:, 1]] - box_verts[box_faces[:, 0]],
        box_verts[box_faces[:, 2]] - box_verts[box_faces[:, 0]], dim=-1), dim=-1)
    assert torch.allclose(box_normals, face_n[:, None].expand_as(box_normals), atol=1e-6), "box stays flat"
