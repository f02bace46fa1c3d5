"""Degenerate geometry (behind the camera, zero area, NaN/inf) and backend selection."""
import numpy as np
import pytest
import torch

import get3d.render.raster_nvdiffrast as rn
from get3d.errors import Get3dError
from get3d.render import get_backend
from get3d.render import raster_torch as rt

NEAR, FAR = 0.1, 10.0


def _proj():
    f = 1.0 / np.tan(np.radians(70) / 2)
    return np.array([[f, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (FAR + NEAR) / (NEAR - FAR), 2 * FAR * NEAR / (NEAR - FAR)], [0, 0, -1, 0]])


def _clip(cam):
    return (_proj() @ np.concatenate([cam, np.ones((len(cam), 1))], 1).T).T


def _full_pipeline(pos, tri, res=(16, 16)):
    pos = pos.clone().requires_grad_(True)
    rast, db = rt.rasterize(pos, tri, res)
    attr = torch.ones(pos.shape[0], pos.shape[1], 2, dtype=pos.dtype)
    col, da = rt.interpolate(attr, rast, tri, rast_db=db, diff_attrs="all")
    aa = rt.antialias(col, rast, pos, tri)
    (grad,) = torch.autograd.grad((aa.sum() + da.sum() + rast[..., :3].sum()), pos, allow_unused=True)
    return rast, db, aa, grad


def test_triangle_crossing_behind_camera_is_clipped_exactly():
    """One vertex behind the eye: covered pixels are those whose ray hits the part with z_cam <= -near."""
    h = w = 24
    cam = np.array([[-1.5, -1.0, -2.0], [1.5, -1.2, -2.5], [0.2, 0.8, 1.0]])  # last vertex behind
    clip = _clip(cam)
    assert clip[2, 3] < 0
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    rast, db, aa, grad = _full_pipeline(torch.tensor(clip, dtype=torch.float32)[None], tri, (h, w))
    for t in (rast, db, aa, grad):
        assert torch.isfinite(t).all()
    got = rast[0, ..., 3].detach().numpy() > 0
    # analytic: ray through each pixel centre vs the camera-space triangle, clipped at the near plane
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    f = _proj()[0, 0]
    d = np.stack([((xs + 0.5) / w * 2 - 1) / f, ((ys + 0.5) / h * 2 - 1) / f, -np.ones_like(xs, float)], -1)
    e1, e2 = cam[1] - cam[0], cam[2] - cam[0]
    n = np.cross(e1, e2)
    t = (cam[0] @ n) / (d @ n)
    p = d * t[..., None]
    # barycentric inside test in 3D
    def bary(p):
        v2 = p - cam[0]
        d00, d01, d11 = e1 @ e1, e1 @ e2, e2 @ e2
        d20, d21 = v2 @ e1, v2 @ e2
        den = d00 * d11 - d01 * d01
        b1 = (d11 * d20 - d01 * d21) / den
        b2 = (d00 * d21 - d01 * d20) / den
        return np.stack([1 - b1 - b2, b1, b2], -1)
    b = bary(p)
    inside = (b >= 0).all(-1) & (t > 0) & (p[..., 2] <= -NEAR)
    margin = np.minimum(np.abs(b).min(-1), np.abs(p[..., 2] + NEAR))
    sure = margin > 1e-3
    assert inside[sure].sum() > 20
    assert np.array_equal(got[sure], inside[sure])


def test_triangle_fully_behind_camera_draws_nothing():
    cam = np.array([[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 3.0]])
    pos = torch.tensor(_clip(cam), dtype=torch.float32)[None]
    rast, db, aa, grad = _full_pipeline(pos, torch.tensor([[0, 1, 2]], dtype=torch.int32))
    assert rast.abs().sum() == 0 and db.abs().sum() == 0 and aa.abs().sum() == 0


