"""Camera-conditioned StyleGAN2 discriminators (one for RGB, one for the silhouette mask).

GET3D trains two discriminators with the same architecture: one on the rendered RGB image and
one on the mask, both conditioned on the camera through StyleGAN2-ADA's projection scheme:

    logits = (features(img) . cmap) / sqrt(cmap_dim),  cmap = MappingNetwork(encode(camera))

Architecture per discriminator (StyleGAN2 "resnet" by default; docs/model.md): ``b{res}`` blocks
from the image resolution down to 8 (fromRGB 1x1 in the first block, two 3x3 convs the second
downsampling by 2, and a 1x1 downsampling skip, summed with gain sqrt(1/2)), then the epilogue
``b4``: minibatch standard deviation, 3x3 conv, FC, output FC to ``cmap_dim``.

Inputs are images in [-1, 1] (the trainer maps rgb/mask from [0, 1] with ``x * 2 - 1``) and the
camera as ``[B, 2] = (rotation_deg, elevation_deg)``, as in the dataset's rotation.npy /
elevation.npy.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

from get3d.config import ModelConfig
from get3d.errors import Get3dError
from get3d.networks.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork, downsample2d, setup_filter

__all__ = [
    "Discriminator",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "MinibatchStdLayer",
    "build_discriminators",
    "camera_condition",
    "camera_condition_get3d",
]


def _camera_angles(camera: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(camera, torch.Tensor) or camera.dim() != 2 or camera.shape[1] != 2:
        shape = tuple(camera.shape) if isinstance(camera, torch.Tensor) else type(camera).__name__
        raise Get3dError(f"camera must be [B, 2] (rotation_deg, elevation_deg), got {shape}")
    camera = camera.float()
    azimuth = torch.deg2rad(camera[:, 0])
    polar = torch.deg2rad(90.0 - camera[:, 1])
    return azimuth, polar


def camera_condition(camera: torch.Tensor) -> torch.Tensor:
    """camera [B,2] = (rotation_deg, elevation_deg) -> [B,4] =
    (sin azimuth, cos azimuth, sin polar, cos polar), polar = 90 deg - elevation, in radians.

    The same encoding is used for real images (dataset cameras) and fakes (sampled cameras).
    """
    azimuth, polar = _camera_angles(camera)
    return torch.stack([azimuth.sin(), azimuth.cos(), polar.sin(), polar.cos()], dim=1)


def camera_condition_get3d(camera: torch.Tensor) -> torch.Tensor:
    """GET3D's own encoding (``pos_enc_angle``, for converted checkpoints): c = (azimuth, polar)
    in radians -> [B,14] = [sin(c), cos(c), sin(2c), cos(2c), sin(4c), cos(4c), c]."""
    azimuth, polar = _camera_angles(camera)
    c = torch.stack([azimuth, polar], dim=1)
    parts = []
    for i in range(3):
        parts += [torch.sin(2 ** i * c), torch.cos(2 ** i * c)]
    return torch.cat(parts + [c], dim=1)


_ENCODINGS = {"sincos": (camera_condition, 4), "get3d": (camera_condition_get3d, 14)}


class MinibatchStdLayer(torch.nn.Module):
    """Append the mean (over channels and pixels) of the per-group standard deviation.

    x [N,C,H,W] -> [N,C+num_channels,H,W]. As StyleGAN2, sample i belongs to group ``i % n``
    with ``n = ceil(N / group_size)`` groups; when N is a multiple of the group size this is
    exactly StyleGAN2's grouping, otherwise the groups differ in size by at most one (StyleGAN2
    would fail). ``group_size=None`` uses the whole batch as one group.
    """

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else max(1, min(int(self.group_size), n))
        groups = -(-n // g)
        f = self.num_channels
        y = x.reshape(n, f, (c // f) * h * w).float()
        gid = torch.arange(n, device=x.device) % groups
        onehot = (gid[None, :] == torch.arange(groups, device=x.device)[:, None]).float()  # [groups,N]
        onehot = onehot / onehot.sum(1, keepdim=True)
        mean = torch.einsum("gn,nfk->gfk", onehot, y)
        var = torch.einsum("gn,nfk->gfk", onehot, (y - mean[gid]).square())
        std = (var + 1e-8).sqrt().mean(dim=2)  # [groups,F]
        y = std[gid].to(x.dtype).reshape(n, f, 1, 1).expand(n, f, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorBlock(torch.nn.Module):
    """One resolution: x [N,tmp,R,R] (None in the first block, which uses fromrgb on img) ->
    x [N,out,R/2,R/2]. 'resnet': conv0 3x3, conv1 3x3 down 2, plus a 1x1 down-2 skip, summed with
    gain sqrt(1/2). 'skip': fromrgb at every block, img downsampled alongside."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", conv_clamp: Optional[float] = None, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor]):
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class DiscriminatorEpilogue(torch.nn.Module):
    """4x4 head: x [N,C,4,4], cmap [N,cmap_dim] -> logits [N,1] (projection conditioning)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation="lrelu")
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor], cmap: Optional[torch.Tensor]) -> torch.Tensor:
        x = x.float()
        if self.architecture == "skip":
            x = x + self.fromrgb(img.float())
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            x = (x * cmap.to(x.dtype)).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(torch.nn.Module):
    """Camera-conditioned StyleGAN2 discriminator for [B, img_channels, R, R] images in [-1, 1].

    Args:
        img_resolution: R (power of two >= 4).
        img_channels: 3 (RGB) or 1 (mask).
        channel_base, channel_max: channels at resolution r are ``min(channel_base // r, channel_max)``.
        mbstd_group: minibatch-std group size (any batch size works, see MinibatchStdLayer).
        cond_dim: dimension of the mapped camera (``cmap``); None = the 4x4 channel count, as
            StyleGAN2-ADA/GET3D. 0 disables conditioning.
        mbstd_channels: minibatch-std feature channels (1).
        architecture: 'resnet' (default) or 'skip' (GET3D's ``--d_architecture`` default).
        conv_clamp: activation clamp (None = off, GET3D's fp32 setting).
        mapping_layers: FC layers of the camera mapping network (StyleGAN2-ADA: 8).
        camera_encoding: 'sincos' (camera_condition, 4-D) or 'get3d' (camera_condition_get3d, 14-D).
    """

    def __init__(self, img_resolution: int, img_channels: int, channel_base: int, channel_max: int,
                 mbstd_group: Optional[int] = 4, cond_dim: Optional[int] = None, *, mbstd_channels: int = 1,
                 architecture: str = "resnet", conv_clamp: Optional[float] = None, mapping_layers: int = 8,
                 camera_encoding: str = "sincos"):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise Get3dError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        if architecture not in ("resnet", "skip"):
            raise Get3dError(f"architecture must be 'resnet' or 'skip', got {architecture!r}")
        if camera_encoding not in _ENCODINGS:
            raise Get3dError(f"camera_encoding must be one of {sorted(_ENCODINGS)}, got {camera_encoding!r}")
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.camera_encoding = camera_encoding
        self.block_resolutions = [2 ** i for i in range(int(math.log2(img_resolution)), 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        if cond_dim is None:
            cond_dim = channels[4]
        self.cmap_dim = cond_dim
        self.c_dim = _ENCODINGS[camera_encoding][1] if cond_dim > 0 else 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0, channels[res], channels[res // 2], res, img_channels,
                architecture=architecture, conv_clamp=conv_clamp,
            )
            setattr(self, f"b{res}", block)
        if self.c_dim > 0:
            self.mapping = MappingNetwork(0, self.c_dim, cond_dim, num_ws=None, num_layers=mapping_layers,
                                          w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(channels[4], cond_dim, 4, img_channels, architecture=architecture,
                                        mbstd_group_size=mbstd_group, mbstd_num_channels=mbstd_channels,
                                        conv_clamp=conv_clamp)

    def forward(self, img: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """img [B,C,R,R] in [-1,1], camera [B,2] (rotation_deg, elevation_deg) -> logits [B,1]."""
        if img.dim() != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise Get3dError(f"img must be [B, {self.img_channels}, {self.img_resolution}, {self.img_resolution}], "
                             f"got {tuple(img.shape)}")
        if camera.shape[:1] != img.shape[:1]:
            raise Get3dError(f"camera has {camera.shape[0]} rows but img has {img.shape[0]}")
        device = img.device
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = None
        if self.c_dim > 0:
            cmap = self.mapping(None, _ENCODINGS[self.camera_encoding][0](camera.to(device)))
        return self.b4(x, img, cmap)

    def extra_repr(self) -> str:
        return (f"img_resolution={self.img_resolution}, img_channels={self.img_channels}, "
                f"cmap_dim={self.cmap_dim}, architecture={self.architecture}")


def build_discriminators(cfg: ModelConfig, **kwargs) -> Tuple[Discriminator, Discriminator]:
    """(RGB discriminator with 3 channels, mask discriminator with 1 channel) at
    cfg.img_resolution, with cfg.d_channel_base / d_channel_max (default: the generator's
    channel_base / channel_max), cfg.d_architecture and cfg.d_camera_encoding (no camera input at
    all when cfg.d_camera_cond is False, GET3D's --add_camera_cond 0); the camera mapping
    has cfg.mapping_layers layers. Extra kwargs go to both Discriminator constructors."""
    kwargs.setdefault("mapping_layers", cfg.mapping_layers)
    kwargs.setdefault("architecture", cfg.d_architecture)
    kwargs.setdefault("camera_encoding", cfg.d_camera_encoding)
    if not getattr(cfg, "d_camera_cond", True):  # GET3D --add_camera_cond 0: no camera input
        kwargs.setdefault("cond_dim", 0)
    base = cfg.channel_base if cfg.d_channel_base is None else cfg.d_channel_base
    cmax = cfg.channel_max if cfg.d_channel_max is None else cfg.d_channel_max
    common = dict(img_resolution=cfg.img_resolution, channel_base=base, channel_max=cmax)
    return Discriminator(img_channels=3, **common, **kwargs), Discriminator(img_channels=1, **common, **kwargs)
