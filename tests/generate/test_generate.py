"""get3d generate: files that load elsewhere, with UVs and textures, deterministic per seed."""
import hashlib

import pytest
import torch
import trimesh
from click.testing import CliRunner
from PIL import Image

from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.generate import (generate_assets, load_generator, parse_formats, parse_seeds, resolve_checkpoint,
                            seed_latents, textured_mesh)
from tests._support import require_module


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parse_seeds_and_formats():
    assert parse_seeds("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    assert parse_formats("GLB, obj") == ["glb", "obj"]
    for bad in ("3-1", "a", "1,,2"):
        with pytest.raises(Get3dError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(Get3dError, match="fbx"):
        parse_formats("glb,fbx")


def test_cli_writes_textured_glb_obj_ply_and_preview(tiny_ckpt, tmp_path):
    out = tmp_path / "gen"
    result = CliRunner().invoke(cli, ["generate", "--ckpt", str(tiny_ckpt), "--seeds", "0-1", "--outdir", str(out),
                                      "--format", "glb,obj,ply", "--texture-res", "64", "--quiet",
                                      "--backend", "torch", "--preview-views", "2", "--turntable", "3"])
    assert result.exit_code == 0, result.output
    assert "2 meshes written" in result.output
    for seed in ("seed0000", "seed0001"):
        for suffix in (".glb", ".obj", ".mtl", ".png", ".ply"):
            assert (out / f"{seed}{suffix}").is_file()
        assert (out / f"{seed}_turntable.gif").is_file()
        # Per-seed names all the way down: the OBJ's MTL and the MTL's texture.
        assert f"mtllib {seed}.mtl" in (out / f"{seed}.obj").read_text()
        assert f"{seed}.png" in (out / f"{seed}.mtl").read_text()
        for suffix in (".glb", ".obj"):
            mesh = trimesh.load(out / f"{seed}{suffix}", force="mesh")
            assert len(mesh.faces) > 0
            uv = mesh.visual.uv
            assert uv is not None and uv.shape == (len(mesh.vertices), 2)
            assert uv.min() >= 0 and uv.max() <= 1
            material = mesh.visual.material
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
            assert image is not None and image.size == (64, 64)
    preview = Image.open(out / "preview.png")
    assert preview.size == (2 * 256, 2 * 256)  # 2 seeds (rows) x 2 views (columns)


def test_glb_passes_gltf_validation_and_round_trips(tiny_ckpt, tmp_path):
    pygltflib = require_module("pygltflib", module_level=False)  # in the test extra: a failure under CI
    from pygltflib import validator

    generate_assets(tiny_ckpt, [3], tmp_path, formats="glb", texture_res=32, preview_views=0, progress=False,
                    backend="torch")
    gltf = pygltflib.GLTF2().load_binary(str(tmp_path / "seed0003.glb"))
    with pytest.warns(UserWarning):  # pygltflib marks its validator as provisional
        validator.validate(gltf)
    primitive = gltf.meshes[0].primitives[0]
    assert primitive.attributes.TEXCOORD_0 is not None and primitive.attributes.NORMAL is not None
    assert len(gltf.images) == 1 and gltf.images[0].mimeType == "image/png"
    texture_index = gltf.materials[0].pbrMetallicRoughness.baseColorTexture.index
    assert gltf.textures[texture_index].source == 0
    # Accessors stay inside their buffer views, buffer views inside the binary chunk.
    blob = gltf.binary_blob()
    for view in gltf.bufferViews:
        assert view.byteOffset + view.byteLength <= len(blob)
    again = pygltflib.GLTF2().load_binary(str(tmp_path / "seed0003.glb"))
    copy = tmp_path / "copy.glb"
    again.save_binary(str(copy))
    assert pygltflib.GLTF2().load_binary(str(copy)).to_json() == gltf.to_json()


def test_same_seed_same_files(tiny_ckpt, tmp_path):
    for name in ("a", "b"):
        generate_assets(tiny_ckpt, [5], tmp_path / name, formats="glb,obj", texture_res=32, preview_views=1,
                        progress=False, backend="torch", device="cpu")
    for file in ("seed0005.glb", "seed0005.obj", "seed0005.png", "preview.png"):
        assert _digest(tmp_path / "a" / file) == _digest(tmp_path / "b" / file), file
    # And a different seed gives a different shape.
    generate_assets(tiny_ckpt, [6], tmp_path / "a", formats="glb", texture_res=32, preview_views=0, progress=False,
                    backend="torch")
    assert _digest(tmp_path / "a" / "seed0006.glb") != _digest(tmp_path / "a" / "seed0005.glb")


def test_seed_codes_do_not_depend_on_the_other_seeds(tiny_ckpt):
    generator, _ = load_generator(tiny_ckpt, "cpu")
    z_geo, z_tex = seed_latents(generator, [4, 9], "cpu")
    z_geo9, z_tex9 = seed_latents(generator, [9], "cpu")
    assert torch.equal(z_geo[1], z_geo9[0]) and torch.equal(z_tex[1], z_tex9[0])
    assert not torch.equal(z_geo[0], z_tex[0])


def test_empty_seed_is_reported_and_skipped(tiny_ckpt, tmp_path, monkeypatch):
    import get3d.generate as gen

    real = gen.textured_mesh
    calls = []

    def empty_for_second(*args, **kwargs):
        calls.append(1)
        return None if len(calls) == 2 else real(*args, **kwargs)

    monkeypatch.setattr(gen, "textured_mesh", empty_for_second)
    lines = []
    assets = generate_assets(tiny_ckpt, [0, 1, 2], tmp_path, formats="glb", texture_res=16, preview_views=1,
                             progress=False, backend="torch", log=lines.append)
    assert [a.mesh is None for a in assets] == [False, True, False]
    assert lines == ["seed 1: the generated shape is empty (no surface); skipped"]
    assert not (tmp_path / "seed0001.glb").exists() and (tmp_path / "seed0002.glb").exists()
    assert Image.open(tmp_path / "preview.png").size == (256, 2 * 256)  # only the two real shapes


def test_all_empty_is_one_clear_error(empty_ckpt, tmp_path):
    result = CliRunner().invoke(cli, ["generate", "--ckpt", str(empty_ckpt), "--seeds", "0-1", "--outdir",
                                      str(tmp_path), "--quiet", "--texture-res", "16"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("get3d: error")]
    assert len(lines) == 1 and "all 2 seeds gave empty shapes" in lines[0]
    assert "seed 0: the generated shape is empty" in result.output
    assert not list(tmp_path.glob("*.glb"))


def test_baked_texture_matches_the_texture_field_at_surface_points(tiny_ckpt):
    """The exported texture, sampled at a surface point's UV, is the generator's colour there."""
    from get3d.export.uv_bake import sample_texture

    generator, _ = load_generator(tiny_ckpt, "cpu")
    z_geo, z_tex = seed_latents(generator, [2], "cpu")
    ws_geo, ws_tex = generator.mapping(z_geo, z_tex, psi=0.7)
    mesh = textured_mesh(generator, ws_geo, ws_tex, texture_res=512, backend="torch")
    rng = torch.Generator().manual_seed(0)
    points, faces = mesh.sample_points(2000, generator=rng, return_faces=True)
    corners = mesh.verts[mesh.faces[faces]]  # [P,3,3]
    # Barycentrics of each point in its face, to carry the point over to UV space.
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    denom = (d00 * d11 - d01 * d01).clamp_min(1e-20)
    w1, w2 = (d11 * d20 - d01 * d21) / denom, (d00 * d21 - d01 * d20) / denom
    bary = torch.stack([1 - w1 - w2, w1, w2], 1)
    uv = (mesh.uvs[mesh.faces[faces]] * bary.unsqueeze(-1)).sum(1)
    baked = sample_texture(mesh.texture, uv)
    with torch.no_grad():
        field = generator.texture_colors(ws_tex, points, torch.zeros(len(points), dtype=torch.long), ws_geo=ws_geo)
    error = (baked - field).abs()
    assert error.mean() < 0.01 and torch.quantile(error.max(1).values, 0.99) < 0.05


def test_checkpoint_resolution_errors(tiny_ckpt, tmp_path):
    assert resolve_checkpoint(tiny_ckpt.parent) == tiny_ckpt  # a run folder -> its newest snapshot
    assert resolve_checkpoint(tiny_ckpt.with_suffix(".safetensors")) == tiny_ckpt
    with pytest.raises(Get3dError, match="no complete snapshot"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(Get3dError, match="bundled"):
        resolve_checkpoint("no-such-model")
    result = CliRunner().invoke(cli, ["generate", "--ckpt", str(tmp_path / "x.json"), "--outdir", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1


def test_bundled_model_generates_after_install(tmp_path):
    """`--ckpt tiny-chair` resolves to the package's own files and gives real, non-empty meshes."""
    path = resolve_checkpoint("tiny-chair")
    assert path.parent.name == "pretrained" and path.with_suffix(".safetensors").is_file()
    generator, config = load_generator("tiny-chair", "cpu")
    assert config.data.resolution == 64 and not generator.training
    assets = generate_assets("tiny-chair", [0, 1], tmp_path, formats="glb", texture_res=32, preview_views=0,
                             progress=False, backend="torch", device="cpu")
    for asset in assets:
        assert asset.mesh is not None and asset.mesh.faces.shape[0] > 500
        extent = asset.mesh.verts.amax(0) - asset.mesh.verts.amin(0)
        assert 0.3 < extent[1] <= 1.05  # a chair-sized shape inside the unit grid (data: 0.9 tall)
