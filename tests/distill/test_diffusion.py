"""The real loading path, offline, on a tiny random Stable Diffusion saved to disk."""
import json

import pytest
import torch

from get3d import Get3dError
from get3d.distill import DiffusionPrior, load_diffusion, make_rule
from get3d.distill.tiny import save_tiny_pipeline
from tests._support import dtype_params


def test_tiny_pipeline_loads_through_load_diffusion(tiny_sd, offline):
    prior = load_diffusion(tiny_sd, device="cpu")
    assert isinstance(prior, DiffusionPrior)
    assert prior.image_size == 16 and prior.dtype == torch.float32
    assert prior.alphas_cumprod.shape == (1000,) and prior.alphas_cumprod.dtype == torch.float32
    assert all(not p.requires_grad for p in prior.unet.parameters())
    images = torch.rand(2, 3, 32, 32, requires_grad=True)  # resized to image_size inside encode
    latents = prior.encode(images)
    assert latents.shape == (2, 4, 8, 8)
    assert prior.decode(latents).shape == (2, 3, 16, 16)
    emb = prior.embed_text(["a chair", ""])
    assert emb.shape == (2, 16, 32)
    for name in ("sds", "ism", "sdi"):
        images.grad = None
        make_rule(name).loss(prior.encode(images), prior, emb[:1], emb[1:], 0, 10,
                             generator=torch.Generator().manual_seed(0)).backward()
        assert images.grad is not None and images.grad.abs().sum() > 0 and torch.isfinite(images.grad).all()


@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16))
def test_the_rules_run_on_a_half_precision_stable_diffusion(tiny_sd, offline, dtype):
    """load_diffusion's dtype (float16 is the default on CUDA) on the CPU: encode returns latents in
    that dtype, each rule's loss on them is float32 and finite, and its gradient reaches the float32
    images through the half VAE, finite and non-zero; decode returns float32 images."""
    prior = load_diffusion(tiny_sd, device="cpu", dtype=dtype)
    assert prior.dtype == dtype and prior.unet.dtype == dtype
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    emb = prior.embed_text(["a chair", ""])
    assert emb.dtype == dtype
    for name in ("sds", "ism", "sdi"):
        images.grad = None
        latents = prior.encode(images)
        assert latents.dtype == dtype
        loss = make_rule(name).loss(latents, prior, emb[:1], emb[1:], 3, 10, generator=torch.Generator().manual_seed(0))
        assert loss.dtype == torch.float32 and bool(torch.isfinite(loss)), name
        loss.backward()
        grad = images.grad
        assert grad.dtype == torch.float32 and bool(torch.isfinite(grad).all()) and grad.abs().sum() > 0, name
    assert prior.decode(latents.detach()).dtype == torch.float32


def test_encode_and_decode_are_the_vae_with_stable_diffusions_conventions(tiny_sd, offline):
    """Issue 23 point 5: encode = the VAE posterior mean of the images mapped [0,1] -> [-1,1], times
    the scaling factor; decode = the inverse. Compared with the VAE called directly, so dropping the
    map or the factor fails (both are checked to matter for this VAE)."""
    from diffusers import AutoencoderKL

    prior = load_diffusion(tiny_sd, device="cpu")
    vae = AutoencoderKL.from_pretrained(tiny_sd, subfolder="vae").eval()
    factor = vae.config.scaling_factor
    assert factor == pytest.approx(0.18215)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 16, 16, generator=gen)
    with torch.no_grad():
        expected = vae.encode(images * 2 - 1).latent_dist.mean * factor
        unmapped = vae.encode(images).latent_dist.mean * factor
        ours = prior.encode(images)
    assert torch.allclose(ours, expected, atol=1e-5)
    assert (ours - unmapped).abs().max() > 1e-3 and (ours - expected / factor).abs().max() > 1e-2
    latents = torch.randn(2, 4, 8, 8, generator=gen)
    with torch.no_grad():
        decoded = ((vae.decode(latents / factor).sample + 1) / 2).clamp(0, 1)
        unscaled = ((vae.decode(latents).sample + 1) / 2).clamp(0, 1)
        ours = prior.decode(latents)
    assert torch.allclose(ours, decoded, atol=1e-5)
    assert (ours - unscaled).abs().max() > 1e-3
    # Renders at another size are resized (bilinear) to image_size before encoding.
    big = torch.rand(1, 3, 32, 32, generator=gen)
    with torch.no_grad():
        small = torch.nn.functional.interpolate(big, (16, 16), mode="bilinear", align_corners=False)
        assert torch.allclose(prior.encode(big), vae.encode(small * 2 - 1).latent_dist.mean * factor, atol=1e-5)


