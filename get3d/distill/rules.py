"""The three score-distillation rules behind one interface: SDS, ISM and SDI, computed by default
exactly as their reference implementations do (checked against data made by those
implementations, ../shared/fixtures/distill-reference, in tests/distill/test_reference.py).

Every rule turns clean latents ``x`` [B,C,h,w] into an update ``g`` and a scalar loss whose
gradient with respect to ``x`` is ``c * g`` (the stop-gradient-target trick,
``loss = c * 0.5 * sum((x - stopgrad(x - g))^2)``), where ``c`` is the reference's loss scale:

    rule  reference                          g                       c (loss_scale="reference")
    SDS   threestudio StableDiffusionGuidance w(t) (eps_hat - noise)  1 / B
    ISM   LucidDreamer train_step             see below                1      (no division by B)
    SDI   threestudio SDI guidance (authors') x - x0_hat               1 / (B * numel(x))  (a mean)

``loss_scale="batch"`` gives ``c = 1 / B`` for every rule (get3d before issue 21).
:meth:`Rule.relative_scale` is ``c * B``: get3d refine multiplies its regularisers by it, so their
weights mean the same for every rule (docs/refine.md).

Timesteps are integers indexing ``prior.alphas_cumprod`` ([T], T = 1000 for Stable Diffusion);
fractions of T are truncated as the references do (``int(T * 0.98)`` = 980).

SDS (DreamFusion; threestudio): ``t ~ U{int(T t_min), ..., int(T t_max)}`` per item, ``x_t =
sqrt(abar_t) x + sqrt(1 - abar_t) noise``, ``g = w(t) (eps_hat(x_t, t) - noise)``.

ISM (LucidDreamer): index ``i_t`` for the whole batch, timestep ``t = i_t + steps_offset``; the
warm-up rate ``r = 1 - min((step + 1) / (warmup T_run), 1)`` narrows the index range from
``[int(T t_min), int(T t_max) + int(T (t_max_warmup - t_max)) - 1]`` to ``[.., int(T t_max) - 1]`` and
anneals ``delta = int(delta_t + r (delta_t_start - delta_t))``; ``i_s = max(i_t - delta, 0)``.
The latents noised to timestep ``steps_offset`` (LucidDreamer's noise, with its per-channel offset)
are DDIM-inverted with the empty prompt in index strides of ``delta_s`` up to ``s``, one more
step ``s -> t`` gives ``x_t``; ``target = eps_empty(x_s, s)``,
``g = lambda sqrt((1 - abar_t) / abar_t) (eps_hat(x_t, t) - target)``.

SDI (Lukoianov et al.; the authors' threestudio module): ``t = int(T ((t_start - t_end)(1 - p) + t_end))``
at progress ``p = step / total_steps``; guided DDIM inversion (scale ``inversion_guidance``) of
``x`` along the "leading" grid ``{k T/n + steps_offset} < t``, preceded by ``steps_offset - T/n``
(a negative timestep, the clean start with alpha-bar ``abar[0]``) and ended at ``L = min(t + delta,
T - 1)``, ``delta = floor(u T / n)``, u ~ U[0, 1); each step adds ``eta sigma_k noise_k`` on top;
``x0_hat = (x_L - sqrt(1 - abar_t) eps_hat(x_L, t)) / sqrt(abar_t)``, ``g = x - x0_hat``.

Guidance: ``guidance_form="cond"`` is ``eps_c + s (eps_c - eps_u)`` (threestudio: SDS, SDI),
``"uncond"`` is ``eps_u + s (eps_c - eps_u)`` (LucidDreamer: ISM). With ``perp_neg`` (a
:class:`~get3d.distill.perpneg.PerpNeg`) every guided call uses Perp-Neg instead.

Explicit randomness: ``rule.draw(...)`` returns every random value of one step as a dataclass
(:class:`SDSDraws`, :class:`ISMDraws`, :class:`SDIDraws`); ``rule.loss(..., draws=...)`` uses
given values instead of drawing them, so a caller (or a test) controls the timestep(s), the
forward noise, ISM's noise and SDI's per-step inversion noise and overshoot.

After each call ``rule.last`` holds ``t`` (list of ints), ``grad_norm`` (norm of g),
``unet_calls`` (predict_noise calls) and rule-specific values. Options, defaults, sources and the
measured effect of every departure from the references: docs/distill.md.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F

from get3d.distill.ddim import abar_at, ddim_step, invert, predict_x0
from get3d.distill.options import ISMOptions, SDIOptions, SDSOptions
from get3d.distill.perpneg import PerpNeg, perp_neg_combine
from get3d.distill.prior import check_latents, check_prior, expand_embeddings
from get3d.errors import Get3dError

__all__ = ["RULES", "NonFiniteUpdate", "Rule", "SDS", "ISM", "SDI", "SDSDraws", "ISMDraws", "SDIDraws",
           "make_rule"]


class NonFiniteUpdate(Get3dError):
    """The prior's prediction was NaN/Inf at this step: callers skip the step and count it."""


