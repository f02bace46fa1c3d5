"""The playground on the analytic prior: a rule visibly moves the image to the prompt's image."""
import torch

from get3d.distill import AnalyticPrior
from get3d.distill.playground import distill_2d


def test_playground_moves_the_grey_start_toward_the_prompt_image(tmp_path):
    target = torch.zeros(3, 8, 8)
    target[0] = 0.9  # red
    prior = AnalyticPrior(target)
    result = distill_2d(prior, "a red square", ["sds", "sdi"], steps=150, outdir=tmp_path, lr=0.05, every=50)
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
    result = distill_2d(prior, "p", "sds", steps=9, every=100)
    assert result.skipped["sds"] > 0
    assert len(result.losses["sds"]) + result.skipped["sds"] == 9
