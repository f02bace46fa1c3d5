"""StyleGAN2 ops: equalized lr, mapping network, modulated convolution, FIR resampling."""
import math

import pytest
import torch
import torch.nn.functional as F

from get3d.networks.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MappingNetwork,
    bias_act,
    conv2d_resample,
    downsample2d,
    modulated_conv2d,
    modulated_fc,
    setup_filter,
    upsample2d,
)
from tests._support import assert_close_in, dtype_params


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_fc_equalized_lr_init_and_gradient_scale():
    lr_mult, fan_in = 0.01, 64
    layer = FullyConnectedLayer(fan_in, 256, activation="lrelu", lr_multiplier=lr_mult)
    # Stored weights have std 1/lr_mult; the effective weight is stored * lr_mult / sqrt(fan_in).
    assert layer.weight.std().item() == pytest.approx(1 / lr_mult, rel=0.05)
    assert layer.weight_gain == pytest.approx(lr_mult / math.sqrt(fan_in))
    assert (layer.weight * layer.weight_gain).std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.05)

    x = torch.randn(8, fan_in)
    target = torch.randn(8, 256)
    ((layer(x) - target) ** 2).sum().backward()
    # Reference: the same function written with an explicit effective weight and bias.
    w_eff = (layer.weight * layer.weight_gain).detach().requires_grad_()
    b_eff = (layer.bias * lr_mult).detach().requires_grad_()
    y = F.leaky_relu(x @ w_eff.t() + b_eff, 0.2) * math.sqrt(2)
    ((y - target) ** 2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w_eff.grad * layer.weight_gain)
    torch.testing.assert_close(layer.bias.grad, b_eff.grad * lr_mult)


def test_mapping_shapes_truncation_and_w_avg():
    m = MappingNetwork(z_dim=16, c_dim=0, w_dim=24, num_ws=5, num_layers=3, lr_multiplier=0.01, w_avg_beta=0.995)
    z = torch.randn(6, 16)
    assert m.fc0.weight_gain == pytest.approx(0.01 / 4)
    m.w_avg.copy_(torch.randn(24))
    w = m(z)
    assert w.shape == (6, 5, 24)
    assert torch.equal(w[:, 0], w[:, 4])  # broadcast
    torch.testing.assert_close(m(z, truncation_psi=1.0), w)
    w0 = m(z, truncation_psi=0.0)
    assert torch.equal(w0, m.w_avg.expand(6, 5, 24))
    w_cut = m(z, truncation_psi=0.0, truncation_cutoff=2)
    assert torch.equal(w_cut[:, :2], m.w_avg.expand(6, 2, 24))
    torch.testing.assert_close(w_cut[:, 2:], w[:, 2:])
    # z is normalised by its second moment: scaling z does not change w.
    torch.testing.assert_close(m(z * 7.0), w, rtol=1e-4, atol=1e-5)

    before = m.w_avg.clone()
    batch_mean = w[:, 0].mean(0)
    m(z, update_w_avg=True)
    torch.testing.assert_close(m.w_avg, batch_mean.lerp(before, 0.995))
    assert (m.w_avg - batch_mean).norm() < (before - batch_mean).norm()
    m(z, update_w_avg=False)
    torch.testing.assert_close(m.w_avg, batch_mean.lerp(before, 0.995))