@dataclass
class SDSDraws:
    """SDS's random values: ``t`` [B] long timesteps, ``noise`` [B,C,h,w] the forward noise."""

    t: torch.Tensor
    noise: torch.Tensor


@dataclass
class ISMDraws:
    """ISM's random values: ``t`` the timestep of the batch (index + steps_offset), ``noise``
    [B,C,h,w] the noise of the inversion's start (LucidDreamer: N(0,I) + 0.1 N(0,I) per channel)."""

    t: int
    noise: torch.Tensor


@dataclass
class SDIDraws:
    """SDI's random values: ``t`` the timestep (the schedule's, normally), ``delta_t`` the overshoot
    of the inversion's end point, ``inversion_noise`` [K,B,C,h,w] the standard normal added (times
    eta sigma_k) at inversion step k (None when eta is 0)."""

    t: int
    delta_t: int = 0
    inversion_noise: Optional[torch.Tensor] = None


def _rand(shape, generator: Optional[torch.Generator], device):
    """Uniform [0,1) draws from ``generator`` (on its own device), moved to ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def _randn(shape, generator: Optional[torch.Generator], device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32).to(device)


def _dtype(prior):
    return getattr(prior, "dtype", torch.float32)


def _check_range(name: str, lo: float, hi: float) -> None:
    if not 0.0 <= lo <= hi <= 1.0:
        raise Get3dError(f"{name} must satisfy 0 <= min <= max <= 1, got ({lo}, {hi})")


def _full(batch: int, value: int, device) -> torch.Tensor:
    return torch.full((batch,), int(value), dtype=torch.long, device=device)


class Rule:
    """Shared plumbing: input checks, guided noise prediction, loss scale, logging. The rules are
    dataclasses whose fields are their options (get3d.distill.options)."""

    name = "rule"

    def __post_init__(self):
        self.last: dict = {}
        self._calls = 0
        self._validate_common()
        self._validate()

    def options(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _validate_common(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices") if f.metadata else None
            if choices and getattr(self, f.name) not in choices:
                raise Get3dError(f"{self.name} {f.name} must be one of {', '.join(choices)}, "
                                 f"got {getattr(self, f.name)!r}")

    def _validate(self) -> None:
        pass

    # -- the public API
    def draw(self, shape, step: int, total_steps: int, prior, generator: Optional[torch.Generator] = None,
             device=None):
        """This step's random values for latents of ``shape`` (see the Draws dataclasses)."""
        raise NotImplementedError

    def scale(self, shape) -> float:
        """c: d loss / d latents = c * g for latents of ``shape`` [B,C,h,w]."""
        batch = int(shape[0])
        if self.loss_scale == "batch":
            return 1.0 / batch
        return self._reference_scale(shape)

    def relative_scale(self, shape) -> float:
        """c * B: the rule's loss scale relative to SDS's ``g / B`` (refine scales its regularisers by it)."""
        return self.scale(shape) * int(shape[0])

    def loss(self, latents: torch.Tensor, prior, cond: torch.Tensor, uncond: torch.Tensor, step: int,
             total_steps: int, generator: Optional[torch.Generator] = None, *, draws=None,
             inverse: Optional[torch.Tensor] = None, perp_neg: Optional[PerpNeg] = None) -> torch.Tensor:
        """latents [B,C,h,w] (differentiable), cond/uncond embeddings [1 or B, ...] -> scalar whose
        gradient is ``scale * g``. ``draws``: this step's random values (default: drawn from
        ``generator``); ``inverse``: ISM's inversion prompt embedding (default: the prior's
        embedding of ''); ``perp_neg``: Perp-Neg negatives and weights for every guided call."""
        update, target = self._run(latents, prior, cond, uncond, step, total_steps, generator, draws, inverse, perp_neg)
        # In float32 whatever the latents' dtype: a float16 prior (Stable Diffusion on CUDA) encodes to
        # float16 latents, whose sum of squares overflows to inf at 64x64, and a float16 target would
        # round g to the latents' precision. The gradient comes back to the latents in their dtype.
        diff = F.mse_loss(latents.float(), target.float().detach(), reduction="sum")
        return 0.5 * diff * self.scale(latents.shape)

    def update(self, latents: torch.Tensor, prior, cond: torch.Tensor, uncond: torch.Tensor, step: int,
               total_steps: int, generator: Optional[torch.Generator] = None, *, draws=None,
               inverse: Optional[torch.Tensor] = None, perp_neg: Optional[PerpNeg] = None) -> torch.Tensor:
        """The update g [B,C,h,w] (float32, detached) for the same arguments as :meth:`loss`."""
        return self._run(latents, prior, cond, uncond, step, total_steps, generator, draws, inverse, perp_neg)[0]

    def _run(self, latents, prior, cond, uncond, step, total_steps, generator, draws, inverse, perp_neg):
        check_prior(prior)
        check_latents(latents)
        if total_steps < 1 or not 0 <= step <= total_steps:
            raise Get3dError(f"step must be in [0, total_steps] with total_steps >= 1, got {step} of {total_steps}")
        batch = latents.shape[0]
        cond = expand_embeddings(cond, batch, "cond")
        uncond = expand_embeddings(uncond, batch, "uncond")
        if perp_neg is not None:
            if not isinstance(perp_neg, PerpNeg):
                raise Get3dError(f"perp_neg must be a get3d.distill.perpneg.PerpNeg, got {type(perp_neg).__name__}")
            perp_neg = perp_neg.expand(batch)
        if draws is None:
            draws = self.draw(latents.shape, step, total_steps, prior, generator, latents.device)
        self._calls = 0
        x = latents.detach().float()
        update, target, t, extra = self._update(x, prior, cond, uncond, step, total_steps, draws, inverse, perp_neg)
        self.last = {"t": [int(v) for v in t.tolist()], "grad_norm": float(update.norm()), "unet_calls": self._calls,
                     **extra}
        if not bool(torch.isfinite(update).all()):
            raise NonFiniteUpdate(f"{self.name}: the prior's noise prediction is not finite (NaN/Inf) at t={self.last['t']}")
        return update, target

    # -- helpers
    def _predict(self, prior, x, t, emb):
        self._calls += 1
        return prior.predict_noise(x.to(_dtype(prior)), t, emb).float()

    def _guided(self, prior, x, t, cond, uncond, scale: float, perp_neg: Optional[PerpNeg] = None,
                uncond_first: bool = False):
        """One batched UNet call -> the guided prediction in this rule's guidance form (or Perp-Neg)."""
        batch = x.shape[0]
        if perp_neg is not None:
            k = perp_neg.negatives.shape[1]
            negatives = perp_neg.negatives.reshape(batch * k, *perp_neg.negatives.shape[2:])
            out = self._predict(prior, torch.cat([x, x, x.repeat_interleave(k, 0)]),
                                torch.cat([t, t, t.repeat_interleave(k)]),
                                torch.cat([cond, uncond, negatives.to(cond.dtype)]))
            eps_c, eps_u, eps_n = out[:batch], out[batch:2 * batch], out[2 * batch:]
            return perp_neg_combine(eps_c, eps_u, eps_n.view(batch, k, *x.shape[1:]), perp_neg.weights, scale)
        if uncond_first:  # LucidDreamer's row order (rounding only)
            eps_u, eps_c = self._predict(prior, torch.cat([x, x]), torch.cat([t, t]), torch.cat([uncond, cond])).chunk(2)
        else:  # threestudio's
            eps_c, eps_u = self._predict(prior, torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond])).chunk(2)
        if self.guidance_form == "cond":
            return eps_c + scale * (eps_c - eps_u)
        return eps_u + scale * (eps_c - eps_u)

    @staticmethod
    def _steps(prior) -> int:
        return int(prior.alphas_cumprod.shape[0])

    def _reference_scale(self, shape) -> float:
        raise NotImplementedError

    def _update(self, x, prior, cond, uncond, step, total_steps, draws, inverse, perp_neg):
        """-> (g, target = x - g (or the reference's own target), t [B], extra diagnostics)."""
        raise NotImplementedError


