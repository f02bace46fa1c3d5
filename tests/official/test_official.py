"""GET3D's own checkpoint format, against reference outputs computed by GET3D's own code.

The fixture (tests/data/get3d-official-small, a copy of ../shared/fixtures/get3d-official-small; see its
README) was written by
nv-tlabs/GET3D at commit 1ea45ce on CPU: a small random checkpoint and the tensors its G_ema and D
produce. Tolerance: relative error (max |ours - theirs| / max |theirs|) under 1e-4, the issue's bar;
float32 reordering between the two codebases gives ~1e-6.
"""
import json
import math

import pytest
import torch

from get3d import Get3dError
from get3d.official import load_official_checkpoint, official_model_config, split_official_state
from tests._support import reference_fixture

FIXTURE = reference_fixture("get3d-official-small")
needs_fixture = pytest.mark.reference_fixture(FIXTURE)


def _rel(ours, theirs):
    return float((ours.float() - theirs.float()).abs().max() / theirs.float().abs().max().clamp(min=1e-12))


@pytest.fixture(scope="module")
def official():
    return load_official_checkpoint(FIXTURE / "official.pt", category="car", device="cpu")


@pytest.fixture(scope="module")
def ref():
    return torch.load(FIXTURE / "reference.pt", weights_only=True)


@needs_fixture
def test_architecture_is_read_from_shapes(official):
    given = json.loads((FIXTURE / "config.json").read_text())
    m = official.config.model
    g = given["G_kwargs"]
    assert (m.z_dim, m.w_dim, m.triplane_res, m.channel_base, m.channel_max) == (
        g["z_dim"], g["w_dim"], g["tri_plane_resolution"], g["channel_base"], g["channel_max"])
    assert (m.tex_feat_channels, m.mlp_hidden, m.n_implicit_layers) == (
        g["feat_channel"], g["mlp_latent_channel"], g["n_implicit_layer"])
    assert (m.tet_res, m.grid_scale, m.conv_clamp) == (90, 1.0, None)
    assert m.img_resolution == given["D_kwargs"]["img_resolution"] and m.d_architecture == "skip"
    assert m.d_camera_encoding == "get3d" and m.rgb_activation == "get3d"
    assert m.image_background == "to_rgb_bias" and not m.antialias_color  # GET3D's images
    assert official.G_ema.num_ws_geo == 13 and official.G_ema.num_ws_tex == 6


@needs_fixture
@pytest.mark.parametrize("psi,suffix", [(1.0, "psi1"), (0.7, "psi07")])
def test_mapping_matches_at_both_truncations(official, ref, psi, suffix):
    with torch.no_grad():
        ws_geo, ws_tex = official.G_ema.mapping(ref["z_geo"], ref["z_tex"], psi=psi)
    assert _rel(ws_geo, ref[f"ws_geo_{suffix}"]) < 1e-4
    assert _rel(ws_tex, ref[f"ws_tex_{suffix}"]) < 1e-4


@needs_fixture
def test_triplanes_heads_and_colours_match(official, ref):
    G = official.G_ema
    ws_geo, ws_tex = ref["ws_geo_psi1"], ref["ws_tex_psi1"]
    with torch.no_grad():
        geo, tex = G.triplanes(ws_geo, ws_tex)  # [B,3,C,R,R]
        b = geo.shape[0]
        assert _rel(geo.reshape(b, -1, *geo.shape[-2:]), ref["geo_planes"]) < 1e-4
        assert _rel(tex.reshape(b, -1, *tex.shape[-2:]), ref["tex_planes"]) < 1e-4
        sdf, deformation = G.generator.sdf_def(geo, ref["points"], ws_geo)
        assert _rel(sdf, ref["sdf_official"]) < 1e-4  # GET3D's sign: the raw head output
        assert _rel(deformation, ref["deformation_raw"]) < 1e-4
        feat = G.generator.texture_features(tex, ref["points"], ws_tex)
        assert _rel(feat, ref["texture_features"]) < 1e-4
        rgb = G.to_rgb.forward_points(feat, ws_tex[:, -1])
        assert _rel(rgb, ref["rgb_raw"]) < 1e-4
        # What get3d shows: GET3D's colour activation of the same values, at the same points.
        index = torch.arange(b).repeat_interleave(ref["points"].shape[1])
        colours = G.texture_colors(ws_tex, ref["points"].reshape(-1, 3), index, tex_planes=tex)
        expected = ((ref["rgb_raw"] + 1) / 2).clamp(0, 1).reshape(-1, 3)
        assert _rel(colours, expected) < 1e-4


