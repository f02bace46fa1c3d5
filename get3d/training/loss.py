"""GET3D's adversarial objective: non-saturating logistic loss, lazy R1, SDF regulariser.

Two discriminators judge every image: ``D_rgb`` sees the colour, ``D_mask`` the silhouette,
both conditioned on the camera ``[B,2] = (rotation, elevation)`` in degrees and fed RGB mapped
from [0,1] to [-1,1] (``x * 2 - 1``); masks are mapped the same way with ``mask_range='signed'``
or enter as they are, in [0,1], with ``'unit'`` (GET3D). Per training step (StyleGAN2's phase order):

- ``Gmain``: ``softplus(-D_rgb(fake)) + softplus(-D_mask(fake)) + sdf_reg_weight * sdf_entropy
  + empty_loss_weight * empty_loss`` (``empty_loss_weight`` None = ``sdf_reg_weight``; GET3D 1),
  and in FlexiCubes mode ``+ flexicubes_surface_reg * mean(L_dev) + flexicubes_weights_reg *
  mean(weights^2)`` (GET3D 0.5 and 0.1)
- ``Dmain``: ``softplus(D(fake)) + softplus(-D(real))`` for each discriminator
- ``Dreg`` (every ``r1_interval`` steps, "lazy" regularisation): ``gamma / 2 * R1 * interval``
  with R1 the squared gradient norm of D's logits w.r.t. the real image; the mask
  discriminator uses ``r1_gamma_mask`` (default: ``r1_gamma``).

Lazy regularisation changes the effective update rate of the discriminators, so their Adam
lr and betas are rescaled by ``c = interval / (interval + 1)`` (:func:`lazy_adam_params`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from get3d.config import DataConfig, TrainConfig
from get3d.errors import Get3dError
from get3d.render import Cameras

__all__ = [
    "FakeBatch",
    "Get3dLoss",
    "camera_labels",
    "d_logistic",
    "g_nonsaturating",
    "lazy_adam_params",
    "r1_penalty",
    "to_d_input",
]


def to_d_input(img: torch.Tensor) -> torch.Tensor:
    """Images in [0,1] -> the discriminators' [-1,1] range (same map for rgb and mask)."""
    return img * 2 - 1


def camera_labels(cameras: Cameras) -> torch.Tensor:
    """Cameras -> the discriminators' condition [B,2] = (rotation, elevation) in degrees."""
    return torch.stack([cameras.rotation, cameras.elevation], dim=1)


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """[B,1] logits of fakes -> [B] generator loss ``softplus(-l)`` (= -log sigmoid(l))."""
    return F.softplus(-fake_logits).flatten()


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """[B,1] logits of reals and fakes -> [B] discriminator loss ``softplus(l_f) + softplus(-l_r)``."""
    return F.softplus(fake_logits).flatten() + F.softplus(-real_logits).flatten()