@pytest.mark.parametrize("bad", ["collinear", "repeated_index", "w_zero", "nan", "inf", "huge"])
def test_degenerate_triangles_are_skipped_without_nan(bad):
    good = [[-0.8, -0.8, 0.0, 1.0], [0.8, -0.8, 0.0, 1.0], [0.0, 0.8, 0.0, 1.0]]
    bad_tri = {
        "collinear": [[-0.9, -0.9, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], [0.9, 0.9, 0.0, 1.0]],
        "repeated_index": [[-0.9, 0.9, -0.5, 1.0], [0.9, 0.9, -0.5, 1.0], [0.0, -0.9, -0.5, 1.0]],
        "w_zero": [[-0.9, 0.9, -0.5, 0.0], [0.9, 0.9, -0.5, 0.0], [0.0, -0.9, -0.5, 0.0]],
        "nan": [[-0.9, 0.9, -0.5, 1.0], [float("nan"), 0.9, -0.5, 1.0], [0.0, -0.9, -0.5, 1.0]],
        "inf": [[-0.9, 0.9, -0.5, 1.0], [float("inf"), 0.9, -0.5, 1.0], [0.0, -0.9, -0.5, 1.0]],
        "huge": [[-1e30, 0.9, -0.5, 1.0], [1e30, 0.9, -0.5, 1.0], [0.0, 1e30, -0.5, 1.0]],
    }[bad]
    pos = torch.tensor([good + bad_tri])
    tri = torch.tensor([[0, 1, 2], [3, 4, 5] if bad != "repeated_index" else [3, 3, 5]], dtype=torch.int32)
    rast, db, aa, grad = _full_pipeline(pos, tri)
    for t in (rast, db, aa, grad):
        assert torch.isfinite(t).all()
    ref_rast, ref_db = rt.rasterize(pos[:, :3], tri[:1], (16, 16))
    if bad == "huge":
        # a finite (if absurd) triangle in front: it may cover pixels, but everything stays finite
        assert bool(((rast[0, ..., 3] == 0) | (rast[0, ..., 3] == 1) | (rast[0, ..., 3] == 2)).all())
        return
    assert torch.equal(rast, ref_rast)  # the bad triangle is invisible, the good one unaffected
    assert bool((rast[0][rast[0, ..., 3] == 0] == 0).all())


def test_empty_and_offscreen_geometry():
    pos = torch.tensor([[[2.0, 2.0, 0.0, 1.0], [3.0, 2.0, 0.0, 1.0], [2.0, 3.0, 0.0, 1.0]]])
    rast, db = rt.rasterize(pos, torch.tensor([[0, 1, 2]], dtype=torch.int32), (8, 8))
    assert rast.abs().sum() == 0
    # beyond the far plane
    pos = torch.tensor([[[-1.0, -1.0, 2.0, 1.0], [1.0, -1.0, 2.0, 1.0], [0.0, 1.0, 2.0, 1.0]]])
    rast, db = rt.rasterize(pos, torch.tensor([[0, 1, 2]], dtype=torch.int32), (8, 8))
    assert rast.abs().sum() == 0


# ------------------------------------------------------------------------------------------------
# get_backend


def test_get_backend_unknown_name():
    with pytest.raises(Get3dError, match="backend must be one of auto, nvdiffrast, torch; got 'opengl'"):
        get_backend("opengl")


def test_get_backend_torch_is_cached_and_complete():
    b = get_backend("torch")
    assert b is get_backend("torch") and b.name == "torch"
    for op in ("rasterize", "interpolate", "texture", "antialias"):
        assert callable(getattr(b, op))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_auto_is_torch_without_cuda_and_nvdiffrast_errors_in_one_line():
    assert get_backend("auto").name == "torch"
    with pytest.raises(Get3dError) as err:
        get_backend("nvdiffrast")
    msg = str(err.value)
    assert "\n" not in msg and "CUDA" in msg and "backend='torch'" in msg


def test_nvdiffrast_plugin_failure_becomes_one_line_error(monkeypatch):
    """A plugin build failure (e.g. ninja) must surface as one clear Get3dError line."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    backend = rn.NvdiffrastBackend()

    class Broken:
        def __init__(self, device=None):
            raise RuntimeError("Error building extension 'nvdiffrast_plugin'\nninja: build stopped")

    monkeypatch.setattr(backend._dr, "RasterizeCudaContext", Broken)
    with pytest.raises(Get3dError) as err:
        backend._context()
    msg = str(err.value)
    assert "\n" not in msg and "nvdiffrast_plugin" in msg and "backend='torch'" in msg
    with pytest.raises(Get3dError, match="CUDA tensors"):
        backend.rasterize(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.int32), (4, 4))
