"""`get3d finetune-text` and `get3d metrics --metrics clip` end to end: bundled tiny-chair, a tiny
random CLIP saved to disk and loaded back through load_clip with the hub offline."""
import json

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from get3d.geometry import Mesh
from tests.text.stand_ins import save_tiny_clip


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def _finetune(clip, outdir, *extra):
    args = ["finetune-text", "--ckpt", "tiny-chair", "--source", "a chair", "--target", "a golden throne",
            "--outdir", str(outdir), "--clip", str(clip), "--batch", "1", "--views", "2", "--grid-seeds", "1",
            "--quiet", *extra]
    return CliRunner().invoke(cli, args)


def test_finetune_text_writes_a_snapshot_that_generate_uses(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "ft"
    result = _finetune(tiny_clip, out, "--iters", "2", "--layers", "texture", "--snapshot-every", "1")
    assert result.exit_code == 0, result.output
    assert (out / "before_after.png").is_file()
    # The grid's seed in 3-D, base and result side by side, with the labelled before/after image.
    page = (out / "index.html").read_text()
    for name in ("before/seed0000.glb", "after/seed0000.glb", "before_after.png"):
        assert name in page, name
    assert page.count("<model-viewer") == 2
    from PIL import Image

    width, height = Image.open(out / "before_after.png").size  # 1 seed x 2 rows x 4 views, >= 128 px each
    assert width > 4 * 128 and height > 2 * 128
    snaps = sorted(out.glob("snapshot-*.json"))
    assert snaps, list(out.iterdir())
    record = json.loads(snaps[-1].read_text())["finetune_text"]
    assert record["source"] == "a chair" and record["target"] == "a golden throne"
    assert record["clip"] == [str(tiny_clip)] and record["layers"] == "texture" and record["steps"] == 2
    assert record["options"]["views"] == 2 and record["base_checkpoint"].endswith("tiny-chair.json")
    assert record["base_sha256"]

    samples = tmp_path / "samples"
    gen = CliRunner().invoke(cli, ["generate", "--ckpt", str(out), "--seeds", "0", "--outdir", str(samples),
                                   "--format", "obj", "--texture-res", "32", "--preview-views", "0", "--quiet"])
    assert gen.exit_code == 0, gen.output
    assert Mesh.load(samples / "seed0000.obj").num_faces > 0

    resumed = _finetune(tiny_clip, out, "--iters", "3", "--layers", "texture", "--resume", "auto")
    assert resumed.exit_code == 0, resumed.output
    assert any(line.startswith("3 iterations") for line in resumed.output.splitlines())
    mismatch = _finetune(tiny_clip, out, "--iters", "4", "--layers", "geometry", "--resume", "auto")
    assert mismatch.exit_code == 1 and "layers" in mismatch.output


@pytest.mark.parametrize("extra,culprit", [
    (["--target", "a chair"], "same text"),
    (["--target", " "], "--target"),
    (["--clip", "no/such-clip-model"], "no/such-clip-model"),
    (["--background", "plaid"], "--background"),
    (["--iters", "0"], "--iters"),
])
def test_finetune_text_bad_input_is_one_line(tiny_clip, tmp_path, monkeypatch, extra, culprit):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = ["finetune-text", "--ckpt", "tiny-chair", "--source", "a chair", "--target", "a red chair",
            "--outdir", str(tmp_path), "--clip", str(tiny_clip), "--quiet"]
    for i in range(0, len(extra), 2):  # later options override earlier ones in click
        args += extra[i:i + 2]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("get3d: error:") and culprit in lines[0], result.output


def _clip_score_by_hand(clip_folder, prompt="a chair", images=2, views=2, seed=0):
    """get3d metrics' CLIP score computed directly: latents and training cameras from one
    Generator(seed), renders on white at the encoder's 32^2, CLIP's normalisation written out, the
    vision and text towers called directly, the mean cosine."""
    from get3d.generate import load_generator
    from get3d.render import Cameras
    from get3d.text.encoder import load_clip
    from get3d.text.views import render_views

    G, config = load_generator("tiny-chair", device="cpu")
    enc = load_clip(clip_folder, device="cpu")
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(images, 2, G.z_dim, generator=rng)
        cams = Cameras.sample_training_cameras(images * views, rng, rot_range=tuple(config.data.rotation_range),
                                               elev_range=tuple(config.data.elevation_range))
        ws_geo, ws_tex = G.mapping(z[:, 0], z[:, 1], psi=1.0)
        rgb = render_views(G, ws_geo, ws_tex, cams, views, 32, (1.0, 1.0, 1.0))
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        image_emb = enc.model.visual_projection(enc.model.vision_model(pixel_values=(rgb - mean) / std).pooler_output)
        tokens = enc.tokenizer([prompt], padding=True, return_tensors="pt")
        text_emb = enc.model.text_projection(enc.model.text_model(input_ids=tokens["input_ids"],
                                                                  attention_mask=tokens["attention_mask"]).pooler_output)
    cos = torch.nn.functional.cosine_similarity(image_emb, text_emb.expand_as(image_emb), dim=-1)
    assert cos.std() > 0  # renders differ: the mean is not a constant
    return float(cos.mean())


def test_metrics_clip_runs_without_a_dataset(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = ["metrics", "--ckpt", "tiny-chair", "--metrics", "clip", "--prompt", "a chair", "--clip", str(tiny_clip),
            "--clip-images", "2", "--clip-views", "2", "--out", str(tmp_path / "m.json")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["clip_images"] == 4 and record["clip"] == pytest.approx(_clip_score_by_hand(tiny_clip), abs=1e-5)
    assert record["clip_per_model"] == {str(tiny_clip): pytest.approx(record["clip"])}
    no_prompt = CliRunner().invoke(cli, args[:5] + ["--clip", str(tiny_clip)])
    assert no_prompt.exit_code == 1 and "--prompt" in no_prompt.output
    needs_data = CliRunner().invoke(cli, ["metrics", "--ckpt", "tiny-chair", "--metrics", "fid"])
    assert needs_data.exit_code == 1 and "--data" in needs_data.output
