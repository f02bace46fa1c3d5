import itertools
import math

import numpy as np
import pytest
import torch

from get3d import Get3dError
from get3d.geometry import (
    Mesh,
    cells_for_resolution,
    edge_table,
    marching_tets,
    marching_tets_batched,
    replace_empty_shapes,
    sdf_reg_loss,
    tet_grid,
    tet_grid_cells,
)
from get3d.geometry import shapes
from tests._support import assert_close_in, dtype_params

SHAPES = {
    # name: (sdf, analytic volume, Euler characteristic, max vertex distance in grid cells)
    "sphere": (shapes.sphere_sdf, shapes.sphere_volume(), 2, 0.05),
    "torus": (shapes.torus_sdf, shapes.torus_volume(), 0, 0.1),
    # Linear interpolation cuts a box's edges and corners, so its vertices sit further off.
    "box": (shapes.box_sdf, shapes.box_volume(), 2, 0.3),
}


def directed_edge_counts(faces: torch.Tensor) -> tuple[int, int]:
    """(max uses of one directed edge, max uses of one undirected edge)."""
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    _, c_dir = torch.unique(directed, dim=0, return_counts=True)
    _, c_und = torch.unique(torch.sort(directed, 1).values, dim=0, return_counts=True)
    return int(c_dir.max()), int(c_und.max())


def assert_closed_manifold(v: torch.Tensor, f: torch.Tensor) -> None:
    mesh = Mesh(v.detach(), f)
    assert mesh.boundary_and_nonmanifold_edges() == (0, 0), "every edge in exactly two faces"
    assert directed_edge_counts(f)[0] == 1, "consistent orientation: each directed edge once"


@pytest.mark.parametrize("res", [64, 90])
@pytest.mark.parametrize("name", list(SHAPES))
def test_analytic_shapes(name, res):
    sdf_fn, volume, euler, max_dist_cells = SHAPES[name]
    verts, tets = tet_grid(res)
    v, f = marching_tets(verts, tets, sdf_fn(verts.double()).float())
    assert v.dtype == torch.float32 and f.dtype == torch.int64
    assert_closed_manifold(v, f)
    assert Mesh(v, f).euler_characteristic() == euler
    signed = Mesh(v.double(), f).signed_volume().item()
    assert signed > 0, "counter-clockwise from outside gives positive volume"
    tolerance = 0.01 if res == 90 else 0.02
    assert abs(signed - volume) / volume < tolerance
    cell = 1.0 / cells_for_resolution(res)
    assert sdf_fn(v.double()).abs().max().item() < max_dist_cells * cell


def test_vertices_are_welded_one_per_crossed_edge():
    verts, tets = tet_grid(64)
    sdf = shapes.noisy_sdf(verts, seed=3)
    v, f = marching_tets(verts, tets, sdf)
    e = edge_table(tets).edges
    crossed = ((sdf[e[:, 0]] < 0) != (sdf[e[:, 1]] < 0)).sum().item()
    assert len(v) == crossed
    assert len(torch.unique(v, dim=0)) == len(v), "no duplicate vertex positions"
    assert torch.equal(torch.unique(f), torch.arange(len(v))), "every vertex is used by a face"


def _interior_mask(verts: torch.Tensor) -> torch.Tensor:
    return verts.abs().amax(-1) < 0.5 - 1e-6


@pytest.mark.parametrize("seed", range(40))
def test_random_sdfs_fuzz(seed):
    g = torch.Generator().manual_seed(seed)
    verts, tets = tet_grid_cells(4)
    sdf = torch.randn(len(verts), generator=g)
    # Exact zeros (treated as outside) must not produce NaN, duplicate faces or holes.
    sdf[torch.rand(len(verts), generator=g) < 0.2] = 0.0
    sdf_closed = torch.where(_interior_mask(verts), sdf, sdf.abs() + 0.1)  # surface stays inside the grid
    for values, closed in ((sdf, False), (sdf_closed, True)):
        v, f = marching_tets(verts, tets, values)
        assert torch.isfinite(v).all()
        if len(f) == 0:
            continue
        dir_max, und_max = directed_edge_counts(f)
        assert dir_max == 1 and und_max <= 2, "orientable, no edge shared by three faces"
        if closed:
            assert_closed_manifold(v, f)


def test_empty_results_are_not_errors():
    verts, tets = tet_grid_cells(3)
    for sdf in (torch.ones(len(verts)), -torch.ones(len(verts)), torch.zeros(len(verts))):
        v, f = marching_tets(verts, tets, sdf)
        assert v.shape == (0, 3) and f.shape == (0, 3) and f.dtype == torch.int64


