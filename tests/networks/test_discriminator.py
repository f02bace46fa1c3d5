"""Camera-conditioned StyleGAN2 discriminators."""
import math

import pytest
import torch

from get3d.config import preset
from get3d.errors import Get3dError
from get3d.networks import Discriminator, build_discriminators, camera_condition
from get3d.networks.discriminator import MinibatchStdLayer, camera_condition_get3d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _disc(**kwargs):
    args = dict(img_resolution=32, img_channels=3, channel_base=512, channel_max=32, mapping_layers=2)
    args.update(kwargs)
    return Discriminator(**args)


def test_camera_condition_values():
    cam = torch.tensor([[90.0, 0.0], [0.0, 90.0], [180.0, 30.0]])
    c = camera_condition(cam)
    assert c.shape == (3, 4)
    expected = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [0.0, -1.0, math.sqrt(3) / 2, 0.5]])
    torch.testing.assert_close(c, expected, atol=1e-6, rtol=0)
    g = camera_condition_get3d(cam)
    assert g.shape == (3, 14)
    torch.testing.assert_close(g[:, -2:], torch.deg2rad(torch.stack([cam[:, 0], 90 - cam[:, 1]], 1)))
    with pytest.raises(Get3dError):
        camera_condition(torch.zeros(3))


def test_build_discriminators_tiny_shapes_and_camera_dependence():
    cfg = preset("tiny").model
    d_rgb, d_mask = build_discriminators(cfg)
    assert d_rgb.img_channels == 3 and d_mask.img_channels == 1
    assert d_rgb.cmap_dim == min(cfg.channel_base // 4, cfg.channel_max)
    assert d_rgb.mapping.num_layers == cfg.mapping_layers
    img = torch.rand(4, 3, 64, 64) * 2 - 1
    cam = torch.tensor([[0.0, 10.0], [90.0, 20.0], [180.0, 5.0], [270.0, 30.0]])
    logits = d_rgb(img, cam)
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()
    assert d_mask(img[:, :1], cam).shape == (4, 1)
    # Same images, other cameras: the projection conditioning changes every logit.
    other = d_rgb(img, cam.flip(0))
    assert (other - logits).abs().min() > 0
    same_img = img[:1].expand(4, -1, -1, -1)
    per_cam = d_rgb(same_img, cam)
    assert per_cam.unique().numel() == 4


@pytest.mark.parametrize("batch", [1, 3, 5, 6, 8])
def test_mbstd_any_batch_size(batch):
    d = _disc(mbstd_group=4)
    img = torch.randn(batch, 3, 32, 32)
    out = d(img, torch.zeros(batch, 2))
    assert out.shape == (batch, 1) and torch.isfinite(out).all()


def test_mbstd_matches_stylegan2_when_divisible():
    x = torch.randn(8, 6, 4, 4)
    layer = MinibatchStdLayer(group_size=4, num_channels=2)
    out = layer(x)
    # StyleGAN2's reference formulation (reshape into [G, n, F, c, H, W]).
    y = x.reshape(4, -1, 2, 3, 4, 4)
    y = (y - y.mean(0)).square().mean(0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 2, 1, 1).repeat(4, 1, 4, 4)
    torch.testing.assert_close(out, torch.cat([x, y], 1))
    # Uneven batch: groups are i % n with n = ceil(N / G); every sample of a group sees the same std.
    out5 = MinibatchStdLayer(group_size=4)(torch.randn(5, 2, 2, 2))[:, -1, 0, 0]
    assert out5[0] == out5[2] == out5[4] and out5[1] == out5[3]


def test_input_gradients_for_r1():
    d = _disc()
    img = torch.randn(4, 3, 32, 32, requires_grad=True)
    logits = d(img, torch.rand(4, 2) * 90)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    assert grad.shape == img.shape and grad.abs().sum() > 0
    penalty = grad.square().sum([1, 2, 3]).mean()
    penalty.backward()
    grads = {name: p.grad for name, p in d.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(g).all() for g in grads.values())
    # Biases that only shift the logits do not affect the input gradient; the weights do.
    assert {"b32.fromrgb.weight", "b32.conv0.weight", "b4.fc.weight", "mapping.fc0.weight"} <= set(grads)


def test_skip_architecture_and_get3d_encoding_and_validation():
    d = _disc(architecture="skip", camera_encoding="get3d", img_channels=1)
    assert d.mapping.c_dim == 14
    out = d(torch.randn(2, 1, 32, 32), torch.tensor([[10.0, 20.0], [30.0, 5.0]]))
    assert out.shape == (2, 1)
    unconditioned = _disc(cond_dim=0)
    assert unconditioned(torch.randn(2, 3, 32, 32), torch.zeros(2, 2)).shape == (2, 1)
    with pytest.raises(Get3dError):
        d(torch.randn(2, 3, 32, 32), torch.zeros(2, 2))
    with pytest.raises(Get3dError):
        _disc(architecture="orig")