@needs_fixture
def test_discriminators_match(official, ref):
    images, camera = ref["d_images"], ref["d_camera"]
    # GET3D's condinfo is (rotation, pi/2 - elevation) in radians; ours takes degrees.
    ours_camera = torch.stack([torch.rad2deg(camera[:, 0]), 90.0 - torch.rad2deg(camera[:, 1])], dim=1)
    with torch.no_grad():
        rgb = official.D_rgb(images[:, :3], ours_camera)
        mask = official.D_mask(images[:, 3:4], ours_camera)
    assert _rel(rgb, ref["d_logits_rgb"]) < 1e-4
    assert _rel(mask, ref["d_logits_mask"]) < 1e-4


@needs_fixture
def test_every_key_of_the_full_size_release_maps_with_its_shape():
    from get3d.networks.discriminator import build_discriminators
    from get3d.networks.generator import Generator

    manifest = json.loads((FIXTURE / "official_keys_1024.json").read_text())
    g_keys = {k: torch.empty(v, device="meta") for k, v in manifest["G"].items()}
    d_keys = {k: torch.empty(v, device="meta") for k, v in manifest["D"].items()}
    cfg = official_model_config(g_keys, d_keys, tet_res=90, grid_scale=1.0)
    assert (cfg.z_dim, cfg.w_dim, cfg.triplane_res, cfg.channel_base, cfg.channel_max, cfg.img_resolution) == (
        512, 512, 256, 32768, 512, 1024)
    with torch.device("meta"):
        G = Generator(cfg)
        D_rgb, D_mask = build_discriminators(cfg)
    gen, rgb, mask = split_official_state(g_keys, d_keys)
    for module, state in ((G, gen), (D_rgb, rgb), (D_mask, mask)):
        ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in state.items()}
        assert ours == theirs


def _write(path, data):
    torch.save(data, path)
    return path


@needs_fixture
def test_bad_files_name_the_first_bad_key(tmp_path):
    good = torch.load(FIXTURE / "official.pt", weights_only=True)
    with pytest.raises(Get3dError, match="not a GET3D checkpoint"):
        load_official_checkpoint(_write(tmp_path / "a.pt", {"state_dict": {}}), category="car")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle at all")
    with pytest.raises(Get3dError, match="junk.pt: not a GET3D checkpoint readable as tensors only"):
        load_official_checkpoint(tmp_path / "junk.pt", category="car")
    with pytest.raises(Get3dError, match="GET3D checkpoint not found"):
        load_official_checkpoint(tmp_path / "absent.pt", category="car")
    missing = {k: dict(v) for k, v in good.items()}
    del missing["G_ema"]["synthesis.to_rgb.bias"]
    with pytest.raises(Get3dError, match=r"'G_ema' is missing key 'to_rgb.bias'"):
        load_official_checkpoint(_write(tmp_path / "m.pt", missing), category="car")
    extra = {k: dict(v) for k, v in good.items()}
    extra["D"]["mask_b4.surplus"] = torch.zeros(1)
    with pytest.raises(Get3dError, match=r"mask part.*unexpected key 'b4.surplus'"):
        load_official_checkpoint(_write(tmp_path / "e.pt", extra), category="car")
    with pytest.raises(Get3dError, match=r"give category \(--category"):
        load_official_checkpoint(FIXTURE / "official.pt")
    with pytest.raises(Get3dError, match="unknown category 'boat'"):
        load_official_checkpoint(FIXTURE / "official.pt", category="boat")


# GET3D's per-category facts, written out here (its README / train_3d.py commands and its Blender
# script render_shapenet_data/render_all.py): dmtet_scale, R1 gamma, render scale, synset id.
GET3D_FACTS = {
    "car": dict(synset="02958343", grid_scale=1.0, gamma=40.0, render_scale=0.9),
    "chair": dict(synset="03001627", grid_scale=0.8, gamma=400.0, render_scale=0.7),
    "motorbike": dict(synset="03790512", grid_scale=1.0, gamma=80.0, render_scale=0.9),
}


