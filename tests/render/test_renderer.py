import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from get3d.errors import Get3dError
from get3d.render import DEFAULT_FOVY, Cameras, Renderer, world_to_pixel
from get3d.render.primitives import cube, icosphere
from tests._support import dtype_params

RES = 64
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def renderer():
    return Renderer("torch")


@pytest.fixture(scope="module")
def sphere():
    return icosphere(3, radius=0.4)  # 1,280 faces


def _front(n=1):
    return Cameras(torch.zeros(n), torch.zeros(n))


def _forward_axis(cams):
    """Unit viewing directions [B, 3] (camera -> origin)."""
    return -torch.nn.functional.normalize(cams.positions(), dim=-1)


def test_sphere_silhouette_matches_analytic_projection(renderer, sphere):
    verts, faces = sphere
    cams = Cameras(torch.tensor([30.0]), torch.tensor([20.0]))
    out = renderer.render(verts, faces, cams, RES)
    assert out.mask.shape == (1, RES, RES, 1)
    # A sphere of radius R at distance d subtends half-angle asin(R/d); its image is a disc of
    # NDC radius tan(asin(R/d)) / tan(fovy/2) centred on the image.
    half = math.asin(0.4 / 1.2)
    radius_px = math.tan(half) / math.tan(DEFAULT_FOVY / 2) * RES / 2
    expected_area = math.pi * radius_px**2
    assert out.mask.sum().item() == pytest.approx(expected_area, rel=0.03)
    # Pixel by pixel: centres clearly inside the disc are covered, clearly outside are not.
    ys, xs = torch.meshgrid(torch.arange(RES) + 0.5, torch.arange(RES) + 0.5, indexing="ij")
    dist = ((xs - RES / 2) ** 2 + (ys - RES / 2) ** 2).sqrt()
    hard = out.hard_mask[0, ..., 0]
    assert (hard[dist < radius_px - 1.5] == 1).all()
    assert (hard[dist > radius_px + 1.5] == 0).all()


def test_positions_depth_normals_on_visible_surface(renderer, sphere):
    verts, faces = sphere
    cams = Cameras(torch.tensor([0.0, 140.0]), torch.tensor([0.0, 25.0]))
    out = renderer.render([verts, verts], faces, cams, RES)
    fg = out.hard_mask[..., 0] > 0
    pos = out.position[fg]
    # On the (inscribed) sphere surface.
    assert pos.norm(dim=-1).min() > 0.4 * 0.99 and pos.norm(dim=-1).max() < 0.4 + 1e-4
    # Depth is planar camera depth: distance along the viewing axis.
    eye = cams.positions()[:, None, None, :].expand(2, RES, RES, 3)[fg]
    fwd = _forward_axis(cams)[:, None, None, :].expand(2, RES, RES, 3)[fg]
    torch.testing.assert_close(out.depth[fg][:, 0], ((pos - eye) * fwd).sum(-1), atol=1e-4, rtol=0)
    # The front view (r=0, e=0) sees the hemisphere z < 0: depth = z + 1.2.
    torch.testing.assert_close(out.depth[0][fg[0]][:, 0], out.position[0][fg[0]][:, 2] + 1.2, atol=1e-4, rtol=0)
    assert (out.position[0][fg[0]][:, 2] < 0.02).all()
    # Unit normals, close to radial, facing the camera. Interpolated vertex normals may turn
    # slightly away at the rim of the polyhedral sphere; flat face normals of visible
    # triangles always face the camera.
    to_eye = torch.nn.functional.normalize(eye - pos, dim=-1)
    nrm = out.normal[fg]
    torch.testing.assert_close(nrm.norm(dim=-1), torch.ones(len(nrm)), atol=1e-4, rtol=0)
    assert ((nrm * torch.nn.functional.normalize(pos, dim=-1)).sum(-1) > 0.99).all()
    assert ((nrm * to_eye).sum(-1) > -0.1).all()
    assert ((nrm * to_eye).sum(-1) > 0).float().mean() > 0.98
    flat = renderer.render([verts, verts], faces, cams, RES, normals="face").normal[fg]
    assert ((flat * to_eye).sum(-1) > 0).all()


