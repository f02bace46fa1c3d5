"""The rules' options, Perp-Neg, --negative-prompt and --guidance from the CLI (refine and
distill-2d), checked for their effect on the update, not only for being accepted: the diffusion
model is replaced by a stand-in whose epsilon is known for every prompt (issue 23, point 12)."""
import json
import math

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from tests.distill.stand_ins import ConstantPrior


class ImagePrior(ConstantPrior):
    """ConstantPrior on 16x16 RGB 'latents' (identity encoder) that records d loss / d latents."""

    def __init__(self):
        super().__init__(size=16, channels=3, prompts=16)
        self.image_size = 16
        self.grads = []

    def encode(self, images):
        latents = images * 1.0
        if latents.requires_grad:
            latents.register_hook(lambda g: self.grads.append(g.detach().clone()))
        return latents


@pytest.fixture
def stand_in(monkeypatch):
    prior = ImagePrior()
    monkeypatch.setattr("get3d.distill.diffusion.load_diffusion", lambda *a, **k: prior)
    monkeypatch.setattr("get3d.distill.load_diffusion", lambda *a, **k: prior)
    return prior


def test_help_shows_every_rule_option_with_its_default():
    for command in ("refine", "distill-2d"):
        out = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        for flag, default in [("--sds-t-min", "0.02"), ("--sds-t-max", "0.98"), ("--ism-delta-t ", "80"),
                              ("--ism-delta-t-start", "100"), ("--ism-warmup ", "0.3"), ("--ism-delta-s", "200"),
                              ("--ism-inversion-max-steps", "5"), ("--sdi-inversion-steps", "10"),
                              ("--sdi-inversion-eta", "0.3"), ("--sdi-inversion-guidance", "-7.5"),
                              ("--sdi-t-start", "0.98"), ("--sdi-t-end", "0.25")]:
            text = " ".join(out.split()) + " "
            entry = text[text.index(flag.strip() + " "):]
            entry = entry[:entry.index(" --", 3)]  # up to the next option
            assert f"[default: {default}]" in entry, (command, entry)
        assert "--sdi-inversion [leading|uniform]" in out and "--perp-neg" in out


def test_rule_flags_reach_the_rules_and_bad_ones_are_one_line(stand_in, tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "p", "--model", "m", "--rule", "sdi,ism",
                                      "--steps", "1", "--outdir", str(out), "--sdi-inversion", "uniform",
                                      "--sdi-inversion-steps", "3", "--ism-delta-t", "50", "--guidance", "4"])
    assert result.exit_code == 0, result.output
    options = json.loads((out / "settings.json").read_text())["rule_options"]
    assert options["sdi"]["inversion"] == "uniform" and options["sdi"]["inversion_steps"] == 3
    assert options["ism"]["delta_t"] == 50 and options["ism"]["guidance_scale"] == options["sdi"]["guidance_scale"] == 4
    for args, message in [(["--rule", "sds", "--ism-delta-t", "50"], "(--ism-delta-t) applies to rule ism"),
                          (["--guidance", "3", "--sds-guidance-scale", "5"], "guidance (--guidance) and rule_options['sds']['guidance_scale'] (--sds-guidance-scale)"),
                          (["--rule", "ism", "--ism-warmup", "2"], "ism warmup must be a fraction")]:
        result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "p", "--model", "m", "--steps", "1",
                                          "--outdir", str(out), *args])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output


def _ism_update(prior, t, cond_emb, uncond_emb, scale):
    """LucidDreamer's ISM update for the stand-in: lambda sqrt((1-a)/a) (N + s (C - N) - U)."""
    eps = lambda emb: torch.einsum("k,kchw->chw", emb, prior.E)  # noqa: E731
    a = float(prior.alphas_cumprod[t])
    n = eps(uncond_emb)
    return 0.1 * math.sqrt((1 - a) / a) * (n + scale * (eps(cond_emb) - n) - prior.E[0])


def test_refine_negative_prompt_and_guidance_drive_the_update(stand_in, tmp_path):
    result = CliRunner().invoke(cli, ["refine", "--ckpt", "tiny-chair", "--seed", "0", "--prompt", "a chair",
                                      "--negative-prompt", "blurry", "--guidance", "3", "--rule", "ism",
                                      "--ism-delta-t", "50", "--ism-warmup", "0",
                                      "--model", "m", "--steps", "1", "--texture-only", "--outdir", str(tmp_path),
                                      "--texture-res", "32", "--preview-res", "32"])
    assert result.exit_code == 0, result.output
    t, emb = stand_in.log[-1]  # the guided call: [uncond; cond] rows (LucidDreamer's order)
    neg = stand_in.embed_text(["blurry"])[0]
    assert torch.equal(emb[0], neg)  # --negative-prompt is the unconditional row
    expected = _ism_update(stand_in, int(t[0]), emb[1], emb[0], 3.0)
    assert torch.allclose(stand_in.grads[0][0], expected, atol=1e-5)  # --guidance 3 is the s used
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["rule_options"]["guidance_scale"] == 3.0 and settings["negative_prompt"] == "blurry"
    assert settings["rule_options"]["delta_t"] == 50 and settings["rule_options"]["warmup"] == 0.0
    inversion_t = [int(t_[0]) for t_, _ in stand_in.log[:-1]]  # the inversion calls, then the target at s
    assert inversion_t[-1] == max(int(t[0]) - 1 - 50, 0) + 1  # --ism-delta-t 50, no warm-up: index i_t - 50


def test_distill_2d_negative_prompt_is_the_unconditional(stand_in, tmp_path):
    result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "p", "--negative-prompt", "ugly", "--model", "m",
                                      "--rule", "sds", "--steps", "1", "--outdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    _, emb = stand_in.log[-1]  # [cond; uncond] (threestudio's order)
    assert torch.equal(emb[1], stand_in.embed_text(["ugly"])[0])
    assert torch.equal(emb[0], stand_in.embed_text(["p"])[0])


def test_refine_perp_neg_uses_the_other_views_as_negatives(stand_in, tmp_path):
    result = CliRunner().invoke(cli, ["refine", "--ckpt", "tiny-chair", "--seed", "0", "--prompt", "a chair",
                                      "--rule", "sds", "--perp-neg", "--batch", "2", "--model", "m", "--steps", "1",
                                      "--texture-only", "--outdir", str(tmp_path), "--texture-res", "32",
                                      "--preview-res", "32"])
    assert result.exit_code == 0, result.output
    _, emb = stand_in.log[-1]
    assert emb.shape[0] == 2 * 4  # cond, uncond and 2 negatives per view
    views = stand_in.embed_text(["a chair" + s for s in (", front view", ", side view", ", back view",
                                                         ", overhead view")])
    for row in emb[4:]:  # the negatives are view prompts
        assert any(torch.equal(row, v) for v in views)
    assert json.loads((tmp_path / "settings.json").read_text())["perp_neg"] is True


def test_distill_2d_perp_neg_interpolates_the_view_and_negates_the_others(stand_in, tmp_path):
    result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "p", "--model", "m", "--rule", "sds",
                                      "--perp-neg", "--azimuth", "45", "--steps", "1", "--outdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    _, emb = stand_in.log[-1]  # rows: cond, uncond, front, side
    front, side = stand_in.embed_text(["p, front view", "p, side view"])
    assert torch.allclose(emb[0], 0.5 * front + 0.5 * side)
    assert torch.equal(emb[1], stand_in.embed_text([""])[0])
    assert torch.equal(emb[2], front) and torch.equal(emb[3], side)
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["perp_neg"] is True and settings["azimuth"] == 45.0