@pytest.mark.parametrize("category", sorted(GET3D_FACTS))
def test_each_categorys_facts_are_get3ds(category):
    from get3d.config import preset
    from get3d.datasets.settings import category_scale
    from get3d.official import CATEGORIES, SYNSETS, _resolve_grid

    facts = GET3D_FACTS[category]
    assert SYNSETS[facts["synset"]] == category
    assert CATEGORIES[category] == dict(tet_res=90, grid_scale=facts["grid_scale"])
    for name in (category, facts["synset"], category.upper()):  # synset ids are aliases
        assert _resolve_grid(name, None, None) == (90, facts["grid_scale"]), name
        assert category_scale(name) == facts["render_scale"], name
    cfg = preset(f"shapenet-{category}")
    assert (cfg.model.tet_res, cfg.model.grid_scale, cfg.train.r1_gamma) == (90, facts["grid_scale"], facts["gamma"])
    assert SYNSETS["04379243"] == "table" and CATEGORIES["table"]["grid_scale"] == 1.0
    assert _resolve_grid(category, 32, 0.5) == (32, 0.5)  # explicit values win


@needs_fixture
def test_converted_settings_are_get3ds(official):
    """What shapes cannot tell, set as GET3D does: w_avg decay 0.998 (its MappingNetwork), deformation
    multiplier 1 (config.json), the car's grid."""
    given = json.loads((FIXTURE / "config.json").read_text())["G_kwargs"]
    m = official.config.model
    assert m.w_avg_beta == 0.998
    assert official.G_ema.mapping_geo.w_avg_beta == 0.998 and official.G_ema.mapping_tex.w_avg_beta == 0.998
    assert m.deformation_multiplier == given["deformation_multiplier"] == 1.0
    assert (m.tet_res, m.grid_scale) == (90, given["dmtet_scale"])


@needs_fixture
def test_deformation_is_get3ds_tanh_over_grid_resolution(ref):
    """GET3D offsets each tet vertex by tanh(raw) / (tet_res * deformation_multiplier) (raw: the
    head's output, checked against the fixture above); here at tet_res 16 on the chair grid. The
    SDF is GET3D's negated (GET3D: positive inside)."""
    from get3d.geometry import tet_grid

    chair = load_official_checkpoint(FIXTURE / "official.pt", category="chair", tet_res=16, device="cpu")
    G = chair.G_ema
    multiplier = json.loads((FIXTURE / "config.json").read_text())["G_kwargs"]["deformation_multiplier"]
    ws_geo = ref["ws_geo_psi1"][:2]
    with torch.no_grad():
        geo, _ = G.triplanes(ws_geo, None)
        out = G._geometry(ws_geo, geo)
        grid = tet_grid(16)[0] * 0.8
        sdf_get3d, raw = G.generator.sdf_def(geo, grid.unsqueeze(0).expand(2, -1, -1), ws_geo)
    expected = torch.tanh(raw) / (16 * multiplier)
    kept = ~out["empty"]  # shapes without a surface get a stand-in SDF
    assert kept.any()
    assert torch.allclose(out["sdf"][kept], -sdf_get3d[kept][..., 0], atol=1e-6)  # get3d: negative inside
    assert torch.allclose(out["deformation"], expected, atol=1e-7, rtol=1e-5)
    assert float(out["deformation"].abs().max()) > 0.2 / 16  # the check can tell a wrong scale


@needs_fixture
def test_category_sets_the_grid():
    chair = load_official_checkpoint(FIXTURE / "official.pt", category="chair", device="cpu")
    assert chair.config.model.grid_scale == 0.8 and chair.G_ema.grid_scale == 0.8
    assert math.isclose(chair.G_ema.generator.shape_length, 0.8)


