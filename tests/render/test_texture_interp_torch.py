"""Texture lookups against hand-computed values; gradchecks of texture, interpolate, rasterize."""
import pytest
import torch

from get3d.errors import Get3dError
from get3d.render import raster_torch as rt

TEX2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 2, 1)  # row 0 = v in [0, .5)


def _lookup(tex, uvs, **kw):
    uv = torch.tensor(uvs, dtype=tex.dtype).view(1, 1, -1, 2)
    return rt.texture(tex, uv, **kw)[0, 0, :, 0].tolist()


def test_nearest_lookups():
    uvs = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.99, 0.99), (1.25, -0.25)]
    assert _lookup(TEX2, uvs, filter_mode="nearest", boundary_mode="wrap") == [1, 2, 3, 4, 3]
    assert _lookup(TEX2, uvs, filter_mode="nearest", boundary_mode="clamp") == [1, 2, 3, 4, 2]
    assert _lookup(TEX2, uvs, filter_mode="nearest", boundary_mode="zero") == [1, 2, 3, 4, 0]


def test_bilinear_lookups_and_boundaries():
    centre_uvs = [(0.25, 0.25), (0.75, 0.75), (0.5, 0.5), (0.5, 0.25)]
    assert _lookup(TEX2, centre_uvs, filter_mode="linear") == pytest.approx([1, 4, 2.5, 1.5])
    # u = 0 is half a texel left of the first texel centre
    edge = [(0.0, 0.25)]
    assert _lookup(TEX2, edge, boundary_mode="wrap") == pytest.approx([1.5])  # blends with col 1
    assert _lookup(TEX2, edge, boundary_mode="clamp") == pytest.approx([1.0])  # clamps to centre
    assert _lookup(TEX2, edge, boundary_mode="zero") == pytest.approx([0.5])  # blends with 0
    assert _lookup(TEX2, [(1.25, 0.25)], boundary_mode="wrap") == pytest.approx([1.0])  # 'auto' -> linear


def test_bilinear_hand_computed_4x4():
    tex = (10 * torch.arange(4.0)[:, None] + torch.arange(4.0)[None, :]).view(1, 4, 4, 1)
    # x = .3*4-.5 = .7 -> cols 0/1 weight .3/.7; y = .6*4-.5 = 1.9 -> rows 1/2 weight .1/.9
    assert _lookup(tex, [(0.3, 0.6)], filter_mode="linear") == pytest.approx([0.1 * 10.7 + 0.9 * 20.7])


def test_texture_batch_broadcast_and_channels():
    tex = torch.rand(1, 4, 4, 3)
    uv = torch.rand(2, 3, 5, 2)
    out = rt.texture(tex, uv, filter_mode="linear")
    assert out.shape == (2, 3, 5, 3)
    assert torch.allclose(out[1], rt.texture(tex, uv[1:], filter_mode="linear")[0])


