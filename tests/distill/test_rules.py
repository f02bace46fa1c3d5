"""The three rules against priors whose right answer is known.

With the analytic point-mass prior (get3d.distill.analytic) every rule's fixed point follows by
hand: eps(x_t) = (x_t - sqrt(abar) x0) / sqrt(1 - abar) makes every prompt's x0-prediction its own
image for any x_t, so with guidance form "cond" (threestudio's eps_c + s (eps_c - eps_u), the SDS
and SDI default) the guided x0-prediction is ``xc + s (xc - xu)``, and with "uncond" (diffusers',
ISM's) ``xu + s (xc - xu)``:
- SDS: g = w(t) sqrt(abar/(1-abar)) (x - x0_guided): fixed point x0_guided (x0 itself when
  xc == xu; past xc along xc - xu otherwise: SDS's over-saturation);
- ISM: g = lambda s (xu - xc): zero when xc == xu, else a push along xc - xu;
- SDI: g = x - x0_guided: the same fixed point as SDS, reached without noise.
"""
import math

import pytest
import torch

from get3d import Get3dError
from get3d.distill import AnalyticPrior, make_rule
from get3d.distill.analytic import scaled_linear_alphas_cumprod
from get3d.distill.ddim import abar_at, ddim_step, invert
from tests._support import dtype_params
from tests.distill.stand_ins import ConstantPrior

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


# threestudio's guidance form (the default since issue 21) puts the fixed point at xc + s (xc - xu);
# the diffusers form ("uncond", get3d's before) at xu + s (xc - xu): one guidance unit less.
@pytest.mark.parametrize("form,extra", [("cond", 1.0), ("uncond", 0.0)])
def test_sds_converges_to_the_guidance_fixed_point_beyond_the_target(form, extra):
    xc, xu = _images()
    prior = AnalyticPrior(xc, xu)
    scale = 1.0
    fixed = xu + (scale + extra) * (xc - xu)
    x = _optimise(make_rule("sds", guidance_scale=scale, guidance_form=form), prior, steps=400, lr=0.05)
    assert (x - fixed).abs().max() < 0.05
    if form == "cond":
        assert (x - xc).abs().max() > 0.3  # over-saturated: it overshoots the conditional image


@pytest.mark.parametrize("form,extra", [("cond", 1.0), ("uncond", 0.0)])
def test_sdi_reaches_the_same_fixed_point(form, extra):
    xc, xu = _images()
    prior = AnalyticPrior(xc, xu)
    fixed = xu + (2.0 + extra) * (xc - xu)
    x = _optimise(make_rule("sdi", guidance_scale=2.0, guidance_form=form), prior, steps=300, lr=0.05)
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


@pytest.mark.parametrize("weighting", ["sds", "uniform", "sqrt"])
@pytest.mark.parametrize("form", ["cond", "uncond"])
def test_sds_gradient_equals_its_formula_for_a_stub_unet(weighting, form):
    """Explicit draws through the public API; each weighting by its definition (a wrong w(t), e.g.
    sqrt(abar) or 1 - abar for "sqrt", fails)."""
    from get3d.distill.rules import SDSDraws

    prior, rule = ConstantPrior(), make_rule("sds", guidance_scale=10.0, weighting=weighting, guidance_form=form)
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    t = torch.tensor([100, 900])
    noise = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    rule.loss(x, prior, cond, uncond, 5, 10, draws=SDSDraws(t, noise)).backward()
    abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    w = {"sds": 1 - abar, "uniform": torch.ones_like(abar), "sqrt": (1 - abar).sqrt()}[weighting]
    guided = (prior.C + 10.0 * (prior.C - prior.U)) if form == "cond" else (prior.U + 10.0 * (prior.C - prior.U))
    expected = w * (guided - noise)
    assert torch.allclose(x.grad, expected / 2, atol=1e-5)  # threestudio: g / B
    assert rule.last["t"] == [100, 900] and rule.last["unet_calls"] == 1
    assert rule.last["grad_norm"] == pytest.approx(float(expected.norm()), rel=1e-5)


@pytest.mark.parametrize("inversion_prompt", ["empty", "negative"])
@pytest.mark.parametrize("loss_scale,per_item", [("reference", 1.0), ("batch", 0.5)])
def test_ism_gradient_equals_its_formula_for_a_stub_unet(inversion_prompt, loss_scale, per_item):
    """With a negative prompt N: guided = N + s (C - N); the target is the inversion prompt's eps:
    the empty prompt's U (LucidDreamer) or N ("negative", get3d before issue 21). LucidDreamer does
    not divide by the batch ("reference"); "batch" does."""
    from get3d.distill.rules import ISMDraws

    prior = ConstantPrior()
    rule = make_rule("ism", inversion_prompt=inversion_prompt, loss_scale=loss_scale)
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    cond, neg = prior.embed_text(["p"]), prior.embed_text(["neg"])
    rule.loss(x, prior, cond, neg, 3000, 5000, draws=ISMDraws(300, torch.randn(2, 4, 4, 4))).backward()
    abar = float(prior.alphas_cumprod[300])
    N = prior.eps_of("neg")
    target = prior.U if inversion_prompt == "empty" else N
    expected = 0.1 * math.sqrt((1 - abar) / abar) * (N + 7.5 * (prior.C - N) - target)
    assert torch.allclose(x.grad, per_item * expected.expand_as(x), atol=1e-5)
    assert rule.last["s"] == 220 and rule.last["t"] == [300, 300]