def test_batched_matches_single_and_per_shape_verts():
    verts, tets = tet_grid_cells(6)
    sdfs = torch.stack([shapes.sphere_sdf(verts), torch.ones(len(verts)), shapes.torus_sdf(verts), shapes.noisy_sdf(verts, 1)])
    offsets = torch.randn(4, 1, 3) * 0.01
    per_shape_verts = verts.unsqueeze(0) + offsets
    batch = marching_tets_batched(per_shape_verts, tets, sdfs)
    shared = marching_tets_batched(verts, tets, sdfs)
    assert len(batch) == 4 and len(batch[1][1]) == 0
    for b in range(4):
        v, f = marching_tets(per_shape_verts[b], tets, sdfs[b])
        assert torch.equal(batch[b][1], f) and torch.allclose(batch[b][0], v)
        assert torch.allclose(shared[b][0] + offsets[b], batch[b][0], atol=1e-6)


def test_gradcheck_float64():
    verts, tets = tet_grid_cells(3)
    verts = verts.double()
    sdf = shapes.noisy_sdf(verts, seed=2, radius=0.25)
    # Keep values away from 0 so finite differences never flip a sign (topology stays fixed).
    sdf = torch.where(sdf.abs() < 0.02, torch.sign(sdf + 1e-9) * 0.02, sdf)
    faces = marching_tets(verts, tets, sdf)[1]

    def extract(v, s):
        mesh_verts, f = marching_tets(v, tets, s)
        assert torch.equal(f, faces)
        return mesh_verts

    assert torch.autograd.gradcheck(extract, (verts.clone().requires_grad_(), sdf.clone().requires_grad_()))


def test_raising_an_sdf_value_moves_the_surface_inward():
    """Finite differences: a larger SDF at a vertex shrinks the volume, as autograd says."""
    verts, tets = tet_grid_cells(8)
    verts = verts.double()
    sdf = shapes.sphere_sdf(verts, radius=0.27).requires_grad_()
    v, f = marching_tets(verts, tets, sdf)
    volume = Mesh(v, f).signed_volume()
    (grad,) = torch.autograd.grad(volume, sdf)
    assert (grad <= 1e-12).all(), "raising any SDF value never grows the shape"
    moving = grad.nonzero().flatten()
    assert len(moving) > 20
    eps = 1e-6
    for i in moving[:10].tolist():
        bumped = sdf.detach().clone()
        bumped[i] += eps
        v2, f2 = marching_tets(verts, tets, bumped)
        fd = (Mesh(v2, f2).signed_volume() - volume.detach()).item() / eps
        assert fd < 0 and math.isclose(fd, grad[i].item(), rel_tol=1e-3)


ONE_TET = (torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]), torch.tensor([[0, 1, 2, 3]]))


def test_an_sdf_of_exactly_zero_is_outside():
    """Convention (GET3D's and ours): a vertex with SDF 0 counts as outside, everywhere."""
    verts, tets = ONE_TET
    # Corner 0 inside, three corners at exactly 0 (outside): one triangle through those corners
    # (each crossing sits at t = -1 / (-1 - 0) = 1, on the zero corner), facing away from corner 0.
    v, f = marching_tets(verts, tets, torch.tensor([-1.0, 0.0, 0.0, 0.0]))
    assert f.shape == (1, 3)
    assert sorted(map(tuple, v[f[0]].tolist())) == [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    normal = torch.linalg.cross(v[f[0, 1]] - v[f[0, 0]], v[f[0, 2]] - v[f[0, 0]])
    assert float(normal @ (v[f[0]].mean(0) - verts[0])) > 0
    # One corner outside at +1, three at 0: all outside, no surface (0 inside would give one).
    assert marching_tets(verts, tets, torch.tensor([1.0, 0.0, 0.0, 0.0]))[1].shape[0] == 0
    assert marching_tets(verts, tets, torch.zeros(4))[1].shape[0] == 0
    # The regulariser and the empty-shape test use the same rule: 0 and -1 differ in sign, 0 and
    # +1 do not; a shape of zeros and positives is empty.
    edges = torch.tensor([[0, 1]])
    assert float(sdf_reg_loss(torch.tensor([[-1.0, 0.0]]), edges)[0]) > 0
    assert float(sdf_reg_loss(torch.tensor([[1.0, 0.0]]), edges)[0]) == 0
    _, empty, _ = replace_empty_shapes(torch.tensor([[0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]]), verts)
    assert empty.tolist() == [True, False]


def test_sdf_reg_loss_against_brute_force():
    verts, tets = tet_grid_cells(2)
    edges = edge_table(tets).edges
    sdf = torch.randn(2, len(verts), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sdf[1] = sdf[1].abs() + 0.1  # no sign change: zero loss
    loss = sdf_reg_loss(sdf, edges)
    terms = []
    for a, b in edges.tolist():
        sa, sb = sdf[0, a].item(), sdf[0, b].item()
        if (sa < 0) != (sb < 0):
            bce = lambda x, y: -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x))))  # noqa: E731
            terms.append(bce(sa, float(sb >= 0)) + bce(sb, float(sa >= 0)))
    assert math.isclose(loss[0].item(), sum(terms) / len(terms), rel_tol=1e-9)
    assert loss[1].item() == 0.0


