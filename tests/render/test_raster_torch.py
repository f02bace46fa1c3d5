"""Torch rasterizer backend against analytic ground truth (coverage, depth, interpolation, rast)."""
import numpy as np
import pytest
import torch

from get3d.errors import Get3dError
from get3d.render import raster_torch as rt
from tests._support import assert_close_in, dtype_params


def _pixel_centres_px(h, w):
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    return xs, ys  # pixel-space coordinates of centres, row 0 = NDC y -1


def _to_px(p, h, w):
    """Clip-space [N,4] -> pixel-space [N,2] (x right, y up from the bottom row)."""
    p = np.asarray(p, np.float64)
    return np.stack([(p[:, 0] / p[:, 3] + 1) * 0.5 * w, (p[:, 1] / p[:, 3] + 1) * 0.5 * h], 1)


def _inside_and_margin(tri_px, xs, ys):
    """Independent point-in-triangle test; also the distance of each centre to the nearest edge line."""
    inside = None
    margin = np.full(xs.shape, np.inf)
    d1, d2 = tri_px[1] - tri_px[0], tri_px[2] - tri_px[0]
    area = d1[0] * d2[1] - d1[1] * d2[0]
    for i in range(3):
        a, b = tri_px[i], tri_px[(i + 1) % 3]
        e = b - a
        side = (e[0] * (ys - a[1]) - e[1] * (xs - a[0])) * np.sign(area)
        inside = side >= 0 if inside is None else inside & (side >= 0)
        margin = np.minimum(margin, np.abs(side) / np.linalg.norm(e))
    return inside, margin


def _random_triangle(rng, w_range=(1.0, 1.0)):
    xy = rng.uniform(-1.1, 1.1, size=(3, 2))
    wv = rng.uniform(*w_range, size=3)
    z = rng.uniform(-0.5, 0.5, size=3)
    return np.stack([xy[:, 0] * wv, xy[:, 1] * wv, z * wv, wv], 1)


TRI1 = torch.tensor([[0, 1, 2]], dtype=torch.int32)


@pytest.mark.parametrize("w_range", [(1.0, 1.0), (0.5, 3.0)])
def test_coverage_matches_point_in_triangle(w_range):
    rng = np.random.default_rng(1)
    h, w = 24, 32
    xs, ys = _pixel_centres_px(h, w)
    checked = 0
    for _ in range(12):
        p = _random_triangle(rng, w_range)
        rast, _ = rt.rasterize(torch.tensor(p, dtype=torch.float32)[None], TRI1, (h, w))
        got = rast[0, ..., 3].numpy() > 0
        inside, margin = _inside_and_margin(_to_px(p, h, w), xs, ys)
        sure = margin > 1e-3  # centres exactly on an edge may go either way
        assert np.array_equal(got[sure], inside[sure])
        checked += int(inside[sure].sum())
    assert checked > 100  # the scenes actually cover pixels


def test_rast_conventions_row0_bottom_ids_background():
    # triangle in the lower-left corner only: rows near the bottom (row 0) must be hit
    pos = torch.tensor([[[-1.0, -1.0, 0.2, 1.0], [0.0, -1.0, 0.2, 1.0], [-1.0, 0.0, 0.2, 1.0]]])
    rast, rast_db = rt.rasterize(pos, TRI1, (8, 8))
    ids = rast[0, ..., 3]
    assert ids[0, 0] == 1 and ids[7, 7] == 0
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    assert bool((ids[xx + yy <= 2] == 1).all())  # centres strictly inside (x + y = 3 is on the edge)
    assert bool((ids[xx + yy >= 4] == 0).all())
    assert ids[4:].sum() == 0  # upper half (high rows) is empty
    bg = ids == 0
    assert bool((rast[0][bg] == 0).all()) and bool((rast_db[0][bg] == 0).all())
    assert torch.allclose(rast[0, ..., 2][~bg], torch.tensor(0.2))


