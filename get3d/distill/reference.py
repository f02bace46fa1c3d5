"""Run the score-distillation reference fixture through get3d's rules.

The fixture (``../shared/fixtures/distill-reference``, format ``get3d-distill-reference/1``; its
README describes it) holds cases made by the reference implementations themselves (threestudio's
SDS and SDI modules, LucidDreamer's ISM) with a tiny deterministic UNet: every input, every random
value by role, the reference loss and gradient. :func:`run_case` feeds one case to
``make_rule(...).loss(..., draws=...)`` (the public explicit-randomness API) and returns get3d's
gradient, so tests (tests/distill/test_reference.py) and ``bench/distill_reference.py`` (the
measured effect of each option, docs/distill.md) compare the same thing.

Case -> rule: SDS ``params`` guidance_scale, weighting; ISM guidance_scale, lambda_guidance ->
lambda_ism, delta_t, delta_t_start, xs_delta_t -> delta_s, xs_inv_steps -> inversion_max_steps,
t_range / max_t_range -> t_min, t_max, t_max_warmup, warmup_iter / iterations -> warmup; SDI
guidance_scale, inversion_guidance_scale -> inversion_guidance, inversion_n_steps ->
inversion_steps, inversion_eta, min/max_step_percent -> t_end / t_start. Steps: ISM iteration i is
get3d step i - 1 of ``iterations``; SDI global_step g is step g of ``trainer_max_steps``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from get3d.distill.rules import ISMDraws, SDIDraws, SDSDraws, make_rule
from get3d.errors import Get3dError

__all__ = ["FORMAT", "load_reference", "case_options", "run_case", "relative_error"]

FORMAT = "get3d-distill-reference/1"


def load_reference(folder) -> tuple[dict, object]:
    """-> (the fixture's data, its tiny UNet as a DiffusionPrior on CPU in float32)."""
    from get3d.distill.diffusion import load_diffusion

    folder = Path(folder)
    if not (folder / "cases.pt").is_file():
        raise Get3dError(f"{folder}: no cases.pt (not a distill-reference fixture)")
    data = torch.load(folder / "cases.pt", weights_only=True)
    if data.get("format") != FORMAT:
        raise Get3dError(f"{folder}: format {data.get('format')!r}, expected {FORMAT!r}")
    prior = load_diffusion(folder / data["unet"]["folder"], device="cpu", dtype=torch.float32,
                           local_files_only=True)
    return data, prior


def case_options(case: dict) -> dict:
    """The reference parameters of ``case`` as get3d rule options."""
    p = case["params"]
    if case["rule"] == "sds":
        return dict(guidance_scale=p["guidance_scale"], weighting=p["weighting"], t_min=p["min_step_percent"],
                    t_max=p["max_step_percent"])
    if case["rule"] == "ism":
        return dict(guidance_scale=p["guidance_scale"], lambda_ism=p["lambda_guidance"], delta_t=p["delta_t"],
                    delta_t_start=p["delta_t_start"], delta_s=p["xs_delta_t"], inversion_max_steps=p["xs_inv_steps"],
                    t_min=p["t_range"][0], t_max=p["t_range"][1], t_max_warmup=p["max_t_range"],
                    warmup=p["warmup_iter"] / p["iterations"])
    return dict(guidance_scale=p["guidance_scale"], inversion_guidance=p["inversion_guidance_scale"],
                inversion_steps=p["inversion_n_steps"], inversion_eta=p["inversion_eta"],
                t_start=p["max_step_percent"], t_end=p["min_step_percent"])


def _step(case: dict) -> tuple[int, int]:
    prog = case["progress"]
    if case["rule"] == "ism":
        return prog["iteration"] - 1, prog["iterations"]
    if case["rule"] == "sdi":
        return prog["global_step"], prog["trainer_max_steps"]
    return 0, 1


def run_case(prior, case: dict, seed: int = 0, **overrides) -> tuple[torch.Tensor, torch.Tensor, object]:
    """-> (d loss / d latents, loss, the rule) for ``case`` with the reference's inputs and random
    values, under the case's parameters with ``overrides`` (get3d rule options). Where an option
    makes SDI's inversion longer than the reference's, the extra steps' noise is drawn from
    ``seed``."""
    inputs, random = case["inputs"], case["random"]
    rule = make_rule(case["rule"], **{**case_options(case), **overrides})
    step, total = _step(case)
    x = inputs["latents"].clone().requires_grad_(True)
    inverse: Optional[torch.Tensor] = inputs.get("inverse")
    if case["rule"] == "sds":
        draws = SDSDraws(inputs["t"], random["noise"])
    elif case["rule"] == "ism":
        draws = ISMDraws(int(inputs["t"][0]), random["noise"])
    else:
        t, delta = int(inputs["t"][0]), int(random["delta_t"])
        k = len(rule.inversion_timesteps(t, delta, int(prior.alphas_cumprod.shape[0]))) - 1
        noise = random["inversion_noise"]
        if k > noise.shape[0]:
            extra = torch.randn((k - noise.shape[0], *noise.shape[1:]), generator=torch.Generator().manual_seed(seed))
            noise = torch.cat([noise, extra])
        draws = SDIDraws(t, delta, noise[:k])
    loss = rule.loss(x, prior, inputs["cond"], inputs["uncond"], step, total, draws=draws, inverse=inverse)
    loss.backward()
    return x.grad.detach(), loss.detach(), rule


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """||ours - reference|| / ||reference|| (the fixture README's measure)."""
    return float((ours.double() - reference.double()).norm() / reference.double().norm())