def test_pixel_helper_agrees_with_rendered_positions(renderer, sphere):
    verts, faces = sphere
    cams = Cameras(torch.tensor([75.0]), torch.tensor([10.0]))
    out = renderer.render(verts, faces, cams, RES)
    fg = out.hard_mask[0, ..., 0].nonzero()  # (row, col)
    pts = out.position[0][fg[:, 0], fg[:, 1]]
    px = world_to_pixel(pts[None], cams.mvp(), RES)[0]  # (x, y) -> pixel centres
    torch.testing.assert_close(px, fg.flip(1).float() + 0.5, atol=1e-2, rtol=0)


def test_cube_face_normals_are_axis_aligned_and_face_camera(renderer):
    verts, faces = cube(0.6)
    cams = Cameras(torch.tensor([35.0]), torch.tensor([25.0]))
    out = renderer.render(verts, faces, cams, RES, normals="face")
    fg = out.hard_mask[0, ..., 0] > 0
    nrm = out.normal[0][fg]
    # Visible from r=35, e=25 (camera at -x, +y, -z): the -X, +Y and -Z faces.
    seen = {tuple(v) for v in nrm.round().int().tolist()}
    assert seen == {(-1, 0, 0), (0, 1, 0), (0, 0, -1)}
    torch.testing.assert_close(nrm.abs().max(-1).values, torch.ones(len(nrm)), atol=1e-5, rtol=0)
    # Positions lie on the face their normal names.
    pos = out.position[0][fg]
    torch.testing.assert_close((pos * nrm).sum(-1), torch.full((len(pos),), 0.3), atol=1e-4, rtol=0)


def test_texture_fn_sees_only_foreground_points(renderer, sphere):
    verts, faces = sphere
    calls = []

    def field(points, batch_index):
        calls.append((points.detach().clone(), batch_index.clone()))
        return torch.stack([points[:, 0], batch_index.float(), torch.ones_like(points[:, 0])], -1)

    v_small = verts * 0.5
    out = renderer.render([verts, v_small], faces, _front(2), RES, texture_fn=field)
    assert len(calls) == 1
    points, batch_index = calls[0]
    hard = out.hard_mask[..., 0] > 0
    assert points.shape == (int(hard.sum()), 3)
    assert (batch_index == 0).sum() == hard[0].sum() and (batch_index == 1).sum() == hard[1].sum()
    # Same points (the field runs before the bottom-first -> top-first flip, so compare in
    # the backend's row order).
    torch.testing.assert_close(points, out.position.flip(1)[hard.flip(1)], atol=1e-6, rtol=0)
    # Interior pixels (not touched by antialiasing) carry exactly the field's value.
    interior = hard & (torch.nn.functional.avg_pool2d(hard[:, None].float(), 3, 1, 1)[:, 0] == 1)
    torch.testing.assert_close(out.color[interior][:, 0], out.position[interior][:, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(out.color[1][interior[1]][:, 1], torch.ones(int(interior[1].sum())))


def _quad():
    # A 0.8 x 0.8 square in the z=0 plane facing the r=0 camera (normal -Z). Seen from
    # (0, 0, -1.2), image-left is world +X, so uv (0, 1) (texture's top-left) sits at (+x, +y).
    verts = torch.tensor([[-0.4, -0.4, 0.0], [0.4, -0.4, 0.0], [0.4, 0.4, 0.0], [-0.4, 0.4, 0.0]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    uvs = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    colours = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]], [[0, 0, 1.0], [1.0, 1.0, 0]]])  # 2x2, top row first
    texture = colours.repeat_interleave(4, 0).repeat_interleave(4, 1)  # 8x8, uniform quadrants
    return verts, faces, uvs, texture, colours