def test_sdf_reg_loss_is_the_same_in_get3ds_sign_convention():
    verts, tets = tet_grid_cells(3)
    edges = edge_table(tets).edges
    sdf = torch.randn(1, len(verts), dtype=torch.float64)
    assert torch.allclose(sdf_reg_loss(sdf, edges), sdf_reg_loss(-sdf, edges))


def test_replace_empty_shapes():
    verts, tets = tet_grid_cells(4)
    good = shapes.sphere_sdf(verts)
    sdf = torch.stack([good, torch.full_like(good, 0.3), torch.full_like(good, -0.2)]).requires_grad_()
    used, empty, loss = replace_empty_shapes(sdf, verts)
    assert empty.tolist() == [False, True, True]
    assert loss[0] == 0 and loss[1] > 0 and loss[2] > 0
    assert torch.equal(used[0], good)
    meshes = marching_tets_batched(verts, tets, used)
    assert all(len(f) > 0 for _, f in meshes), "empty shapes get a template surface"
    # The template is detached: only the loss sends gradient to the empty shapes' values.
    grad = torch.autograd.grad(used.sum(), sdf)[0]
    assert (grad[0] == 1).all() and (grad[1:] == 0).all()
    grad_loss = torch.autograd.grad(loss.sum(), sdf)[0]
    assert (grad_loss[1] > 0).all() and (grad_loss[2] < 0).all(), "|sdf| pulled toward zero"


def test_replace_empty_shapes_passes_through_when_none_empty():
    verts, _ = tet_grid_cells(3)
    sdf = shapes.sphere_sdf(verts).unsqueeze(0)
    used, empty, loss = replace_empty_shapes(sdf, verts)
    assert used is sdf and not empty.any() and loss.sum() == 0


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.zeros(10, 3), torch.zeros(5, 4, dtype=torch.long), torch.zeros(9)), "disagree"),
        ((torch.zeros(10, 2), torch.zeros(5, 4, dtype=torch.long), torch.zeros(10)), "verts"),
        ((torch.zeros(10, 3), torch.zeros(5, 3, dtype=torch.long), torch.zeros(10)), "tets"),
        ((torch.zeros(10, 3), torch.zeros(5, 4, dtype=torch.long), torch.full((10,), float("nan"))), "NaN"),
    ],
)
def test_bad_inputs_are_clear_errors(args, match):
    with pytest.raises(Get3dError, match=match):
        marching_tets(*args)


def test_single_shape_function_rejects_batches():
    verts, tets = tet_grid_cells(2)
    with pytest.raises(Get3dError, match="marching_tets_batched"):
        marching_tets(verts, tets, torch.zeros(2, len(verts)))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHAPES))
def test_analytic_shapes_on_the_128_grid(name):
    sdf_fn, volume, euler, _ = SHAPES[name]
    verts, tets = tet_grid(128)
    v, f = marching_tets(verts, tets, sdf_fn(verts.double()).float())
    assert_closed_manifold(v, f)
    assert Mesh(v, f).euler_characteristic() == euler
    assert abs(Mesh(v.double(), f).signed_volume().item() - volume) / volume < 0.005


