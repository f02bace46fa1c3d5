"""Chamfer distance against brute force; pairwise matrices against per-pair calls."""
import numpy as np
import pytest
import torch
import trimesh

from get3d.errors import Get3dError
from get3d.geometry import Mesh
from get3d.metrics import chamfer_distance, normalize_shape, pairwise_chamfer, sample_mesh_points
from tests._support import assert_close_in


def _brute(p, q):
    d = ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
    return d.min(1).mean() + d.min(0).mean()


def _clouds(seed, count, n):
    return torch.rand(count, n, 3, generator=torch.Generator().manual_seed(seed)) - 0.5


def test_chamfer_matches_brute_force_numpy():
    p, q = _clouds(0, 5, 37), _clouds(1, 5, 53)
    expected = [_brute(p[i].double().numpy(), q[i].double().numpy()) for i in range(5)]
    assert np.allclose(chamfer_distance(p, q).numpy(), expected, rtol=1e-5, atol=1e-9)
    assert np.allclose(chamfer_distance(p, q, chunk=2).numpy(), expected, rtol=1e-5, atol=1e-9)
    assert np.allclose(chamfer_distance(p.double(), q.double()).numpy(), expected, rtol=1e-12)


def test_chamfer_is_symmetric_and_exactly_zero_for_identical_clouds():
    p, q = _clouds(2, 3, 64), _clouds(3, 3, 40)
    assert torch.allclose(chamfer_distance(p, q), chamfer_distance(q, p))
    shuffled = p[:, torch.randperm(64)]
    assert torch.equal(chamfer_distance(p, shuffled), torch.zeros(3))


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 1000])
def test_pairwise_equals_per_pair_chamfer_for_any_chunk(chunk):
    gen, ref = _clouds(4, 6, 48), _clouds(5, 5, 33)
    per_pair = torch.stack([chamfer_distance(gen[i:i + 1].expand(5, -1, -1), ref) for i in range(6)])
    assert torch.allclose(pairwise_chamfer(gen, ref, chunk=chunk), per_pair, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("chunk", [1, 4, 9, 1000])
def test_symmetric_pairwise_equals_full_matrix(chunk):
    x = _clouds(6, 7, 30)
    full = pairwise_chamfer(x, x.clone(), chunk=1000)
    sym = pairwise_chamfer(x, chunk=chunk)
    assert torch.equal(sym, sym.T) and torch.equal(sym.diagonal(), torch.zeros(7))
    assert torch.allclose(sym, full, rtol=1e-6, atol=1e-9)


def test_normalize_shape_centres_and_scales_each_shape():
    x = _clouds(7, 3, 100) * torch.tensor([4.0, 1.0, 2.0]) + torch.tensor([10.0, -3.0, 0.5])
    y = normalize_shape(x)
    lo, hi = y.min(1).values, y.max(1).values
    assert torch.allclose((hi - lo).amax(-1), torch.ones(3))
    assert torch.allclose((hi + lo) / 2, torch.zeros(3, 3), atol=1e-6)
    assert torch.allclose(normalize_shape(x[0]), y[0])
    assert torch.equal(normalize_shape(torch.ones(1, 5, 3)), torch.zeros(1, 5, 3))  # zero extent: centred only


def test_sample_mesh_points_normalises_the_mesh_first():
    box = trimesh.creation.box(extents=[4.0, 1.0, 2.0])
    mesh = Mesh(torch.tensor(box.vertices, dtype=torch.float32) + 7, torch.tensor(box.faces))
    pts = sample_mesh_points(mesh, 500, torch.Generator().manual_seed(0))
    assert pts.shape == (500, 3)
    assert pts[:, 0].abs().max() <= 0.5 + 1e-6 and pts[:, 1].abs().max() <= 0.125 + 1e-6
    # Scale/translation of the input mesh does not change the normalised samples.
    bigger = Mesh(mesh.verts * 3 - 2, mesh.faces)
    assert torch.allclose(sample_mesh_points(bigger, 500, torch.Generator().manual_seed(0)), pts, atol=1e-5)


def test_bad_inputs_name_the_argument():
    with pytest.raises(Get3dError, match="gen"):
        pairwise_chamfer(torch.zeros(4, 3), torch.zeros(2, 4, 3))
    with pytest.raises(Get3dError, match="different numbers"):
        chamfer_distance(torch.zeros(2, 4, 3), torch.zeros(3, 4, 3))


def test_pairwise_on_each_device_matches_cpu(any_device):
    gen, ref = _clouds(8, 9, 2048), _clouds(9, 11, 2048)
    cpu = pairwise_chamfer(gen, ref)
    other = pairwise_chamfer(gen, ref, device=any_device)
    assert other.device.type == any_device and torch.allclose(other.cpu(), cpu, rtol=1e-5, atol=1e-9)
    assert torch.allclose(pairwise_chamfer(gen.to(any_device)).cpu(), pairwise_chamfer(gen), rtol=1e-5, atol=1e-9)


def test_each_dtype_matches_a_float64_numpy_reference(float_dtype, any_device):
    """chamfer_distance and pairwise_chamfer (both forms) computed in float32 and float64, on each
    device, return that dtype and match numpy float64 brute force on the same (rounded) points; a
    cloud of another dtype is converted to the first one's. Distances here are ~1e-2: scale 1e-2."""
    p, q = _clouds(8, 4, 41).to(float_dtype), _clouds(9, 3, 29).to(float_dtype)
    brute = np.array([[_brute(a.double().numpy(), b.double().numpy()) for b in q] for a in p])
    p, q = p.to(any_device), q.to(any_device)
    per_pair = chamfer_distance(p[:3], q)
    assert_close_in(float_dtype, per_pair, brute.diagonal(), scale=1e-2, what="chamfer_distance")
    assert_close_in(float_dtype, pairwise_chamfer(p, q, chunk=5), brute, scale=1e-2, what="pairwise_chamfer")
    sym = np.array([[_brute(a.double().cpu().numpy(), b.double().cpu().numpy()) for b in p] for a in p])
    assert_close_in(float_dtype, pairwise_chamfer(p, chunk=4), sym, scale=1e-2, what="symmetric pairwise_chamfer")
    other = torch.float64 if float_dtype == torch.float32 else torch.float32
    assert chamfer_distance(p[:3], q.to(other)).dtype == float_dtype
    assert pairwise_chamfer(p, q.to(other)).dtype == float_dtype
