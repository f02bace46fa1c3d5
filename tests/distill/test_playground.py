"""The playground on the analytic prior: a rule visibly moves the image to the prompt's image."""
import torch

from get3d.distill import AnalyticPrior
from get3d.distill.options import Distill2dOptions
from get3d.distill.playground import distill_2d


def test_playground_moves_the_grey_start_toward_the_prompt_image(tmp_path):
    target = torch.zeros(3, 8, 8)
    target[0] = 0.9  # red
    prior = AnalyticPrior(target)
    result = distill_2d(prior, "a red square", Distill2dOptions("sds,sdi", steps=150, lr=0.05, every=50), tmp_path)
    for name in ("sds", "sdi"):
        final = result.images[name]  # [H,W,3]
        assert (final - target.permute(1, 2, 0)).abs().max() < 0.1, name
        assert result.skipped[name] == 0
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "sdi" / "step_00150.png").is_file()


def test_non_finite_steps_are_skipped_and_counted():
    class Flaky(AnalyticPrior):
        def predict_noise(self, x, t, emb):
            eps = super().predict_noise(x, t, emb)
            return eps * float("nan") if self.calls % 3 == 1 else eps

    prior = Flaky(torch.full((3, 4, 4), 0.2))
    result = distill_2d(prior, "p", Distill2dOptions("sds", steps=9, every=100))
    assert result.skipped["sds"] > 0
    assert len(result.losses["sds"]) + result.skipped["sds"] == 9


def test_each_rule_shows_its_fixed_point_when_the_prompts_disagree():
    """distill-2d with the analytic prior (conditional image xc, unconditional xu): SDS and SDI
    settle at threestudio's guided x0-prediction xc + s (xc - xu) (s = 1 here: xu + 2 (xc - xu)),
    ISM pushes the image along xc - xu without a fixed point (its update is constant here: Adam
    moves every pixel by the learning rate per step, toward the side where xc exceeds xu)."""
    xc, xu = torch.full((3, 8, 8), 0.6), torch.full((3, 8, 8), 0.5)
    xc[0] = 0.7
    prior = AnalyticPrior(xc, xu)
    options = {"sds": {"guidance_scale": 1.0}, "sdi": {"guidance_scale": 1.0}}
    result = distill_2d(prior, "p", Distill2dOptions("sds,sdi", steps=150, lr=0.02, every=200, rule_options=options))
    fixed = (xu + 2 * (xc - xu)).permute(1, 2, 0)
    for name in ("sds", "sdi"):
        assert (result.images[name] - fixed).abs().max() < 0.03, name
    ism = distill_2d(prior, "p", Distill2dOptions("ism", steps=10, lr=0.02, every=200)).images["ism"]
    assert torch.allclose(ism, torch.full_like(ism, 0.5 + 10 * 0.02), atol=1e-3)  # from grey, +lr per step
    flipped = distill_2d(AnalyticPrior(xu, xc), "p", Distill2dOptions("ism", steps=10, lr=0.02, every=200)).images["ism"]
    assert torch.allclose(flipped, torch.full_like(ism, 0.5 - 10 * 0.02), atol=1e-3)
