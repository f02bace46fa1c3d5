"""The three score-distillation rules behind one interface: SDS, ISM and SDI.

Every rule turns clean latents ``x`` [B,C,h,w] (from the prior's differentiable encoder) into a
scalar loss whose gradient with respect to ``x`` is the rule's update ``g`` divided by the batch:

    loss = 0.5 * sum((x - stopgrad(x - g))^2) / B      =>   d loss / d x = g / B

(the "stop-gradient target" trick), so any optimiser upstream of the encoder sees exactly the
rule's update. Guidance everywhere is classifier-free guidance in diffusers' form,
``eps_u + s (eps_c - eps_u)``. ``t`` is an integer timestep in [0, T); fractions of T below
(0.02, 0.98, ...) are rounded to integers.

SDS (DreamFusion, Poole et al. 2022):
    t ~ U[t_min, t_max] T per item; x_t = sqrt(abar) x + sqrt(1 - abar) eps, eps ~ N(0, I);
    g = w(t) (eps_hat(x_t, t) - eps), w = 1 - abar ("sds"), 1 ("uniform") or sqrt(1 - abar) ("sqrt").
ISM (interval score matching, LucidDreamer, Liang et al. CVPR 2024):
    s = t - delta_t; x_s = DDIM inversion of x with the empty prompt (steps of delta_s, at most
    ``inversion_max_steps``); x_t = one more inversion step s -> t; target = eps_u(x_s, s);
    g = lambda sqrt((1 - abar_t) / abar_t) (eps_hat(x_t, t) - target).
SDI (score distillation via inverted DDIM, Lukoianov et al. NeurIPS 2024):
    t annealed from t_start T to t_end T over the run; x_t = DDIM inversion of x in n steps with
    guidance ``inversion_guidance`` (eta adds DDIM-style fresh noise per step);
    x0_hat = DDIM prediction of x_0 from x_t with guidance s; loss = 0.5 ||x - stopgrad(x0_hat)||^2 / B,
    so g = x - x0_hat.

The defaults, their sources and where we differ from the reference code: docs/distill.md.
After each ``loss`` call, ``rule.last`` holds ``t`` (list of ints), ``grad_norm`` (float, norm of
g) and the rule's extra diagnostics.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from get3d.distill.ddim import abar_at, ddim_step, invert, predict_x0
from get3d.distill.prior import check_latents, check_prior, expand_embeddings
from get3d.errors import Get3dError

__all__ = ["RULES", "NonFiniteUpdate", "Rule", "SDS", "ISM", "SDI", "make_rule"]

WEIGHTINGS = ("sds", "uniform", "sqrt")


class NonFiniteUpdate(Get3dError):
    """The prior's prediction was NaN/Inf at this step: callers skip the step and count it."""


