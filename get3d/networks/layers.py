"""StyleGAN2 building blocks in plain PyTorch (no custom CUDA ops), as GET3D uses them.

Everything here follows StyleGAN2-ADA's ``torch_utils`` semantics so that GET3D's released
weights compute the same function when loaded (module and parameter names mirror
``training/geometry_predictor.py`` and ``training/discriminator_architecture.py``):

* **Equalized learning rate**: parameters are stored with unit-variance init and multiplied by
  a constant gain at run time (``FullyConnectedLayer``: ``lr_multiplier / sqrt(fan_in)`` for the
  weight and ``lr_multiplier`` for the bias; convolutions ``1 / sqrt(in * k * k)``), so Adam's
  effective step per weight is the same for every layer (scaled by ``lr_multiplier``).
* **bias_act**: bias, activation, gain (``sqrt(2)`` for leaky ReLU 0.2) and an optional clamp
  ``[-conv_clamp, conv_clamp]`` that keeps mixed precision finite.
* **upfirdn2d**: upsample (zero insertion) -> pad -> FIR filter -> downsample, with the
  ``[1, 3, 3, 1]`` binomial filter; used for 2x up/down-sampling without aliasing, with exactly
  StyleGAN2's padding so feature maps line up with the original implementation.
* **modulated_conv2d / modulated_fc**: style modulation of the input channels, optional weight
  demodulation (each output channel's per-sample weights get unit L2 norm), as a grouped
  ("fused") convolution or by scaling activations before/after a shared convolution
  (mathematically identical; the non-fused form is faster to train and is the default).

All ops take any float dtype and device; under ``torch.autocast`` the convolutions run in half
precision and ``conv_clamp`` bounds activations.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "normalize_2nd_moment",
    "bias_act",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "downsample2d",
    "conv2d_resample",
    "modulated_conv2d",
    "modulated_fc",
    "FullyConnectedLayer",
    "Conv2dLayer",
    "MappingNetwork",
    "SynthesisLayer",
    "ToRGBLayer",
    "ImplicitSynthesisLayer",
]

_ACT_GAIN = {"linear": 1.0, "relu": math.sqrt(2.0), "lrelu": math.sqrt(2.0)}


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale x so that the mean of its squares along ``dim`` is 1 (StyleGAN's z normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def bias_act(
    x: torch.Tensor,
    b: Optional[torch.Tensor] = None,
    act: str = "linear",
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
    dim: int = 1,
) -> torch.Tensor:
    """x + b (b broadcast along ``dim``), activation, times ``gain`` (default: the activation's
    gain, sqrt(2) for (leaky) ReLU), then clamp to [-clamp, clamp] when clamp is given."""
    if b is not None:
        shape = [1] * x.dim()
        shape[dim] = -1
        x = x + b.to(x.dtype).reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif act == "relu":
        x = F.relu(x)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    gain = _ACT_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """A separable FIR filter's taps -> normalised 2-D filter [k, k] (sums to 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: Sequence[int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """StyleGAN2's upfirdn2d in plain PyTorch: x [N,C,H,W], f [k,k] -> [N,C,H',W'].

    Zero-insertion upsampling by ``up``, padding ``(x0, x1, y0, y1)`` (negative = crop),
    convolution with ``f * gain`` (a true convolution; the binomial filters are symmetric
    anyway), then keeping every ``down``-th pixel.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    kernel = (f * gain).to(device=x.device, dtype=x.dtype).flip([0, 1])
    kernel = kernel[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, kernel, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """2x FIR upsampling, [N,C,H,W] -> [N,C,2H,2W] (StyleGAN2 ``upfirdn2d.upsample2d``)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """2x FIR downsampling, [N,C,H,W] -> [N,C,H/2,W/2] (StyleGAN2 ``upfirdn2d.downsample2d``)."""
    fw = f.shape[-1]
    p0, p1 = (fw - down + 1) // 2, (fw - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: Optional[torch.Tensor] = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution with optional 2x FIR up- or downsampling, StyleGAN2's ``conv2d_resample``.

    x [N, groups*I, H, W], w [groups*O, I, k, k] -> [N, groups*O, H', W']. Without resampling it is
    a cross-correlation (``F.conv2d``). ``up=2`` is a stride-2 transposed convolution followed by
    the FIR filter (so the kernel acts as a true convolution, as StyleGAN2 calls it with
    ``flip_weight=False``); ``down=2`` filters first and then convolves with stride 2 (1x1
    kernels: filter-and-subsample, then convolve). Padding matches StyleGAN2 exactly.
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up and down together are not supported")
    out_ch, in_per_group, kh, kw = w.shape
    w = w.to(x.dtype)
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    if f is None:
        raise ValueError("resampling needs a filter")
    fw = f.shape[-1]
    if up > 1:
        px0 = padding + (fw + up - 1) // 2 - (kw - 1)
        px1 = padding + (fw - up) // 2 - (kw - up)
        pxt = max(min(-px0, -px1), 0)
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, padding=pxt, groups=groups)
        pad = px0 + pxt, px1 + pxt
        return upfirdn2d(x, f, padding=(pad[0], pad[1], pad[0], pad[1]), gain=up * up)
    px0 = padding + (fw - down + 1) // 2
    px1 = padding + (fw - down) // 2
    if kh == 1 and kw == 1:
        x = upfirdn2d(x, f, down=down, padding=(px0, px1, px0, px1))
        return F.conv2d(x, w, groups=groups)
    x = upfirdn2d(x, f, padding=(px0, px1, px0, px1))
    return F.conv2d(x, w, stride=down, groups=groups)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: Optional[torch.Tensor] = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: Optional[torch.Tensor] = None,
    demodulate: bool = True,
    fused_modconv: bool = False,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    x [B,I,H,W], weight [O,I,k,k], styles [B,I], noise broadcastable to [B,O,H',W'] ->
    [B,O,H',W']. The per-sample weight is ``weight * styles[b]`` (scaling input channels); with
    ``demodulate`` each output channel's per-sample weight is divided by its L2 norm (+1e-8), so
    it has unit norm. ``fused_modconv`` runs it as one grouped convolution with per-sample
    weights; otherwise activations are scaled before and after one shared convolution.
    """
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:  # pre-normalise against fp16 overflow
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [B,O,I,k,k]
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [B,O]
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight, f=resample_filter, up=up, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x
    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(-1, in_ch, kh, kw), f=resample_filter, up=up, padding=padding, groups=batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def modulated_fc(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True) -> torch.Tensor:
    """Per-sample modulated linear layer: x [B,P,I], weight [O,I], styles [B,I] -> [B,P,O].

    GET3D's implicit (MLP) layers: the weight for sample b is ``weight * styles[b]``, each output
    row demodulated to unit norm.
    """
    w = weight.unsqueeze(0) * styles.unsqueeze(1)  # [B,O,I]
    if demodulate:
        w = w * (w.square().sum(dim=2, keepdim=True) + 1e-8).rsqrt()
    return torch.bmm(x, w.transpose(1, 2).to(x.dtype))


class FullyConnectedLayer(torch.nn.Module):
    """Equalized-lr linear layer: weight [out,in] ~ N(0, 1/lr_mult^2), used as
    ``weight * lr_multiplier / sqrt(in)``; bias used as ``bias * lr_multiplier``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., in] -> [..., out]."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        x = x.matmul(w.t())
        return bias_act(x, b, act=self.activation, dim=x.dim() - 1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(torch.nn.Module):
    """Equalized-lr convolution with optional 2x FIR up/downsampling, bias, activation, clamp.

    x [N,in,H,W] -> [N,out,H*up/down,W*up/down]; ``gain`` scales the output (and the clamp).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = _ACT_GAIN[activation]
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
                f"up={self.up}, down={self.down}")


