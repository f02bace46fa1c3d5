import math

import pytest
import torch

from get3d import Get3dError
from get3d.geometry import Mesh, marching_tets, tet_grid
from get3d.geometry import shapes


@pytest.fixture(scope="module")
def sphere() -> Mesh:
    verts, tets = tet_grid(64)
    return Mesh(*marching_tets(verts, tets, shapes.sphere_sdf(verts, radius=0.3)))


def test_vertex_normals_point_outward(sphere):
    n = sphere.vertex_normals()
    radial = torch.nn.functional.normalize(sphere.verts, dim=-1)
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n)), atol=1e-5)
    assert (n * radial).sum(-1).min() > 0.98


def test_area_and_volume_match_the_sphere(sphere):
    assert math.isclose(sphere.face_areas().sum().item(), 4 * math.pi * 0.3**2, rel_tol=0.01)
    assert math.isclose(sphere.signed_volume().item(), shapes.sphere_volume(0.3), rel_tol=0.01)


def test_point_sampling_is_on_surface_and_area_uniform():
    # Two unit squares, one with 3x the area: samples must split 1:3.
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                          [2, 0, 0], [2 + math.sqrt(3), 0, 0], [2 + math.sqrt(3), math.sqrt(3), 0], [2, math.sqrt(3), 0]],
                         dtype=torch.float32)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    points, face_idx = Mesh(verts, faces).sample_points(40_000, torch.Generator().manual_seed(0), return_faces=True)
    big = (points[:, 0] > 1.5).float().mean().item()
    assert abs(big - 0.75) < 0.01
    small = points[points[:, 0] < 1.5]
    # Uniform over the square: mean at its centre, quarter of points in each quadrant.
    assert torch.allclose(small[:, :2].mean(0), torch.tensor([0.5, 0.5]), atol=0.01)
    assert abs(((small[:, 0] < 0.5) & (small[:, 1] < 0.5)).float().mean().item() - 0.25) < 0.01
    assert torch.equal(face_idx >= 2, points[:, 0] > 1.5)


def test_sampling_is_seeded_and_differentiable(sphere):
    a = sphere.sample_points(100, torch.Generator().manual_seed(1))
    b = sphere.sample_points(100, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert (shapes.sphere_sdf(a).abs() < 0.002).all()
    verts = sphere.verts.clone().requires_grad_()
    Mesh(verts, sphere.faces).sample_points(10).sum().backward()
    assert verts.grad.abs().sum() > 0


@pytest.mark.parametrize("ext", [".obj", ".glb", ".ply", ".off", ".stl"])
def test_save_load_round_trip(sphere, tmp_path, ext):
    uvs = torch.rand(sphere.num_verts, 2)
    texture = torch.rand(8, 16, 3)
    textured = Mesh(sphere.verts, sphere.faces, uvs, texture)
    loaded = Mesh.load(textured.save(tmp_path / f"shape{ext}"))
    assert loaded.num_faces == sphere.num_faces and loaded.num_verts == sphere.num_verts
    assert loaded.boundary_and_nonmanifold_edges() == (0, 0)
    assert math.isclose(loaded.signed_volume().item(), sphere.signed_volume().item(), rel_tol=1e-4)
    if ext in (".obj", ".glb"):
        assert torch.allclose(loaded.uvs, uvs, atol=1e-6)
        assert torch.allclose(loaded.texture, (texture * 255).round() / 255, atol=1e-6)


def test_two_textured_objs_in_one_folder_do_not_collide(sphere, tmp_path):
    for name, colour in (("a", 0.2), ("b", 0.8)):
        Mesh(sphere.verts, sphere.faces, torch.rand(sphere.num_verts, 2), torch.full((4, 4, 3), colour)).save(tmp_path / f"{name}.obj")
    assert math.isclose(Mesh.load(tmp_path / "a.obj").texture.mean().item(), 0.2, abs_tol=0.01)
    assert math.isclose(Mesh.load(tmp_path / "b.obj").texture.mean().item(), 0.8, abs_tol=0.01)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(Get3dError, match="missing.obj: no such mesh file"):
        Mesh.load(tmp_path / "missing.obj")
    corrupt = tmp_path / "corrupt.glb"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(Get3dError, match="corrupt.glb"):
        Mesh.load(corrupt)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing here\n")
    with pytest.raises(Get3dError, match="empty.obj"):
        Mesh.load(empty)


def test_save_refuses_empty_meshes_and_unknown_formats(sphere, tmp_path):
    with pytest.raises(Get3dError, match="empty"):
        Mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long)).save(tmp_path / "x.obj")
    with pytest.raises(Get3dError, match="unsupported mesh format"):
        sphere.save(tmp_path / "x.fbx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "verts, faces, match",
    [
        (torch.zeros(3, 2), torch.tensor([[0, 1, 2]]), "verts"),
        (torch.zeros(3, 3), torch.tensor([[0, 1, 3]]), "outside"),
        (torch.zeros(3, 3), torch.tensor([[0.0, 1.0, 2.0]]), "integer"),
        (torch.full((3, 3), float("nan")), torch.tensor([[0, 1, 2]]), "NaN"),
    ],
)
def test_invalid_meshes_are_rejected(verts, faces, match):
    with pytest.raises(Get3dError, match=match):
        Mesh(verts, faces)


def test_sampling_an_empty_mesh_is_a_clear_error():
    with pytest.raises(Get3dError, match="no faces"):
        Mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long)).sample_points(4)
