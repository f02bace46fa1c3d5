"""Inverted codes used downstream: a latents file holding seed 1000's own codes must give exactly
what seed 1000 gives (generate, interpolate, refine), and --geometry-from/--texture-from mix them."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.geometry import Mesh
from get3d.invert.latents import codes_from_spec, load_latents, save_latents

from .conftest import seed_codes


@pytest.fixture(scope="module")
def seed_file(chair, tmp_path_factory):
    G, _ = chair
    ws_geo, ws_tex = seed_codes(G, 1000)  # truncation 0.7: generate's default
    folder = tmp_path_factory.mktemp("inv1000")
    return save_latents(folder / "latents.safetensors", ws_geo, ws_tex, [0.0], [10.0], {"note": "seed 1000"})


def _gen(tmp_path, *args):
    result = CliRunner().invoke(cli, ["generate", "--ckpt", "tiny-chair", "--outdir", str(tmp_path), "--texture-res",
                                      "32", "--preview-views", "1", "--format", "obj", *args])
    assert result.exit_code == 0, result.output
    return result


def test_latents_file_round_trips_and_is_checked(chair, seed_file, tmp_path):
    G, _ = chair
    latents = load_latents(seed_file, G)
    assert latents.settings == {"note": "seed 1000"} and latents.rotation.tolist() == [0.0]
    ws_geo, _ = codes_from_spec(G, str(seed_file))
    assert torch.equal(ws_geo, seed_codes(G, 1000)[0])
    assert torch.equal(codes_from_spec(G, "1000")[1], seed_codes(G, 1000)[1])
    bad = save_latents(tmp_path / "bad.safetensors", torch.zeros(1, 5, 64), torch.zeros(1, 6, 64), [0.0], [0.0], {})
    with pytest.raises(Get3dError, match="bad.safetensors: w_geo has shape"):
        load_latents(bad, G)
    (tmp_path / "junk.safetensors").write_bytes(b"nope")
    with pytest.raises(Get3dError, match="junk.safetensors"):
        load_latents(tmp_path / "junk.safetensors")


def test_generate_from_latents_equals_the_seed(seed_file, tmp_path):
    _gen(tmp_path / "a", "--latents", str(seed_file))
    _gen(tmp_path / "b", "--seeds", "1000")
    name = seed_file.parent.name
    ours, theirs = Mesh.load(tmp_path / "a" / f"{name}.obj"), Mesh.load(tmp_path / "b" / "seed1000.obj")
    assert not (tmp_path / "a" / "seed0000.obj").exists()  # codes given: no default seeds
    assert torch.allclose(ours.verts, theirs.verts) and torch.equal(ours.faces, theirs.faces)
    assert torch.allclose(ours.texture, theirs.texture, atol=1 / 255)


def test_geometry_from_one_code_texture_from_another(seed_file, tmp_path):
    _gen(tmp_path, "--seeds", "1000,7", "--geometry-from", str(seed_file), "--texture-from", "7")
    mixed = Mesh.load(tmp_path / f"geo-{seed_file.parent.name}_tex-seed0007.obj")
    geo, tex = Mesh.load(tmp_path / "seed1000.obj"), Mesh.load(tmp_path / "seed0007.obj")
    assert torch.allclose(mixed.verts, geo.verts)  # the shape is seed 1000's
    assert not torch.allclose(mixed.texture, geo.texture, atol=0.05)  # its colours are not
    result = CliRunner().invoke(cli, ["generate", "--ckpt", "tiny-chair", "--outdir", str(tmp_path / "x"),
                                      "--geometry-from", "7"])
    assert result.exit_code == 1 and "--texture-from" in result.output


def test_interpolate_with_a_latents_file_and_a_seed(seed_file, tmp_path):
    def run(out, *args):
        result = CliRunner().invoke(cli, ["interpolate", "--ckpt", "tiny-chair", "--outdir", str(out), "--steps", "3",
                                          "--res", "32", *args])
        assert result.exit_code == 0, result.output

    run(tmp_path / "a", "--latents", f"{seed_file},7")
    run(tmp_path / "b", "--seeds", "1000,7")
    a = np.asarray(Image.open(tmp_path / "a" / "interp_both.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "b" / "interp_both.png"), dtype=np.int16)
    assert np.abs(a - b).max() <= 1


def test_refine_asset_from_latents_is_the_seeds_asset(seed_file):
    from get3d.distill.asset import asset_from_checkpoint

    ours = asset_from_checkpoint("tiny-chair", None, device="cpu", latents=str(seed_file))
    theirs = asset_from_checkpoint("tiny-chair", 1000, device="cpu")
    assert torch.allclose(ours.params.sdf, theirs.params.sdf)
    assert torch.allclose(ours.params.tex_planes, theirs.params.tex_planes)
    assert ours.seed is None and ours.info["latents"] == str(seed_file)