class MappingNetwork(torch.nn.Module):
    """StyleGAN2 mapping network z [B,z_dim] (and/or condition c [B,c_dim]) -> w.

    z is normalised by its second moment, a condition is embedded by a linear layer and
    normalised too, then ``num_layers`` equalized-lr FC layers with leaky ReLU and
    ``lr_multiplier`` follow. With ``num_ws`` the output is broadcast to [B,num_ws,w_dim] and a
    running mean ``w_avg`` [w_dim] is tracked (decay ``w_avg_beta``) for truncation; with
    ``num_ws=None`` (the discriminator's camera mapping) the output is [B,w_dim].
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: Optional[int], num_layers: int = 8,
                 embed_features: Optional[int] = None, layer_features: Optional[int] = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: Optional[float] = 0.995):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, update_w_avg: bool = False) -> torch.Tensor:
        """z [B,z_dim], c [B,c_dim] -> w [B,num_ws,w_dim] (or [B,w_dim] when num_ws is None).

        Truncation: ``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` entries
        (all when None). ``update_w_avg`` moves w_avg toward this batch's mean w (before
        truncation) with decay ``w_avg_beta``.
        """
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_w_avg and self.num_ws is not None and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or self.w_avg_beta is None:
                raise ValueError("truncation needs a mapping network that tracks w_avg")
            avg = self.w_avg.to(x.dtype)
            if truncation_cutoff is None:
                x = avg.lerp(x, truncation_psi)
            else:
                x = torch.cat([avg.lerp(x[:, :truncation_cutoff], truncation_psi), x[:, truncation_cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling) + noise + bias + lrelu + clamp.

    x [B,in,R/up,R/up], w [B,w_dim] -> [B,out,R,R]. Noise: ``noise_mode`` 'const' adds the fixed
    buffer ``noise_const`` [R,R] times the learned ``noise_strength`` (initially 0), 'random'
    fresh N(0,1) noise times the strength, 'none' nothing.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = _ACT_GAIN[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", fused_modconv: bool = False,
                gain: float = 1.0) -> torch.Tensor:
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, activation={self.activation}")


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 convolution without demodulation + bias + clamp (StyleGAN2's toRGB).

    x [B,in,H,W], w [B,w_dim] -> [B,out,H,W]. GET3D uses it for the "to-plane" outputs of the
    triplane backbone and for the final feature -> RGB layer.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, padding=self.weight.shape[-1] // 2,
                             fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)

    def forward_points(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The same layer applied per point (1x1 kernels only): x [B,P,in], w [B,w_dim] -> [B,P,out]."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_fc(x, self.weight[:, :, 0, 0], styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp, dim=2)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"


class ImplicitSynthesisLayer(torch.nn.Module):
    """GET3D's modulated FC layer for per-point MLPs: x [B,P,in], w [B,w_dim] -> [B,P,out]
    (style modulation + demodulation, bias, activation with gain, optional clamp)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, activation: str = "lrelu",
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.act_gain = _ACT_GAIN[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, w: torch.Tensor, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_fc(x, self.weight, styles)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp, dim=2)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}"
