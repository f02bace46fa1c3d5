"""Antialiasing of the torch backend: gradient vs finite differences, direction and magnitude."""
import numpy as np
import pytest
import torch

from get3d.render import raster_torch as rt

RES = (20, 24)


def _render(pos, tri, colors, res=RES, boost=1.0):
    """Rasterize, interpolate per-vertex colours, antialias. pos: [1,V,4] float64."""
    rast, _ = rt.rasterize(pos, tri, res)
    col, _ = rt.interpolate(colors, rast, tri)
    return rt.antialias(col, rast, pos, tri, pos_gradient_boost=boost)


def _fd_grad(fn, pos, h=1e-6, coords=(0, 1, 3)):
    """Central finite differences of scalar fn(pos) for the listed clip coordinates."""
    g = torch.zeros_like(pos)
    for v in range(pos.shape[1]):
        for c in coords:
            p = pos.clone()
            p[0, v, c] += h
            f1 = fn(p).item()
            p[0, v, c] -= 2 * h
            f0 = fn(p).item()
            g[0, v, c] = (f1 - f0) / (2 * h)
    return g


def _check_grad_vs_fd(pos, tri, colors, weights):
    def loss(p):
        return (_render(p, tri, colors) * weights).sum()

    p = pos.clone().requires_grad_(True)
    loss(p).backward()
    fd = _fd_grad(loss, pos.detach())
    an = p.grad.clone()
    an[..., 2] = 0  # z does not move silhouettes; nvdiffrast gives it no AA gradient either
    scale = fd.abs().max().item()
    assert scale > 0.1  # the scene does have silhouette gradients
    assert torch.allclose(an, fd, atol=2e-3 * scale, rtol=1e-2), (an, fd)


def _tri_pos(xy, w=None, z=0.1):
    xy = np.asarray(xy, np.float64)
    w = np.ones(len(xy)) if w is None else np.asarray(w, np.float64)
    p = np.stack([xy[:, 0] * w, xy[:, 1] * w, np.full(len(xy), z) * w, w], 1)
    return torch.tensor(p)[None]