def _sdi_closed_form(prior, rule, x, timesteps, t, noise, start_abar):
    """SDI's x - x0_hat for the constant stub, by hand in float64: with a constant inversion eps e,
    every DDIM step keeps x0_k = (z_k - sqrt(1 - a_k) e) / sqrt(a_k) except for what the step adds
    besides sqrt(b) x0_k + sqrt(1 - b) e, which enters x0_{k+1} divided by sqrt(b)."""
    abars = prior.alphas_cumprod.double()
    C, U = prior.C.double(), prior.U.double()
    e = C + rule.inversion_guidance * (C - U)
    x = x.double()
    eta = rule.inversion_eta
    x0 = (x - math.sqrt(1 - start_abar) * e) / math.sqrt(start_abar)
    for k, (a_tau, b_tau) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        a = float(abars[a_tau]) if a_tau >= 0 else start_abar
        b = float(abars[b_tau])
        if rule.eta_mode == "added":
            sigma = math.sqrt((1 - a) / (1 - b) * (1 - b / a))
            extra = eta * sigma * noise[k].double()
        else:
            sigma = min(eta * math.sqrt((1 - a) / (1 - b) * abs(1 - b / a)), math.sqrt(1 - b))
            extra = (math.sqrt(max(1 - b - sigma ** 2, 0)) - math.sqrt(1 - b)) * e + sigma * noise[k].double()
        x0 = x0 + extra / math.sqrt(b)
    a_end = float(abars[timesteps[-1]])
    x_end = math.sqrt(a_end) * x0 + math.sqrt(1 - a_end) * e
    a_t = float(abars[t])
    guided = C + rule.guidance_scale * (C - U)
    return x - (x_end - math.sqrt(1 - a_t) * guided) / math.sqrt(a_t)