@needs_fixture
def test_convert_official_writes_a_snapshot_that_generate_uses(tmp_path):
    from click.testing import CliRunner

    from get3d.cli import cli
    from get3d.checkpoint import load_generator

    runner = CliRunner()
    result = runner.invoke(cli, ["convert-official", str(FIXTURE / "official.pt"), str(tmp_path / "conv"),
                                 "--category", "car", "--tet-res", "16"])
    assert result.exit_code == 0, result.output
    converted, config = load_generator(tmp_path / "conv", device="cpu")
    assert config.model.rgb_activation == "get3d" and config.model.tet_res == 16
    direct, _ = load_generator(FIXTURE / "official.pt", device="cpu", category="car")
    for key, value in direct.state_dict().items():  # the snapshot holds exactly the G_ema weights
        assert torch.equal(value, converted.state_dict()[key]), key
    # Every --ckpt also takes the .pt itself. Seed 0 of these random weights has a surface at both
    # tet_res 16 (the converted snapshot) and 90 (the .pt with the car's grid).
    from get3d.geometry import Mesh

    for args in (["--ckpt", str(tmp_path / "conv")], ["--ckpt", str(FIXTURE / "official.pt"), "--category", "car"]):
        out = tmp_path / ("gen" + str(len(args)))
        result = runner.invoke(cli, ["generate", *args, "--seeds", "0", "--outdir", str(out), "--geometry-only",
                                     "--preview-views", "1", "--device", "cpu", "--quiet"])
        assert result.exit_code == 0, result.output
        assert "1 meshes written" in result.output and "(0 empty seeds skipped)" in result.output, result.output
        mesh = Mesh.load(next(out.glob("seed0000.*")))
        assert mesh.num_faces > 0
    result = runner.invoke(cli, ["generate", "--ckpt", str(FIXTURE / "official.pt"), "--seeds", "0",
                                 "--outdir", str(tmp_path / "x")])
    assert result.exit_code == 1 and "give category (--category" in result.output


def test_snapshots_from_before_the_new_config_fields_rebuild_identically():
    """tiny-chair's JSON predates tex_feat_channels / rgb_activation / d_* fields: the defaults are
    what it was trained with, so its G_ema gives the same numbers as one built the old way."""
    from get3d.config import Config
    from get3d.checkpoint import BUNDLED_DIR, load_generator
    from get3d.networks.generator import Generator

    meta = json.loads((BUNDLED_DIR / "tiny-chair.json").read_text())
    assert "rgb_activation" not in meta["config"]["model"]
    G, config = load_generator("tiny-chair", device="cpu")
    old = Generator(Config.from_dict(meta["config"]).model, tex_feat_channels=16, n_implicit_layers=1,
                    rgb_activation="sigmoid")
    old.load_state_dict(G.state_dict())
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z, z)
        pts = torch.rand(50, 3) - 0.5
        idx = torch.zeros(50, dtype=torch.long)
        a = G.texture_colors(ws[1][:1], pts, idx, ws_geo=ws[0][:1])
        b = old.texture_colors(ws[1][:1], pts, idx, ws_geo=ws[0][:1])
    assert torch.equal(a, b)


@needs_fixture
def test_train_init_from_a_get3d_checkpoint_adopts_its_image_style(official, tiny_data, tmp_path, capsys):
    """`get3d train --init MODEL.pt`: the weights load, and the run takes GET3D's colour activation
    and image style (what the checkpoint's to_rgb was trained for) even where the config said otherwise."""
    import dataclasses

    from get3d.config import Config, preset
    from get3d.training.loop import train

    model = dataclasses.replace(official.config.model, rgb_activation="sigmoid", image_background="black",
                                antialias_color=True)
    cfg = Config(model=model, train=preset("tiny").train, data=dataclasses.replace(preset("tiny").data, resolution=32))
    cfg.data.workers = 0
    result = train(cfg, tiny_data, tmp_path / "run", device="cpu", progress=False, max_steps=0,
                   init=FIXTURE / "official.pt")
    # --resume with a GET3D .pt (weights only) continues from its weights exactly as --init does.
    resumed = train(cfg, tiny_data, tmp_path / "run2", device="cpu", progress=False, max_steps=0,
                    resume=str(FIXTURE / "official.pt"))
    assert resumed.steps == 0 and all(torch.equal(resumed.state.G.state_dict()[k], v)
                                      for k, v in official.G.state_dict().items())
    for key, value in official.G_ema.state_dict().items():
        assert torch.equal(result.state.G_ema.state_dict()[key], value), key
    G = result.state.G_ema
    assert (G.rgb_activation, G.image_background, G.antialias_color) == ("get3d", "to_rgb_bias", False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert saved["rgb_activation"] == "get3d" and saved["image_background"] == "to_rgb_bias"
    assert "its image style is used: model.rgb_activation 'sigmoid' -> 'get3d'" in capsys.readouterr().err
