"""FlexiCubes against the upstream reference outputs, plus closedness and orientation checks.

The fixture (../shared/fixtures/flexicubes-reference, see its README) holds inputs and the
outputs of nv-tlabs/FlexiCubes for spheres, a torus, random fields (every corner pattern and the
ambiguous C16/C19 cases), exact zeros, a thin sheet and an empty case, in eval and training mode
at weight_scale 0.5 and 0.99. Meshes are compared as sets, gradients of the fixture's objective
to 1e-5 (relative to each gradient's largest entry).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from get3d import Get3dError
from get3d.geometry import Mesh, shapes
from get3d.geometry.flexicubes import (
    CUBE_CORNERS,
    CUBE_EDGES,
    boundary_layer_mask,
    flexicubes,
    voxel_grid,
)
from tests._support import reference_fixture

FIXTURE = reference_fixture("flexicubes-reference")
needs_fixture = pytest.mark.reference_fixture(FIXTURE / "cases.pt")  # skipped when absent, a failure under CI
INPUTS = ("x_nx3", "s_n", "beta_fx12", "alpha_fx8", "gamma_f")
GRAD_NAMES = {"x_nx3": "x", "s_n": "s", "beta_fx12": "beta", "alpha_fx8": "alpha", "gamma_f": "gamma"}


def _fixture():
    return torch.load(FIXTURE / "cases.pt", weights_only=True)


def _case_ids() -> list[str]:
    if not (FIXTURE / "cases.pt").exists():
        return ["absent"]
    return [f"{i}-{c['kind']}-res{c['res']}-ws{c['weight_scale']}" for i, c in enumerate(_fixture()["cases"])]


def _canonical_triangles(faces: torch.Tensor) -> list[tuple[int, int, int]]:
    """Oriented triangles as a sorted multiset: each rotated to start at its smallest id."""
    out = []
    for a, b, c in faces.tolist():
        out.append(min((a, b, c), (b, c, a), (c, a, b)))
    return sorted(out)


def _run(case: dict, training: bool):
    inputs = {k: case[k].clone().requires_grad_() for k in INPUTS}
    v, f, l_dev = flexicubes(
        inputs["x_nx3"], inputs["s_n"], case["cube_fx8"], case["res"], inputs["beta_fx12"], inputs["alpha_fx8"],
        inputs["gamma_f"], training=training, weight_scale=case["weight_scale"],
    )
    return inputs, v, f, l_dev


@needs_fixture
@pytest.mark.parametrize("tag", ["eval", "train"])
@pytest.mark.parametrize("index", range(len(_case_ids())), ids=_case_ids())
def test_matches_reference(index: int, tag: str) -> None:
    data = _fixture()
    case = data["cases"][index]
    inputs, v, f, l_dev = _run(case, training=tag == "train")
    ref_v, ref_f, ref_l = case[f"{tag}_vertices"], case[f"{tag}_faces"].long(), case[f"{tag}_L_dev"]
    assert v.shape == ref_v.shape and f.shape == ref_f.shape and l_dev.shape == ref_l.shape
    if len(ref_v) == 0:
        assert f.dtype == torch.int64 and l_dev.numel() == 0
        return
    # Vertices: a one-to-one nearest-neighbour matching within 1e-5, both ways.
    dist = torch.cdist(v.detach().double(), ref_v.double())
    nearest = dist.argmin(1)
    assert dist.min(1).values.max() < 1e-5 and dist.min(0).values.max() < 1e-5
    assert len(set(nearest.tolist())) == len(nearest), "vertex matching is not one-to-one"
    mapped = nearest[f]
    if case["kind"] == "zeros":
        # The surface lies on grid vertices with s exactly 0 (outside). get3d orients those faces
        # toward the outside (+y here, where s = y > 0); upstream reverses them (see module doc).
        assert _canonical_triangles(mapped[:, [0, 2, 1]]) == _canonical_triangles(ref_f)
        normal = Mesh(v.detach(), f).face_normals(normalize=False).sum(0)
        assert normal[1] > 0.9 * normal.norm()
    else:
        assert _canonical_triangles(mapped) == _canonical_triangles(ref_f)
    assert torch.allclose(l_dev.detach().sort().values, ref_l.sort().values, rtol=1e-5, atol=1e-6)

    objective = (torch.sin(3 * v) @ data["c"]).sum() + l_dev.sum()
    assert objective.item() == pytest.approx(case[f"{tag}_J"].item(), rel=1e-5, abs=1e-5)
    objective.backward()
    for name in INPUTS:
        ref = case[f"{tag}_grad_{GRAD_NAMES[name]}"]
        got = inputs[name].grad if inputs[name].grad is not None else torch.zeros_like(ref)
        # Gradients that are rounding noise upstream (alpha at an exact zero: ~1e-8) pass via atol.
        tol = 1e-5 * ref.abs().max().item() + 1e-6
        assert (got - ref).abs().max().item() <= tol, f"grad {name}"


@needs_fixture
def test_grid_matches_reference_layout() -> None:
    for case in _fixture()["cases"][::6]:
        grid = voxel_grid(case["res"])
        assert torch.equal(grid.cubes, case["cube_fx8"].long())
        # The fixture deformed each coordinate by less than a quarter cell.
        assert (grid.verts - case["x_nx3"]).abs().max() < 0.25 / case["res"]


def test_grid_layout_and_tables() -> None:
    res = 3
    grid = voxel_grid(res)
    assert grid.verts.shape == ((res + 1) ** 3, 3) and grid.cubes.shape == (res**3, 8)
    assert grid.verts.min() == -0.5 and grid.verts.max() == 0.5
    # Every cube's corner c sits at its lowest corner plus CUBE_CORNERS[c] cells.
    offsets = (grid.verts[grid.cubes] - grid.verts[grid.cubes[:, :1]]) * res
    assert torch.allclose(offsets, torch.tensor(CUBE_CORNERS, dtype=torch.float32).expand_as(offsets), atol=1e-5)
    # Cube row (i*res + j)*res + k has its lowest corner at grid point (i, j, k).
    i, j, k = 1, 2, 0
    assert torch.allclose(grid.verts[grid.cubes[(i * res + j) * res + k, 0]], torch.tensor([i, j, k]) / res - 0.5)
    # Edges: each a unit step along one axis, all distinct, 3 * res * (res+1)^2 of them.
    step = (grid.verts[grid.edges[:, 1]] - grid.verts[grid.edges[:, 0]]) * res
    assert torch.allclose(step.abs().sum(1), torch.ones(len(step))) and (step >= -1e-6).all()
    assert len(grid.edges) == 3 * res * (res + 1) ** 2 == len(torch.unique(grid.edges, dim=0))
    for a, b in CUBE_EDGES:  # cube edges join corners one cell apart
        assert sum(abs(p - q) for p, q in zip(CUBE_CORNERS[a], CUBE_CORNERS[b])) == 1
    assert voxel_grid(res) is grid, "cached"


def test_tables_group_exactly_the_crossed_edges() -> None:
    """Every dual vertex's edges are crossed edges of its case, and every crossed edge has one vd."""
    from get3d.geometry.flexicubes import _TABLES_NP

    for case in range(256):
        inside = [(case >> c) & 1 for c in range(8)]
        crossed = {e for e, (a, b) in enumerate(CUBE_EDGES) if inside[a] != inside[b]}
        groups = [set(int(e) for e in row if e >= 0) for row in _TABLES_NP["dmc_table"][case]]
        groups = groups[: _TABLES_NP["num_vd_table"][case]]
        assert set().union(*groups) == crossed if groups else not crossed
        assert sum(len(g) for g in groups) == len(crossed)
        alt = _TABLES_NP["check_table"][case]
        if alt[0]:
            assert alt[4] == 255 - case and _TABLES_NP["num_vd_table"][alt[4]] == 2