def r1_penalty(D: torch.nn.Module, real_img: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``mean_b sum_{c,h,w} (dD(x_b)/dx_b)^2``, a differentiable scalar.

    real_img [B,C,H,W] already in D's input range ([-1,1]), camera [B,2] degrees. The gradient of
    the summed logits w.r.t. the images gives each sample's own gradient (a sample's logit
    depends on the others only through minibatch-std, as in StyleGAN2).
    """
    real_img = real_img.detach().requires_grad_(True)
    logits = D(real_img, camera)
    (grad,) = torch.autograd.grad(logits.sum(), real_img, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]).mean()


def lazy_adam_params(lr: float, betas: tuple[float, float], interval: int) -> tuple[float, tuple[float, float]]:
    """Adam lr and betas for a network regularised lazily every ``interval`` steps.

    With ``interval`` main steps plus one regularisation step per cycle, StyleGAN2 scales
    ``lr * c`` and ``betas ** c`` with ``c = interval / (interval + 1)`` so the moment estimates
    decay per cycle as they would without the extra steps.
    """
    if interval <= 0:
        return lr, tuple(betas)
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


@dataclass
class FakeBatch:
    """Generator inputs for one phase: z_geo, z_tex [B,z_dim], cameras (B), style-mixing RNG."""

    z_geo: torch.Tensor
    z_tex: torch.Tensor
    cameras: Cameras
    rng: Optional[torch.Generator] = None

    @property
    def labels(self) -> torch.Tensor:
        return camera_labels(self.cameras)


class Get3dLoss:
    """Computes each phase's loss (a scalar to backpropagate) and the statistics to log.

    G, D_rgb, D_mask may be wrapped (compiled) modules for the main phases; ``D_rgb_reg`` /
    ``D_mask_reg`` are the plain modules used for R1, which needs a double backward that
    ``torch.compile`` does not support. ``autocast`` is the dtype for mixed precision (None = off).
    """

    def __init__(self, G, D_rgb, D_mask, train: TrainConfig, data: DataConfig, device: torch.device, *,
                 D_rgb_reg=None, D_mask_reg=None, autocast: Optional[torch.dtype] = None,
                 channels_last: bool = False):
        self.G, self.D_rgb, self.D_mask = G, D_rgb, D_mask
        self.D_rgb_reg = D_rgb_reg if D_rgb_reg is not None else D_rgb
        self.D_mask_reg = D_mask_reg if D_mask_reg is not None else D_mask
        self.cfg = train
        self.data = data
        self.device = torch.device(device)
        self.autocast = autocast
        self.channels_last = channels_last
        self.gamma_rgb = float(train.r1_gamma)
        self.gamma_mask = float(train.r1_gamma if train.r1_gamma_mask is None else train.r1_gamma_mask)
        if train.mask_range not in ("signed", "unit"):
            raise Get3dError(f"train.mask_range must be 'signed' or 'unit', got {train.mask_range!r}")
        if train.w_avg_phase not in ("G", "D"):
            raise Get3dError(f"train.w_avg_phase must be 'G' or 'D', got {train.w_avg_phase!r}")

    # ------------------------------------------------------------------ inputs
    def sample_fake(self, batch: int, z_dim: int, rng: torch.Generator) -> FakeBatch:
        """Latents and training cameras drawn from ``rng`` (a CPU generator), moved to the device."""
        z = torch.randn(2, batch, z_dim, generator=rng).to(self.device)
        cams = Cameras.sample_training_cameras(batch, generator=rng, rot_range=tuple(self.data.rotation_range),
                                               elev_range=tuple(self.data.elevation_range), device=self.device)
        return FakeBatch(z[0], z[1], cams, rng)

    def _amp(self):
        return torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None)

    def _prep(self, img: torch.Tensor) -> torch.Tensor:
        img = to_d_input(img)
        return img.contiguous(memory_format=torch.channels_last) if self.channels_last else img

    def _prep_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Masks [B,1,H,W] in [0,1] -> D_mask's input: [-1,1] ('signed') or unchanged ('unit')."""
        if self.cfg.mask_range == "signed":
            return self._prep(mask)
        return mask.contiguous(memory_format=torch.channels_last) if self.channels_last else mask

    def _generate(self, fake: FakeBatch, update_w_avg: bool):
        with self._amp():
            return self.G(fake.z_geo, fake.z_tex, fake.cameras, style_mixing_prob=self.cfg.style_mixing_prob,
                          update_w_avg=update_w_avg, generator=fake.rng,
                          style_mixing_group=self.cfg.style_mixing_group)

    def _logits(self, D, img: torch.Tensor, labels: torch.Tensor, mask: bool = False) -> torch.Tensor:
        with self._amp():
            return D(self._prep_mask(img) if mask else self._prep(img), labels).float()

    # ------------------------------------------------------------------ phases
    def generator_loss(self, fake: FakeBatch) -> tuple[torch.Tensor, dict]:
        """Gmain: fool both discriminators, plus the SDF regularisers. Updates G's w_avg when
        ``w_avg_phase == 'G'``."""
        out = self._generate(fake, update_w_avg=self.cfg.w_avg_phase == "G")
        labels = fake.labels
        l_rgb = self._logits(self.D_rgb, out.rgb, labels)
        l_mask = self._logits(self.D_mask, out.mask, labels, mask=True)
        adv = g_nonsaturating(l_rgb) + g_nonsaturating(l_mask)
        sdf_reg = out.sdf_reg.float()
        if self.cfg.empty_loss_weight is None:  # one weight for both terms ('plus' variant, older snapshots)
            loss = adv.mean() + self.cfg.sdf_reg_weight * sdf_reg.mean()
        else:
            loss = (adv.mean() + self.cfg.sdf_reg_weight * out.sdf_entropy.float().mean()
                    + self.cfg.empty_loss_weight * out.empty_loss.float().mean())
        flexi = {}
        if out.flexicubes_surface_reg is not None:  # FlexiCubes mode: GET3D's L_dev and weight terms
            flexi = {"Loss/G/flexicubes_surface_reg": out.flexicubes_surface_reg.float(),
                     "Loss/G/flexicubes_weights_reg": out.flexicubes_weights_reg.float()}
            loss = (loss + self.cfg.flexicubes_surface_reg * flexi["Loss/G/flexicubes_surface_reg"]
                    + self.cfg.flexicubes_weights_reg * flexi["Loss/G/flexicubes_weights_reg"])
        stats = {**flexi,
            "Loss/G/adv": adv.mean(), "Loss/G/sdf_reg": sdf_reg.mean(), "Loss/G/total": loss,
            "Loss/G/empty": out.empty_loss.float().mean(),
            "Logits/fake_rgb_G": l_rgb.mean(), "Logits/fake_mask_G": l_mask.mean(),
            "SDF/mean": out.sdf.mean(), "SDF/abs_mean": out.sdf.abs().mean(),
            "SDF/inside_frac": (out.sdf < 0).float().mean(), "SDF/empty_frac": out.empty.float().mean(),
            "Fakes/mask_mean": out.mask.mean(), "Fakes/rgb_mean": out.rgb.mean(),
        }
        return loss, stats

    def discriminator_loss(self, fake: FakeBatch, real_rgb: torch.Tensor, real_mask: torch.Tensor,
                           real_labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Dmain: push fakes down and reals up, for D_rgb and D_mask (fakes are not backpropagated
        into G). Updates G's w_avg when ``w_avg_phase == 'D'`` (GET3D: ``update_emas`` in Dgen)."""
        with torch.no_grad():
            out = self._generate(fake, update_w_avg=self.cfg.w_avg_phase == "D")
        labels = fake.labels
        f_rgb = self._logits(self.D_rgb, out.rgb.detach(), labels)
        f_mask = self._logits(self.D_mask, out.mask.detach(), labels, mask=True)
        r_rgb = self._logits(self.D_rgb, real_rgb, real_labels)
        r_mask = self._logits(self.D_mask, real_mask, real_labels, mask=True)
        loss_rgb = d_logistic(r_rgb, f_rgb).mean()
        loss_mask = d_logistic(r_mask, f_mask).mean()
        loss = loss_rgb + loss_mask
        stats = {
            "Loss/D/rgb": loss_rgb, "Loss/D/mask": loss_mask, "Loss/D/total": loss,
            "Logits/real_rgb": r_rgb.mean(), "Logits/fake_rgb": f_rgb.mean(),
            "Logits/real_mask": r_mask.mean(), "Logits/fake_mask": f_mask.mean(),
        }
        return loss, stats

    def r1_loss(self, real_rgb: torch.Tensor, real_mask: torch.Tensor, real_labels: torch.Tensor,
                interval: int) -> tuple[torch.Tensor, dict]:
        """Dreg: ``(gamma/2 * R1_rgb + gamma_mask/2 * R1_mask) * interval`` (lazy R1, full precision)."""
        r1_rgb = r1_penalty(self.D_rgb_reg, self._prep(real_rgb), real_labels)
        r1_mask = r1_penalty(self.D_mask_reg, self._prep_mask(real_mask), real_labels)
        loss = (self.gamma_rgb / 2 * r1_rgb + self.gamma_mask / 2 * r1_mask) * interval
        return loss, {"Loss/R1/rgb": r1_rgb, "Loss/R1/mask": r1_mask, "Loss/R1/total": loss}