@dataclass
class SDS(SDSOptions, Rule):
    """Score distillation sampling as threestudio computes it (defaults: DreamFusion / threestudio)."""

    name = "sds"

    def _validate(self):
        _check_range("sds t range", self.t_min, self.t_max)
        if self.t_max_end is not None:
            _check_range("sds t_max_end", self.t_min, self.t_max_end)

    def t_range(self, step: int, total_steps: int, T: int) -> tuple[int, int]:
        """-> (lowest, highest) timestep, both drawn, at this step for a prior with T timesteps."""
        hi = self.t_max
        if self.t_max_end is not None:
            hi = self.t_max + (self.t_max_end - self.t_max) * step / total_steps
        lo = int(T * self.t_min)
        return lo, min(max(int(T * hi), lo), T - 1)

    def draw(self, shape, step, total_steps, prior, generator=None, device=None) -> SDSDraws:
        lo, hi = self.t_range(step, total_steps, self._steps(prior))
        device = device or prior.alphas_cumprod.device
        t = (lo + (_rand((shape[0],), generator, device) * (hi - lo + 1)).floor().long()).clamp(lo, hi)
        return SDSDraws(t, _randn(tuple(shape), generator, device))

    def _reference_scale(self, shape):
        return 1.0 / int(shape[0])

    def _update(self, x, prior, cond, uncond, step, total_steps, draws, inverse, perp_neg):
        if not isinstance(draws, SDSDraws):
            raise Get3dError(f"sds draws must be SDSDraws, got {type(draws).__name__}")
        t = draws.t.to(x.device).long().reshape(-1)
        if t.shape[0] != x.shape[0] or draws.noise.shape != x.shape:
            raise Get3dError(f"sds draws: t must be [B] and noise {tuple(x.shape)}, got {tuple(draws.t.shape)} "
                             f"and {tuple(draws.noise.shape)}")
        noise = draws.noise.to(x)
        abar = abar_at(prior.alphas_cumprod, t).float()
        x_t = abar.sqrt() * x + (1 - abar).sqrt() * noise
        eps_hat = self._guided(prior, x_t, t, cond, uncond, self.guidance_scale, perp_neg)
        weight = {"sds": 1 - abar, "uniform": torch.ones_like(abar), "sqrt": (1 - abar).sqrt()}[self.weighting]
        update = weight * (eps_hat - noise)
        return update, x - update, t, {}


