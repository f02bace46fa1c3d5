"""Perp-Neg: the combination against its formula, threestudio's view-dependent negatives, and each
rule's guided calls using it (stub prior whose epsilon is known for every embedding)."""
import math

import pytest
import torch

from get3d.distill import make_rule
from get3d.distill.perpneg import PerpNeg, perp_neg_combine, perpendicular_component, view_embeddings
from get3d.distill.rules import ISMDraws, SDIDraws, SDSDraws
from get3d.distill.views import SUFFIXES
from tests.distill.stand_ins import ConstantPrior


def test_perpendicular_component_removes_exactly_the_parallel_part():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 4, 5, 5, generator=gen), torch.randn(3, 4, 5, 5, generator=gen)
    p = perpendicular_component(x, y)
    assert torch.allclose((p * y).sum((1, 2, 3)), torch.zeros(3), atol=1e-4)
    coeff = (x * y).sum((1, 2, 3)) / (y * y).sum((1, 2, 3))
    assert torch.allclose(x - p, coeff.view(-1, 1, 1, 1) * y, atol=1e-5)


def test_combination_matches_the_formula():
    gen = torch.Generator().manual_seed(1)
    c, u = torch.randn(2, 4, 3, 3, generator=gen), torch.randn(2, 4, 3, 3, generator=gen)
    n = torch.randn(2, 2, 4, 3, 3, generator=gen)
    w = torch.tensor([[-1.0, -0.5], [0.0, -2.0]])
    out = perp_neg_combine(c, u, n, w, 7.5)
    e_pos = c - u
    for i in range(2):
        acc = sum(w[i, k] * perpendicular_component((n[i, k] - u[i])[None], e_pos[i][None])[0] for k in range(2))
        assert torch.allclose(out[i], u[i] + 7.5 * (e_pos[i] + acc), atol=1e-5)
    # A negative prompt parallel to the positive direction changes nothing (only its perpendicular part acts).
    assert torch.allclose(perp_neg_combine(c, u, (u + 3 * (c - u)).unsqueeze(1), w[:, :1], 2.0), u + 2.0 * (c - u), atol=1e-5)


def _f(a, b, c, r):
    return a * math.exp(-b * r) + c


@pytest.mark.parametrize("azimuth,elevation,cond_mix,negs,weights", [
    (0.0, 10.0, {0: 1.0}, (0, 1), (-_f(4, 0.5, -2.426, 1.0), -_f(4, 0.5, -2.426, 0.0))),
    (45.0, 10.0, {0: 0.5, 1: 0.5}, (0, 1), (-_f(4, 0.5, -2.426, 0.5), -_f(4, 0.5, -2.426, 0.5))),
    (-135.0, 0.0, {1: 0.5, 2: 0.5}, (1, 0), (-_f(1, 0.5, -0.606, 0.5), -_f(1, 0.5, 0.967, 0.5))),
    (180.0, 0.0, {2: 1.0}, (1, 0), (-_f(1, 0.5, -0.606, 0.0), -_f(1, 0.5, 0.967, 0.0))),
    (30.0, 70.0, {3: 1.0}, (3, 3), (0.0, 0.0)),
])
def test_view_dependent_negatives_follow_threestudio(azimuth, elevation, cond_mix, negs, weights):
    views = torch.eye(4)  # front, side, back, overhead as one-hot rows
    cond, pn = view_embeddings(views, torch.tensor([azimuth + 20.0]), torch.tensor([elevation]), front_azimuth=20.0)
    expected = sum(w * views[i] for i, w in cond_mix.items())
    assert torch.allclose(cond[0], expected, atol=1e-6)
    assert torch.equal(pn.negatives[0], views[list(negs)])
    assert torch.allclose(pn.weights[0], torch.tensor(weights), atol=1e-5)


def _views(prior):
    views = prior.embed_text(["p" + s for s in SUFFIXES])
    return view_embeddings(views, torch.tensor([30.0, 150.0]), torch.tensor([5.0, 5.0]))


def _combined(prior, cond, pn, scale):
    eps = lambda emb: torch.einsum("bk,kchw->bchw", emb, prior.E)  # noqa: E731
    U = prior.U.expand(2, -1, -1, -1)
    return perp_neg_combine(eps(cond), U, torch.stack([eps(pn.negatives[:, k]) for k in range(2)], 1), pn.weights, scale)


def test_sds_uses_perp_neg_in_its_guided_call():
    prior = ConstantPrior()
    cond, pn = _views(prior)
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    noise, t = torch.randn(2, 4, 4, 4), torch.tensor([300, 700])
    rule = make_rule("sds", guidance_scale=20.0)
    rule.loss(x, prior, cond, prior.embed_text([""]), 0, 1, draws=SDSDraws(t, noise), perp_neg=pn).backward()
    abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = (1 - abar) * (_combined(prior, cond, pn, 20.0) - noise) / 2
    assert torch.allclose(x.grad, expected, atol=1e-4)
    plain = x.grad.clone()
    x.grad = None
    zero = PerpNeg(pn.negatives, torch.zeros_like(pn.weights))  # weights 0: diffusers-form CFG
    rule.loss(x, prior, cond, prior.embed_text([""]), 0, 1, draws=SDSDraws(t, noise), perp_neg=zero).backward()
    assert (x.grad - plain).abs().max() > 1e-2


def test_ism_uses_perp_neg_in_its_guided_call_only():
    prior = ConstantPrior()
    cond, pn = _views(prior)
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    rule = make_rule("ism")
    rule.loss(x, prior, cond, prior.embed_text([""]), 3000, 5000, draws=ISMDraws(300, torch.randn(2, 4, 4, 4)),
              perp_neg=pn).backward()
    abar = float(prior.alphas_cumprod[300])
    expected = 0.1 * math.sqrt((1 - abar) / abar) * (_combined(prior, cond, pn, 7.5) - prior.U)
    assert torch.allclose(x.grad, expected, atol=1e-4)


def test_sdi_uses_perp_neg_in_inversion_and_prediction():
    prior = ConstantPrior()
    cond, pn = _views(prior)
    x = torch.randn(2, 4, 4, 4)
    rule = make_rule("sdi", inversion_eta=0.0, inversion_end="t")
    g = rule.update(x, prior, cond, prior.embed_text([""]), 0, 10, draws=SDIDraws(500, 0), perp_neg=pn)
    inv, guided = _combined(prior, cond, pn, -7.5), _combined(prior, cond, pn, 7.5)
    a0, at = float(prior.alphas_cumprod[0]), float(prior.alphas_cumprod[500])
    x0_0 = (x - math.sqrt(1 - a0) * inv) / math.sqrt(a0)
    expected = x - x0_0 + math.sqrt((1 - at) / at) * (guided - inv)
    assert torch.allclose(g, expected, atol=1e-3)
    # Every guided call had 2 + K = 4 rows per item: cond, uncond, two negatives.
    assert all(emb.shape[0] == 8 for _, emb in prior.log)