def _per_sample_reference(x, weight, styles, demodulate=True, padding=1):
    """Explicit per-sample modulated (and demodulated) conv, one F.conv2d per sample."""
    outs, weights = [], []
    for b in range(x.shape[0]):
        wb = weight * styles[b].reshape(1, -1, 1, 1)
        if demodulate:
            wb = wb / (wb.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        weights.append(wb)
        outs.append(F.conv2d(x[b: b + 1], wb, padding=padding))
    return torch.cat(outs), torch.stack(weights)


@pytest.mark.parametrize("fused", [False, True])
def test_modulated_conv_matches_per_sample_reference_and_has_unit_norm(fused):
    b, i, o, h = 3, 5, 4, 6
    x = torch.randn(b, i, h, h, dtype=torch.float64)
    weight = torch.randn(o, i, 3, 3, dtype=torch.float64)
    styles = torch.randn(b, i, dtype=torch.float64) + 1
    ref, ref_w = _per_sample_reference(x, weight, styles)
    out = modulated_conv2d(x, weight, styles, padding=1, fused_modconv=fused)
    torch.testing.assert_close(out, ref)
    # Recover the effective per-sample weights by probing with centred delta inputs:
    # out[o, p, q] = w[o, i, 2 - p, 2 - q] for a delta at the centre of channel i.
    for s in range(b):
        probe = torch.zeros(i, i, 3, 3, dtype=torch.float64)
        probe[torch.arange(i), torch.arange(i), 1, 1] = 1
        resp = modulated_conv2d(probe, weight, styles[s].expand(i, i), padding=1, fused_modconv=fused)  # [I,O,3,3]
        w_eff = resp.transpose(0, 1).flip([2, 3])  # [O,I,3,3]
        torch.testing.assert_close(w_eff, ref_w[s])
        norms = w_eff.square().sum(dim=[1, 2, 3]).sqrt()
        torch.testing.assert_close(norms, torch.ones(o, dtype=torch.float64))


def test_modulated_conv_without_demodulation_and_upsampling_fused_equals_unfused():
    x = torch.randn(2, 3, 5, 5)
    weight = torch.randn(4, 3, 3, 3)
    styles = torch.randn(2, 3)
    ref, _ = _per_sample_reference(x, weight, styles, demodulate=False)
    torch.testing.assert_close(modulated_conv2d(x, weight, styles, padding=1, demodulate=False), ref)
    f = setup_filter()
    a = modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f, fused_modconv=False)
    b = modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f, fused_modconv=True)
    assert a.shape == (2, 4, 10, 10)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fir_resampling_shapes_and_constant_preservation():
    f = setup_filter([1, 3, 3, 1])
    assert f.sum().item() == pytest.approx(1.0)
    x = torch.ones(1, 2, 8, 8)
    up = upsample2d(x, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))  # gain 4 keeps constants
    down = downsample2d(x, f)
    assert down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))
    # Transposed-conv upsampling == FIR upsampling followed by a true convolution (interior).
    w = torch.randn(3, 2, 3, 3)
    y = torch.randn(1, 2, 8, 8)
    a = conv2d_resample(y, w, f=f, up=2, padding=1)
    ref = F.conv2d(upsample2d(y, f), w.flip([2, 3]), padding=1)
    assert a.shape == ref.shape == (1, 3, 16, 16)
    torch.testing.assert_close(a[..., 3:-3, 3:-3], ref[..., 3:-3, 3:-3], rtol=1e-4, atol=1e-5)
    # Strided downsampling conv == FIR filter, conv, subsample.
    d = conv2d_resample(y, w, f=f, down=2, padding=1)
    assert d.shape == (1, 3, 4, 4)


def test_conv_layer_gain_clamp_and_bias_act():
    layer = Conv2dLayer(2, 3, 3, activation="lrelu", conv_clamp=0.5)
    out = layer(torch.randn(1, 2, 8, 8) * 100)
    assert out.abs().max() <= 0.5 + 1e-6
    x = torch.tensor([[-1.0, 2.0]])
    torch.testing.assert_close(bias_act(x, torch.tensor([0.0, 1.0]), act="lrelu"),
                               torch.tensor([[-0.2, 3.0]]) * math.sqrt(2))
    torch.testing.assert_close(modulated_fc(torch.ones(1, 2, 3), torch.ones(4, 3), torch.ones(1, 3)),
                               torch.full((1, 2, 4), math.sqrt(3)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_modulated_conv_and_bias_act_in_each_dtype_match_a_float64_reference(dtype, fused):
    """The module docstring's claim, "all ops take any float dtype": the modulated (demodulated)
    convolution returns its input's dtype and matches the per-sample float64 reference on the
    same rounded inputs (outputs up to ~2: scale 2); bias_act keeps the dtype and its clamp."""
    x = torch.randn(2, 5, 6, 6, dtype=torch.float64).to(dtype)
    weight = torch.randn(4, 5, 3, 3, dtype=torch.float64).to(dtype)
    styles = (torch.randn(2, 5, dtype=torch.float64) + 1).to(dtype)
    ref, _ = _per_sample_reference(x.double(), weight.double(), styles.double())
    out = modulated_conv2d(x, weight, styles, padding=1, fused_modconv=fused)
    assert_close_in(dtype, out, ref, scale=2.0, what="modulated_conv2d")
    bias = torch.randn(4, dtype=torch.float64).to(dtype)
    act = bias_act(out, bias, act="lrelu", clamp=1.0)
    expected = (F.leaky_relu(out.double() + bias.double().view(1, -1, 1, 1), 0.2) * math.sqrt(2)).clamp(-1, 1)
    assert_close_in(dtype, act, expected, what="bias_act")
    assert act.abs().max() <= 1.0
