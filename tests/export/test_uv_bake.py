import pytest
import torch
from PIL import Image

from get3d import Get3dError
from get3d.export import bake_texture, dilate, image_grid, render_previews, sample_texture, save_gif, uv_unwrap
from get3d.geometry import Mesh, marching_tets, shapes, tet_grid
from get3d.render import Cameras


def field(points):
    """A smooth colour field with variation on every axis."""
    return 0.5 + 0.5 * torch.sin(torch.stack([9 * points[:, 0], 7 * points[:, 1] + 1, 8 * points[:, 2] + 2], -1))


@pytest.fixture(scope="module")
def torus():
    verts, tets = tet_grid(32)
    v, f = marching_tets(verts, tets, shapes.torus_sdf(verts))
    return uv_unwrap(v, f)


def barycentric_uv(verts, faces, uvs, points, face_idx):
    a, b, c = (verts[faces[face_idx, k]] for k in range(3))
    v0, v1, v2 = b - a, c - a, points - a
    d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
    d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
    den = d00 * d11 - d01 * d01
    w1, w2 = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
    w0 = 1 - w1 - w2
    return w0[:, None] * uvs[faces[face_idx, 0]] + w1[:, None] * uvs[faces[face_idx, 1]] + w2[:, None] * uvs[faces[face_idx, 2]]


def test_unwrap_keeps_the_surface(torus):
    verts, faces, uvs = torus
    assert uvs.shape == (len(verts), 2) and uvs.min() >= 0 and uvs.max() <= 1
    welded = torch.unique(verts, dim=0)
    assert len(welded) < len(verts), "seams duplicate vertices"
    assert Mesh(verts, faces).face_areas().sum() > 0


@pytest.mark.parametrize("resolution, tolerance", [(256, 0.03), (512, 0.015)])
def test_baked_texture_reproduces_the_field_at_surface_points(torus, resolution, tolerance):
    verts, faces, uvs = torus
    texture = bake_texture(verts, faces, uvs, field, resolution, backend="torch")
    assert texture.shape == (resolution, resolution, 3)
    points, face_idx = Mesh(verts, faces).sample_points(3000, torch.Generator().manual_seed(0), return_faces=True)
    uv = barycentric_uv(verts, faces, uvs, points, face_idx)
    err = (sample_texture(texture, uv) - field(points)).abs()
    assert err.max() < tolerance, f"max error {err.max():.4f}"


def test_no_background_anywhere(torus):
    verts, faces, uvs = torus
    texture = bake_texture(verts, faces, uvs, lambda p: torch.ones_like(p) * torch.tensor([0.2, 0.9, 0.4]), 64,
                           backend="torch")
    assert torch.allclose(texture, torch.tensor([0.2, 0.9, 0.4]).expand_as(texture), atol=1e-6)


def test_without_padding_covered_texels_hold_the_field_and_the_rest_its_mean(torus):
    """padding=0: no dilation, so each covered texel is the field at its surface point and every
    other texel the mean of those colours (never black background)."""
    from get3d.export.uv_bake import rasterize_uv_layout
    from get3d.render import get_backend

    verts, faces, uvs = torus
    texture = bake_texture(verts, faces, uvs, field, 64, padding=0, backend="torch")
    points, covered = rasterize_uv_layout(verts, faces, uvs, 64, get_backend("torch"))
    colours = field(points[covered])
    assert 0 < covered.sum() < 64 * 64
    assert torch.allclose(texture[covered], colours, atol=1e-6)
    assert torch.allclose(texture[~covered], colours.mean(0).expand(int((~covered).sum()), 3), atol=1e-6)


def test_dilation_grows_by_one_texel_per_pass():
    texture = torch.zeros(7, 7, 1)
    filled = torch.zeros(7, 7, dtype=torch.bool)
    texture[3, 3], filled[3, 3] = 1.0, True
    grown, mask = dilate(texture, filled, 2)
    assert mask.sum() == 25 and torch.all(grown[mask] == 1.0) and torch.all(grown[~mask] == 0)


