"""GET3D generator at the tiny preset (CPU, torch rasterizer)."""
import dataclasses

import pytest
import torch

from get3d.config import preset
from get3d.errors import Get3dError
from get3d.networks import Generator, GeneratorOutput
from get3d.render import Cameras, Renderer
from tests._support import dtype_params


def _cfg(**overrides):
    return dataclasses.replace(preset("tiny").model, **overrides)


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return Generator(_cfg(), render_backend="torch")


def _inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    z_geo = torch.randn(batch, 64, generator=g)
    z_tex = torch.randn(batch, 64, generator=g)
    cams = Cameras(torch.tensor([30.0, 200.0, 100.0, 300.0])[:batch], torch.tensor([20.0, 10.0, 5.0, 25.0])[:batch])
    return z_geo, z_tex, cams


def test_ws_counts_follow_get3d(gen):
    # Backbone 4..32: b4 uses conv1+togeo, later blocks conv0+conv1+togeo; one totex each;
    # the MLP heads (1 hidden layer) add 2 ws to each.
    assert gen.num_ws_geo == 2 + 3 * 3 + 2
    assert gen.num_ws_tex == 4 + 2
    assert gen.z_dim == 64 and gen.w_dim == 64


def test_forward_shapes_ranges_background_and_gradients(gen):
    gen.zero_grad(set_to_none=True)
    z_geo, z_tex, cams = _inputs(2)
    out = gen(z_geo, z_tex, cams)
    assert isinstance(out, GeneratorOutput)
    assert out.rgb.shape == (2, 3, 64, 64) and out.mask.shape == (2, 1, 64, 64)
    n = gen._grid(torch.device("cpu"))[0].shape[0]
    assert out.sdf.shape == (2, n) and out.sdf_reg.shape == (2,) and out.empty.shape == (2,)
    assert out.empty.dtype == torch.bool and not out.empty.any()
    assert out.meshes is None
    assert 0 <= out.rgb.min() and out.rgb.max() <= 1 and 0 <= out.mask.min() and out.mask.max() <= 1
    assert out.mask.max() == 1 and out.mask.min() == 0  # something is drawn, not everything
    background = (out.mask == 0).expand_as(out.rgb)
    assert background.any() and torch.equal(out.rgb[background], torch.zeros_like(out.rgb[background]))
    assert torch.isfinite(out.sdf_reg).all() and (out.sdf_reg > 0).all()

    (out.rgb.sum() + out.mask.sum()).backward()
    for name, p in gen.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    # The silhouette reaches the SDF and deformation heads, the colour the texture branch.
    for name in ("generator.mlp_synthesis_sdf.layers.1.weight", "generator.mlp_synthesis_def.layers.1.weight",
                 "generator.mlp_synthesis_tex.layers.1.weight", "to_rgb.weight", "mapping_geo.fc0.weight",
                 "mapping_tex.fc0.weight", "generator.tri_plane_synthesis.b32.totex.weight",
                 "generator.tri_plane_synthesis.b4.const"):
        assert dict(gen.named_parameters())[name].grad.abs().sum() > 0, name
    gen.zero_grad(set_to_none=True)


def test_meshes_determinism_and_extract_meshes(gen):
    z_geo, z_tex, cams = _inputs(2)
    with torch.no_grad():
        a = gen(z_geo, z_tex, cams, return_meshes=True)
        b = gen(z_geo, z_tex, cams, return_meshes=True)
        ws_geo, _ = gen.mapping(z_geo, z_tex)
        extracted = gen.extract_meshes(ws_geo, closed=False)  # training renders the raw extraction
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.mask, b.mask)
    assert len(a.meshes) == 2
    for (v, f), (v2, f2) in zip(a.meshes, extracted):
        assert v.shape[1] == 3 and f.shape[1] == 3 and f.dtype == torch.int64
        assert f.shape[0] > 0 and int(f.max()) < v.shape[0]
        torch.testing.assert_close(v, v2)
        assert torch.equal(f, f2)
        # Deformed grid: vertices stay within the grid plus the maximal offset 1 / tet_res.
        assert v.abs().max() <= 0.5 + 1 / 24 + 1e-6


