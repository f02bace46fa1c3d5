"""The three rules against priors whose right answer is known.

With the analytic point-mass prior (get3d.distill.analytic) every rule's fixed point follows by
hand: eps(x_t) = (x_t - sqrt(abar) x0) / sqrt(1 - abar) makes the guided x0-prediction
``xu + s (xc - xu)`` for any x_t, so
- SDS: g = w(t) sqrt(abar/(1-abar)) (x - (xu + s (xc - xu))): fixed point xu + s (xc - xu)
  (x0 itself when xc == xu; past xc along xc - xu otherwise: SDS's over-saturation);
- ISM: g = lambda s (xu - xc) * const: zero when xc == xu, else a push along xc - xu;
- SDI: g = x - (xu + s (xc - xu)): the same fixed point as SDS, reached without noise.
"""
import math

import pytest
import torch

from get3d import Get3dError
from get3d.distill import AnalyticPrior, make_rule
from get3d.distill.analytic import scaled_linear_alphas_cumprod
from get3d.distill.ddim import abar_at, ddim_step, invert

H = 8


def _images():
    gen = torch.Generator().manual_seed(3)
    return torch.rand(3, H, H, generator=gen), torch.rand(3, H, H, generator=gen)


def _embeddings(prior):
    return prior.embed_text(["a chair"]), prior.embed_text([""])


def _optimise(rule, prior, steps=150, lr=0.05, start=0.5, batch=2, seed=0):
    x = torch.full((batch, 3, H, H), start, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    cond, uncond = _embeddings(prior)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        opt.zero_grad()
        rule.loss(x, prior, cond, uncond, step, steps, generator=gen).backward()
        opt.step()
    return x.detach()


@pytest.mark.parametrize("name", ["sds", "sdi"])
def test_sds_and_sdi_drive_the_image_to_the_data_point(name):
    x0, _ = _images()
    prior = AnalyticPrior(x0)
    start_err = (torch.full_like(x0, 0.5) - x0).abs().max()
    x = _optimise(make_rule(name), prior, steps=200)
    err = (x - x0).abs().max()
    assert err < 0.05 * start_err, (name, float(err), float(start_err))


def test_ism_update_is_exactly_zero_when_both_models_agree():
    x0, _ = _images()
    prior = AnalyticPrior(x0)
    rule = make_rule("ism")
    x = torch.rand(2, 3, H, H, requires_grad=True)
    cond, uncond = _embeddings(prior)
    for step in (0, 50, 99):
        x.grad = None
        rule.loss(x, prior, cond, uncond, step, 100, generator=torch.Generator().manual_seed(step)).backward()
        # Float32 round-off only: the exact answer is 0 while single terms are O(100).
        assert x.grad.abs().max() < 1e-3, float(x.grad.abs().max())


def test_sds_converges_to_the_guidance_fixed_point_beyond_the_target():
    xc, xu = _images()
    prior = AnalyticPrior(xc, xu)
    scale = 2.0
    fixed = xu + scale * (xc - xu)
    x = _optimise(make_rule("sds", guidance_scale=scale), prior, steps=400, lr=0.05)
    assert (x - fixed).abs().max() < 0.05
    assert (x - xc).abs().max() > 0.3  # over-saturated: it overshoots the conditional image


def test_sdi_reaches_the_same_fixed_point():
    xc, xu = _images()
    prior = AnalyticPrior(xc, xu)
    fixed = xu + 2.0 * (xc - xu)
    x = _optimise(make_rule("sdi", guidance_scale=2.0), prior, steps=300, lr=0.05)
    assert (x - fixed).abs().max() < 0.05


def test_ism_moves_along_the_difference_between_the_models():
    xc, xu = _images()
    prior = AnalyticPrior(xc, xu)
    rule = make_rule("ism")
    x = torch.rand(1, 3, H, H, requires_grad=True)
    cond, uncond = _embeddings(prior)
    rule.loss(x, prior, cond, uncond, 10, 100, generator=torch.Generator().manual_seed(1)).backward()
    step = -x.grad.flatten()
    direction = (xc - xu).flatten()
    cosine = torch.dot(step, direction) / (step.norm() * direction.norm())
    assert cosine > 0.9999
    # Its size is the formula's: lambda * sqrt((1-abar_t)/abar_t) * s * sqrt(abar_t/(1-abar_t)) * |xc - xu|
    # = lambda * s * |xc - xu| (B = 1).
    assert float(step.norm()) == pytest.approx(rule.lambda_ism * rule.guidance_scale * float(direction.norm()), rel=1e-3)


def test_ddim_inversion_of_the_point_mass_matches_the_closed_form():
    """Each DDIM inversion step of the chain -1 -> 100 -> 300 -> 500, written out by hand in float64
    from the point mass's exact eps."""
    x0, _ = _images()
    prior = AnalyticPrior(x0.double(), alphas_cumprod=scaled_linear_alphas_cumprod().double())
    x = torch.rand(1, 3, H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    emb = prior.embed_text([""])
    steps = [torch.tensor([v]) for v in (-1, 100, 300, 500)]
    x_s, eps_last = invert(x, steps, lambda z, t: prior.predict_noise(z, t, emb), prior.alphas_cumprod)
    abar0, abar_s = float(prior.alphas_cumprod[0]), float(prior.alphas_cumprod[500])
    eps0 = (x - math.sqrt(abar0) * x0) / math.sqrt(1 - abar0)
    # The first step starts from the clean sample (abar = 1), so x0_hat = x there, not x0:
    x0_hat_1 = x
    x_100 = math.sqrt(float(prior.alphas_cumprod[100])) * x0_hat_1 + math.sqrt(1 - float(prior.alphas_cumprod[100])) * eps0
    eps_100 = (x_100 - math.sqrt(float(prior.alphas_cumprod[100])) * x0) / math.sqrt(1 - float(prior.alphas_cumprod[100]))
    a3 = float(prior.alphas_cumprod[300])
    x0_hat_2 = (x_100 - math.sqrt(1 - float(prior.alphas_cumprod[100])) * eps_100) / math.sqrt(float(prior.alphas_cumprod[100]))
    x_300 = math.sqrt(a3) * x0_hat_2 + math.sqrt(1 - a3) * eps_100
    eps_300 = (x_300 - math.sqrt(a3) * x0) / math.sqrt(1 - a3)
    x_500 = math.sqrt(abar_s) * x0 + math.sqrt(1 - abar_s) * eps_300
    # The schedule is float32 (the protocol's dtype), so agreement is to float32 round-off on
    # values of size ~30.
    assert torch.allclose(x_s, x_500, rtol=1e-5, atol=1e-4)
    assert torch.allclose(eps_last, eps_300, rtol=1e-5, atol=1e-4)


def test_ddim_denoising_step_matches_diffusers():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False)
    scheduler.set_timesteps(50)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, generator=gen)
    eps = torch.randn(1, 4, 8, 8, generator=gen)
    t, prev = 501, 481
    theirs = scheduler.step(eps, t, x, eta=0.0).prev_sample
    abars = scheduler.alphas_cumprod
    ours = ddim_step(x, eps, abar_at(abars, torch.tensor([t])), abar_at(abars, torch.tensor([prev])))
    assert torch.allclose(ours, theirs, atol=1e-5)


