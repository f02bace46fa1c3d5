"""Loss pieces: logistic losses, R1 against independent references, camera conditioning, lazy
regularisation and EMA constants, and the generator phase's SDF term."""
import pytest
import torch

from get3d.config import preset
from get3d.networks import Discriminator, Generator, build_discriminators
from get3d.training.loop import ema_beta
from get3d.training.loss import (Get3dLoss, camera_labels, d_logistic, g_nonsaturating, lazy_adam_params,
                                 r1_penalty, to_d_input)


def _small_d(**kwargs):
    torch.manual_seed(0)
    return Discriminator(16, 3, channel_base=256, channel_max=16, mapping_layers=2, **kwargs)


def test_logistic_losses_match_their_formulas():
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [-3.0]])
    assert torch.allclose(g_nonsaturating(fake), -torch.log(torch.sigmoid(fake)).flatten())
    expected = -torch.log(1 - torch.sigmoid(fake)) - torch.log(torch.sigmoid(real))
    assert torch.allclose(d_logistic(real, fake), expected.flatten())
    assert torch.equal(to_d_input(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))


class _Linear(torch.nn.Module):
    """D(x, c) = <w, x> + <v, c>: its R1 is exactly sum(w^2) for every sample."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(1, 2, 3, 3))
        self.v = torch.nn.Parameter(torch.randn(2))

    def forward(self, x, c):
        return (x * self.w).sum([1, 2, 3])[:, None] + (c * self.v).sum(1, keepdim=True)


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    D = _Linear()
    penalty = r1_penalty(D, torch.randn(5, 2, 3, 3), torch.randn(5, 2))
    assert penalty.item() == pytest.approx(D.w.square().sum().item(), rel=1e-6)
    penalty.backward()  # differentiable in D's weights: d/dw sum(w^2) = 2w
    assert torch.allclose(D.w.grad, 2 * D.w.detach())


def test_r1_matches_per_sample_jacobians_of_the_real_discriminator():
    # Without minibatch-std the samples are independent, so each sample's input gradient can
    # be computed on its own (a batch of 1) and compared with the batched penalty.
    D = _small_d(mbstd_channels=0)
    x, cam = torch.rand(3, 3, 16, 16) * 2 - 1, torch.tensor([[10.0, 5.0], [200.0, 20.0], [90.0, 0.0]])
    reference = []
    for i in range(3):
        jac = torch.func.jacrev(lambda xi: D(xi[None], cam[i: i + 1]).sum())(x[i])
        reference.append(jac.square().sum())
    assert r1_penalty(D, x, cam).item() == pytest.approx(torch.stack(reference).mean().item(), rel=1e-5)


def test_camera_conditioning_changes_the_logits():
    D = _small_d()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    a = D(x, torch.tensor([[0.0, 10.0], [0.0, 10.0]]))
    b = D(x, torch.tensor([[120.0, 10.0], [0.0, 25.0]]))
    assert not torch.allclose(a[0], b[0]) and not torch.allclose(a[1], b[1])


def test_lazy_regularisation_rescales_adam_and_ema_has_the_set_half_life():
    lr, betas = lazy_adam_params(0.002, (0.0, 0.99), 16)
    c = 16 / 17
    assert lr == pytest.approx(0.002 * c) and betas == pytest.approx((0.0, 0.99 ** c))
    beta = ema_beta(10 ** 6, batch=32, ema_kimg=10.0, ema_rampup=0.05)
    assert beta ** (10_000 / 32) == pytest.approx(0.5)
    # ramp-up: after 1000 images the half-life is 50 images
    assert ema_beta(1000, 4, 10.0, 0.05) ** (50 / 4) == pytest.approx(0.5)


def test_generator_phase_adds_weighted_sdf_regulariser_and_updates_w_avg():
    cfg = preset("tiny")
    cfg.model.img_resolution = cfg.data.resolution = 32
    torch.manual_seed(0)
    G = Generator(cfg.model)
    D_rgb, D_mask = build_discriminators(cfg.model)
    loss_fn = Get3dLoss(G, D_rgb, D_mask, cfg.train, cfg.data, torch.device("cpu"))
    fake = loss_fn.sample_fake(2, cfg.model.z_dim, torch.Generator().manual_seed(1))
    assert camera_labels(fake.cameras).shape == (2, 2)
    assert ((fake.cameras.elevation >= 0) & (fake.cameras.elevation <= 30)).all()
    w_avg = G.mapping_geo.w_avg.clone()
    loss, stats = loss_fn.generator_loss(fake)
    assert loss.item() == pytest.approx((stats["Loss/G/adv"] + 0.01 * stats["Loss/G/sdf_reg"]).item(), rel=1e-6)
    assert not torch.equal(G.mapping_geo.w_avg, w_avg)
    loss.backward()
    assert G.mapping_geo.fc0.weight.grad is not None


def test_r1_phase_uses_separate_gammas_and_interval():
    cfg = preset("tiny")
    cfg.model.img_resolution = cfg.data.resolution = 16
    cfg.train.r1_gamma, cfg.train.r1_gamma_mask = 2.0, 6.0
    D_rgb, D_mask = build_discriminators(cfg.model)
    loss_fn = Get3dLoss(None, D_rgb, D_mask, cfg.train, cfg.data, torch.device("cpu"))
    rgb, mask, cam = torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16), torch.zeros(2, 2)
    loss, stats = loss_fn.r1_loss(rgb, mask, cam, interval=4)
    expected = (1.0 * stats["Loss/R1/rgb"] + 3.0 * stats["Loss/R1/mask"]) * 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["Loss/R1/rgb"].item() == pytest.approx(r1_penalty(D_rgb, rgb * 2 - 1, cam).item(), rel=1e-6)