@pytest.mark.parametrize("v_up", [True, False])
def test_uv_texture_on_quad_gives_texel_colours(renderer, v_up):
    verts, faces, uvs, texture, colours = _quad()
    if not v_up:
        uvs = torch.stack([uvs[:, 0], 1 - uvs[:, 1]], -1)
    out = renderer.render(verts, faces, _front(), RES, uvs=uvs, textures=texture, uv_v_up=v_up)
    # Quadrant centres of the quad, as seen: top-left, top-right, bottom-left, bottom-right.
    world = torch.tensor([[0.2, 0.2, 0.0], [-0.2, 0.2, 0.0], [0.2, -0.2, 0.0], [-0.2, -0.2, 0.0]])
    px = world_to_pixel(world[None], _front().mvp(), RES)[0].floor().long()
    got = out.color[0, px[:, 1], px[:, 0]]
    torch.testing.assert_close(got, colours.reshape(4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.normal[0, px[:, 1], px[:, 0]], torch.tensor([[0.0, 0, -1]]).expand(4, 3))


def test_uv_textures_of_different_sizes_in_one_batch(renderer):
    verts, faces, uvs, texture, colours = _quad()
    small = colours.repeat_interleave(2, 0).repeat_interleave(2, 1)  # 4x4 vs 8x8
    out = renderer.render([verts, verts], faces, _front(2), RES, uvs=[uvs, uvs], textures=[texture, small])
    world = torch.tensor([[[0.2, 0.2, 0.0]]])
    px = world_to_pixel(world, _front().mvp(), RES)[0, 0].floor().long()
    torch.testing.assert_close(out.color[:, px[1], px[0]], torch.tensor([[1.0, 0, 0], [1.0, 0, 0]]), atol=1e-5, rtol=0)
    # Different textures really are sampled per item: a quadrant boundary pixel differs.
    edge = torch.tensor([[[0.005, 0.2, 0.0]]])
    px = world_to_pixel(edge, _front().mvp(), RES)[0, 0].floor().long()
    assert not torch.allclose(out.color[0, px[1], px[0]], out.color[1, px[1], px[0]])


def test_render_meshes_duck_typed(renderer):
    verts, faces, uvs, texture, colours = _quad()
    mesh = SimpleNamespace(verts=verts, faces=faces, uvs=uvs, texture=texture)
    out = renderer.render_meshes([mesh], _front(), RES)
    assert out.color is not None and out.color.shape == (1, RES, RES, 3)
    assert out.color[0, RES // 2 - 8, RES // 2 - 8].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-5)


def test_batch_of_different_meshes_equals_rendering_each_alone(renderer, sphere):
    v_sphere, f_sphere = sphere
    v_cube, f_cube = cube(0.5)
    cams = Cameras(torch.tensor([20.0, 200.0]), torch.tensor([10.0, 25.0]))
    field = lambda p, b: torch.cat([p, b[:, None].float()], -1)  # noqa: E731
    both = renderer.render([v_sphere, v_cube], [f_sphere, f_cube], cams, RES, texture_fn=field)
    for b, (v, f) in enumerate([(v_sphere, f_sphere), (v_cube, f_cube)]):
        alone = renderer.render(v, f, cams[b], RES, texture_fn=lambda p, _: field(p, torch.full_like(_, b)))
        for name in ("mask", "position", "depth", "normal", "color", "triangle_id"):
            torch.testing.assert_close(getattr(both, name)[b], getattr(alone, name)[0], atol=1e-5, rtol=0,
                                       msg=f"{name}[{b}] differs")


def test_one_mesh_many_cameras_equals_separate_renders(renderer, sphere):
    verts, faces = sphere
    verts = verts * torch.tensor([1.0, 0.6, 0.8])  # not rotation-invariant
    cams = Cameras.orbit(3, elevation=15.0)
    many = renderer.render(verts, faces, cams, RES)
    assert many.mask.shape[0] == 3
    for b in range(3):
        alone = renderer.render(verts, faces, cams[b], RES)
        torch.testing.assert_close(many.mask[b], alone.mask[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(many.depth[b], alone.depth[0], atol=1e-5, rtol=0)
    assert not torch.equal(many.mask[0], many.mask[1])


def test_background_is_exactly_zero(renderer, sphere):
    verts, faces = sphere
    out = renderer.render([verts * 0.7, verts], faces, _front(2), RES, texture_fn=lambda p, b: p + 1.0)
    bg = out.triangle_id < 0
    assert bg.any() and (~bg).any()
    for name in ("position", "depth", "normal", "rast"):
        assert (getattr(out, name)[bg] == 0).all(), name
    # Antialiasing may touch background pixels next to the silhouette, but nothing further out.
    near = torch.nn.functional.max_pool2d((~bg)[:, None].float(), 3, 1, 1)[:, 0] > 0
    assert (out.mask[~near] == 0).all() and (out.color[~near] == 0).all()
    assert (out.mask[~bg] > 0).all()


def test_empty_mesh_in_batch(renderer, sphere):
    verts, faces = sphere
    empty_v, empty_f = torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.int64)
    out = renderer.render([verts, empty_v], [faces, empty_f], _front(2), RES)
    assert out.mask[0].sum() > 0 and (out.mask[1] == 0).all() and (out.triangle_id[1] == -1).all()
    nothing = renderer.render(empty_v, empty_f, _front(), RES, texture_fn=lambda p, b: p)
    assert (nothing.mask == 0).all() and nothing.color.shape == (1, RES, RES, 3)


def test_mask_gradient_reaches_silhouette_vertices(renderer, sphere):
    verts, faces = sphere
    verts = verts.clone().requires_grad_(True)
    out = renderer.render(verts, faces, _front(), RES)
    out.mask.sum().backward()
    grad = verts.grad
    assert torch.isfinite(grad).all()
    # From (0, 0, -1.2) the silhouette of a sphere of radius R is the circle where the view
    # ray is tangent: p . eye = R^2, i.e. z = -R^2 / 1.2.
    z_sil = -(0.4**2) / 1.2
    rim = (verts[:, 2] - z_sil).abs() < 0.1
    moved = grad.norm(dim=-1) > 0
    assert moved.sum() >= 20  # the rim ring has ~50 vertices at this tessellation
    assert rim[moved].all()  # only vertices of silhouette edges get gradients
    # Pushing rim vertices outward grows the silhouette: the gradient points outward on average.
    radial = (grad[rim] * torch.nn.functional.normalize(verts[rim].detach(), dim=-1)).sum(-1)
    assert radial.sum() > 0


def test_scaling_sphere_up_increases_mask_sum(renderer, sphere):
    verts, faces = sphere
    areas = [renderer.render(verts * s, faces, _front(), RES).mask.sum().item() for s in (0.8, 1.0, 1.2)]
    assert areas[0] < areas[1] < areas[2]


def test_colour_gradients_reach_field_and_vertices(renderer, sphere):
    verts, faces = sphere
    verts = verts.clone().requires_grad_(True)
    weight = torch.ones(3, requires_grad=True)
    out = renderer.render(verts, faces, _front(), RES, texture_fn=lambda p, b: p * weight)
    out.color.sum().backward()
    assert weight.grad.abs().sum() > 0 and verts.grad.abs().sum() > 0


def test_user_mistakes_raise_get3d_error(renderer, sphere):
    verts, faces = sphere
    with pytest.raises(Get3dError, match="cameras"):
        renderer.render([verts, verts, verts], faces, _front(2), RES)
    with pytest.raises(Get3dError, match="verts"):
        renderer.render(verts[:, :2], faces, _front(), RES)
    with pytest.raises(Get3dError, match="faces"):
        renderer.render(verts, faces + 10_000, _front(), RES)
    with pytest.raises(Get3dError, match="texture_fn"):
        renderer.render(verts, faces, _front(), RES, texture_fn=lambda p, b: p[:1])
    with pytest.raises(Get3dError, match="normals"):
        renderer.render(verts, faces, _front(), RES, normals="smooth")
    with pytest.raises(Get3dError, match="backend"):
        Renderer("no-such-backend")


# The CPU case runs everywhere; the CUDA one (the torch backend on CUDA and nvdiffrast) needs a GPU.
# Every row carries its peak memory: process RSS on the CPU, allocator peak on CUDA.
@pytest.mark.parametrize("backends,timeout,memory", [
    ("torch", 120, "peak_rss_mb"),
    pytest.param("torch:cuda,nvdiffrast", 600, "peak_mem_mb", marks=pytest.mark.gpu),
], ids=["cpu", "cuda"])
def test_bench_quick_prints_one_json_document(backends, timeout, memory):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "render.py"), "--quick", "--backends", backends],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert not report["skipped"], report["skipped"]
    assert report["mesh"]["faces"] == 80 and report["results"]
    assert {r["backend"] for r in report["results"]} == {b.split(":")[0] for b in backends.split(",")}
    for row in report["results"]:
        assert {"backend", "resolution", "batch", "forward_ms", "forward_backward_ms", memory} <= set(row)
        assert row["forward_ms"] > 0 and row["forward_backward_ms"] > 0
    assert {(r["resolution"], r["batch"]) for r in report["results"]} == {(32, 1), (32, 2)}


def _mixed_batch():
    """Sphere, cube, smaller sphere (CPU tensors, shared by the renders compared)."""
    v_sphere, f_sphere = icosphere(3, radius=0.4)
    v_cube, f_cube = cube(0.5)
    return [v_sphere, v_cube, v_sphere * 0.7], [f_sphere, f_cube, f_sphere]


def _render_mixed_batch(verts, faces, backend, device):
    """The batch at 128^2 with a position+batch texture field, on `device`; -> (RenderResult, vertex
    gradients of mask.sum() + color.sum() on the CPU). Each call makes its own leaf copies of the
    shared inputs (`detach().clone().to(device)`): `v.to("cpu")` would return the shared tensor
    itself (a second render would accumulate into its .grad), and on CUDA `.to` of a tensor that
    requires grad is not a leaf (its .grad stays None)."""
    cams = Cameras(torch.tensor([20.0, 200.0, 90.0]), torch.tensor([10.0, 25.0, 0.0]))
    field = lambda p, b: torch.cat([p + 0.5, b[:, None].float()], -1)  # noqa: E731
    vs = [v.detach().clone().to(device).requires_grad_(True) for v in verts]
    out = Renderer(backend).render(vs, [f.to(device) for f in faces], cams.to(device), 128, texture_fn=field)
    (out.mask.sum() + out.color.sum()).backward()
    assert all(v.is_leaf and v.grad is not None for v in vs)
    return out, [v.grad.detach().cpu().clone() for v in vs]  # a copy: never aliases a leaf's .grad


# The torch backend on CPU is the reference; each candidate renders the same batch. The CPU pair
# runs everywhere (it checks this harness: two renders must not share or accumulate into the same
# leaves, so their gradients are equal, not doubled); the CUDA pairs need a GPU.
@pytest.mark.parametrize("backend,device", [
    ("torch", "cpu"),
    pytest.param("torch", "cuda", marks=pytest.mark.gpu),
    pytest.param("nvdiffrast", "cuda", marks=pytest.mark.gpu),
])
def test_backends_match_the_cpu_torch_backend_on_a_mixed_batch(backend, device):
    verts, faces = _mixed_batch()
    ref, ref_grads = _render_mixed_batch(verts, faces, "torch", "cpu")
    out, grads = _render_mixed_batch(verts, faces, backend, device)
    same = ref.triangle_id == out.triangle_id.cpu()
    assert same.float().mean() > 0.995
    for name in ("position", "depth", "normal", "color"):
        torch.testing.assert_close(getattr(out, name).cpu()[same], getattr(ref, name)[same], atol=1e-4, rtol=0)
    assert (out.mask.cpu() - ref.mask).abs().mean() < 1e-3
    for g_ref, g_out in zip(ref_grads, grads):
        assert g_out.abs().sum() > 0
        if backend == "torch":  # the same code: the same gradients (up to float reordering on CUDA)
            assert torch.allclose(g_out, g_ref, atol=1e-4 * float(g_ref.abs().max()), rtol=1e-3)
        else:
            cos = torch.nn.functional.cosine_similarity(g_ref.flatten(), g_out.flatten(), dim=0)
            assert cos > 0.9


def test_fragment_fn_gets_faces_and_barycentrics_that_rebuild_positions(renderer, sphere):
    verts, faces = sphere
    small = cube(0.4)
    seen = {}

    def fragment_fn(frag):
        seen["frag"] = frag
        return frag.barycentrics

    cams = Cameras(torch.tensor([15.0, 200.0]), torch.tensor([10.0, 25.0]))
    result = renderer.render([verts, small[0]], [faces, small[1]], cams, 48, fragment_fn=fragment_fn)
    frag = seen["frag"]
    assert len(frag.batch_index) == int((result.triangle_id >= 0).sum())
    assert torch.allclose(frag.barycentrics.sum(-1), torch.ones(len(frag.batch_index)), atol=1e-5)
    assert (frag.barycentrics > -1e-4).all()
    for b, (v, f) in enumerate([(verts, faces), small]):
        sel = frag.batch_index == b
        corners = v[f[frag.face_index[sel]]]  # [P,3,3]
        rebuilt = (frag.barycentrics[sel].unsqueeze(-1) * corners).sum(1)
        assert torch.allclose(rebuilt, frag.position[sel], atol=1e-4), "perspective-correct weights of the right face"
    # The colour output is antialiased like any other: soft values only on silhouette pixels.
    soft = (result.color.sum(-1) > 0) & (result.triangle_id < 0)
    assert soft.any() and (result.mask[..., 0][soft] > 0).all()


def test_fragment_fn_excludes_other_colour_sources(renderer, sphere):
    verts, faces = sphere
    with pytest.raises(Get3dError, match="only one of"):
        renderer.render(verts, faces, _front(), 16, texture_fn=lambda p, b: p, fragment_fn=lambda f: f.position)


@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_the_renderer_renders_any_float_verts_in_float32_and_returns_gradients_in_their_dtype(renderer, sphere, dtype):
    """Documented: the Renderer rasterizes in float32 (nvdiffrast's only dtype) whatever the verts'
    dtype, so a render of float64 or half verts is the float32 render of the same (rounded) values,
    bit for bit, and the vertex gradient comes back in the verts' own dtype."""
    verts, faces = sphere
    cams = _front()
    field = lambda p, b: p + 0.5  # noqa: E731
    v = verts.detach().clone().to(dtype).requires_grad_(True)  # a fresh leaf: the fixture is shared
    out = renderer.render([v], [faces], cams, 32, texture_fn=field)
    ref = renderer.render([verts.to(dtype).float()], [faces], cams, 32, texture_fn=field)
    for name in ("mask", "color", "depth", "normal", "position"):
        assert getattr(out, name).dtype == torch.float32, name
        assert torch.equal(getattr(out, name), getattr(ref, name)), name
    (out.mask.sum() + out.color.sum()).backward()
    assert v.grad.dtype == dtype and bool(torch.isfinite(v.grad).all()) and v.grad.abs().sum() > 0