@pytest.mark.parametrize("eta_mode", ["added", "nominal"])
def test_sdi_stochastic_inversion_equals_its_closed_form(eta_mode):
    """Issue 23 point 4: at the default eta 0.3 the result depends on every inversion noise term
    and on sigma_k (the authors' (1 - a')/(1 - b) (1 - b/a'), added on top), or for "nominal" on
    the variance correction sqrt(1 - b - sigma^2): dropping either breaks the equality."""
    from get3d.distill.rules import SDIDraws

    prior = ConstantPrior()
    rule = make_rule("sdi", eta_mode=eta_mode)
    assert rule.inversion_eta == 0.3
    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    t, delta = 575, 37
    timesteps = rule.inversion_timesteps(t, delta, 1000)
    assert timesteps == [-99, 1, 101, 201, 301, 401, 501, 612]
    noise = torch.randn(len(timesteps) - 1, 1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    g = rule.update(x, prior, cond, uncond, 0, 10, draws=SDIDraws(t, delta, noise))
    expected = _sdi_closed_form(prior, rule, x, timesteps, t, noise, float(prior.alphas_cumprod[0]))
    assert torch.allclose(g.double(), expected, rtol=1e-4, atol=1e-4), float((g.double() - expected).abs().max())
    without_noise = rule.update(x, prior, cond, uncond, 0, 10, draws=SDIDraws(t, delta, torch.zeros_like(noise)))
    assert (without_noise.double() - expected).abs().max() > 0.05  # the noise term matters at this size
    assert rule.last["unet_calls"] == len(timesteps)  # 7 guided inversion calls + 1 at t


def test_sdi_gradient_equals_its_formula_for_a_stub_unet():
    """eta 0, inversion to t (no overshoot): g = x - x0_0 + sqrt((1-abar_t)/abar_t) (guided - e_inv)
    with x0_0 the start's x0-prediction (alpha-bar abar[0], the authors' initial_alpha_cumprod);
    the loss is the authors' mean: grad = g / (B * numel)."""
    prior, rule = ConstantPrior(), make_rule("sdi", inversion_eta=0.0, inversion_end="t")
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    cond, uncond = prior.embed_text(["p"]), prior.embed_text([""])
    rule.loss(x, prior, cond, uncond, 4, 10, generator=torch.Generator().manual_seed(0)).backward()
    t = rule.last["t"][0]
    assert t == int(1000 * ((0.98 - 0.25) * (1 - 0.4) + 0.25))
    abar, a0 = float(prior.alphas_cumprod[t]), float(prior.alphas_cumprod[0])
    inv = prior.C - 7.5 * (prior.C - prior.U)  # inversion guidance -7.5, threestudio's form
    guided = prior.C + 7.5 * (prior.C - prior.U)
    x0_0 = (x.detach() - math.sqrt(1 - a0) * inv) / math.sqrt(a0)
    expected = x.detach() - x0_0 + math.sqrt((1 - abar) / abar) * (guided - inv)
    assert torch.allclose(x.grad, expected / (2 * x.numel()), atol=1e-7)


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
    """The reference schedules are checked against their tables in test_reference.py; here the
    named alternatives: ISM's "widen" warm-up and "even" inversion are get3d's former ones."""
    ism = make_rule("ism", warmup_mode="widen", inversion="even")
    assert ism.schedule(0, 100, 1000) == (100, 500, 100)  # t in [max(20, delta_t), 0.5 T], delta_t 100
    assert ism.schedule(30, 100, 1000) == (80, 979, 80)  # after the warm-up: up to 0.98 T, delta_t 80
    assert ism.inversion_timesteps(900) == [-1, 180, 360, 540, 720, 900]  # at most 5 steps
    assert ism.inversion_timesteps(150) == [-1, 150]
    narrow = make_rule("ism")
    assert narrow.schedule(0, 100, 1000) == (21, 964, 99)  # r = 1 - 1/30 and narrow.schedule(30, 100, 1000) == (21, 500, 80)
    assert narrow.inversion_timesteps(880) == [1, 201, 401, 601, 801, 880]
    sds = make_rule("sds", t_max_end=0.5)
    assert sds.t_range(0, 10, 1000) == (20, 980) and sds.t_range(10, 10, 1000) == (20, 500)
    sdi = make_rule("sdi")
    assert sdi.timestep(0, 10, 1000) == 980 and sdi.timestep(10, 10, 1000) == 250
    uniform = make_rule("sdi", inversion="uniform", inversion_end="t")
    assert uniform.inversion_timesteps(500, 40, 1000) == [-1] + list(range(50, 501, 50))


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


def test_ism_noise_offset_adds_one_normal_per_channel():
    """LucidDreamer's noise = N(0,I) [B,C,h,w] + 0.1 N(0,I) [1,C,1,1]; noise_offset=0 drops the second."""
    prior = ConstantPrior()
    with_offset = make_rule("ism").draw((2, 4, 4, 4), 0, 10, prior, torch.Generator().manual_seed(4))
    plain = make_rule("ism", noise_offset=0.0).draw((2, 4, 4, 4), 0, 10, prior, torch.Generator().manual_seed(4))
    assert with_offset.t == plain.t
    offset = with_offset.noise - plain.noise
    assert torch.allclose(offset, offset[:1, :, :1, :1].expand_as(offset), atol=1e-6)  # one value per channel
    assert 0.01 < float(offset[0, :, 0, 0].abs().max()) < 0.5  # 0.1 times a standard normal


class _HalfPrior(AnalyticPrior):
    """The analytic prior evaluated in float16, as Stable Diffusion runs on CUDA (its ``dtype``
    tells the rules to feed it float16; its encode would return float16 latents)."""

    dtype = torch.float16


@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16, torch.float32))
@pytest.mark.parametrize("name", ["sds", "ism", "sdi"])
def test_loss_on_half_latents_is_the_float32_loss_of_the_same_values(name, dtype):
    """Latents in float16/bfloat16 (a float16 prior's encode gives them): the loss is computed in
    float32, so it is finite (a float16 sum of squares over 2x3x64x64 latents overflowed to inf)
    and equal to the loss of the same values in float32; the gradient comes back in the latents'
    dtype, the float32 gradient rounded once."""
    gen = torch.Generator().manual_seed(5)
    prior = _HalfPrior(torch.rand(3, 64, 64, generator=gen), torch.rand(3, 64, 64, generator=gen))
    cond, uncond = _embeddings(prior)
    values = torch.rand(2, 3, 64, 64, generator=gen).to(dtype)
    rule = make_rule(name)
    draws = rule.draw(values.shape, 3, 10, prior, torch.Generator().manual_seed(1))
    losses, grads = [], []
    for latents in (values.clone().requires_grad_(True), values.float().requires_grad_(True)):
        loss = rule.loss(latents, prior, cond, uncond, 3, 10, draws=draws)
        loss.backward()
        losses.append(loss.detach())
        grads.append(latents.grad)
    assert losses[0].dtype == torch.float32 and bool(torch.isfinite(losses[0]))
    assert torch.equal(losses[0], losses[1])
    assert grads[0].dtype == dtype and torch.equal(grads[0], grads[1].to(dtype))