def test_extraction_on_each_device_matches_cpu(any_device):
    res = 90 if any_device == "cuda" else 24  # the CPU case checks the same path at a cheaper size
    verts, tets = tet_grid(res)
    sdf = shapes.noisy_sdf(verts, seed=5)
    v_cpu, f_cpu = marching_tets(verts, tets, sdf)
    verts_gpu, tets_gpu = tet_grid(res, any_device)
    v_gpu, f_gpu = marching_tets(verts_gpu, tets_gpu, sdf.to(any_device))
    assert torch.equal(f_gpu.cpu(), f_cpu)
    assert torch.allclose(v_gpu.cpu(), v_cpu, atol=1e-6)
    # Gradients too: same backward on both devices.
    grads = []
    for dev_verts, dev_tets, dev_sdf in ((verts, tets, sdf), (verts_gpu, tets_gpu, sdf.to(any_device))):
        s = dev_sdf.clone().requires_grad_()
        out, _ = marching_tets(dev_verts, dev_tets, s)
        out.square().sum().backward()
        grads.append(s.grad.cpu())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def _numpy_reference(verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor):
    """Marching tets' vertices and face count in float64 numpy, from first principles: one vertex
    where the linear interpolant crosses zero on each grid edge whose ends differ in inside-ness
    (s < 0), one triangle per tet with 1 or 3 inside corners and two with 2."""
    v, s, t = verts.double().numpy(), sdf.double().numpy(), tets.numpy()
    pairs = np.concatenate([t[:, [i, j]] for i, j in itertools.combinations(range(4), 2)])
    a, b = np.unique(np.sort(pairs, 1), axis=0).T
    crossed = (s[a] < 0) != (s[b] < 0)
    a, b = a[crossed], b[crossed]
    w = (s[a] / (s[a] - s[b]))[:, None]
    inside = (s[t] < 0).sum(1)
    return v[a] + w * (v[b] - v[a]), int(np.where(inside == 2, 2, (inside % 2)).sum())


@pytest.mark.parametrize("float_dtype", dtype_params(torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_extraction_in_each_dtype_matches_a_float64_reference(float_dtype, any_device):
    """The same shape in each float dtype (half too: the extraction is elementwise and indexing, so
    it runs in half on the CPU) and on each device: vertices of the input dtype, each at its edge's
    zero crossing computed independently in float64 (from the dtype's own rounded inputs) within
    the dtype's tolerance, and the right number of faces."""
    verts, tets = tet_grid(16)
    verts = verts.to(float_dtype)
    sdf = shapes.noisy_sdf(verts.double(), seed=2).to(float_dtype)
    v, f = marching_tets(verts.to(any_device), tets.to(any_device), sdf.to(any_device))
    assert v.device.type == any_device
    v, f = v.cpu(), f.cpu()
    ref_v, ref_faces = _numpy_reference(verts, tets, sdf)
    assert v.dtype == float_dtype and f.shape[0] == ref_faces and v.shape == ref_v.shape
    ref_v = torch.from_numpy(ref_v)
    nearest = torch.cdist(v.double(), ref_v).argmin(1)
    assert len(set(nearest.tolist())) == len(ref_v), "one output vertex per crossed edge"
    assert_close_in(float_dtype, v, ref_v[nearest], scale=0.5, what="marching_tets vertices")
    assert_closed_manifold(v, f)


def test_the_vertices_follow_verts_dtype_whatever_the_sdfs():
    """Documented: mesh vertices come out in verts' dtype. A float64 SDF on a float32 grid used to
    promote them to float64 (and a float32 SDF on a float64 grid keeps float64)."""
    verts, tets = tet_grid(8)
    sdf = shapes.sphere_sdf(verts.double())
    v32, _ = marching_tets(verts, tets, sdf)
    v64, _ = marching_tets(verts.double(), tets, sdf.float())
    assert v32.dtype == torch.float32 and v64.dtype == torch.float64
    assert_close_in(torch.float32, v32, marching_tets(verts.double(), tets, sdf)[0], scale=0.5)


def test_non_float_verts_and_sdfs_are_refused_naming_them():
    """An integer or boolean SDF would be truncated into the grid's dtype (or fail deep in torch)."""
    verts, tets = tet_grid(8)
    sdf = shapes.sphere_sdf(verts)
    with pytest.raises(Get3dError, match=r"^sdf must be a float tensor, got torch.bool$"):
        marching_tets(verts, tets, sdf < 0)
    with pytest.raises(Get3dError, match=r"^verts must be a float tensor, got torch.int64$"):
        marching_tets(verts.long(), tets, sdf)
    with pytest.raises(Get3dError, match=r"^sdf must be a float tensor, got torch.int64$"):
        sdf_reg_loss(sdf.long()[None], edge_table(tets).edges)
