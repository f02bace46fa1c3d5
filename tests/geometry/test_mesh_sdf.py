"""get3d.geometry.mesh_sdf (libigl) against a sphere's analytic SDF and an independent
brute-force torch computation (tests/geometry/reference_sdf.py) on a non-convex mesh."""
import pytest
import torch
import trimesh

from get3d.errors import Get3dError
from get3d.geometry import tet_grid
from get3d.geometry.mesh_sdf import mesh_sdf
from tests._support import require_module
from tests.geometry.reference_sdf import reference_sdf

require_module("igl")  # libigl is in the test extra: a failure under CI


def _torus_with_bar():
    """A non-convex closed union: a torus with a box through its hole (overlapping parts)."""
    torus = trimesh.creation.torus(0.3, 0.1, major_sections=48, minor_sections=16)
    bar = trimesh.creation.box((0.8, 0.08, 0.08))
    verts = torch.cat([torch.tensor(torus.vertices), torch.tensor(bar.vertices)]).float()
    return verts, torch.cat([torch.tensor(torus.faces), torch.tensor(bar.faces) + len(torus.vertices)])


def test_sphere_matches_the_analytic_sdf():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.4)
    grid, _ = tet_grid(32, "cpu")
    sdf, _ = mesh_sdf(torch.tensor(sphere.vertices).float(), torch.tensor(sphere.faces), grid)
    # Tolerance: the icosphere's flat faces sit up to r(1 - cos(theta/2)) ~ 8e-4 inside the sphere.
    assert (sdf - (grid.norm(dim=-1) - 0.4)).abs().max() < 1.5e-3
    assert (sdf < 0).any() and (sdf > 0).any()


def test_non_convex_overlapping_mesh_matches_brute_force():
    verts, faces = _torus_with_bar()
    points = torch.rand(1500, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    points = torch.cat([points, torch.tensor([[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]])])
    expected, expected_winding = reference_sdf(verts, faces, points)
    got, winding = mesh_sdf(verts, faces, points)
    assert torch.equal(got < 0, expected < 0)
    assert (got - expected).abs().max() < 1e-5  # float32 brute force vs libigl's float64
    assert (winding - expected_winding).abs().max() < 1e-2  # the fast winding number is a far-field approximation


def test_inward_winding_gives_the_same_sign():
    verts, faces = _torus_with_bar()
    grid, _ = tet_grid(16, "cpu")
    flipped, winding = mesh_sdf(verts, faces.flip(-1), grid)
    assert torch.allclose(flipped, mesh_sdf(verts, faces, grid)[0]) and winding.min() < -0.5


def test_an_open_sheet_has_no_inside():
    plane = trimesh.creation.box((0.8, 0.8, 0.1))
    top = plane.faces[plane.face_normals[:, 2] > 0.9]  # keep only the top side: an open sheet
    _, winding = mesh_sdf(torch.tensor(plane.vertices).float(), torch.tensor(top), tet_grid(16, "cpu")[0])
    assert winding.abs().max() < 0.5


def test_empty_faces_are_refused():
    with pytest.raises(Get3dError, match="non-empty"):
        mesh_sdf(torch.zeros(3, 3), torch.zeros(0, 3, dtype=torch.long), torch.zeros(4, 3))