class ConstantPrior:
    """A stub UNet with known outputs: eps = C for the prompt, U for the empty prompt."""

    def __init__(self, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.C = torch.randn(1, 4, 4, 4, generator=gen)
        self.U = torch.randn(1, 4, 4, 4, generator=gen)
        self.alphas_cumprod = scaled_linear_alphas_cumprod()
        self.image_size = 32

    def encode(self, images):
        return images

    def decode(self, latents):
        return latents

    def embed_text(self, prompts):
        return torch.tensor([0.0 if p == "" else 1.0 for p in prompts])

    def predict_noise(self, x, t, emb):
        w = emb.view(-1, 1, 1, 1)
        return (w * self.C + (1 - w) * self.U).expand_as(x).clone()


def _grad(rule, prior, x, step=5, total=10, seed=0):
    x = x.clone().requires_grad_(True)
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    rule.loss(x, prior, cond, uncond, step, total, generator=torch.Generator().manual_seed(seed)).backward()
    return x.grad * x.shape[0]  # the loss divides by the batch


def test_sds_gradient_equals_its_formula_for_a_stub_unet():
    prior, rule = ConstantPrior(), make_rule("sds", guidance_scale=10.0)
    x = torch.randn(2, 4, 4, 4)
    g = _grad(rule, prior, x, seed=7)
    # Same draws in the same order as the rule: t per item, then the noise.
    gen = torch.Generator().manual_seed(7)
    lo, hi = round(0.02 * 999), round(0.98 * 999)
    t = (lo + (torch.rand(2, generator=gen) * (hi - lo + 1)).floor().long()).clamp(lo, hi)
    eps = torch.randn(x.shape, generator=gen)
    assert t.tolist() == rule.last["t"]
    abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = (1 - abar) * (prior.U + 10.0 * (prior.C - prior.U) - eps)
    assert torch.allclose(g, expected, atol=1e-5)
    assert rule.last["grad_norm"] == pytest.approx(float(expected.norm()), rel=1e-5)


def test_ism_gradient_equals_its_formula_for_a_stub_unet():
    prior, rule = ConstantPrior(), make_rule("ism")
    x = torch.randn(2, 4, 4, 4)
    g = _grad(rule, prior, x)
    abar = float(prior.alphas_cumprod[rule.last["t"][0]])
    expected = 0.1 * math.sqrt((1 - abar) / abar) * 7.5 * (prior.C - prior.U)
    assert torch.allclose(g, expected.expand_as(g), atol=1e-5)


def test_sdi_gradient_equals_its_formula_for_a_stub_unet():
    prior, rule = ConstantPrior(), make_rule("sdi", inversion_eta=0.0)
    x = torch.randn(2, 4, 4, 4)
    g = _grad(rule, prior, x, step=4, total=10)
    t = rule.last["t"][0]
    assert t == round((0.98 + (0.25 - 0.98) * 0.4) * 999)
    abar = float(prior.alphas_cumprod[t])
    inv = prior.U - 7.5 * (prior.C - prior.U)  # inversion guidance -7.5
    guided = prior.U + 7.5 * (prior.C - prior.U)
    expected = math.sqrt((1 - abar) / abar) * (guided - inv)
    assert torch.allclose(g, expected.expand_as(g), atol=1e-4)


@pytest.mark.parametrize("name", ["sds", "ism", "sdi"])
def test_timesteps_stay_in_range_and_seeds_repeat(name):
    prior = ConstantPrior()
    rule = make_rule(name)
    x = torch.randn(3, 4, 4, 4)
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    for step in range(0, 101, 10):
        rule.loss(x, prior, cond, uncond, step, 100, generator=torch.Generator().manual_seed(step))
        assert all(1 <= t <= 999 for t in rule.last["t"]), rule.last
    a = rule.loss(x, prior, cond, uncond, 3, 10, generator=torch.Generator().manual_seed(5))
    b = rule.loss(x, prior, cond, uncond, 3, 10, generator=torch.Generator().manual_seed(5))
    assert float(a) == float(b)


def test_schedules_follow_the_documented_annealing():
    ism = make_rule("ism")
    assert ism.schedule(0, 100, 999) == (100, 500, 100)  # t in [max(20, delta_t), 0.5 T], delta_t 100
    assert ism.schedule(30, 100, 999) == (80, 979, 80)  # after the warm-up: up to 0.98 T, delta_t 80
    assert ism.inversion_timesteps(900) == [-1, 180, 360, 540, 720, 900]  # at most 5 steps
    assert ism.inversion_timesteps(150) == [-1, 150]
    sds = make_rule("sds", t_max_end=0.5)
    assert sds.t_range(0, 10, 999) == (20, 979) and sds.t_range(10, 10, 999) == (20, 500)
    sdi = make_rule("sdi")
    assert sdi.timestep(0, 10, 999) == 979 and sdi.timestep(10, 10, 999) == 250


def test_bad_inputs_raise_one_line_errors():
    prior = ConstantPrior()
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    with pytest.raises(Get3dError, match="unknown distillation rule 'vsd'"):
        make_rule("vsd")
    with pytest.raises(Get3dError, match="no option 'guidance'"):
        make_rule("sds", guidance=3)
    with pytest.raises(Get3dError, match="weighting"):
        make_rule("sds", weighting="cubic")
    rule = make_rule("sds")
    with pytest.raises(Get3dError, match=r"latents must be a float tensor \[B,C,h,w\]"):
        rule.loss(torch.zeros(4, 4, 4), prior, cond, uncond, 0, 10)
    with pytest.raises(Get3dError, match="NaN"):
        rule.loss(torch.full((1, 4, 4, 4), float("nan")), prior, cond, uncond, 0, 10)
    with pytest.raises(Get3dError, match="cond has 3 rows"):
        rule.loss(torch.zeros(2, 4, 4, 4), prior, torch.zeros(3), uncond, 0, 10)
    with pytest.raises(Get3dError, match="not a DiffusionPrior"):
        rule.loss(torch.zeros(1, 4, 4, 4), object(), cond, uncond, 0, 10)