def test_text_encoder_can_be_freed_after_embedding(tiny_sd, offline):
    prior = load_diffusion(tiny_sd, device="cpu")
    before = prior.embed_text(["a chair"])
    prior.free_text_encoder()
    assert torch.equal(prior.embed_text(["a chair"]), before)  # served from the cache
    with pytest.raises(Get3dError, match="text encoder was freed"):
        prior.embed_text(["a table"])


def test_v_prediction_is_converted_to_epsilon(tmp_path, offline):
    folder = save_tiny_pipeline(tmp_path / "v", prediction_type="v_prediction")
    prior = load_diffusion(folder, device="cpu")
    x = torch.randn(1, 4, 8, 8)
    t = torch.tensor([400])
    emb = prior.embed_text(["x"])
    v = prior.unet(x, t, encoder_hidden_states=emb).sample
    abar = prior.alphas_cumprod[400]
    assert torch.allclose(prior.predict_noise(x, t, emb), abar.sqrt() * v + (1 - abar).sqrt() * x, atol=1e-6)


def test_unsupported_prediction_type_is_refused(tmp_path, offline):
    folder = save_tiny_pipeline(tmp_path / "s")
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    config["prediction_type"] = "sample"
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    with pytest.raises(Get3dError, match="prediction_type 'sample' is not supported"):
        load_diffusion(folder, device="cpu")


def test_missing_models_name_themselves_and_where_they_were_looked_for(tmp_path, offline):
    with pytest.raises(Get3dError, match=r"'nobody/no-such-model' not found: .*Hugging Face cache"):
        load_diffusion("nobody/no-such-model", device="cpu")
    with pytest.raises(Get3dError, match="no such folder"):
        load_diffusion(tmp_path / "absent", device="cpu")
    (tmp_path / "broken").mkdir()
    with pytest.raises(Get3dError, match="not a complete diffusers"):
        load_diffusion(tmp_path / "broken", device="cpu")


def test_distill_2d_cli_writes_its_files(tiny_sd, tmp_path, offline):
    from click.testing import CliRunner

    from get3d.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "a red chair", "--rule", "sds,ism,sdi",
                                      "--model", str(tiny_sd), "--steps", "3", "--every", "2",
                                      "--outdir", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for rule in ("sds", "ism", "sdi"):
        assert (out / rule / "final.png").is_file()
        assert sorted(p.name for p in (out / rule).glob("step_*.png")) == ["step_00000.png", "step_00002.png",
                                                                           "step_00003.png"]
    from PIL import Image

    width, height = Image.open(out / "grid.png").size  # 3 rules x 3 snapshots, labelled, tiles >= 128 px
    assert width > 3 * 128 and height > 3 * 128
    settings = json.loads((out / "settings.json").read_text())
    assert settings["rules"] == ["sds", "ism", "sdi"] and settings["model"] == str(tiny_sd)
    assert settings["rule_options"]["sds"]["guidance_scale"] == 100.0


def test_distill_2d_cli_bad_input_is_one_line(tiny_sd, tmp_path, offline):
    from click.testing import CliRunner

    from get3d.cli import cli

    runner = CliRunner()
    for args, message in [
        (["--prompt", "x", "--rule", "vsd", "--model", str(tiny_sd)], "unknown rule 'vsd'"),
        (["--prompt", " ", "--model", str(tiny_sd)], "--prompt is empty"),
        (["--prompt", "x", "--model", str(tmp_path / "none")], "no such folder"),
    ]:
        result = runner.invoke(cli, ["distill-2d", *args, "--outdir", str(tmp_path / "o")])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