@dataclass
class ISM(ISMOptions, Rule):
    """Interval score matching as LucidDreamer computes it (defaults: its released configs)."""

    name = "ism"

    def _validate(self):
        _check_range("ism t range", self.t_min, self.t_max)
        _check_range("ism warm-up t range", self.t_max, self.t_max_warmup)
        if not 0 <= self.warmup <= 1:
            raise Get3dError(f"ism warmup must be a fraction in [0, 1], got {self.warmup}")
        if min(self.delta_t, self.delta_t_start, self.delta_s, self.inversion_max_steps) < 1:
            raise Get3dError("ism delta_t, delta_t_start, delta_s and inversion_max_steps must be >= 1")
        if self.steps_offset < 0:
            raise Get3dError(f"ism steps_offset must be >= 0, got {self.steps_offset}")

    def warm_up_rate(self, step: int, total_steps: int) -> float:
        """LucidDreamer's ``1 - min(iteration / warmup_iter, 1)`` with iteration = step + 1."""
        warmup_iter = self.warmup * total_steps
        return 0.0 if warmup_iter <= 0 else 1.0 - min((step + 1) / warmup_iter, 1.0)

    def schedule(self, step: int, total_steps: int, T: int) -> tuple[int, int, int]:
        """-> (t_lo, t_hi, delta): the inclusive timestep range drawn at this step and the interval."""
        if self.warmup_mode == "widen":  # get3d before issue 21: starts narrow, widens over the warm-up
            frac = 1.0 if self.warmup == 0 else min(1.0, step / (self.warmup * total_steps))
            hi = self.t_max + (self.t_max_warmup - self.t_max) * frac
            delta = int(round(self.delta_t_start + (self.delta_t - self.delta_t_start) * frac))
            lo = max(int(round(self.t_min * (T - 1))), delta)
            return lo, max(int(round(hi * (T - 1))), lo), delta
        r = self.warm_up_rate(step, total_steps)
        delta = int(self.delta_t + r * (self.delta_t_start - self.delta_t))
        ind_lo = int(T * self.t_min)
        ind_hi = int(T * self.t_max) + int(int(T * (self.t_max_warmup - self.t_max)) * r) - 1
        ind_hi = min(max(ind_hi, ind_lo), T - 1 - self.steps_offset)
        return ind_lo + self.steps_offset, ind_hi + self.steps_offset, delta

    def draw(self, shape, step, total_steps, prior, generator=None, device=None) -> ISMDraws:
        lo, hi, _ = self.schedule(step, total_steps, self._steps(prior))
        device = device or prior.alphas_cumprod.device
        t = int(lo + (_rand((1,), generator, device) * (hi - lo + 1)).floor().long().clamp(0, hi - lo))
        noise = _randn(tuple(shape), generator, device)
        if self.noise_offset:
            noise = noise + self.noise_offset * _randn((1, shape[1], 1, 1), generator, device)
        return ISMDraws(t, noise)

    def interval(self, t: int, delta: int) -> int:
        """-> s for timestep t and interval delta (LucidDreamer: index max(i_t - delta, 0))."""
        if self.warmup_mode == "widen":
            return max(t - delta, 0)
        return max(t - self.steps_offset - delta, 0) + self.steps_offset

    def inversion_timesteps(self, s: int) -> list[int]:
        """The states of the inversion 0 -> s: ``stride``: timesteps ``i + steps_offset`` of the
        indices start, start + delta_s, ..., s (start = max(i_s - delta_s * steps, 0));
        ``even``: -1 (the clean latents), then evenly spaced up to s."""
        if self.inversion == "even":
            n = min(max(1, math.ceil(s / self.delta_s)), self.inversion_max_steps)
            return [-1] + [int(round(s * (i + 1) / n)) for i in range(n)]
        ind_s = max(s - self.steps_offset, 0)
        cur = max(ind_s - self.delta_s * self.inversion_max_steps, 0)
        indices = [cur]
        for _ in range(self.inversion_max_steps):
            cur = min(cur + self.delta_s, ind_s)
            indices.append(cur)
            if cur == ind_s:
                break
        return [i + self.steps_offset for i in indices]

    def _reference_scale(self, shape):
        return 1.0

    def _update(self, x, prior, cond, uncond, step, total_steps, draws, inverse, perp_neg):
        if not isinstance(draws, ISMDraws):
            raise Get3dError(f"ism draws must be ISMDraws, got {type(draws).__name__}")
        if draws.noise.shape != x.shape:
            raise Get3dError(f"ism draws: noise must be {tuple(x.shape)}, got {tuple(draws.noise.shape)}")
        batch, abars = x.shape[0], prior.alphas_cumprod
        _, _, delta = self.schedule(step, total_steps, self._steps(prior))
        t_val = int(draws.t)
        if not 0 <= t_val < self._steps(prior):
            raise Get3dError(f"ism draws: t must be a timestep in [0, {self._steps(prior)}), got {t_val}")
        s_val = self.interval(t_val, delta)
        if self.inversion_prompt == "empty":
            emb = prior.embed_text([""]) if inverse is None else inverse
            emb = expand_embeddings(emb.to(cond.device), batch, "inverse")
        else:
            emb = uncond
        eps_fn = lambda z, tt: self._predict(prior, z, tt, emb)  # noqa: E731
        points = self.inversion_timesteps(s_val)
        if self.inversion == "even":
            steps = [_full(batch, v, x.device) for v in points]
            x_s, _ = invert(x, steps, eps_fn, abars)
        else:
            start = _full(batch, points[0], x.device)
            abar0 = abar_at(abars, start).float()
            x_s = abar0.sqrt() * x + (1 - abar0).sqrt() * draws.noise.to(x)
            for a_val, b_val in zip(points[:-1], points[1:]):
                a, b = _full(batch, a_val, x.device), _full(batch, b_val, x.device)
                x_s = ddim_step(x_s, eps_fn(x_s, a), abar_at(abars, a).float(), abar_at(abars, b).float())
        s = _full(batch, s_val, x.device)
        t = _full(batch, t_val, x.device)
        target = eps_fn(x_s, s)
        x_t = ddim_step(x_s, target, abar_at(abars, s).float(), abar_at(abars, t).float())
        eps_hat = self._guided(prior, x_t, t, cond, uncond, self.guidance_scale, perp_neg, uncond_first=True)
        abar_t = abar_at(abars, t).float()
        update = self.lambda_ism * ((1 - abar_t) / abar_t).sqrt() * (eps_hat - target)
        return update, x - update, t, {"s": s_val, "delta_t": delta, "inversion_timesteps": points}


