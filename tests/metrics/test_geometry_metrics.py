"""geometry_metrics from mesh folders: loading, bad files, and the metrics on known sets."""
import pytest
import torch
import trimesh

from get3d.errors import Get3dError
from get3d.geometry import Mesh
from get3d.metrics import geometry_metrics, load_shape_points, mesh_files


def _box(extents):
    box = trimesh.creation.box(extents=extents)
    return Mesh(torch.tensor(box.vertices, dtype=torch.float32), torch.tensor(box.faces))


@pytest.fixture()
def mesh_folder(tmp_path):
    folder = tmp_path / "ref"
    shapes = [[1, 1, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4], [2, 3, 1]]
    for i, extents in enumerate(shapes):
        _box(extents).save(folder / f"{i}" / ("model.obj" if i % 2 else "model.ply"))
    return folder


def test_mesh_folder_metrics_against_itself(mesh_folder):
    assert len(mesh_files(mesh_folder)) == 5
    out = geometry_metrics(mesh_folder, mesh_folder, num_points=256, seed=3)
    # Same files, same seed: identical clouds, so an exact copy of the reference set.
    assert out["cov"] == 1.0 and out["mmd"] == 0.0 and out["1nna"] == 0.0
    assert out["num_gen"] == out["num_ref"] == 5 and out["skipped_ref"] == []


def test_single_box_generator_covers_one_reference(mesh_folder):
    gen = [_box([2, 2, 2])] * 4  # a cube at another scale: normalised, it is reference 0
    out = geometry_metrics(gen, mesh_folder, num_points=256, with_1nna=False)
    assert out["cov"] == 1 / 5 and "1nna" not in out


def test_bad_mesh_file_is_named_or_skipped(mesh_folder):
    (mesh_folder / "broken.obj").write_text("this is not a mesh\n")
    with pytest.raises(Get3dError, match="broken.obj"):
        load_shape_points(mesh_folder, num_points=64)
    shapes = load_shape_points(mesh_folder, num_points=64, skip_bad=True)
    assert shapes.points.shape == (5, 64, 3)
    assert len(shapes.skipped) == 1 and "broken.obj" in shapes.skipped[0][0]
    with pytest.raises(Get3dError, match="no such mesh folder"):
        load_shape_points(mesh_folder / "missing")
