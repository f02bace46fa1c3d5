"""One GET3D training step (Gmain, Dmain, lazy Dreg, EMA) and the networks it updates.

Shared by the training loop and bench/train.py, so the benchmark times exactly what training runs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from get3d.config import Config
from get3d.training import distributed as du
from get3d.training.loss import Get3dLoss, lazy_adam_params

__all__ = ["StepOutcome", "StepRunner", "TrainState", "build_state", "ema_beta", "step_generator", "update_ema"]


@dataclass
class TrainState:
    """Networks and optimizers of a run (G_ema is never optimised)."""

    G: torch.nn.Module
    G_ema: torch.nn.Module
    D_rgb: torch.nn.Module
    D_mask: torch.nn.Module
    opt: dict  # "G", "D_rgb", "D_mask" -> torch.optim.Adam

    def modules(self) -> dict:
        return {"G": self.G, "G_ema": self.G_ema, "D_rgb": self.D_rgb, "D_mask": self.D_mask}


def build_state(cfg: Config, device: torch.device) -> TrainState:
    """Fresh networks (seeded by cfg.train.seed, identical on every rank) and their Adams.

    The discriminators' lr and betas are rescaled for lazy R1 (see loss.lazy_adam_params), and
    G's likewise when ``train.g_reg_interval`` is set: GET3D passes ``G_reg_interval=4`` to its
    training loop, which rescales G's Adam to lr * 0.8 and beta2 ** 0.8 although no G
    regulariser ever runs (``pl_weight=0``).
    """
    from get3d.networks import Generator, build_discriminators

    torch.manual_seed(cfg.train.seed)
    G = Generator(cfg.model).to(device).train()
    D_rgb, D_mask = (d.to(device).train() for d in build_discriminators(cfg.model))
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    t = cfg.train
    d_lr, d_betas = lazy_adam_params(t.lr_d, tuple(t.betas), t.r1_interval)
    g_lr, g_betas = lazy_adam_params(t.lr_g, tuple(t.betas), t.g_reg_interval or 0)
    opt = {
        "G": torch.optim.Adam(G.parameters(), lr=g_lr, betas=g_betas, eps=1e-8),
        "D_rgb": torch.optim.Adam(D_rgb.parameters(), lr=d_lr, betas=d_betas, eps=1e-8),
        "D_mask": torch.optim.Adam(D_mask.parameters(), lr=d_lr, betas=d_betas, eps=1e-8),
    }
    return TrainState(G, G_ema, D_rgb, D_mask, opt)


def ema_beta(images_seen: int, batch: int, ema_kimg: Optional[float], ema_rampup: Optional[float]) -> float:
    """StyleGAN2's EMA decay per step: half-life ``ema_kimg`` thousand images (None: GET3D's
    ``batch * 10 / 32``), shortened to ``images_seen * ema_rampup`` early in training so G_ema
    does not lag the random init."""
    ema_nimg = (batch * 10 / 32 if ema_kimg is None else ema_kimg) * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, images_seen * ema_rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """Parameters: ``ema = p + beta * (ema - p)``; buffers (w_avg, noise) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU RNG for one rank's step: independent of everything before it (exact resume)."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def _apply_speed_options(state: TrainState, cfg: Config, device: torch.device) -> dict:
    """channels_last / torch.compile on the conv-heavy parts. Returns the Get3dLoss kwargs.

    ``Module.compile()`` compiles in place, so state_dict keys (and snapshots) are unchanged;
    R1 calls the modules' plain ``forward`` because compiled graphs do not support the double
    backward R1 needs.
    """
    t = cfg.train
    kwargs = {"channels_last": t.channels_last}
    if t.mixed_precision and device.type == "cuda":
        # bf16 needs no loss scaling; the MLP heads, marching tets and rasterization stay float32.
        kwargs["autocast"] = torch.bfloat16
    if t.channels_last:
        for d in (state.D_rgb, state.D_mask):
            d.to(memory_format=torch.channels_last)
    if t.compile:
        for d in (state.D_rgb, state.D_mask):
            d.compile()
        state.G.generator.tri_plane_synthesis.compile()
        kwargs["D_rgb_reg"] = state.D_rgb.forward
        kwargs["D_mask_reg"] = state.D_mask.forward
    return kwargs


# ------------------------------------------------------------------------------ one phase
def _finite_grads(params) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    return bool(torch.isfinite(torch.stack([g.float().sum() for g in grads])).all())