def test_mipmap_level_selection():
    tex = torch.rand(1, 8, 8, 2, generator=torch.Generator().manual_seed(0))
    uv = torch.rand(1, 4, 4, 2, generator=torch.Generator().manual_seed(1))
    lvl1 = torch.nn.functional.avg_pool2d(tex.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    lvl2 = torch.nn.functional.avg_pool2d(lvl1.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    # footprint of 2 texels per pixel along u -> level exactly 1
    da = torch.tensor([2 / 8, 0.0, 0.0, 0.0]).expand(1, 4, 4, 4)
    out = rt.texture(tex, uv, uv_da=da, filter_mode="linear-mipmap-linear")
    assert torch.allclose(out, rt.texture(lvl1, uv, filter_mode="linear"), atol=1e-6)
    # level 1.5 halfway between levels 1 and 2; bias-only selects the level directly
    out = rt.texture(tex, uv, uv_da=da, mip_level_bias=torch.full((1, 4, 4), 0.5))
    mid = 0.5 * (rt.texture(lvl1, uv, filter_mode="linear") + rt.texture(lvl2, uv, filter_mode="linear"))
    assert torch.allclose(out, mid, atol=1e-6)
    out = rt.texture(tex, uv, mip_level_bias=torch.full((1, 4, 4), 2.0), filter_mode="linear-mipmap-nearest")
    assert torch.allclose(out, rt.texture(lvl2, uv, filter_mode="linear"), atol=1e-6)
    # max_mip_level=0 disables mipmapping
    out = rt.texture(tex, uv, uv_da=da, max_mip_level=0)
    assert torch.allclose(out, rt.texture(tex, uv, filter_mode="linear"))


def test_texture_errors_and_non_finite_uv():
    with pytest.raises(Get3dError, match="cube"):
        rt.texture(TEX2, torch.zeros(1, 1, 1, 2), boundary_mode="cube")
    with pytest.raises(Get3dError, match="filter_mode"):
        rt.texture(TEX2, torch.zeros(1, 1, 1, 2), filter_mode="cubic")
    with pytest.raises(Get3dError, match="boundary_mode"):
        rt.texture(TEX2, torch.zeros(1, 1, 1, 2), boundary_mode="mirror")
    with pytest.raises(Get3dError, match="mip"):
        rt.texture(torch.zeros(1, 6, 6, 1), torch.zeros(1, 1, 1, 2), mip_level_bias=torch.ones(1, 1, 1))
    uv = torch.tensor([[[[float("nan"), 0.2], [float("inf"), 0.3], [1e30, -1e30]]]])
    for mode in ("wrap", "clamp", "zero"):
        for filt in ("nearest", "linear"):
            out = rt.texture(TEX2, uv, filter_mode=filt, boundary_mode=mode)
            assert torch.isfinite(out).all() and out[0, 0, 0, 0] == 0 and out[0, 0, 1, 0] == 0


@pytest.mark.parametrize("boundary", ["wrap", "clamp", "zero"])
def test_texture_gradcheck(boundary):
    g = torch.Generator().manual_seed(3)
    tex = torch.rand(1, 4, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    uv = (torch.rand(1, 3, 3, 2, generator=g, dtype=torch.float64) * 1.6 - 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, u: rt.texture(t, u, filter_mode="linear", boundary_mode=boundary),
                                    (tex, uv), eps=1e-6, atol=1e-6)


def test_mipmap_texture_gradcheck():
    g = torch.Generator().manual_seed(4)
    tex = torch.rand(1, 4, 4, 1, generator=g, dtype=torch.float64, requires_grad=True)
    uv = torch.rand(1, 2, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    da = (torch.rand(1, 2, 2, 4, generator=g, dtype=torch.float64) * 0.4 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, u, d: rt.texture(t, u, uv_da=d), (tex, uv, da), eps=1e-6, atol=1e-5)


def _scene64():
    pos = torch.tensor([[[-0.83, -0.71, 0.1, 1.0], [1.3, -0.9, 0.4, 1.6], [0.2, 1.9, -0.3, 2.2],
                         [-0.4, 0.5, 0.5, 1.1]]], dtype=torch.float64)
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    return pos, tri


def test_interpolate_gradcheck_with_derivatives():
    pos, tri = _scene64()
    rast, db = rt.rasterize(pos, tri, (6, 7))
    assert int((rast[..., 3] > 0).sum()) > 10
    g = torch.Generator().manual_seed(5)
    attr = torch.rand(1, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    uv = rast[..., :2].clone().requires_grad_(True)
    dbl = db.clone().requires_grad_(True)
    fixed = rast[..., 2:]

    def fn(a, uv_, db_):
        out, da = rt.interpolate(a, torch.cat([uv_, fixed], -1), tri, rast_db=db_, diff_attrs=[0, 2])
        return out, da

    assert torch.autograd.gradcheck(fn, (attr, uv, dbl), eps=1e-6, atol=1e-6)
    out, da = fn(attr, uv, dbl)
    assert da.shape == (1, 6, 7, 4)
    _, da_all = rt.interpolate(attr, rast, tri, rast_db=db, diff_attrs="all")
    assert torch.allclose(da_all[..., [0, 1, 4, 5]], da)
    _, empty = rt.interpolate(attr, rast, tri)
    assert empty.shape == (1, 6, 7, 0)
    # broadcast of [V,C] attributes
    out2, _ = rt.interpolate(attr[0], rast, tri)
    assert torch.allclose(out2, out)
    assert bool((out[0][rast[0, ..., 3] == 0] == 0).all())


def test_rasterize_barycentric_gradcheck():
    """u, v, z/w and the bary pixel derivatives are differentiable w.r.t. pos (ids held fixed)."""
    pos, tri = _scene64()
    pos = pos.clone().requires_grad_(True)

    def fn(p):
        rast, db = rt.rasterize(p, tri, (6, 7))
        return rast[..., :3], db

    assert torch.autograd.gradcheck(fn, (pos,), eps=1e-7, atol=1e-5)
    # grad_db=False: rast_db carries no gradient
    _, db = rt.rasterize(pos, tri, (6, 7), grad_db=False)
    assert not db.requires_grad or torch.autograd.grad(db.sum(), pos, allow_unused=True)[0] is None