def _closed_checks(v: torch.Tensor, f: torch.Tensor) -> Mesh:
    mesh = Mesh(v.detach(), f)
    assert mesh.boundary_and_nonmanifold_edges() == (0, 0), "every edge in exactly two faces"
    directed = f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    assert torch.unique(directed, dim=0, return_counts=True)[1].max() == 1, "consistent orientation"
    return mesh


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", ["sphere", "torus"])
def test_closed_oriented_and_accurate(name: str, training: bool) -> None:
    res = 20
    grid = voxel_grid(res)
    # (sdf, volume, Euler characteristic, volume tolerance: the torus tube is only 4 cells wide)
    sdf_fn, volume, euler, rel = {"sphere": (shapes.sphere_sdf, shapes.sphere_volume(), 2, 0.05),
                                  "torus": (shapes.torus_sdf, shapes.torus_volume(), 0, 0.15)}[name]
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(res**3, n, generator=gen) * 0.3 for n in (12, 8)] + [torch.randn(res**3, generator=gen)]
    v, f, l_dev = flexicubes(grid.verts, sdf_fn(grid.verts), grid.cubes, res, *weights, training=training,
                             weight_scale=0.5)
    mesh = _closed_checks(v, f)
    assert mesh.euler_characteristic() == euler
    assert mesh.signed_volume().item() == pytest.approx(volume, rel=rel)  # positive: CCW from outside
    # Dual vertices lie near the surface (well within a cell).
    assert sdf_fn(v).abs().max() < 0.5 / res
    assert (l_dev >= 0).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_random_fields_close_into_manifolds(seed: int) -> None:
    """Random signs (all 256 cases, ambiguous ones included) with an outside boundary: closed 2-manifold.

    This fails if the C16/C19 resolution is skipped: two neighbouring ambiguous cubes would then
    disagree about the shared face and leave holes or non-manifold edges.
    """
    res = 10
    grid = voxel_grid(res)
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(len(grid.verts), generator=gen)
    s[boundary_layer_mask(res)] = s[boundary_layer_mask(res)].abs() + 0.1
    for training in (False, True):
        v, f, _ = flexicubes(grid.verts, s, grid.cubes, res, training=training)
        _closed_checks(v, f)