def _run_phase(loss: torch.Tensor, params: list, optimizers: list, env: du.DistEnv) -> bool:
    """Backward, average gradients over ranks, step the optimizers; False (no update, grads
    zeroed) when the loss or any gradient is non-finite on any rank."""
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    local_bad = not bool(torch.isfinite(loss.detach()))
    if not local_bad:
        loss.backward()
    du.average_gradients(params, env)
    bad = du.all_reduce_flag(local_bad or not _finite_grads(params), env)
    if bad:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        return False
    for opt in optimizers:
        opt.step()
    return True




@dataclass
class StepOutcome:
    """ok: every phase updated; bad_phase: 'G', 'D' or 'R1' when a non-finite value stopped the
    step (that phase and the later ones did not update); stats: scalars to log."""

    ok: bool
    bad_phase: Optional[str] = None
    stats: dict = field(default_factory=dict)


class StepRunner:
    """Runs training steps on a TrainState (one rank's share of each batch).

    Each step: Gmain (G's Adam), Dmain (both D Adams), Dreg when ``step % r1_interval == 0``,
    then the EMA update. A non-finite loss or gradient (on any rank) skips the phase's update and
    the rest of the step, and restores the mappings' ``w_avg`` to its value before the step.
    """

    def __init__(self, state: TrainState, cfg: Config, env: du.DistEnv, per_rank_batch: int):
        self.state, self.cfg, self.env, self.batch = state, cfg, env, per_rank_batch
        self.loss = Get3dLoss(state.G, state.D_rgb, state.D_mask, cfg.train, cfg.data, env.device,
                              **_apply_speed_options(state, cfg, env.device))
        self.G_params = list(state.G.parameters())
        self.D_params = list(state.D_rgb.parameters()) + list(state.D_mask.parameters())
        self.D_opts = [state.opt["D_rgb"], state.opt["D_mask"]]
        self.w_avg = [b for name, b in state.G.named_buffers() if name.endswith("w_avg")]

    def __call__(self, real_rgb: torch.Tensor, real_mask: torch.Tensor, real_labels: torch.Tensor, step: int,
                 images_seen_after: int) -> StepOutcome:
        """real_rgb [b,3,H,W], real_mask [b,1,H,W] in [0,1], real_labels [b,2] degrees, on the device;
        ``step`` is this step's 0-based index, ``images_seen_after`` the total once it is done."""
        t, st, env, loss_fn = self.cfg.train, self.state, self.env, self.loss
        rng = step_generator(t.seed, env.rank, step)
        saved_w_avg = [b.clone() for b in self.w_avg]

        # Gmain: the discriminators are frozen so no time is spent on their weight gradients.
        _set_requires_grad(st.D_rgb, False)
        _set_requires_grad(st.D_mask, False)
        try:
            loss, stats = loss_fn.generator_loss(loss_fn.sample_fake(self.batch, self.cfg.model.z_dim, rng))
            ok = _run_phase(loss, self.G_params, [st.opt["G"]], env)
        finally:
            _set_requires_grad(st.D_rgb, True)
            _set_requires_grad(st.D_mask, True)
        if t.w_avg_phase == "G":
            du.average_buffers(self.w_avg, env)
        bad_phase = None if ok else "G"
        if ok:
            fake = loss_fn.sample_fake(self.batch, self.cfg.model.z_dim, rng)
            loss, more = loss_fn.discriminator_loss(fake, real_rgb, real_mask, real_labels)
            if t.w_avg_phase == "D":
                du.average_buffers(self.w_avg, env)
            stats.update(more)
            ok = _run_phase(loss, self.D_params, self.D_opts, env)
            bad_phase = None if ok else "D"
        if ok and step % t.r1_interval == 0:
            loss, more = loss_fn.r1_loss(real_rgb, real_mask, real_labels, t.r1_interval)
            stats.update(more)
            ok = _run_phase(loss, self.D_params, self.D_opts, env)
            bad_phase = None if ok else "R1"
        if ok:
            update_ema(st.G_ema, st.G, ema_beta(images_seen_after, t.batch, t.ema_kimg, t.ema_rampup))
        else:
            # A diverging mapping must not leave NaN in the tracked mean w either.
            for buf, old in zip(self.w_avg, saved_w_avg):
                buf.copy_(old)
        return StepOutcome(ok, bad_phase, stats)