def test_triangle_on_background_gradient_matches_finite_differences():
    pos = _tri_pos([[-0.71, -0.63], [0.77, -0.41], [-0.13, 0.83]], w=[1.0, 1.7, 2.3])
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    colors = torch.ones(1, 3, 1, dtype=torch.float64)
    weights = torch.rand(1, *RES, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _check_grad_vs_fd(pos, tri, colors, weights)


def test_quad_on_background_gradient_matches_finite_differences():
    pos = _tri_pos([[-0.62, -0.71], [0.68, -0.57], [0.73, 0.66], [-0.55, 0.61]], w=[1.0, 1.3, 1.9, 1.2])
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    colors = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]], dtype=torch.float64)
    colors[..., 1] = 0.5
    weights = torch.rand(1, *RES, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _check_grad_vs_fd(pos, tri, colors, weights)


def test_two_overlapping_triangles_of_different_colours_gradient_matches_fd():
    back = _tri_pos([[-0.83, -0.77], [0.81, -0.69], [0.07, 0.86]], z=0.5)
    front = _tri_pos([[-0.41, 0.62], [0.53, 0.57], [0.11, -0.49]], z=-0.2, w=[1.0, 1.4, 0.8])
    pos = torch.cat([back, front], 1)
    tri = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    colors = torch.tensor([[[0.2, 0.9]] * 3 + [[1.0, 0.1]] * 3], dtype=torch.float64)
    weights = torch.rand(1, *RES, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _check_grad_vs_fd(pos, tri, colors, weights)


def _scaled_triangle(s):
    base = np.array([[-0.63, -0.52], [0.71, -0.38], [-0.09, 0.74]])
    c = base.mean(0)
    return _tri_pos(c + (base - c) * s)


def test_moving_silhouette_outward_grows_mask_with_area_gradient():
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    ones = torch.ones(1, 3, 1, dtype=torch.float64)
    h, w = 48, 48

    def mask_sum(pos):
        return _render(pos, tri, ones, res=(h, w)).sum()

    sums = [mask_sum(_scaled_triangle(s)).item() for s in (0.9, 0.95, 1.0, 1.05, 1.1)]
    assert all(b > a for a, b in zip(sums, sums[1:]))
    # the antialiased mask approximates the pixel area, and its gradient the area's derivative
    pts = _scaled_triangle(1.0)[0, :, :2].numpy() * [w / 2, h / 2]
    d1, d2 = pts[1] - pts[0], pts[2] - pts[0]
    area = abs(d1[0] * d2[1] - d1[1] * d2[0]) / 2
    assert sums[2] == pytest.approx(area, rel=0.02)
    s = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    base = _scaled_triangle(1.0)
    centre = base[0, :, :2].mean(0)
    xy = centre + (base[0, :, :2] - centre) * s
    pos = torch.cat([xy, base[0, :, 2:]], 1)[None]
    mask_sum(pos).backward()
    assert s.grad.item() == pytest.approx(2 * area, rel=0.05)  # d(area * s^2)/ds at s = 1


def test_aliased_mask_has_no_gradient_but_antialiased_does():
    pos = _scaled_triangle(1.0).requires_grad_(True)
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    rast, _ = rt.rasterize(pos, tri, RES)
    col, _ = rt.interpolate(torch.ones(1, 3, 1, dtype=torch.float64), rast, tri)
    g_plain = torch.autograd.grad(col.sum(), pos, allow_unused=True, retain_graph=True)[0]
    assert g_plain is None or g_plain.abs().max() == 0
    aa = rt.antialias(col, rast, pos, tri)
    (g_aa,) = torch.autograd.grad(aa.sum(), pos)
    assert g_aa.abs().max() > 0.1


def test_pos_gradient_boost_scales_position_gradient_only():
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    ones = torch.ones(1, 3, 1, dtype=torch.float64)
    grads = []
    for boost in (1.0, 3.0):
        pos = _scaled_triangle(1.0).requires_grad_(True)
        out = _render(pos, tri, ones, boost=boost)
        grads.append(torch.autograd.grad(out.sum(), pos)[0])
        assert out.sum().item() == pytest.approx(_render(pos.detach(), tri, ones).sum().item())
    assert torch.allclose(grads[1], 3 * grads[0])


def test_shared_edges_are_not_antialiased_but_folded_edges_are():
    res = (24, 24)
    quad = _tri_pos([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    rast, _ = rt.rasterize(quad, tri, res)
    # colour each triangle differently: a hard edge along the shared diagonal
    color = torch.stack([(rast[..., 3] == 1).double(), (rast[..., 3] == 2).double()], -1)
    aa = rt.antialias(color, rast, quad, tri)
    covered = rast[0, ..., 3] > 0
    interior = covered.clone()
    interior[1:-1, 1:-1] &= covered[:-2, 1:-1] & covered[2:, 1:-1] & covered[1:-1, :-2] & covered[1:-1, 2:]
    interior[0, :] = interior[-1, :] = interior[:, 0] = interior[:, -1] = False
    assert torch.equal(aa[0][interior], color[0][interior])  # diagonal untouched
    assert not torch.equal(aa[0][~interior], color[0][~interior])  # outer boundary blended
    # fold the second triangle over the first (its opposite vertex on the same side of the
    # shared edge): the shared edge becomes a silhouette and gets blended
    folded = _tri_pos([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [0.6, -0.2]])
    folded[0, 3, 2] = -0.5  # in front
    rast_f, _ = rt.rasterize(folded, tri, res)
    color_f = torch.stack([(rast_f[..., 3] == 1).double(), (rast_f[..., 3] == 2).double()], -1)
    aa_f = rt.antialias(color_f, rast_f, folded, tri)
    both = (rast_f[0, ..., 3] > 0)
    changed = (aa_f[0] != color_f[0]).any(-1) & both
    near_diag = changed & (torch.arange(24)[:, None] - torch.arange(24)[None, :]).abs().le(1)
    assert int(near_diag.sum()) > 3


def test_topology_table_opposite_vertices():
    tri = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 4, 5]], dtype=torch.int32)
    topo = rt.construct_topology_hash(tri)
    # triangle 0: edge 1 is (2, 0) shared with triangle 1 whose third vertex is 3
    assert topo.opposite[0].tolist() == [-1, 3, -1]
    assert topo.opposite[1].tolist() == [-1, -1, 1]
    assert topo.opposite[2].tolist() == [-1, -1, -1]  # degenerate triangle: never shared
