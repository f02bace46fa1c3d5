"""get3d interpolate: W-space walks whose endpoints are the seeds' own outputs."""
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.checkpoint import load_generator
from get3d.generate import interpolate, interpolation_walks, render_codes
from get3d.networks.generator import seed_latents
from get3d.render.camera import Cameras


@pytest.fixture(scope="module")
def codes(tiny_ckpt):
    generator, _ = load_generator(tiny_ckpt, "cpu")
    z_geo, z_tex = seed_latents(generator, [1, 2, 3], "cpu")
    with torch.no_grad():
        ws_geo, ws_tex = generator.mapping(z_geo, z_tex, psi=0.7)
    return generator, ws_geo, ws_tex


@pytest.mark.parametrize("mode", ["both", "geometry", "texture"])
def test_walk_endpoints_are_the_seeds_codes(codes, mode):
    _, ws_geo, ws_tex = codes
    walks = interpolation_walks(ws_geo, ws_tex, steps=5, mode=mode)
    assert len(walks) == 2 and walks[0][0].shape == (5, *ws_geo.shape[1:])
    for a, (geo, tex) in enumerate(walks):
        start_geo = ws_geo[a] if mode != "texture" else ws_geo[0]
        end_geo = ws_geo[a + 1] if mode != "texture" else ws_geo[0]
        start_tex = ws_tex[a] if mode != "geometry" else ws_tex[0]
        end_tex = ws_tex[a + 1] if mode != "geometry" else ws_tex[0]
        assert torch.equal(geo[0], start_geo) and torch.equal(geo[-1], end_geo)
        assert torch.equal(tex[0], start_tex) and torch.equal(tex[-1], end_tex)
        # Steps in between are strictly between the endpoints (a real walk, not a jump).
        if mode != "texture":
            assert not torch.equal(geo[2], geo[0]) and not torch.equal(geo[2], geo[-1])


def test_rendered_endpoints_equal_the_seeds_own_images(codes):
    generator, ws_geo, ws_tex = codes
    camera = Cameras(torch.tensor([30.0]), torch.tensor([20.0]))
    (geo, tex), _ = interpolation_walks(ws_geo, ws_tex, steps=4, mode="both")
    frames = render_codes(generator, geo, tex, camera, 32)
    own = render_codes(generator, ws_geo[:2], ws_tex[:2], camera, 32)
    assert torch.allclose(frames[0], own[0], atol=1e-6) and torch.allclose(frames[-1], own[1], atol=1e-6)
    assert not torch.allclose(frames[0], frames[-1])


def test_cli_strip_gif_meshes_and_grid(tiny_ckpt, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["interpolate", "--ckpt", str(tiny_ckpt), "--seeds", "0,1,2", "--steps", "3",
                                 "--mode", "geometry", "--res", "32", "--outdir", str(tmp_path), "--meshes",
                                 "--texture-res", "16", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    strip = Image.open(tmp_path / "interp_geometry.png")
    assert strip.size == (3 * 32, 2 * 32)  # steps per row, one row per walk
    gif = Image.open(tmp_path / "interp_geometry.gif")
    assert gif.n_frames == 5  # seed 1 ends walk 0 and starts walk 1: shown once
    assert len(list((tmp_path / "interp_geometry_meshes").glob("*.glb"))) == 6
    result = runner.invoke(cli, ["interpolate", "--ckpt", str(tiny_ckpt), "--seeds", "0-2", "--mode", "grid",
                                 "--res", "32", "--outdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "interp_grid.png").size == (3 * 32, 3 * 32)


def test_bad_arguments(tiny_ckpt, tmp_path):
    with pytest.raises(Get3dError, match="at least two seeds"):
        interpolate(tiny_ckpt, [1], tmp_path)
    with pytest.raises(Get3dError, match="--steps"):
        interpolate(tiny_ckpt, [1, 2], tmp_path, steps=1)
    with pytest.raises(Get3dError, match="--mode"):
        interpolate(tiny_ckpt, [1, 2], tmp_path, mode="sideways")