def _rand(shape, generator: Optional[torch.Generator], device):
    """Uniform [0,1) draws from ``generator`` (on its own device), moved to ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def _randn_like(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    gen_device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=gen_device, dtype=torch.float32).to(x)


def _target_loss(latents: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    """Scalar whose gradient w.r.t. latents is update / B."""
    target = (latents - update).detach()
    return 0.5 * ((latents - target) ** 2).sum() / latents.shape[0]


@dataclass
class Rule:
    """Shared plumbing: input checks, guided noise prediction, logging."""

    guidance_scale: float = 7.5
    last: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    name = "rule"

    def options(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def _validate(self) -> None:
        pass

    def __post_init__(self):
        self._validate()

    def loss(self, latents: torch.Tensor, prior, cond: torch.Tensor, uncond: torch.Tensor, step: int,
             total_steps: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """latents [B,C,h,w] (differentiable), cond/uncond embeddings [1 or B, ...] -> scalar."""
        check_prior(prior)
        check_latents(latents)
        if total_steps < 1 or not 0 <= step <= total_steps:
            raise Get3dError(f"step must be in [0, total_steps] with total_steps >= 1, got {step} of {total_steps}")
        batch = latents.shape[0]
        cond = expand_embeddings(cond, batch, "cond")
        uncond = expand_embeddings(uncond, batch, "uncond")
        update, t, extra = self._update(latents.detach().float(), prior, cond, uncond, step, total_steps, generator)
        self.last = {"t": [int(v) for v in t.tolist()], "grad_norm": float(update.norm()), **extra}
        if not bool(torch.isfinite(update).all()):
            raise NonFiniteUpdate(f"{self.name}: the prior's noise prediction is not finite (NaN/Inf) at t={self.last['t']}")
        return _target_loss(latents, update.to(latents.dtype))

    # -- helpers
    def _eps(self, prior, x, t, emb):
        return prior.predict_noise(x.to(_dtype(prior)), t, emb).float()

    def _guided(self, prior, x, t, cond, uncond, scale: float):
        """eps_u + scale (eps_c - eps_u), both predictions in one batched call."""
        both = prior.predict_noise(torch.cat([x, x]).to(_dtype(prior)), torch.cat([t, t]), torch.cat([cond, uncond]))
        eps_c, eps_u = both.float().chunk(2)
        return eps_u + scale * (eps_c - eps_u)

    def _steps(self, prior) -> int:
        return int(prior.alphas_cumprod.shape[0])

    def _update(self, x, prior, cond, uncond, step, total_steps, generator):
        raise NotImplementedError


def _dtype(prior):
    return getattr(prior, "dtype", torch.float32)


def _check_range(name: str, lo: float, hi: float) -> None:
    if not 0.0 <= lo <= hi <= 1.0:
        raise Get3dError(f"{name} must satisfy 0 <= min <= max <= 1, got ({lo}, {hi})")


@dataclass
class SDS(Rule):
    """Score distillation sampling. Defaults: DreamFusion / threestudio (guidance 100, t in [0.02, 0.98])."""

    guidance_scale: float = 100.0
    t_min: float = 0.02
    t_max: float = 0.98
    t_max_end: Optional[float] = None  # anneal t_max linearly to this over the run (None = fixed)
    weighting: str = "sds"

    name = "sds"

    def _validate(self):
        _check_range("sds t range", self.t_min, self.t_max)
        if self.t_max_end is not None:
            _check_range("sds t_max_end", self.t_min, self.t_max_end)
        if self.weighting not in WEIGHTINGS:
            raise Get3dError(f"sds weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")

    def t_range(self, step: int, total_steps: int, T: int) -> tuple[int, int]:
        """-> (lowest, highest) integer timestep at this step, for a prior with T + 1 steps."""
        hi = self.t_max
        if self.t_max_end is not None:
            hi = self.t_max + (self.t_max_end - self.t_max) * step / total_steps
        return int(round(self.t_min * T)), max(int(round(hi * T)), int(round(self.t_min * T)))

    def _update(self, x, prior, cond, uncond, step, total_steps, generator):
        lo, hi = self.t_range(step, total_steps, self._steps(prior) - 1)
        batch = x.shape[0]
        t = (lo + (_rand((batch,), generator, x.device) * (hi - lo + 1)).floor().long()).clamp(lo, hi)
        abar = abar_at(prior.alphas_cumprod, t).float()
        eps = _randn_like(x, generator)
        x_t = abar.sqrt() * x + (1 - abar).sqrt() * eps
        eps_hat = self._guided(prior, x_t, t, cond, uncond, self.guidance_scale)
        weight = {"sds": 1 - abar, "uniform": torch.ones_like(abar), "sqrt": (1 - abar).sqrt()}[self.weighting]
        return weight * (eps_hat - eps), t, {}


@dataclass
class ISM(Rule):
    """Interval score matching. Defaults: LucidDreamer's released configs (see docs/distill.md)."""

    guidance_scale: float = 7.5
    t_min: float = 0.02
    t_max: float = 0.5  # upper end before warm-up; widens linearly to t_max_final over the warm-up
    t_max_final: float = 0.98
    warmup: float = 0.3  # fraction of the run (LucidDreamer: 1500 of 5000 iterations)
    delta_t_start: int = 100  # interval s -> t, annealed to delta_t over the warm-up
    delta_t: int = 80
    delta_s: int = 200  # inversion stride 0 -> s
    inversion_max_steps: int = 5
    lambda_ism: float = 0.1

    name = "ism"

    def _validate(self):
        _check_range("ism t range", self.t_min, self.t_max)
        _check_range("ism final t range", self.t_min, self.t_max_final)
        if not 0 <= self.warmup <= 1:
            raise Get3dError(f"ism warmup must be a fraction in [0, 1], got {self.warmup}")
        if min(self.delta_t, self.delta_t_start, self.delta_s, self.inversion_max_steps) < 1:
            raise Get3dError("ism delta_t, delta_t_start, delta_s and inversion_max_steps must be >= 1")

    def schedule(self, step: int, total_steps: int, T: int) -> tuple[int, int, int]:
        """-> (t_lo, t_hi, delta_t) at this step."""
        frac = 1.0 if self.warmup == 0 else min(1.0, step / (self.warmup * total_steps))
        hi = self.t_max + (self.t_max_final - self.t_max) * frac
        delta = int(round(self.delta_t_start + (self.delta_t - self.delta_t_start) * frac))
        lo = max(int(round(self.t_min * T)), delta)  # s = t - delta_t must not go below 0
        return lo, max(int(round(hi * T)), lo), delta

    def inversion_timesteps(self, s: int) -> list[int]:
        """-1 (clean) -> ... -> s in strides of delta_s, at most inversion_max_steps steps."""
        n = min(max(1, math.ceil(s / self.delta_s)), self.inversion_max_steps)
        return [-1] + [int(round(s * (i + 1) / n)) for i in range(n)]

    def _update(self, x, prior, cond, uncond, step, total_steps, generator):
        T = self._steps(prior) - 1
        lo, hi, delta = self.schedule(step, total_steps, T)
        batch = x.shape[0]
        # One t for the batch: the inversion chain is shared, as in LucidDreamer.
        t_val = int((lo + (_rand((1,), generator, x.device) * (hi - lo + 1)).floor().long()).clamp(lo, hi))
        s_val = t_val - delta
        steps = [torch.full((batch,), v, dtype=torch.long, device=x.device) for v in self.inversion_timesteps(s_val)]
        eps_u = lambda z, tt: self._eps(prior, z, tt, uncond)  # noqa: E731
        x_s, _ = invert(x, steps, eps_u, prior.alphas_cumprod)
        s = steps[-1]
        t = torch.full((batch,), t_val, dtype=torch.long, device=x.device)
        target = eps_u(x_s, s)
        x_t = ddim_step(x_s, target, abar_at(prior.alphas_cumprod, s), abar_at(prior.alphas_cumprod, t))
        eps_hat = self._guided(prior, x_t, t, cond, uncond, self.guidance_scale)
        abar_t = abar_at(prior.alphas_cumprod, t).float()
        weight = self.lambda_ism * ((1 - abar_t) / abar_t).sqrt()
        return weight * (eps_hat - target), t, {"s": s_val, "delta_t": delta}