def test_sign_flip_reverses_orientation_and_empty_field() -> None:
    res = 8
    grid = voxel_grid(res)
    s = shapes.sphere_sdf(grid.verts)
    v, f, _ = flexicubes(grid.verts, s, grid.cubes, res)
    assert Mesh(v, f).signed_volume() > 0
    # Inverting the field: a grid-filling solid with a spherical hole. Its interior faces wind
    # the other way, so the hole's surface has negative volume.
    v2, f2, _ = flexicubes(grid.verts, -s, grid.cubes, res)
    assert Mesh(v2, f2).signed_volume() < 0
    for field in (torch.ones(len(grid.verts)), -torch.ones(len(grid.verts))):
        v, f, l_dev = flexicubes(grid.verts, field, grid.cubes, res, training=True)
        assert v.shape == (0, 3) and f.shape == (0, 3) and l_dev.shape == (0,)


def test_differentiable_wrt_every_input() -> None:
    res = 6
    grid = voxel_grid(res)
    x = grid.verts.clone().requires_grad_()
    s = shapes.sphere_sdf(grid.verts, radius=0.27).requires_grad_()
    w = [torch.zeros(res**3, n, requires_grad=True) for n in (12, 8)] + [torch.zeros(res**3, requires_grad=True)]
    v, f, l_dev = flexicubes(x, s, grid.cubes, res, *w, training=True, weight_scale=0.5)
    (v.square().sum() + l_dev.sum()).backward()
    for t in [x, s, *w]:
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors() -> None:
    grid = voxel_grid(4)
    s = shapes.sphere_sdf(grid.verts)
    with pytest.raises(Get3dError, match="res"):
        flexicubes(grid.verts, s, grid.cubes, 0)
    with pytest.raises(Get3dError, match="cubes has"):
        flexicubes(grid.verts, s, grid.cubes, 5)
    with pytest.raises(Get3dError, match="s must be"):
        flexicubes(grid.verts, s[:-1], grid.cubes, 4)
    with pytest.raises(Get3dError, match="beta"):
        flexicubes(grid.verts, s, grid.cubes, 4, beta=torch.zeros(64, 11))
    with pytest.raises(Get3dError, match="weight_scale"):
        flexicubes(grid.verts, s, grid.cubes, 4, weight_scale=1.5)
    with pytest.raises(Get3dError, match="NaN"):
        flexicubes(grid.verts, torch.full_like(s, float("nan")), grid.cubes, 4)


def test_boundary_layer_mask() -> None:
    mask = boundary_layer_mask(4)
    grid = voxel_grid(4)
    expected = grid.verts.abs().amax(1) > 0.5 - 1e-6
    assert torch.equal(mask, expected) and int(mask.sum()) == 5**3 - 3**3
    assert np.isclose(float(grid.verts[~mask].abs().max()), 0.25)


@pytest.mark.parametrize("training", [False, True])
def test_each_device_matches_cpu(training: bool, any_device) -> None:
    """CUDA against the CPU (the CPU case runs the same comparison everywhere, checking the harness)."""
    res = 16
    grid = voxel_grid(res)
    gen = torch.Generator().manual_seed(3)
    s = shapes.noisy_sdf(grid.verts, seed=1)
    weights = [torch.randn(res**3, n, generator=gen) for n in (12, 8)] + [torch.randn(res**3, generator=gen)]
    cpu = flexicubes(grid.verts, s, grid.cubes, res, *weights, training=training, weight_scale=0.5)
    dev_grid = voxel_grid(res, any_device)
    dev = flexicubes(dev_grid.verts, s.to(any_device), dev_grid.cubes, res, *[w.to(any_device) for w in weights],
                     training=training, weight_scale=0.5)
    assert dev[0].device.type == any_device
    assert torch.equal(cpu[1], dev[1].cpu())  # same construction order on both devices
    assert torch.allclose(cpu[0], dev[0].cpu(), atol=1e-6) and torch.allclose(cpu[2], dev[2].cpu(), atol=1e-6)