def test_barycentric_vertex_convention():
    # corner 0 bottom-left, 1 bottom-right, 2 top-left; u -> 1 near corner 0, v -> 1 near corner 1
    pos = torch.tensor([[[-1.0, -1.0, 0.0, 1.0], [1.0, -1.0, 0.0, 1.0], [-1.0, 1.0, 0.0, 1.0]]])
    rast, _ = rt.rasterize(pos, TRI1, (16, 16))
    u, v = rast[0, ..., 0], rast[0, ..., 1]
    assert u[0, 0] > 0.9 and v[0, 0] < 0.1  # near corner 0
    assert v[0, 14] > 0.8 and u[0, 14] < 0.1  # near corner 1
    assert u[14, 0] < 0.1 and v[14, 0] < 0.1  # near corner 2 (w = 1 - u - v large)
    # exact affine values for w = 1: pixel centre (x, y) -> u = 1 - X - Y in [0,1]^2 coordinates
    x = (0 + 0.5) / 16 * 2 - 1
    y = (3 + 0.5) / 16 * 2 - 1
    assert u[3, 0].item() == pytest.approx(1 - (x + 1) / 2 - (y + 1) / 2, abs=1e-6)
    assert v[3, 0].item() == pytest.approx((x + 1) / 2, abs=1e-6)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_depth_nearer_triangle_wins_regardless_of_order(order):
    far = [[-0.9, -0.9, 0.5, 1.0], [0.9, -0.9, 0.5, 1.0], [0.0, 0.9, 0.5, 1.0]]
    near = [[-0.9, 0.9, -0.3, 1.0], [0.9, 0.9, -0.3, 1.0], [0.0, -0.9, -0.3, 1.0]]
    tris = [far, near]
    pos = torch.tensor([tris[order[0]] + tris[order[1]]])
    tri = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    rast, _ = rt.rasterize(pos, tri, (32, 32))
    near_id = 1 + order.index(1)
    far_id = 1 + order.index(0)
    ids = rast[0, ..., 3]
    zw = rast[0, ..., 2]
    assert bool((ids == near_id).any()) and bool((ids == far_id).any())
    assert torch.allclose(zw[ids == near_id], torch.tensor(-0.3))
    assert torch.allclose(zw[ids == far_id], torch.tensor(0.5))
    # where both overlap (centre of the image) only the near one may show
    assert ids[15:17, 15:17].eq(near_id).all()


def test_depth_test_uses_z_over_w_per_pixel():
    # two intersecting triangles: each wins on the side where it is nearer
    a = [[-1.0, -1.0, -0.5, 1.0], [1.0, -1.0, 0.5, 1.0], [0.0, 1.0, 0.0, 1.0]]
    b = [[-1.0, -1.0, 0.5, 1.0], [1.0, -1.0, -0.5, 1.0], [0.0, 1.0, 0.0, 1.0]]
    rast, _ = rt.rasterize(torch.tensor([a + b]), torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32), (16, 16))
    ids = rast[0, 2, :, 3]
    assert bool((ids[1:7] == 1).all()) and bool((ids[9:15] == 2).all())


def test_pixels_beyond_the_near_and_far_planes_are_not_drawn():
    """A full-screen quad (w = 1) with z/w = 1.5 x: a pixel is drawn only where -1 <= z/w <= 1,
    i.e. |x_ndc| <= 2/3: columns 4..19 of 24 (per-pixel clipping, the triangle is not culled)."""
    pos = torch.tensor([[[-1.0, -1.0, -1.5, 1.0], [1.0, -1.0, 1.5, 1.0], [1.0, 1.0, 1.5, 1.0], [-1.0, 1.0, -1.5, 1.0]]])
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    rast, _ = rt.rasterize(pos, tri, (16, 24))
    x_ndc = (torch.arange(24) + 0.5) * 2 / 24 - 1
    expected = (1.5 * x_ndc).abs() <= 1
    assert int(expected.sum()) == 16
    assert torch.equal(rast[0, ..., 3] > 0, expected.expand(16, 24))
    drawn = rast[0, ..., 3] > 0
    assert torch.allclose(rast[0, ..., 2][drawn], (1.5 * x_ndc).expand(16, 24)[drawn], atol=1e-5)


