"""GET3D's reference training ('reference' variant) vs this project's own choices ('plus'): each choice is a
config field that snapshots record, old snapshots keep their meaning, and each behaves as GET3D's
code does (train_3d.py, training_loop_3d.py, loss.py, dataset.py). CPU only, seconds each."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from get3d.config import VARIANTS, Config, apply_variant, ema_half_life_kimg, preset
from get3d.datasets.render_folder import load_rgba
from get3d.networks.generator import GeneratorOutput
from get3d.render import Cameras
from get3d.training.loss import FakeBatch, Get3dLoss
from get3d.training.options import build_config, validate_config
from get3d.training.step import build_state, ema_beta

# The bundled tiny-chair's outputs, recorded on main before the variant fields existed
# (seeds 0 and 1; meshes at psi 0.7; images at psi 1 from two fixed cameras).
TINY_CHAIR_REFERENCE = {
    "verts": [((676, 3), (1352, 3), -69.51805035729922, 319.00735961928876),
              ((943, 3), (1914, 3), -85.48467183829052, 506.4754632048425)],
    "rgb_sum": 1731.0457913059508,
    "mask_sum": 1590.9257164597511,
}


# ------------------------------------------------------------------------------ snapshots
def test_bundled_tiny_chair_loads_with_the_same_outputs_as_before():
    from get3d.checkpoint import load_generator
    from get3d.networks.generator import seed_latents

    G, cfg = load_generator("tiny-chair", device="cpu")
    assert cfg.train.variant == "plus" and cfg.model.d_architecture == "resnet"
    assert cfg.model.w_avg_beta == 0.995 and cfg.data.alpha == "blend"
    zg, zt = seed_latents(G, [0, 1], "cpu")
    with torch.no_grad():
        ws_geo, _ = G.mapping(zg, zt, psi=0.7)
        meshes = G.extract_meshes(ws_geo)
        out = G(zg, zt, Cameras(torch.tensor([30.0, 200.0]), torch.tensor([15.0, 20.0])), psi=1.0)
    for (v, f), (vshape, fshape, vsum, vabs) in zip(meshes, TINY_CHAIR_REFERENCE["verts"]):
        assert tuple(v.shape) == vshape and tuple(f.shape) == fshape
        assert float(v.double().sum()) == pytest.approx(vsum, rel=1e-6)
        assert float(v.double().abs().sum()) == pytest.approx(vabs, rel=1e-6)
    assert float(out.rgb.double().sum()) == pytest.approx(TINY_CHAIR_REFERENCE["rgb_sum"], rel=1e-6)
    assert float(out.mask.double().sum()) == pytest.approx(TINY_CHAIR_REFERENCE["mask_sum"], rel=1e-6)


def test_old_config_json_means_plus():
    """A config written before the fields existed (no variant keys) reads as what it was trained with."""
    old = Config().to_dict()
    for section, values in VARIANTS["reference"].items():
        for key in values:
            if key not in ("ema_kimg", "ema_rampup", "conv_clamp"):  # these existed before
                old[section].pop(key)
    old["train"].pop("variant")
    cfg = Config.from_dict(old)
    plus = apply_variant(Config(), "plus")
    assert cfg.to_dict() == plus.to_dict()


def test_variant_fields_round_trip_and_presets():
    for name in ("shapenet-car", "shapenet-chair", "shapenet-motorbike"):
        cfg = preset(name)
        assert cfg.train.variant == "reference"
        assert (cfg.model.d_architecture, cfg.model.d_camera_encoding) == ("skip", "get3d")
        assert cfg.model.w_avg_beta == 0.998 and cfg.model.conv_clamp is None
        t = cfg.train
        assert (t.g_reg_interval, t.empty_loss_weight, t.mask_range, t.style_mixing_group, t.w_avg_phase) == \
            (4, 1.0, "unit", 4, "D")
        assert t.ema_kimg is None and ema_half_life_kimg(t) == 10.0 and t.ema_rampup == 0.05
        assert cfg.data.alpha == "binary"
        assert Config.from_json(cfg.to_json()).to_dict() == cfg.to_dict()
    assert preset("tiny").train.variant == "plus"
    cfg = build_config("tiny", variant="reference", resolution=32)
    assert cfg.train.variant == "reference" and cfg.model.d_architecture == "skip" and cfg.model.img_resolution == 32
    validate_config(cfg)
    with pytest.raises(Exception, match="unknown variant"):
        build_config("tiny", variant="nope")


# ------------------------------------------------------------------------------ optimisers, EMA
def _tiny(variant):
    return build_config("tiny", variant=variant, resolution=16, batch=2)


def test_optimisers_follow_get3d_lazy_regularisation_rescale():
    state = build_state(_tiny("reference"), torch.device("cpu"))
    g, d = state.opt["G"].param_groups[0], state.opt["D_rgb"].param_groups[0]
    assert g["lr"] == pytest.approx(0.0016) and g["betas"][1] == pytest.approx(0.99 ** 0.8)
    assert g["betas"][0] == 0.0
    assert d["lr"] == pytest.approx(0.002 * 16 / 17) and d["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    plus = build_state(_tiny("plus"), torch.device("cpu")).opt["G"].param_groups[0]
    assert plus["lr"] == 0.002 and plus["betas"] == (0.0, 0.99)


def test_ema_half_life_is_batch_times_10_over_32():
    train = _tiny("reference").train
    assert ema_half_life_kimg(train) == pytest.approx(2 * 10 / 32)
    for batch in (4, 32, 64):
        beta = ema_beta(10 ** 9, batch, None, None)
        steps_per_half_life = batch * 10 / 32 * 1000 / batch
        assert beta ** steps_per_half_life == pytest.approx(0.5)
    assert ema_beta(10 ** 9, 32, None, 0.05) == ema_beta(10 ** 9, 32, 10.0, 0.05)


# ------------------------------------------------------------------------------ real images
def _soft_disc_png(path, res=32, colour=(200, 40, 90)):
    yy, xx = np.mgrid[0:res, 0:res] + 0.5
    r = np.hypot(xx - res / 2, yy - res / 2)
    alpha = np.clip((res * 0.3 - r) * 40, 0, 255).astype(np.uint8)  # soft edge: values between 0 and 255
    rgba = np.zeros((res, res, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    Image.fromarray(rgba, "RGBA").save(path)
    return rgba


def test_binary_alpha_reads_images_as_get3d_dataset(tmp_path):
    from get3d.metrics.image_folder import load_image

    rgba = _soft_disc_png(tmp_path / "000.png")
    assert ((rgba[..., 3] > 0) & (rgba[..., 3] < 255)).any()
    rgb, mask = load_rgba(tmp_path / "000.png", None, alpha="binary")
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask[0], torch.from_numpy(rgba[..., 3] > 0).float())
    # colour straight (not premultiplied) where alpha > 0, black elsewhere
    expected = torch.from_numpy(rgba[..., :3]).permute(2, 0, 1).float() / 255 * mask
    assert torch.allclose(rgb, expected)
    # resized: the same reading as the FID real-image loader (GET3D's dataset.py), up to rounding
    rgb16, mask16 = load_rgba(tmp_path / "000.png", 16, alpha="binary")
    assert set(mask16.unique().tolist()) <= {0.0, 1.0}
    ref = load_image(tmp_path / "000.png", 16, alpha="binary").float()
    assert (rgb16 * 255 - ref).abs().max() <= 1.0
    soft_rgb, soft_mask = load_rgba(tmp_path / "000.png", 16)  # plus: soft mask
    assert ((soft_mask > 0) & (soft_mask < 1)).any()


# ------------------------------------------------------------------------------ the loss
class _StubG(torch.nn.Module):
    """Records the generator calls; returns fixed images and SDF terms."""

    def __init__(self, entropy=0.5, empty=2.0):
        super().__init__()
        self.calls = []
        self.p = torch.nn.Parameter(torch.zeros(()))
        self.entropy, self.empty = entropy, empty

    def forward(self, z_geo, z_tex, cameras, **kwargs):
        self.calls.append(kwargs)
        b = z_geo.shape[0]
        mask = torch.full((b, 1, 8, 8), 0.25) + 0 * self.p
        ent = torch.full((b,), self.entropy) + self.p
        emp = torch.full((b,), self.empty) + self.p
        return GeneratorOutput(rgb=mask.expand(b, 3, 8, 8), mask=mask, sdf=torch.zeros(b, 4), sdf_reg=ent + emp,
                               empty=torch.zeros(b, dtype=torch.bool), sdf_entropy=ent, empty_loss=emp)


class _StubD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, img, camera):
        self.inputs.append(img.detach().clone())
        return torch.zeros(img.shape[0], 1)


def _loss(variant, **train_overrides):
    cfg = _tiny(variant)
    for k, v in train_overrides.items():
        setattr(cfg.train, k, v)
    G, D_rgb, D_mask = _StubG(), _StubD(), _StubD()
    fn = Get3dLoss(G, D_rgb, D_mask, cfg.train, cfg.data, "cpu")
    fake = FakeBatch(torch.zeros(2, 4), torch.zeros(2, 4), Cameras(torch.zeros(2), torch.zeros(2)),
                     torch.Generator().manual_seed(0))
    return fn, fake, G, D_rgb, D_mask


def test_empty_shape_loss_weight():
    adv = 2 * math.log(2)  # zero logits from both discriminators
    fn, fake, *_ = _loss("reference")
    loss, stats = fn.generator_loss(fake)
    assert float(loss.detach()) == pytest.approx(adv + 0.01 * 0.5 + 1.0 * 2.0)
    assert float(stats["Loss/G/empty"]) == pytest.approx(2.0)
    fn, fake, *_ = _loss("plus")
    assert float(fn.generator_loss(fake)[0].detach()) == pytest.approx(adv + 0.01 * (0.5 + 2.0))


def test_mask_range_and_w_avg_phase():
    real = torch.full((2, 3, 8, 8), 0.25), torch.full((2, 1, 8, 8), 1.0), torch.zeros(2, 2)
    fn, fake, G, D_rgb, D_mask = _loss("reference")
    fn.generator_loss(fake)
    fn.discriminator_loss(fake, *real)
    assert [c["update_w_avg"] for c in G.calls] == [False, True]  # GET3D: update_emas in the Dgen pass
    assert all(c["style_mixing_group"] == 4 for c in G.calls)
    assert float(D_mask.inputs[0].min()) == pytest.approx(0.25)  # [0, 1] as it is
    assert float(D_mask.inputs[-1].max()) == pytest.approx(1.0)
    assert float(D_rgb.inputs[0].min()) == pytest.approx(-0.5)  # RGB still [-1, 1]
    fn, fake, G, D_rgb, D_mask = _loss("plus")
    fn.generator_loss(fake)
    fn.discriminator_loss(fake, *real)
    assert [c["update_w_avg"] for c in G.calls] == [True, False]
    assert all(c["style_mixing_group"] is None for c in G.calls)
    assert float(D_mask.inputs[0].min()) == pytest.approx(-0.5)


def test_r1_on_unit_masks_means_get3d_gamma():
    """The same judgement of the mask, f(m) = <w, m>: fed [0,1] masks (GET3D) R1 is |w|^2; fed
    signed masks, D must be f((x + 1) / 2) and R1 w.r.t. its input is |w|^2 / 4, so one gamma
    regularises four times less in 'signed' mode."""
    w = torch.randn(1, 1, 8, 8)
    real = torch.full((2, 3, 8, 8), 0.5), torch.rand(2, 1, 8, 8), torch.zeros(2, 2)

    class Unit(torch.nn.Module):
        def forward(self, img, camera):
            return (img * w).sum(dim=[1, 2, 3])[:, None]

    class Signed(torch.nn.Module):
        def forward(self, img, camera):
            return ((img + 1) / 2 * w).sum(dim=[1, 2, 3])[:, None]

    out = {}
    for variant, D in (("reference", Unit()), ("plus", Signed())):
        fn, *_ = _loss(variant)
        fn.D_mask_reg = fn.D_mask = D
        fn.D_rgb_reg = fn.D_rgb = _LinRGB()
        assert torch.allclose(fn._logits(D, real[1], real[2], mask=True), Unit()(real[1], None))  # same f
        out[variant] = float(fn.r1_loss(*real, interval=1)[1]["Loss/R1/mask"])
    assert out["reference"] == pytest.approx(float(w.square().sum()), rel=1e-5)
    assert out["plus"] == pytest.approx(out["reference"] / 4, rel=1e-5)


class _LinRGB(torch.nn.Module):
    def forward(self, img, camera):
        return img.sum(dim=[1, 2, 3])[:, None]


# ------------------------------------------------------------------------------ style mixing
def test_style_mixing_drawn_per_chunk():
    from get3d.networks import Generator

    cfg = _tiny("reference").model
    G = Generator(cfg)
    num_ws, batch = 6, 8
    ws = torch.zeros(batch, num_ws, 2)

    def mapping(z, c, psi):
        return torch.ones(z.shape[0], num_ws, 2)

    for seed in range(5):
        rng = torch.Generator().manual_seed(seed)
        mixed = G._style_mix(mapping, ws, torch.zeros(batch, 3), 1.0, 1.0, rng, group=4)[..., 0]
        assert torch.equal(mixed[:4], mixed[:1].expand(4, -1)) and torch.equal(mixed[4:], mixed[4:5].expand(4, -1))
        for row in mixed:  # prob 1: every chunk mixes from a cutoff in [1, num_ws)
            cut = int((row == 0).sum())
            assert 1 <= cut < num_ws and torch.equal(row, (torch.arange(num_ws) >= cut).float())
    # per sample (plus): cutoffs differ inside a chunk for some seed
    rows = [G._style_mix(mapping, ws, torch.zeros(batch, 3), 1.0, 1.0, torch.Generator().manual_seed(s))[..., 0]
            for s in range(5)]
    assert any(not torch.equal(r[:4], r[:1].expand(4, -1)) for r in rows)
    # an odd batch: the last chunk is shorter
    rng = torch.Generator().manual_seed(0)
    assert G._style_mix(mapping, ws[:6], torch.zeros(6, 3), 1.0, 1.0, rng, group=4).shape == (6, num_ws, 2)


def test_w_avg_beta_from_the_model_config():
    from get3d.networks import Generator

    assert Generator(_tiny("reference").model).mapping_geo.w_avg_beta == 0.998
    assert Generator(_tiny("plus").model).mapping_tex.w_avg_beta == 0.995


def test_one_get3d_training_step_runs_and_updates_w_avg_in_the_d_phase():
    from get3d.training import distributed as du
    from get3d.training.step import StepRunner

    cfg = _tiny("reference")
    env = du.DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    state = build_state(cfg, env.device)
    runner = StepRunner(state, cfg, env, 2)
    seen = []
    original = runner.loss.discriminator_loss

    def spy(*args, **kwargs):
        before = state.G.mapping_geo.w_avg.clone()
        result = original(*args, **kwargs)
        seen.append(not torch.equal(before, state.G.mapping_geo.w_avg))
        return result

    runner.loss.discriminator_loss = spy
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    mask = ((xx ** 2 + yy ** 2) < 0.3).float()[None, None].repeat(2, 1, 1, 1)
    outcome = runner(mask.repeat(1, 3, 1, 1) * 0.5, mask, torch.tensor([[10.0, 5.0], [200.0, 20.0]]), 0, 2)
    assert outcome.ok and seen == [True]


def test_cli_train_variant_is_recorded_and_snapshot_rebuilds_it(tiny_data, tmp_path):
    from click.testing import CliRunner

    from get3d.cli import cli
    from get3d.checkpoint import load_generator
    from get3d.snapshot import read_snapshot

    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_data), "--outdir", str(out), "--preset", "tiny", "--variant", "reference",
            "--resolution", "16", "--batch", "2", "--snapshot-kimg", "0.004", "--device", "cpu", "--max-steps", "2",
            "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = read_snapshot(out / "snapshot-000000004.json")[1]
    assert meta["config"]["train"]["variant"] == "reference" and meta["config"]["data"]["alpha"] == "binary"
    assert meta["config"]["model"]["d_architecture"] == "skip" and meta["config"]["model"]["w_avg_beta"] == 0.998
    G, cfg = load_generator(out, device="cpu")
    assert G.mapping_geo.w_avg_beta == 0.998 and cfg.train.style_mixing_group == 4
    assert not torch.equal(G.mapping_geo.w_avg, torch.zeros_like(G.mapping_geo.w_avg))  # updated in Dmain


# ------------------------------------------------------------------------------ old names
def test_old_variant_names_read_as_the_new_ones():
    """'get3d' and 'get3d-plus' (the names before the rename) still work wherever a variant is read."""
    from get3d.config import VARIANT_ALIASES, TrainConfig

    assert VARIANT_ALIASES == {"get3d": "reference", "get3d-plus": "plus"} and set(VARIANT_ALIASES.values()) == set(VARIANTS)
    for old, new in VARIANT_ALIASES.items():
        saved = apply_variant(Config(), new).to_dict()
        saved["train"]["variant"] = old  # a config.json or snapshot written before the rename
        cfg = Config.from_dict(saved)
        assert cfg.train.variant == new and cfg.to_dict() == apply_variant(Config(), new).to_dict()
        assert TrainConfig(variant=old).variant == new
        assert apply_variant(Config(), old).to_dict() == apply_variant(Config(), new).to_dict()
        assert build_config("tiny", variant=old).to_dict() == build_config("tiny", variant=new).to_dict()
    assert Config.from_dict({"train": {"variant": "nope"}}).train.variant == "nope"  # not an alias: left as is
    with pytest.raises(Exception, match="train.variant must be one of reference, plus, got 'nope'"):
        validate_config(Config.from_dict({"train": {"variant": "nope"}}))


def test_run_written_with_an_old_variant_name_resumes(tiny_data, tmp_path):
    """A run folder whose config.json and snapshot say 'get3d' (before the rename) resumes from the
    CLI, with the old name on the command line too, and its new snapshots say 'reference'."""
    import json

    from click.testing import CliRunner

    from get3d.cli import cli
    from get3d.snapshot import list_snapshots, read_snapshot

    out = tmp_path / "run"
    common = ["--data", str(tiny_data), "--outdir", str(out), "--resolution", "16", "--batch", "2",
              "--snapshot-kimg", "0.004", "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(cli, ["train", "--preset", "tiny", "--variant", "get3d", "--max-steps", "2", *common],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    first = list_snapshots(out)[-1]
    assert read_snapshot(first.json_path)[1]["config"]["train"]["variant"] == "reference"
    # Rewrite the run as the code before the rename wrote it.
    for path in [out / "config.json", *[s.json_path for s in list_snapshots(out)]]:
        record = json.loads(path.read_text())
        config = record.get("config", record)
        assert config["train"]["variant"] == "reference"
        config["train"]["variant"] = "get3d"
        path.write_text(json.dumps(record, indent=2))
    result = CliRunner().invoke(cli, ["train", "--resume", "auto", "--max-steps", "4", *common],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    newest = list_snapshots(out)[-1]
    assert newest.json_path != first.json_path
    meta = read_snapshot(newest.json_path)[1]
    assert meta["config"]["train"]["variant"] == "reference" and meta["config"]["model"]["d_architecture"] == "skip"