def test_style_mixing_only_with_probability_and_seeded(gen):
    z_geo, z_tex, cams = _inputs(2)
    with torch.no_grad():
        plain = gen(z_geo, z_tex, cams)
        no_mix = gen(z_geo, z_tex, cams, style_mixing_prob=0.0, generator=torch.Generator().manual_seed(5))
        mix1 = gen(z_geo, z_tex, cams, style_mixing_prob=1.0, generator=torch.Generator().manual_seed(5))
        mix2 = gen(z_geo, z_tex, cams, style_mixing_prob=1.0, generator=torch.Generator().manual_seed(5))
        mix3 = gen(z_geo, z_tex, cams, style_mixing_prob=1.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(plain.rgb, no_mix.rgb) and torch.equal(plain.sdf, no_mix.sdf)
    assert not torch.equal(plain.sdf, mix1.sdf) and not torch.equal(plain.rgb, mix1.rgb)
    assert torch.equal(mix1.rgb, mix2.rgb) and torch.equal(mix1.sdf, mix2.sdf)
    assert not torch.equal(mix1.sdf, mix3.sdf)


def test_truncation_psi_zero_gives_one_shape(gen):
    z_geo, z_tex, cams = _inputs(2)
    with torch.no_grad():
        gen.mapping(torch.randn(64, 64), torch.randn(64, 64), update_w_avg=True)  # a non-trivial w_avg
        out = gen(z_geo, z_tex, Cameras([0.0, 0.0], [20.0, 20.0]), psi=0.0)
        free = gen(z_geo, z_tex, Cameras([0.0, 0.0], [20.0, 20.0]), psi=1.0)
    assert torch.equal(out.sdf[0], out.sdf[1])
    torch.testing.assert_close(out.rgb[0], out.rgb[1])
    assert not torch.equal(free.sdf[0], free.sdf[1])


def test_update_w_avg_moves_both_averages():
    torch.manual_seed(1)
    g = Generator(_cfg(mapping_layers=1, triplane_res=8, tet_res=8, img_resolution=16), render_backend="torch")
    z = torch.randn(8, 64)
    geo0, tex0 = g.mapping_geo.w_avg.clone(), g.mapping_tex.w_avg.clone()
    ws_geo, ws_tex = g.mapping(z, z * 2 + 1, update_w_avg=True)
    torch.testing.assert_close(g.mapping_geo.w_avg, ws_geo[:, 0].mean(0).lerp(geo0, 0.995))
    torch.testing.assert_close(g.mapping_tex.w_avg, ws_tex[:, 0].mean(0).lerp(tex0, 0.995))


def test_empty_shapes_use_template_without_nan():
    torch.manual_seed(2)
    g = Generator(_cfg(), render_backend="torch")
    with torch.no_grad():  # GET3D's SDF head is positive inside: a large negative bias = all outside
        g.generator.mlp_synthesis_sdf.layers[-1].bias.fill_(-100.0)
    z_geo, z_tex, cams = _inputs(2)
    out = g(z_geo, z_tex, cams, return_meshes=True)
    assert out.empty.all()
    for t in (out.rgb, out.mask, out.sdf, out.sdf_reg):
        assert torch.isfinite(t).all()
    assert out.mask.sum() > 0  # the template surface is still rendered
    assert all(f.shape[0] > 0 for _, f in out.meshes)
    assert (out.empty_loss > 50).all()  # mean |sdf| of the real prediction
    (out.rgb.mean() + out.mask.mean() + out.sdf_reg.sum()).backward()
    for name, p in g.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    # The empty-shape loss pulls the SDF toward zero through the head's bias.
    assert g.generator.mlp_synthesis_sdf.layers[-1].bias.grad.abs().sum() > 0


def test_texture_colors_match_rendered_pixels(gen):
    z_geo, z_tex, cams = _inputs(2, seed=3)
    with torch.no_grad():
        ws_geo, ws_tex = gen.mapping(z_geo, z_tex)
        out = gen.synthesis(ws_geo, ws_tex, cams, return_meshes=True)
        # Re-render the same meshes to get each pixel's world position.
        ref = Renderer("torch").render([v for v, _ in out.meshes], [f for _, f in out.meshes], cams, 64)
        covered = ref.triangle_id >= 0  # [B,H,W]
        interior = covered.clone()
        neighbours = covered[:, :-2, 1:-1] & covered[:, 2:, 1:-1] & covered[:, 1:-1, :-2] & covered[:, 1:-1, 2:]
        interior[:, 1:-1, 1:-1] &= neighbours
        interior[:, [0, -1]] = False
        interior[:, :, [0, -1]] = False
        b, y, x = interior.nonzero(as_tuple=True)
        assert b.numel() > 50 and set(b.tolist()) == {0, 1}
        points = ref.position[b, y, x]
        queried = gen.texture_colors(ws_tex, points, b, ws_geo=ws_geo)
        _, tex_planes = gen.triplanes(ws_geo, ws_tex)
        queried2 = gen.texture_colors(ws_tex, points.flip(0), b.flip(0), tex_planes=tex_planes).flip(0)
    rendered = out.rgb.permute(0, 2, 3, 1)[b, y, x]
    assert queried.shape == (b.numel(), 3) and 0 <= queried.min() and queried.max() <= 1
    torch.testing.assert_close(queried2, queried, rtol=1e-5, atol=1e-6)
    # Away from silhouettes (where antialiasing blends colours) the image shows the field's colour.
    close = (rendered - queried).abs().amax(-1) < 1e-4
    assert close.float().mean() > 0.9
    with pytest.raises(Get3dError, match="ws_geo"):
        gen.texture_colors(ws_tex, points, b)


def test_input_validation(gen):
    z_geo, z_tex, cams = _inputs(2)
    with pytest.raises(Get3dError, match="z_geo"):
        gen(z_geo[:, :10], z_tex, cams)
    ws_geo, ws_tex = gen.mapping(z_geo, z_tex)
    with pytest.raises(Get3dError, match="ws_tex"):
        gen.synthesis(ws_geo, ws_tex[:, :2], cams)


def test_deepcopy_and_state_dict_round_trip(gen):
    import copy

    z_geo, z_tex, cams = _inputs(1)
    ema = copy.deepcopy(gen)
    fresh = Generator(_cfg(), render_backend="torch")
    fresh.load_state_dict(gen.state_dict())
    with torch.no_grad():
        ref = gen(z_geo, z_tex, cams)
        for other in (ema, fresh):
            out = other(z_geo, z_tex, cams)
            assert torch.equal(out.rgb, ref.rgb) and torch.equal(out.sdf, ref.sdf)
    assert "mapping_geo.w_avg" in gen.state_dict() and "mapping_tex.w_avg" in gen.state_dict()


def test_non_finite_network_output_does_not_raise():
    torch.manual_seed(3)
    g = Generator(_cfg(), render_backend="torch")
    with torch.no_grad():
        g.generator.mlp_synthesis_def.layers[-1].bias[0] = float("nan")  # NaN deformation
        g.generator.mlp_synthesis_sdf.layers[-1].weight[0, 0] = float("inf")  # non-finite SDF
    z_geo, z_tex, cams = _inputs(2)
    out = g(z_geo, z_tex, cams)
    assert not torch.isfinite(out.sdf_reg).all()  # visible to a trainer's non-finite-loss check
    assert out.rgb.shape == (2, 3, 64, 64)


def test_extract_meshes_can_report_empty_shapes_as_none():
    from get3d.config import preset

    torch.manual_seed(0)
    G = Generator(preset("tiny").model)
    with torch.no_grad():
        for p in G.parameters():
            p.zero_()
    z = torch.randn(2, G.z_dim)
    ws_geo, _ = G.mapping(z, z)
    with torch.no_grad():
        template = G.extract_meshes(ws_geo)
        reported = G.extract_meshes(ws_geo, empty_as_none=True)
    # All-zero weights give a constant SDF: no surface, so the template stands in unless asked.
    assert all(len(f) > 0 for _, f in template)
    assert all(f is None for _, f in reported)


def test_get3d_image_style_shows_the_to_rgb_bias_off_the_object_and_no_colour_antialiasing():
    """image_background='to_rgb_bias' + antialias_color=False: GET3D's images (its generate():
    to_rgb of zero features off the hard mask, colour not antialiased, mask antialiased)."""
    torch.manual_seed(0)
    styled = Generator(_cfg(image_background="to_rgb_bias", antialias_color=False, rgb_activation="get3d"),
                       render_backend="torch")
    with torch.no_grad():
        styled.to_rgb.bias.copy_(torch.tensor([0.2, -0.4, 0.6]))  # GET3D space [-1,1] -> [0.6, 0.3, 0.8]
        z_geo, z_tex, cams = _inputs(2, seed=3)
        ws_geo, ws_tex = styled.mapping(z_geo, z_tex)
        out = styled.synthesis(ws_geo, ws_tex, cams, return_meshes=True)
        ref = Renderer("torch").render([v for v, _ in out.meshes], [f for _, f in out.meshes], cams, 64)
        covered = ref.triangle_id >= 0
        b, y, x = covered.nonzero(as_tuple=True)
        colours = styled.texture_colors(ws_tex, ref.position[b, y, x], b, ws_geo=ws_geo)
    rgb = out.rgb.permute(0, 2, 3, 1)
    background = torch.tensor([0.6, 0.3, 0.8])  # clamp((bias + 1) / 2): independent of the code path
    assert torch.allclose(rgb[~covered], background.expand(int((~covered).sum()), 3), atol=1e-6)
    # Every covered pixel, silhouettes included, shows the field's colour unblended.
    torch.testing.assert_close(rgb[b, y, x], colours, rtol=1e-5, atol=1e-5)
    assert ((out.mask > 0) & (out.mask < 1)).any()  # the mask is still antialiased
    with pytest.raises(Get3dError, match="image_background"):
        Generator(_cfg(image_background="grey"), render_backend="torch")


@pytest.mark.parametrize("dtype", dtype_params(torch.bfloat16, torch.float16))
def test_under_autocast_only_the_backbone_runs_in_half_and_the_outputs_stay_float32(gen, dtype):
    """Mixed precision (bf16 on CUDA; both half types on the CPU's autocast): the triplane backbone
    runs in the autocast dtype; the heads, marching tets and the rasterizer in float32, so every
    output is float32 and finite, the SDF within a few percent of the float32 forward (bf16 keeps
    8 bits: 1.8% measured, float16 0.2%) and the silhouettes agree but for edge pixels."""
    z_geo, z_tex, cams = _inputs(2)
    with torch.no_grad():
        ref = gen(z_geo, z_tex, cams)
        seen = []
        hook = gen.generator.tri_plane_synthesis.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
        try:
            with torch.autocast("cpu", dtype=dtype):
                out = gen(z_geo, z_tex, cams)
        finally:
            hook.remove()
    assert seen == [dtype]
    for name in ("rgb", "mask", "sdf", "sdf_reg"):
        value = getattr(out, name)
        assert value.dtype == torch.float32 and bool(torch.isfinite(value).all()), name
    assert (out.sdf - ref.sdf).abs().max() <= 0.05 * ref.sdf.abs().max()
    assert ((out.mask > 0.5) == (ref.mask > 0.5)).float().mean() >= 0.98