def _perspective(fov_y=60.0, near=0.1, far=10.0):
    f = 1.0 / np.tan(np.radians(fov_y) / 2)
    return np.array([[f, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                     [0, 0, -1, 0]])


def test_perspective_correct_interpolation_recovers_tilted_plane():
    """Interpolating camera-space positions must land exactly on the pixel ray and the plane."""
    h = w = 32
    proj = _perspective()
    # a quad strongly tilted in depth (z from -1.2 to -6)
    cam = np.array([[-1.0, -0.8, -1.2], [1.0, -0.8, -1.2], [1.0, 0.9, -6.0], [-1.0, 0.9, -6.0]])
    clip = (proj @ np.concatenate([cam, np.ones((4, 1))], 1).T).T
    pos = torch.tensor(clip, dtype=torch.float32)[None]
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    rast, _ = rt.rasterize(pos, tri, (h, w))
    attr = torch.tensor(cam, dtype=torch.float32)[None]
    out, _ = rt.interpolate(attr, rast, tri)
    mask = rast[0, ..., 3] > 0
    assert int(mask.sum()) > 200
    got = out[0][mask].double().numpy()
    # expected: intersection of the pixel ray with the quad's plane
    ys, xs = np.nonzero(mask.numpy())
    ndc = np.stack([(xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1], 1)
    f = proj[0, 0]
    dirs = np.stack([ndc[:, 0] / f, ndc[:, 1] / f, -np.ones(len(ndc))], 1)  # camera-space rays
    n = np.cross(cam[1] - cam[0], cam[3] - cam[0])
    t = (cam[0] @ n) / (dirs @ n)
    expected = dirs * t[:, None]
    assert np.abs(got - expected).max() < 2e-4
    # the test can fail: screen-space (affine) interpolation is far off on this plane
    v = rast[0, ..., 1][mask].double().numpy()
    ids = rast[0, ..., 3][mask].long().numpy() - 1
    corners = np.array([[0, 1, 2], [0, 2, 3]])[ids]
    ndc_c = clip[:, :2] / clip[:, 3:]
    # affine barycentrics from projected corners
    p0, p1, p2 = ndc_c[corners[:, 0]], ndc_c[corners[:, 1]], ndc_c[corners[:, 2]]
    den = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])
    l1 = ((ndc[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (ndc[:, 1] - p0[:, 1])) / den
    assert np.abs(v - l1).max() > 0.05  # perspective barycentrics differ from affine ones


# Non-square images too: the x derivatives scale with 2/W and the y ones with 2/H, so swapping
# width and height (or the pixel-centre axes) is wrong only there.
@pytest.mark.parametrize("h,w", [(32, 32), (24, 40), (40, 24)])
def test_rast_db_matches_pixel_differences(h, w):
    pos = torch.tensor([[[-0.9, -0.8, 0.1, 1.0], [1.6, -1.4, 0.3, 2.0], [0.1, 2.4, 0.6, 3.0]]], dtype=torch.float64)
    rast, db = rt.rasterize(pos, TRI1, (h, w))
    ids = rast[0, ..., 3]
    inner = (ids[1:-1, 1:-1] > 0) & (ids[:-2, 1:-1] > 0) & (ids[2:, 1:-1] > 0) & (ids[1:-1, :-2] > 0) & (ids[1:-1, 2:] > 0)
    assert int(inner.sum()) > 50
    u, v = rast[0, ..., 0], rast[0, ..., 1]
    dudx = (u[1:-1, 2:] - u[1:-1, :-2]) / 2
    dudy = (u[2:, 1:-1] - u[:-2, 1:-1]) / 2
    dvdx = (v[1:-1, 2:] - v[1:-1, :-2]) / 2
    dvdy = (v[2:, 1:-1] - v[:-2, 1:-1]) / 2
    fd = torch.stack([dudx, dudy, dvdx, dvdy], -1)[inner]
    an = db[0, 1:-1, 1:-1][inner]
    # u is a smooth rational function of pixel position: central differences agree to O(h^2)
    assert torch.allclose(an, fd, atol=2e-3, rtol=2e-2)


def test_range_mode_matches_instance_mode():
    rng = np.random.default_rng(3)
    p = np.concatenate([_random_triangle(rng), _random_triangle(rng), _random_triangle(rng)])
    pos = torch.tensor(p, dtype=torch.float32)
    tri = torch.arange(9, dtype=torch.int32).view(3, 3)
    ranges = torch.tensor([[0, 1], [1, 2]], dtype=torch.int32)
    rast, db = rt.rasterize(pos, tri, (16, 16), ranges=ranges)
    assert rast.shape == (2, 16, 16, 4)
    ids0 = set(rast[0, ..., 3].unique().tolist())
    ids1 = set(rast[1, ..., 3].unique().tolist())
    assert ids0 <= {0.0, 1.0} and 1.0 in ids0
    assert ids1 <= {0.0, 2.0, 3.0} and ids1 - {0.0}
    # image 1 equals instance-mode rendering of triangles 1..2 with global ids
    only12, _ = rt.rasterize(pos[None], tri[1:], (16, 16))
    sel = only12[0, ..., 3] > 0
    assert torch.equal(rast[1, ..., 3][sel], only12[0, ..., 3][sel] + 1)
    assert torch.allclose(rast[1, ..., :3], only12[0, ..., :3])
    with pytest.raises(Get3dError, match="ranges"):
        rt.rasterize(pos, tri, (16, 16))
    with pytest.raises(Get3dError, match="ranges"):
        rt.rasterize(pos, tri, (16, 16), ranges=torch.tensor([[2, 5]], dtype=torch.int32))


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(5)
    p = np.concatenate([_random_triangle(rng, (0.7, 2.0)) for _ in range(30)])
    pos = torch.tensor(p, dtype=torch.float32)[None]
    tri = torch.arange(90, dtype=torch.int32).view(30, 3)
    big, big_db = rt.rasterize(pos, tri, (40, 48))
    small, small_db = rt.rasterize(pos, tri, (40, 48), fragment_budget=37)  # forces band splitting
    assert torch.equal(big, small) and torch.equal(big_db, small_db)


def test_triangle_ids_above_2_pow_24_round_trip():
    ids = torch.tensor([0, 1, 2 ** 24, 2 ** 24 + 1, 2 ** 26 + 7])
    enc = rt.encode_triangle_ids(ids, torch.float32)
    assert torch.equal(rt.decode_triangle_ids(enc), ids)


def test_input_errors_name_the_argument():
    pos = torch.zeros(1, 3, 4)
    with pytest.raises(Get3dError, match="pos"):
        rt.rasterize(torch.zeros(1, 3, 3), TRI1, (4, 4))
    with pytest.raises(Get3dError, match="tri"):
        rt.rasterize(pos, torch.tensor([[0, 1, 5]], dtype=torch.int32), (4, 4))
    with pytest.raises(Get3dError, match="resolution"):
        rt.rasterize(pos, TRI1, (0, 4))
    with pytest.raises(Get3dError, match="diff_attrs"):
        rast, db = rt.rasterize(pos, TRI1, (4, 4))
        rt.interpolate(torch.zeros(1, 3, 2), rast, TRI1, rast_db=db, diff_attrs=[3])


def _perspective_reference(p, xs, ys, h, w):
    """float64 (u, v, z/w) at pixel centres from first principles: screen-space barycentrics b_i of
    the projected triangle, perspective-corrected u_i = (b_i / w_i) / sum_j (b_j / w_j); depth z/w
    is affine in screen space, sum_i b_i z_i / w_i."""
    tri_px = _to_px(p, h, w)
    d1, d2 = tri_px[1] - tri_px[0], tri_px[2] - tri_px[0]
    area = d1[0] * d2[1] - d1[1] * d2[0]
    b1 = ((xs - tri_px[0, 0]) * d2[1] - (ys - tri_px[0, 1]) * d2[0]) / area
    b2 = (d1[0] * (ys - tri_px[0, 1]) - d1[1] * (xs - tri_px[0, 0])) / area
    b = np.stack([1 - b1 - b2, b1, b2], -1)
    q = b / p[:, 3]
    u = q / q.sum(-1, keepdims=True)
    return u[..., 0], u[..., 1], (b * (p[:, 2] / p[:, 3])).sum(-1)


def test_rasterize_and_interpolate_in_each_dtype_match_a_float64_reference(float_dtype):
    """Both documented dtypes: rast (u, v, z/w) and interpolated attributes come out in the input's
    dtype and match the analytic perspective-correct values on the same (rounded) triangle."""
    rng = np.random.default_rng(7)
    h, w = 24, 32
    xs, ys = _pixel_centres_px(h, w)
    covered = 0
    for _ in range(6):
        p = torch.tensor(_random_triangle(rng, (0.5, 3.0))).to(float_dtype)
        rast, rast_db = rt.rasterize(p[None], TRI1, (h, w))
        assert rast.dtype == float_dtype and rast_db.dtype == float_dtype
        ref_p = p.double().numpy()
        inside, margin = _inside_and_margin(_to_px(ref_p, h, w), xs, ys)
        sure = torch.from_numpy(inside & (margin > 1e-3))
        assert bool((rast[0, ..., 3][sure] == 1).all())
        u, v, depth = (torch.from_numpy(x)[sure] for x in _perspective_reference(ref_p, xs, ys, h, w))
        assert_close_in(float_dtype, rast[0, ..., 0][sure], u, what="u")
        assert_close_in(float_dtype, rast[0, ..., 1][sure], v, what="v")
        assert_close_in(float_dtype, rast[0, ..., 2][sure], depth, what="z/w")
        attr = torch.tensor([[[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0]]], dtype=float_dtype)
        out, _ = rt.interpolate(attr, rast, TRI1)
        expected = torch.stack([u, v, 1 - u - v], -1) @ attr[0].double()
        assert_close_in(float_dtype, out[0][sure], expected, scale=4.0, what="interpolate")
        covered += int(sure.sum())
    assert covered > 100


@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16))
def test_half_precision_positions_are_refused_naming_pos(dtype):
    """float32 (nvdiffrast's dtype) or float64 (checks): half positions are refused, not silently widened."""
    pos = torch.tensor([[[-1.0, -1.0, 0.0, 1.0], [1.0, -1.0, 0.0, 1.0], [-1.0, 1.0, 0.0, 1.0]]], dtype=dtype)
    with pytest.raises(Get3dError, match=rf"^pos must be float32 \(or float64\), got {dtype}$"):
        rt.rasterize(pos, TRI1, (8, 8))