@dataclass
class SDI(SDIOptions, Rule):
    """Score distillation via inverted DDIM as the SDI authors compute it (their threestudio module)."""

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
        """threestudio's ``update_step`` with t_anneal: ``int(T ((t_start - t_end)(1 - p) + t_end))``."""
        progress = float(step) / total_steps
        return max(1, min(int(T * ((self.t_start - self.t_end) * (1 - progress) + self.t_end)), T - 1))

    def end_point(self, t: int, delta_t: int, T: int) -> int:
        return min(t + delta_t, T - 1) if self.inversion_end == "overshoot" else t

    def inversion_timesteps(self, t: int, delta_t: int, T: int) -> list[int]:
        """tau_0 .. tau_K: ``leading``: steps_offset - T/n, then the grid {k T/n + steps_offset} below
        t, then the end point; ``uniform``: -1 (clean), then n steps evenly spaced to the end point."""
        end = self.end_point(t, delta_t, T)
        n = self.inversion_steps
        if self.inversion == "uniform":
            return [-1] + [int(round(end * (i + 1) / n)) for i in range(n)]
        ratio = T // n
        grid = [k * ratio + self.steps_offset for k in range(n)]
        grid = [g for g in grid if g < t]
        first = (grid[0] if grid else self.steps_offset) - ratio
        return [first] + grid + [end]

    def draw(self, shape, step, total_steps, prior, generator=None, device=None) -> SDIDraws:
        T = self._steps(prior)
        device = device or prior.alphas_cumprod.device
        t = self.timestep(step, total_steps, T)
        delta = 0
        if self.inversion_end == "overshoot":
            u = float(_rand((1,), generator, device))
            delta = int(u * T // self.inversion_steps)
        noise = None
        if self.inversion_eta > 0:
            k = len(self.inversion_timesteps(t, delta, T)) - 1
            noise = _randn((k, *shape), generator, device)
        return SDIDraws(t, delta, noise)

    def _reference_scale(self, shape):
        return 1.0 / (int(shape[0]) * math.prod(int(v) for v in shape))

    def _abar_point(self, abars, tau: int) -> torch.Tensor:
        """Alpha-bar of an inversion state: the table's, or for the start (tau < 0) abar[0] (the
        authors' initial_alpha_cumprod) on the leading grid and 1 (clean) on the uniform one."""
        if tau >= 0:
            return abars[tau].float()
        return abars[0].float() if self.inversion == "leading" else torch.ones((), device=abars.device)

    def invert(self, x, prior, cond, uncond, timesteps: List[int], noise: Optional[torch.Tensor] = None,
               perp_neg: Optional[PerpNeg] = None) -> torch.Tensor:
        """x [B,C,h,w] -> the state at ``timesteps[-1]`` by guided DDIM inversion along ``timesteps``
        (see the module docstring), with ``noise`` [K,B,C,h,w] the per-step standard normals."""
        batch, abars = x.shape[0], prior.alphas_cumprod
        if self.inversion_eta > 0 and (noise is None or noise.shape[0] != len(timesteps) - 1
                                       or noise.shape[1:] != x.shape):
            raise Get3dError(f"sdi draws: inversion_noise must be [{len(timesteps) - 1}, {', '.join(map(str, x.shape))}] "
                             f"for the inversion timesteps {timesteps}, got "
                             f"{None if noise is None else tuple(noise.shape)}")
        clamp = self.negative_timestep == "clamp" or self.inversion == "uniform"
        for k, (a_val, b_val) in enumerate(zip(timesteps[:-1], timesteps[1:])):
            unet_t = _full(batch, max(a_val, 0) if clamp else a_val, x.device)
            eps = self._guided(prior, x, unet_t, cond, uncond, self.inversion_guidance, perp_neg)
            a, b = self._abar_point(abars, a_val), abars[b_val].float()
            x0_hat = (x - (1 - a).sqrt() * eps) / a.sqrt()
            if self.eta_mode == "added":  # the authors': the DDIM step, then eta sigma noise on top
                x = b.sqrt() * x0_hat + (1 - b).sqrt() * eps
                sigma = ((1 - a) / (1 - b) * (1 - b / a)).sqrt()
                if self.inversion_eta > 0:
                    x = x + self.inversion_eta * noise[k].to(x) * sigma
            else:  # "nominal" (get3d before issue 21): total variance kept at 1 - b
                sigma = self.inversion_eta * ((1 - a) / (1 - b) * (1 - b / a).abs()).sqrt()
                sigma = sigma.clamp(max=float((1 - b).sqrt()))
                x = b.sqrt() * x0_hat + (1 - b - sigma ** 2).clamp(min=0).sqrt() * eps
                if self.inversion_eta > 0:
                    x = x + sigma * noise[k].to(x)
        return x

    def _update(self, x, prior, cond, uncond, step, total_steps, draws, inverse, perp_neg):
        if not isinstance(draws, SDIDraws):
            raise Get3dError(f"sdi draws must be SDIDraws, got {type(draws).__name__}")
        T = self._steps(prior)
        t_val = int(draws.t)
        if not 1 <= t_val < T:
            raise Get3dError(f"sdi draws: t must be a timestep in [1, {T}), got {t_val}")
        batch = x.shape[0]
        points = self.inversion_timesteps(t_val, int(draws.delta_t), T)
        x_last = self.invert(x, prior, cond, uncond, points, draws.inversion_noise, perp_neg)
        t = _full(batch, t_val, x.device)
        eps_hat = self._guided(prior, x_last, t, cond, uncond, self.guidance_scale, perp_neg)
        x0_hat = predict_x0(x_last, eps_hat, abar_at(prior.alphas_cumprod, t).float())
        abar_end = prior.alphas_cumprod[points[-1]].float()
        noise = (x_last - abar_end.sqrt() * x) / (1 - abar_end).sqrt()
        return x - x0_hat, x0_hat, t, {"inversion_timesteps": points, "end": points[-1],
                                       "delta_t": int(draws.delta_t), "inferred_noise_std": float(noise.std())}


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