def test_bake_errors(torus):
    verts, faces, uvs = torus
    with pytest.raises(Get3dError, match="must return"):
        bake_texture(verts, faces, uvs, lambda p: p[:, :2], 32, backend="torch")
    with pytest.raises(Get3dError, match="empty"):
        uv_unwrap(verts, faces[:0])


def test_previews_grid_and_gif(torus, tmp_path):
    verts, faces, uvs = torus
    mesh = Mesh(verts, faces, uvs, bake_texture(verts, faces, uvs, field, 64, backend="torch"))
    views = render_previews([mesh, Mesh(verts, faces)], Cameras.orbit(3, 20.0), 32, backend="torch")
    assert views.shape == (2, 3, 32, 32, 3)
    assert torch.allclose(views[:, :, 0, 0], torch.ones(2, 3, 3)), "light background in the corners"
    assert (views[0] - views[1]).abs().max() > 0.1, "texture shows"
    grid = image_grid(views.reshape(-1, 32, 32, 3), cols=3)
    assert grid.shape == (64, 96, 3) and torch.equal(grid[32:, 64:], views[1, 2])
    gif = save_gif(tmp_path / "turn.gif", views[0])
    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.size == (32, 32)


class _GeneralTorch:
    """The torch backend under another name: rasterize_uv_layout then takes its general path
    (the one GPUs use with nvdiffrast) on the CPU, instead of the torch-only scan."""

    name = "torch-general"

    def __init__(self):
        from get3d.render import get_backend

        self._torch = get_backend("torch")

    def rasterize(self, *args, **kwargs):
        return self._torch.rasterize(*args, **kwargs)

    def interpolate(self, *args, **kwargs):
        return self._torch.interpolate(*args, **kwargs)


@pytest.mark.parametrize("backend", ["torch", "general"])
def test_uv_layout_puts_v_1_on_the_top_row(backend):
    """A unit square whose UVs are its x, y: the texel in row r, column c shows the surface point
    ((c + 0.5) / R, 1 - (r + 0.5) / R, 0), on both paths (no row flip: upside down)."""
    from get3d.export.uv_bake import rasterize_uv_layout
    from get3d.render import get_backend

    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    uvs = verts[:, :2].clone()
    res = 8
    points, covered = rasterize_uv_layout(verts, faces, uvs, res,
                                          get_backend("torch") if backend == "torch" else _GeneralTorch())
    centre = (torch.arange(res, dtype=torch.float32) + 0.5) / res
    expected = torch.stack([centre.view(1, res).expand(res, res), (1 - centre).view(res, 1).expand(res, res),
                            torch.zeros(res, res)], -1)
    assert covered.all()
    assert torch.allclose(points, expected, atol=1e-5)


def test_uv_scan_agrees_with_the_general_rasterizer(torus):
    """The CPU fast path (bounding-box scan) covers the same texels with the same surface points
    as rasterize_uv_layout's general path (rasteriser + interpolate + row flip), run on the CPU
    through the torch backend."""
    from get3d.export.uv_bake import _scan_uv_layout, rasterize_uv_layout
    from get3d.render import get_backend

    verts, faces, uvs = torus
    ref_points, ref_covered = rasterize_uv_layout(verts, faces, uvs, 128, _GeneralTorch())
    points, covered = rasterize_uv_layout(verts, faces, uvs, 128, get_backend("torch"))
    assert (covered ^ ref_covered).sum() <= 2 and covered.sum() > 1000
    both = covered & ref_covered
    close = ((points - ref_points).abs().amax(-1) < 1e-4)[both]
    assert close.float().mean() > 0.999  # only texels where UV triangles touch or overlap may differ
    # Chunking (bounded memory) changes nothing.
    small_points, small_covered = _scan_uv_layout(verts, faces, uvs, 128, max_candidates=500)
    assert torch.equal(small_covered, covered) and torch.equal(small_points, points)