# One case of each kind that has a surface (both modes): the reference ran in float32, so float64
# inputs (the same float32 values, widened) must land within float32's rounding of it, and in float64.
DTYPE_CASES = ("sphere", "random", "zeros")


@needs_fixture
@pytest.mark.parametrize("tag", ["eval", "train"])
def test_matches_reference_in_each_dtype(tag: str, float_dtype) -> None:
    data = _fixture()
    cases = {c["kind"]: c for c in data["cases"] if len(c[f"{tag}_vertices"]) > 0}
    for kind in DTYPE_CASES:
        case = {k: v.to(float_dtype) if torch.is_tensor(v) and v.is_floating_point() else v
                for k, v in cases[kind].items()}
        inputs, v, f, l_dev = _run(case, training=tag == "train")
        assert v.dtype == float_dtype and l_dev.dtype == float_dtype and f.dtype == torch.int64, kind
        ref_v, ref_f, ref_l = (cases[kind][f"{tag}_{n}"] for n in ("vertices", "faces", "L_dev"))
        assert f.shape == ref_f.shape, kind
        dist = torch.cdist(v.detach().double(), ref_v.double())
        assert dist.min(1).values.max() < 1e-5 and dist.min(0).values.max() < 1e-5, kind
        assert torch.allclose(l_dev.detach().double().sort().values, ref_l.double().sort().values, rtol=1e-5,
                              atol=1e-6), kind
        objective = (torch.sin(3 * v) @ data["c"].to(float_dtype)).sum() + l_dev.sum()
        objective.backward()
        for name in INPUTS:
            ref = case[f"{tag}_grad_{GRAD_NAMES[name]}"].double()
            got = inputs[name].grad if inputs[name].grad is not None else torch.zeros_like(inputs[name])
            assert got.dtype == float_dtype, (kind, name)
            assert (got.double() - ref).abs().max().item() <= 1e-5 * ref.abs().max().item() + 1e-6, (kind, name)


def test_mixed_float_inputs_are_computed_in_xs_dtype(float_dtype) -> None:
    """s and the weights in another float dtype than x (a float64 field on a float32 grid, or the
    reverse) give x's dtype out, the result of all inputs in x's dtype (they used to meet in
    index_add_ and fail with a dtype error); gradients come back in each input's own dtype."""
    res, x_dtype = 6, float_dtype
    grid = voxel_grid(res)
    other = torch.float64 if x_dtype == torch.float32 else torch.float32
    gen = torch.Generator().manual_seed(2)
    s = shapes.noisy_sdf(grid.verts.double(), seed=3)
    weights = [torch.randn(res**3, n, generator=gen, dtype=torch.float64) for n in (12, 8)] + [
        torch.randn(res**3, generator=gen, dtype=torch.float64)]
    x = grid.verts.to(x_dtype)
    same = flexicubes(x, s.to(x_dtype), grid.cubes, res, *[w.to(x_dtype) for w in weights], training=True)
    leaves = [t.to(other).requires_grad_() for t in (s, *weights)]
    mixed = flexicubes(x, leaves[0], grid.cubes, res, *leaves[1:], training=True)
    assert mixed[0].dtype == x_dtype and mixed[2].dtype == x_dtype
    assert torch.equal(mixed[1], same[1])
    assert torch.allclose(mixed[0], same[0], atol=1e-6) and torch.allclose(mixed[2], same[2], atol=1e-6)
    (mixed[0].sum() + mixed[2].sum()).backward()
    assert all(t.grad is not None and t.grad.dtype == other for t in leaves)


def test_non_float_inputs_are_refused_naming_them() -> None:
    grid = voxel_grid(4)
    s = shapes.sphere_sdf(grid.verts)
    with pytest.raises(Get3dError, match=r"^x must be a float tensor, got torch.int64$"):
        flexicubes(grid.verts.long(), s, grid.cubes, 4)
    with pytest.raises(Get3dError, match=r"^s must be a float tensor, got torch.bool$"):
        flexicubes(grid.verts, s < 0, grid.cubes, 4)
    with pytest.raises(Get3dError, match=r"^alpha must be a float tensor, got torch.int64$"):
        flexicubes(grid.verts, s, grid.cubes, 4, alpha=torch.zeros(64, 8, dtype=torch.long))