@dataclass
class SDI(Rule):
    """Score distillation via inverted DDIM. Defaults: the SDI paper / threestudio's sdi configs."""

    guidance_scale: float = 7.5
    t_start: float = 0.98  # t annealed linearly from t_start T to t_end T over the run
    t_end: float = 0.25
    inversion_steps: int = 10
    inversion_guidance: float = -7.5
    inversion_eta: float = 0.3

    name = "sdi"

    def _validate(self):
        for name in ("t_start", "t_end"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise Get3dError(f"sdi {name} must be in (0, 1], got {getattr(self, name)}")
        if self.inversion_steps < 1:
            raise Get3dError(f"sdi inversion_steps must be >= 1, got {self.inversion_steps}")
        if not 0.0 <= self.inversion_eta <= 1.0:
            raise Get3dError(f"sdi inversion_eta must be in [0, 1], got {self.inversion_eta}")

    def timestep(self, step: int, total_steps: int, T: int) -> int:
        frac = step / total_steps
        return max(1, int(round((self.t_start + (self.t_end - self.t_start) * frac) * T)))

    def invert(self, x, prior, cond, uncond, t_val: int, generator=None):
        """x (clean) -> x_t by guided DDIM inversion in ``inversion_steps`` steps; with eta > 0
        each step mixes in fresh noise as a stochastic DDIM step does (sigma from eta)."""
        batch = x.shape[0]
        abars = prior.alphas_cumprod
        points = [-1] + [int(round(t_val * (i + 1) / self.inversion_steps)) for i in range(self.inversion_steps)]
        for a_val, b_val in zip(points[:-1], points[1:]):
            a = torch.full((batch,), a_val, dtype=torch.long, device=x.device)
            b = torch.full((batch,), b_val, dtype=torch.long, device=x.device)
            abar_a, abar_b = abar_at(abars, a).float(), abar_at(abars, b).float()
            eps = self._guided(prior, x, a.clamp(min=0), cond, uncond, self.inversion_guidance)
            x0_hat = predict_x0(x, eps, abar_a)
            sigma = self.inversion_eta * ((1 - abar_a) / (1 - abar_b) * (1 - abar_b / abar_a).abs()).sqrt()
            sigma = sigma.clamp(max=(1 - abar_b).sqrt())
            x = abar_b.sqrt() * x0_hat + (1 - abar_b - sigma ** 2).clamp(min=0).sqrt() * eps
            if self.inversion_eta > 0:
                x = x + sigma * _randn_like(x, generator)
        return x

    def _update(self, x, prior, cond, uncond, step, total_steps, generator):
        T = self._steps(prior) - 1
        t_val = self.timestep(step, total_steps, T)
        batch = x.shape[0]
        t = torch.full((batch,), t_val, dtype=torch.long, device=x.device)
        x_t = self.invert(x, prior, cond, uncond, t_val, generator)
        abar_t = abar_at(prior.alphas_cumprod, t).float()
        eps_hat = self._guided(prior, x_t, t, cond, uncond, self.guidance_scale)
        x0_hat = predict_x0(x_t, eps_hat, abar_t)
        noise = (x_t - abar_t.sqrt() * x) / (1 - abar_t).sqrt()
        return x - x0_hat, t, {"inferred_noise_std": float(noise.std())}


RULES = {"sds": SDS, "ism": ISM, "sdi": SDI}


def make_rule(name: str, **options) -> Rule:
    """A rule by name ('sds', 'ism', 'sdi') with options by keyword (see each class's fields)."""
    key = str(name).strip().lower()
    if key not in RULES:
        raise Get3dError(f"unknown distillation rule {name!r}; choose from {', '.join(RULES)}")
    kind = RULES[key]
    allowed = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise Get3dError(f"rule {key!r} has no option {unknown[0]!r}; options: {', '.join(sorted(allowed))}")
    return kind(**options)
