"""GET3D's generator: two latent codes -> triplanes -> DMTet mesh + texture field -> images.

Pipeline (GET3D's default "unified" generator, ``--one_3d_generator 1``; docs/model.md):

1. ``z_geo``, ``z_tex`` [B, z_dim] -> two mapping networks -> ``ws_geo`` [B, num_ws_geo, w_dim],
   ``ws_tex`` [B, num_ws_tex, w_dim].
2. One StyleGAN2 synthesis backbone (4x4 -> ``triplane_res``, modulated by ``ws_geo``) with two
   skip ("to-plane") outputs per block: ``togeo`` (modulated by ws_geo) and ``totex``
   (modulated by ws_tex), accumulated with FIR upsampling. Result: a geometry and a texture
   triplane, each [B, 3, C, R, R] (planes xy, yz, xz; C = ``triplane_channels``).
3. Geometry: features sampled at the tet-grid vertices (sum of the three planes) -> two small
   modulated MLPs -> SDF and deformation (``tanh(x) / (tet_res * deformation_multiplier)``)
   -> marching tetrahedra on the deformed grid. Shapes without a surface get GET3D's template
   SDF (``replace_empty_shapes``).
4. Texture: features sampled from the texture triplane at the world positions of the visible
   surface -> modulated MLP -> ``to_rgb`` -> colour in [0, 1] (sigmoid). It runs only on
   foreground pixels, through the renderer's ``texture_fn`` hook.
5. The meshes are rendered (antialiased mask and colour) from the given cameras.

FlexiCubes mode (``ModelConfig.iso_surface = "flexicubes"``, GET3D ``--iso_surface flexicubes``):
the grid is FlexiCubes' voxel grid with ``tet_res`` cubes per axis; the SDF and deformation heads
run at its vertices with the deformation multiplier doubled (a vertex moves at most half a cell);
a third head (``mlp_synthesis_weight``) maps the 8 corner features of each cube (concatenated,
corner order of get3d.geometry.flexicubes) to 21 raw weights (12 beta, 8 alpha, 1 gamma), times
0.1, normalised inside FlexiCubes with weight_scale 0.5; a generator in train mode splits quads
into 4 triangles; the empty-shape check skips the grid's boundary layer. The output carries
``flexicubes_surface_reg`` (mean L_dev) and ``flexicubes_weights_reg`` (mean squared weight).

SDF sign: get3d's geometry code is NEGATIVE inside; GET3D's SDF head predicts positive inside.
The head here keeps GET3D's weights and convention internally (``mlp_synthesis_sdf`` outputs
GET3D's value) and the generator returns ``-that``; converted checkpoints need no sign change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from get3d.config import ModelConfig
from get3d.errors import Get3dError
from get3d.geometry import close_on_boundary, edge_table, marching_tets_batched, replace_empty_shapes, sdf_reg_loss, tet_grid
from get3d.geometry.flexicubes import boundary_layer_mask, flexicubes, voxel_grid
from get3d.networks.layers import (
    ImplicitSynthesisLayer,
    MappingNetwork,
    SynthesisLayer,
    ToRGBLayer,
    setup_filter,
    upsample2d,
)
from get3d.render import Cameras, Renderer

# Surface extractors (GET3D --iso_surface), in ModelConfig.iso_surface.
ISO_SURFACES = ("dmtet", "flexicubes")
# GET3D's FlexiCubes weight scale (its FlexiCubesGeometry builds FlexiCubes(weight_scale=0.5)).
FLEXICUBES_WEIGHT_SCALE = 0.5

__all__ = [
    "FLEXICUBES_WEIGHT_SCALE",
    "Generator",
    "GeneratorOutput",
    "ImplicitSynthesisNetwork",
    "SynthesisBlockTexGeo",
    "SynthesisNetworkTexGeo",
    "TriPlaneTexGeo",
    "sample_triplane",
]


@dataclass
class GeneratorOutput:
    """What ``Generator.synthesis`` / ``forward`` return (B = batch, N = tet-grid vertices)."""

    rgb: torch.Tensor  # [B,3,H,W] colour in [0,1] composited on black, antialiased
    mask: torch.Tensor  # [B,1,H,W] antialiased silhouette in [0,1]
    sdf: torch.Tensor  # [B,N] SDF (negative inside) used for extraction, after empty-shape replacement
    sdf_reg: torch.Tensor  # [B] sdf_entropy + empty_loss
    empty: torch.Tensor  # [B] bool: shapes that had no surface (their sdf is GET3D's template)
    meshes: Optional[list] = None  # list of B (verts [V,3], faces [F,3] int64) when return_meshes
    # Additions (optional fields):
    sdf_entropy: Optional[torch.Tensor] = None  # [B] sdf_reg_loss alone (GET3D weights it 0.01)
    empty_loss: Optional[torch.Tensor] = None  # [B] mean |sdf| of empty shapes, 0 otherwise (GET3D weight 1)
    deformation: Optional[torch.Tensor] = None  # [B,N,3] vertex offsets in world units
    # FlexiCubes mode only (None for DMTet): GET3D's two extra regularisers, scalars over the batch.
    flexicubes_surface_reg: Optional[torch.Tensor] = None  # mean of every shape's L_dev entries
    flexicubes_weights_reg: Optional[torch.Tensor] = None  # mean of the squared raw weights


# ------------------------------------------------------------------------------ triplanes


def sample_triplane(planes: torch.Tensor, points: torch.Tensor, shape_min: float, shape_length: float) -> torch.Tensor:
    """Bilinearly sample a triplane at 3-D points and sum the three planes.

    planes [B,3,C,R,R] (plane 0 indexed by (x, y), plane 1 by (y, z), plane 2 by (x, z); the first
    coordinate runs along the width), points [B,P,3] world positions -> features [B,P,C].
    Points are mapped from ``[shape_min, shape_min + shape_length]`` to [-1, 1] (clamped) and
    sampled with ``grid_sample(align_corners=False, padding_mode='zeros')``, as GET3D does.
    Like GET3D, positions are detached: no gradient flows into the sample positions. Features
    come out in float32 for float16/bfloat16/float32 planes, in float64 for float64 planes.

    Hot path (training, extraction and texture baking all come through here): each plane is
    sampled where it lies, ``planes[:, k]``, a view of the backbone's output (merging B and the
    plane axis would copy all planes whenever texture planes follow in the same tensor). The
    coordinate pairs (x, y), (y, z), (x, z) are the slices ``0:2``, ``1:3`` and ``::2`` of the
    normalised points, made contiguous: [B,1,P,2] is small next to the planes, and grid_sample's
    CPU kernel reads a strided grid ~1.3x slower (bench/triplane.py). The three [B,C,1,P]
    results are summed in place in plane order, which rounds exactly as summing a stacked
    [B,3,C,P] over its plane axis (bench/triplane.py and tests/networks/test_triplane.py check).
    """
    # Sampling runs in float32 whatever the autocast dtype (float64 planes stay float64):
    # half-precision sample positions would quantise the texture lookups.
    dtype = torch.promote_types(planes.dtype, torch.float32)
    planes = planes.to(dtype)
    p = ((points.detach().to(dtype) - shape_min) / shape_length).clamp(0, 1) * 2 - 1  # [B,P,3]
    grid = p.unsqueeze(1)  # [B,1,P,3]
    feat = None
    with torch.autocast(planes.device.type, enabled=False):
        for k, coords in enumerate((grid[..., 0:2], grid[..., 1:3], grid[..., 0::2])):
            sampled = F.grid_sample(planes[:, k], coords.contiguous(), mode="bilinear", padding_mode="zeros",
                                    align_corners=False)  # [B,C,1,P]
            feat = sampled if feat is None else feat.add_(sampled)
    return feat[:, :, 0].transpose(1, 2)


class SynthesisBlockTexGeo(torch.nn.Module):
    """One resolution of the unified triplane backbone (GET3D ``SynthesisBlockTexGeo``).

    x [B,in,R/2,R/2] (None for the first block, which starts from the learned ``const``
    [out,4,4]) -> x [B,out,R,R]; img [B, geo_channel + img_channels, R/2, R/2] (or None) is
    upsampled and the block's ``togeo`` / ``totex`` outputs are added: img [B, geo+tex, R, R].
    Uses ``num_conv + 1`` geometry ws (conv0, conv1, togeo) and 1 texture ws (totex).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 geo_channel: int, conv_clamp: Optional[float] = None, use_noise: bool = True,
                 resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.geo_channel = geo_channel
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, use_noise=use_noise,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, use_noise=use_noise,
                                    conv_clamp=conv_clamp)
        self.num_conv += 1
        self.totex = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.togeo = ToRGBLayer(out_channels, geo_channel, w_dim, conv_clamp=conv_clamp)
        self.num_torgb = 1
        self.num_togeo = 1

    def forward(self, x, img, ws_tex: Optional[torch.Tensor], ws_geo: torch.Tensor, noise_mode: str = "const",
                fused_modconv: bool = False):
        """ws_geo [B, num_conv + 1, w_dim], ws_tex [B, 1, w_dim] or None (geometry only: img then
        holds only the geo_channel channels)."""
        w_geo = iter(ws_geo.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws_geo.shape[0], 1, 1, 1])
        else:
            x = self.conv0(x, next(w_geo), noise_mode=noise_mode, fused_modconv=fused_modconv)
        x = self.conv1(x, next(w_geo), noise_mode=noise_mode, fused_modconv=fused_modconv)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.togeo(x, next(w_geo), fused_modconv=fused_modconv)
        if ws_tex is not None:
            y = torch.cat([y, self.totex(x, ws_tex[:, 0], fused_modconv=fused_modconv)], dim=1)
        img = img + y if img is not None else y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}"


class SynthesisNetworkTexGeo(torch.nn.Module):
    """GET3D's unified triplane backbone: blocks ``b4 ... b{img_resolution}``.

    ws_geo [B, num_ws_geo, w_dim], ws_tex [B, num_ws_tex, w_dim] -> img
    [B, geo_channel + img_channels, R, R] (geometry channels first). Channels per resolution:
    ``min(channel_base // res, channel_max)``. Unlike StyleGAN2, consecutive blocks do not share
    a w: block b4 uses 2 geometry ws, every later block 3; each block 1 texture w.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, geo_channel: int,
                 channel_base: int = 32768, channel_max: int = 512, conv_clamp: Optional[float] = None,
                 use_noise: bool = True):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise Get3dError(f"triplane_res must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.geo_channel = geo_channel
        self.block_resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws_geo = 0
        self.num_ws_tex = 0
        for res in self.block_resolutions:
            block = SynthesisBlockTexGeo(
                channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels, geo_channel,
                conv_clamp=conv_clamp, use_noise=use_noise,
            )
            self.num_ws_geo += block.num_conv + block.num_togeo
            self.num_ws_tex += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws_tex: Optional[torch.Tensor], ws_geo: torch.Tensor, noise_mode: str = "const",
                fused_modconv: bool = False) -> torch.Tensor:
        """ws_tex None computes only the geometry channels (extract_meshes)."""
        x = img = None
        i_geo = i_tex = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            n_geo = block.num_conv + block.num_togeo
            cur_tex = ws_tex[:, i_tex: i_tex + 1] if ws_tex is not None else None
            x, img = block(x, img, cur_tex, ws_geo[:, i_geo: i_geo + n_geo], noise_mode, fused_modconv)
            i_geo += n_geo
            i_tex += block.num_torgb
        return img


class ImplicitSynthesisNetwork(torch.nn.Module):
    """GET3D's per-point MLP: ``n_layers`` modulated FC layers with lrelu, then a linear one.

    ws [B, n_layers + 1, w_dim] (one w per layer), x [B,P,input_channel] -> [B,P,out_channels].
    """

    def __init__(self, w_dim: int, input_channel: int, out_channels: int, latent_channel: int, n_layers: int = 1):
        super().__init__()
        self.n_layer = n_layers
        layers = [
            ImplicitSynthesisLayer(input_channel if i == 0 else latent_channel, latent_channel, w_dim)
            for i in range(n_layers)
        ]
        layers.append(ImplicitSynthesisLayer(latent_channel, out_channels, w_dim, activation="linear"))
        self.layers = torch.nn.ModuleList(layers)
        self.num_ws = n_layers + 1
        self.out_channels = out_channels

    def forward(self, ws: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(ws[:, i], x)
        return x


class TriPlaneTexGeo(torch.nn.Module):
    """Triplane backbone plus the three MLP heads (GET3D ``TriPlaneTexGeo``).

    ``num_ws_geo`` / ``num_ws_tex`` count the backbone's ws plus the MLP's (n_implicit_layer + 1);
    the heads use the ws after the backbone's.
    """

    def __init__(self, w_dim: int, img_channels: int, shape_min: float, shape_length: float,
                 tri_plane_resolution: int, feat_dim: int = 32, mlp_latent_channel: int = 32,
                 n_implicit_layer: int = 1, channel_base: int = 32768, channel_max: int = 512,
                 conv_clamp: Optional[float] = None, use_noise: bool = True, flexicubes_weights: bool = False):
        super().__init__()
        self.img_feat_dim = feat_dim
        self.w_dim = w_dim
        self.shape_min = float(shape_min)
        self.shape_length = float(shape_length)
        self.tri_plane_synthesis = SynthesisNetworkTexGeo(
            w_dim, tri_plane_resolution, img_channels=feat_dim * 3, geo_channel=feat_dim * 3,
            channel_base=channel_base, channel_max=channel_max, conv_clamp=conv_clamp, use_noise=use_noise,
        )
        mlp = dict(w_dim=w_dim, input_channel=feat_dim, latent_channel=mlp_latent_channel, n_layers=n_implicit_layer)
        self.mlp_synthesis_tex = ImplicitSynthesisNetwork(out_channels=img_channels, **mlp)
        self.mlp_synthesis_sdf = ImplicitSynthesisNetwork(out_channels=1, **mlp)
        self.mlp_synthesis_def = ImplicitSynthesisNetwork(out_channels=3, **mlp)
        self.mlp_synthesis_weight = None
        if flexicubes_weights:
            # GET3D: 21 weights per cube from its 8 corners' features, same ws as the SDF head.
            self.mlp_synthesis_weight = ImplicitSynthesisNetwork(
                out_channels=21, **{**mlp, "input_channel": feat_dim * 8})
        self.num_ws_geo = self.tri_plane_synthesis.num_ws_geo + self.mlp_synthesis_sdf.num_ws
        self.num_ws_tex = self.tri_plane_synthesis.num_ws_tex + self.mlp_synthesis_tex.num_ws

    def planes(self, ws_tex: Optional[torch.Tensor], ws_geo: torch.Tensor, **kwargs):
        """-> (geometry planes [B,3,C,R,R], texture planes [B,3,C,R,R] or None)."""
        syn = self.tri_plane_synthesis
        img = syn(ws_tex[:, : syn.num_ws_tex] if ws_tex is not None else None, ws_geo[:, : syn.num_ws_geo], **kwargs)
        b, _, r, _ = img.shape
        c = self.img_feat_dim
        geo = img[:, : 3 * c].reshape(b, 3, c, r, r)
        tex = img[:, 3 * c:].reshape(b, 3, c, r, r) if ws_tex is not None else None
        return geo, tex

    def sdf_def(self, geo_planes: torch.Tensor, position: torch.Tensor, ws_geo: torch.Tensor,
                cubes: Optional[torch.Tensor] = None):
        """position [B,N,3] -> (GET3D sdf [B,N,1], positive inside; raw deformation [B,N,3]).

        With ``cubes`` [F,8] (FlexiCubes grid; needs the weight head) a third value: raw FlexiCubes
        weights [B,F,21] = 0.1 x the weight head on the 8 corner features of each cube (GET3D)."""
        feat = sample_triplane(geo_planes, position, self.shape_min, self.shape_length)
        ws_mlp = ws_geo[:, self.tri_plane_synthesis.num_ws_geo:]
        sdf, deformation = self.mlp_synthesis_sdf(ws_mlp, feat), self.mlp_synthesis_def(ws_mlp, feat)
        if cubes is None:
            return sdf, deformation
        if self.mlp_synthesis_weight is None:
            raise Get3dError("this generator has no FlexiCubes weight head (model.iso_surface is 'dmtet')")
        corner_feat = feat[:, cubes.reshape(-1)].reshape(feat.shape[0], cubes.shape[0], -1)  # [B,F,8*C]
        return sdf, deformation, self.mlp_synthesis_weight(ws_mlp, corner_feat) * 0.1

    def texture_features(self, tex_planes: torch.Tensor, position: torch.Tensor, ws_tex: torch.Tensor) -> torch.Tensor:
        """position [B,P,3] -> texture MLP output [B,P,img_channels]."""
        feat = sample_triplane(tex_planes, position, self.shape_min, self.shape_length)
        return self.mlp_synthesis_tex(ws_tex[:, self.tri_plane_synthesis.num_ws_tex:], feat)


# ------------------------------------------------------------------------------ generator


def _ragged_to_padded(points: torch.Tensor, batch_index: torch.Tensor, batch: int):
    """points [P,3] of items batch_index [P] -> (padded [B,Pmax,3] zero-filled, slot [P]) with
    ``padded[batch_index, slot] == points``: each item's points in their order, item by item.

    The renderer emits fragments image by image, so batch_index usually arrives sorted; then
    the slots follow from the counts alone and the sort is skipped."""
    count = torch.bincount(batch_index, minlength=batch)
    p_max = max(int(count.max()), 1) if points.shape[0] else 1
    offset = torch.cumsum(count, 0) - count
    arange = torch.arange(points.shape[0], device=points.device)
    if points.shape[0] < 2 or bool((batch_index[1:] >= batch_index[:-1]).all()):
        slot = arange - offset[batch_index]
    else:
        sorted_b, order = torch.sort(batch_index, stable=True)
        slot = torch.empty_like(batch_index)
        slot[order] = arange - offset[sorted_b]
    padded = points.new_zeros(batch, p_max, points.shape[-1])
    padded = padded.index_put((batch_index, slot), points)
    return padded, slot


class Generator(torch.nn.Module):
    """GET3D generator (see the module docstring and docs/model.md).

    Args:
        cfg: model sizes (z_dim, w_dim, mapping_layers, mapping_lr_mult, triplane_res,
            triplane_channels, channel_base, channel_max, mlp_hidden, tet_res, grid_scale,
            deformation_multiplier, img_resolution, conv_clamp).
        tex_feat_channels: width of the texture MLP's output before ``to_rgb`` (GET3D
            ``--feat_channel``, 16). With 3 or fewer there is no ``to_rgb`` layer. None = cfg's.
        n_implicit_layers: hidden layers of the three MLP heads (GET3D ``--n_implicit_layer``, 1).
            None = cfg's.
        noise_mode: 'const' (GET3D always uses it for the triplanes), 'random' or 'none'.
        render_backend: rasterizer backend name ('auto', 'torch', 'nvdiffrast').
        rgb_activation: 'sigmoid' or 'get3d' (``clamp((x + 1) / 2, 0, 1)``: GET3D's images live
            in [-1, 1]; converted GET3D checkpoints use it). None = cfg's (default 'sigmoid').
        w_avg_beta: decay of the tracked mean w (truncation). None = cfg's (default 0.995, GET3D 0.998).
        fused_modconv: run modulated convs as grouped convolutions (same result).
    """

    def __init__(self, cfg: ModelConfig, *, tex_feat_channels: Optional[int] = None,
                 n_implicit_layers: Optional[int] = None, noise_mode: str = "const", render_backend: str = "auto",
                 rgb_activation: Optional[str] = None, w_avg_beta: Optional[float] = None, fused_modconv: bool = False):
        super().__init__()
        # None = the config's value (ModelConfig records these so snapshots rebuild what was trained).
        tex_feat_channels = cfg.tex_feat_channels if tex_feat_channels is None else tex_feat_channels
        n_implicit_layers = cfg.n_implicit_layers if n_implicit_layers is None else n_implicit_layers
        rgb_activation = cfg.rgb_activation if rgb_activation is None else rgb_activation
        w_avg_beta = cfg.w_avg_beta if w_avg_beta is None else w_avg_beta
        if rgb_activation not in ("sigmoid", "get3d"):
            raise Get3dError(f"rgb_activation must be 'sigmoid' or 'get3d', got {rgb_activation!r}")
        if noise_mode not in ("const", "random", "none"):
            raise Get3dError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        self.cfg = cfg
        self.z_dim = cfg.z_dim
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.tet_res = cfg.tet_res
        self.grid_scale = float(cfg.grid_scale)
        iso_surface = getattr(cfg, "iso_surface", "dmtet")
        if iso_surface not in ISO_SURFACES:
            raise Get3dError(f"model.iso_surface must be 'dmtet' or 'flexicubes', got {iso_surface!r}")
        self.iso_surface = iso_surface
        # GET3D doubles the multiplier for FlexiCubes: offsets at most half a (cube) cell.
        self.deformation_multiplier = float(cfg.deformation_multiplier) * (2 if iso_surface == "flexicubes" else 1)
        self.noise_mode = noise_mode
        self.render_backend = render_backend
        self.rgb_activation = rgb_activation
        if cfg.image_background not in ("black", "to_rgb_bias"):
            raise Get3dError(f"image_background must be 'black' or 'to_rgb_bias', got {cfg.image_background!r}")
        self.image_background = cfg.image_background
        self.antialias_color = bool(cfg.antialias_color)
        self.fused_modconv = fused_modconv
        self.generator = TriPlaneTexGeo(
            cfg.w_dim, img_channels=tex_feat_channels, shape_min=-0.5 * self.grid_scale,
            shape_length=self.grid_scale, tri_plane_resolution=cfg.triplane_res, feat_dim=cfg.triplane_channels,
            mlp_latent_channel=cfg.mlp_hidden, n_implicit_layer=n_implicit_layers, channel_base=cfg.channel_base,
            channel_max=cfg.channel_max, conv_clamp=cfg.conv_clamp, flexicubes_weights=iso_surface == "flexicubes",
        )
        if tex_feat_channels < 3:
            raise Get3dError(f"tex_feat_channels must be >= 3, got {tex_feat_channels}")
        self.to_rgb = None
        if tex_feat_channels > 3:
            self.to_rgb = ToRGBLayer(tex_feat_channels, 3, cfg.w_dim, conv_clamp=cfg.conv_clamp)
        self.num_ws_geo = self.generator.num_ws_geo
        self.num_ws_tex = self.generator.num_ws_tex
        mapping = dict(c_dim=0, w_dim=cfg.w_dim, num_layers=cfg.mapping_layers, lr_multiplier=cfg.mapping_lr_mult,
                       w_avg_beta=w_avg_beta)
        self.mapping_geo = MappingNetwork(cfg.z_dim, num_ws=self.num_ws_geo, **mapping)
        self.mapping_tex = MappingNetwork(cfg.z_dim, num_ws=self.num_ws_tex, **mapping)

    # ------------------------------------------------------------------ latents

    def mapping(self, z_geo: torch.Tensor, z_tex: torch.Tensor, psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, update_w_avg: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """z_geo, z_tex [B,z_dim] -> (ws_geo [B,num_ws_geo,w_dim], ws_tex [B,num_ws_tex,w_dim]).

        ``psi`` truncates toward each mapping's tracked ``w_avg`` (the first
        ``truncation_cutoff`` ws only, when given); ``update_w_avg`` updates the averages.
        """
        self._check_z(z_geo, "z_geo")
        self._check_z(z_tex, "z_tex")
        ws_geo = self.mapping_geo(z_geo, None, psi, truncation_cutoff, update_w_avg)
        ws_tex = self.mapping_tex(z_tex, None, psi, truncation_cutoff, update_w_avg)
        return ws_geo, ws_tex

    def _check_z(self, z: torch.Tensor, name: str) -> None:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise Get3dError(f"{name} must be [B, {self.z_dim}], got {shape}")

    def _check_ws(self, ws: torch.Tensor, num: int, name: str) -> None:
        if not isinstance(ws, torch.Tensor) or ws.dim() != 3 or ws.shape[1:] != (num, self.w_dim):
            shape = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise Get3dError(f"{name} must be [B, {num}, {self.w_dim}], got {shape}")

    def _style_mix(self, mapping: MappingNetwork, ws: torch.Tensor, z: torch.Tensor, psi: float, prob: float,
                   generator: Optional[torch.Generator], group: Optional[int] = None) -> torch.Tensor:
        """With probability ``prob`` replace ws[b, cutoff:] (cutoff uniform in [1, num_ws)) by the
        ws of a fresh z (StyleGAN2 style mixing). ``group=None`` draws the coin and the cutoff per
        sample; ``group=k`` once per chunk of k consecutive samples (GET3D draws them once per
        ``batch_gpu`` chunk of 4). The fresh z is always per sample."""
        batch, num_ws = ws.shape[:2]
        if num_ws < 2:
            return ws
        if group is not None and group < 1:
            raise Get3dError(f"style mixing group must be >= 1 or None, got {group}")
        dev = generator.device if generator is not None else z.device
        z2 = torch.randn(z.shape, generator=generator, device=dev).to(device=z.device, dtype=z.dtype)
        draws = batch if group is None else -(-batch // group)
        cutoff = torch.randint(1, num_ws, (draws,), generator=generator, device=dev)
        use = torch.rand(draws, generator=generator, device=dev) < prob
        cutoff = torch.where(use, cutoff, torch.full_like(cutoff, num_ws))
        if group is not None:
            cutoff = cutoff.repeat_interleave(group)[:batch]
        cutoff = cutoff.to(z.device)
        ws2 = mapping(z2, None, psi)
        mix = torch.arange(num_ws, device=z.device)[None, :] >= cutoff[:, None]  # [B,num_ws]
        return torch.where(mix[..., None], ws2, ws)

    # ------------------------------------------------------------------ geometry

    def _grid(self, device):
        """(scaled grid vertices [N,3], tets [T,4] or FlexiCubes cubes [F,8], unique edges [E,2]) on
        ``device`` (cached by get3d.geometry)."""
        if self.iso_surface == "flexicubes":
            grid = voxel_grid(self.tet_res, device)
            return grid.verts * self.grid_scale, grid.cubes, grid.edges
        verts, tets = tet_grid(self.tet_res, device)
        return verts * self.grid_scale, tets, edge_table(tets).edges

    def triplanes(self, ws_geo: torch.Tensor, ws_tex: Optional[torch.Tensor]):
        """-> (geometry triplane [B,3,C,R,R], texture triplane [B,3,C,R,R]; None when ws_tex is None)."""
        return self.generator.planes(ws_tex, ws_geo, noise_mode=self.noise_mode, fused_modconv=self.fused_modconv)

    def _geometry(self, ws_geo: torch.Tensor, geo_planes: torch.Tensor, closed: bool = False):
        """-> dict with sdf [B,N] (negative inside, after replacement), deformation [B,N,3],
        verts [B,N,3] deformed, empty [B], empty_loss [B], tets, edges, meshes list.

        ``closed`` extracts with the grid's boundary vertices forced outside (close_on_boundary):
        what exports use. Training renders the raw extraction, as GET3D does."""
        grid, tets, edges = self._grid(ws_geo.device)
        batch = ws_geo.shape[0]
        position = grid.to(geo_planes.dtype).unsqueeze(0).expand(batch, -1, -1)
        flexi = self.iso_surface == "flexicubes"
        if flexi:
            sdf_get3d, deformation, weights = self.generator.sdf_def(geo_planes, position, ws_geo, cubes=tets)
            weights = weights.float()
        else:
            sdf_get3d, deformation = self.generator.sdf_def(geo_planes, position, ws_geo)
        sdf = -sdf_get3d[..., 0].float()  # get3d convention: negative inside
        deformation = torch.tanh(deformation.float()) / (self.tet_res * self.deformation_multiplier)
        # FlexiCubes makes no faces on the grid's outer faces, so (as GET3D) a sign change only
        # among the boundary layer's vertices does not count as a surface.
        ignore = boundary_layer_mask(self.tet_res, grid.device) if flexi else None
        sdf_used, empty, empty_loss = replace_empty_shapes(sdf, grid, ignore=ignore)
        deformation = torch.where(empty[:, None, None], deformation.detach(), deformation)
        verts = grid.unsqueeze(0) + deformation
        # A diverged network must not crash the step: extraction sees finite stand-ins (NaN =
        # outside, NaN offsets = 0) while the returned sdf / sdf_reg keep the NaNs, so a
        # trainer's non-finite-loss check sees them.
        sdf_extract = torch.nan_to_num(sdf_used, nan=1.0, posinf=1.0, neginf=-1.0)
        if closed:
            sdf_extract = close_on_boundary(sdf_extract, grid)
        verts_extract = torch.where(torch.isfinite(verts), verts, grid.unsqueeze(0))
        out = dict(sdf=sdf_used, deformation=deformation, empty=empty, empty_loss=empty_loss, edges=edges)
        if not flexi:
            out["meshes"] = marching_tets_batched(verts_extract, tets, sdf_extract)
            return out
        out["weights"] = weights
        out["meshes"], out["flexicubes_surface_reg"] = flexicubes_meshes(
            verts_extract, sdf_extract, tets, self.tet_res, torch.nan_to_num(weights), training=self.training)
        out["flexicubes_weights_reg"] = (weights ** 2).mean()
        return out

    def extract_meshes(self, ws_geo: torch.Tensor, empty_as_none: bool = False, closed: bool = True
                       ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """ws_geo [B,num_ws_geo,w_dim] -> B meshes (verts [V,3], faces [F,3] int64); no rendering,
        no texture branch. Empty shapes give the template's small surface (see replace_empty_shapes),
        or (verts, None) with ``empty_as_none`` (what exporters want: nothing to write).
        ``closed`` (default) caps surfaces cut by the grid's box so meshes are watertight
        (close_on_boundary); ``closed=False`` gives the raw extraction that training renders."""
        self._check_ws(ws_geo, self.num_ws_geo, "ws_geo")
        geo_planes, _ = self.triplanes(ws_geo, None)
        with torch.autocast(ws_geo.device.type, enabled=False):
            geometry = self._geometry(ws_geo.float(), geo_planes.float(), closed=closed)
        if not empty_as_none:
            return geometry["meshes"]
        return [(v, None if bool(empty) else f) for (v, f), empty in zip(geometry["meshes"], geometry["empty"])]

    # ------------------------------------------------------------------ texture

    def _texture_padded(self, tex_planes: torch.Tensor, ws_tex: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """points [B,P,3] -> rgb [B,P,3] in [0,1]."""
        return self._to_rgb(self.generator.texture_features(tex_planes, points, ws_tex), ws_tex)

    def _to_rgb(self, feat: torch.Tensor, ws_tex: torch.Tensor) -> torch.Tensor:
        """texture features [B,P,C] -> rgb [B,P,3] in [0,1] (to_rgb, then the colour activation)."""
        if self.to_rgb is not None:
            feat = self.to_rgb.forward_points(feat, ws_tex[:, -1])
        feat = feat.float()
        if self.rgb_activation == "sigmoid":
            return torch.sigmoid(feat)
        return ((feat + 1) / 2).clamp(0, 1)

    def background_color(self, ws_tex: torch.Tensor) -> torch.Tensor:
        """ws_tex [B,num_ws_tex,w_dim] -> [B,3]: the colour of zero texture features, which is what
        GET3D's images show off the object (to_rgb's bias through the activation)."""
        channels = self.to_rgb.in_channels if self.to_rgb is not None else 3
        return self._to_rgb(ws_tex.new_zeros(ws_tex.shape[0], 1, channels), ws_tex)[:, 0]

    def _texture_ragged(self, tex_planes, ws_tex, points: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
        if points.shape[0] == 0:
            return points.new_zeros(0, 3) + 0 * tex_planes.sum()
        if ws_tex.shape[0] == 1:  # one item (texture baking): every point is item 0's, no padding
            return self._texture_padded(tex_planes, ws_tex, points.unsqueeze(0))[0]
        padded, slot = _ragged_to_padded(points, batch_index, ws_tex.shape[0])
        return self._texture_padded(tex_planes, ws_tex, padded)[batch_index, slot]

    def texture_colors(self, ws_tex: torch.Tensor, points: torch.Tensor, batch_index: torch.Tensor, *,
                       ws_geo: Optional[torch.Tensor] = None, tex_planes: Optional[torch.Tensor] = None
                       ) -> torch.Tensor:
        """Query the texture field: points [P,3] world positions of items batch_index [P] ->
        rgb [P,3] in [0,1] (what the renderer shows there, before antialiasing).

        In GET3D's unified generator the texture triplane comes out of the same backbone as the
        geometry, so it depends on ws_geo too: pass ``ws_geo`` (the texture triplane is then
        computed here) or a precomputed ``tex_planes`` [B,3,C,R,R] from :meth:`triplanes`.
        """
        self._check_ws(ws_tex, self.num_ws_tex, "ws_tex")
        if points.dim() != 2 or points.shape[-1] != 3 or batch_index.shape != points.shape[:1]:
            raise Get3dError(f"points must be [P,3] and batch_index [P]; got {tuple(points.shape)}, "
                             f"{tuple(batch_index.shape)}")
        if tex_planes is None:
            if ws_geo is None:
                raise Get3dError("texture_colors needs ws_geo (or tex_planes): the unified GET3D backbone "
                                 "makes the texture triplane from both codes")
            self._check_ws(ws_geo, self.num_ws_geo, "ws_geo")
            _, tex_planes = self.triplanes(ws_geo, ws_tex)
        with torch.autocast(points.device.type, enabled=False):
            return self._texture_ragged(tex_planes.float(), ws_tex.float(), points.float(), batch_index.long())

    # ------------------------------------------------------------------ synthesis

    def synthesis(self, ws_geo: torch.Tensor, ws_tex: torch.Tensor, cameras: Cameras,
                  resolution: Optional[int] = None, return_meshes: bool = False) -> GeneratorOutput:
        """ws -> meshes -> images seen from ``cameras`` (B entries, or 1 shared) at ``resolution``
        (default cfg.img_resolution). See GeneratorOutput."""
        self._check_ws(ws_geo, self.num_ws_geo, "ws_geo")
        self._check_ws(ws_tex, self.num_ws_tex, "ws_tex")
        if ws_geo.shape[0] != ws_tex.shape[0]:
            raise Get3dError(f"ws_geo has {ws_geo.shape[0]} items but ws_tex {ws_tex.shape[0]}")
        resolution = self.img_resolution if resolution is None else resolution
        geo_planes, tex_planes = self.triplanes(ws_geo, ws_tex)
        # Under autocast only the convolutional backbone runs in reduced precision: the heads,
        # marching tets and the rasterizer (nvdiffrast needs float32) run in float32.
        with torch.autocast(ws_geo.device.type, enabled=False):
            ws_geo, ws_tex = ws_geo.float(), ws_tex.float()
            geo_planes, tex_planes = geo_planes.float(), tex_planes.float()
            geo = self._geometry(ws_geo, geo_planes)
            meshes = geo["meshes"]

            def texture_fn(points: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
                return self._texture_ragged(tex_planes, ws_tex, points, batch_index)

            result = Renderer(self.render_backend).render(
                [v for v, _ in meshes], [f for _, f in meshes], cameras, resolution, texture_fn=texture_fn,
                antialias_color=self.antialias_color,
            )
            rgb = result.color
            if self.image_background == "to_rgb_bias":
                covered = result.mask if self.antialias_color else result.hard_mask
                rgb = rgb + self.background_color(ws_tex)[:, None, None, :] * (1 - covered)
            sdf_entropy = sdf_reg_loss(geo["sdf"], geo["edges"])
        return GeneratorOutput(
            rgb=rgb.permute(0, 3, 1, 2),
            mask=result.mask.permute(0, 3, 1, 2),
            sdf=geo["sdf"],
            sdf_reg=sdf_entropy + geo["empty_loss"],
            empty=geo["empty"],
            meshes=meshes if return_meshes else None,
            sdf_entropy=sdf_entropy,
            empty_loss=geo["empty_loss"],
            deformation=geo["deformation"],
            flexicubes_surface_reg=geo.get("flexicubes_surface_reg"),
            flexicubes_weights_reg=geo.get("flexicubes_weights_reg"),
        )

    def forward(self, z_geo: torch.Tensor, z_tex: torch.Tensor, cameras: Cameras, psi: float = 1.0,
                style_mixing_prob: float = 0.0, update_w_avg: bool = False, resolution: Optional[int] = None,
                return_meshes: bool = False, generator: Optional[torch.Generator] = None,
                style_mixing_group: Optional[int] = None) -> GeneratorOutput:
        """mapping (+ style mixing with probability ``style_mixing_prob`` per sample, or per chunk
        of ``style_mixing_group`` samples, using the ``generator`` RNG for the extra z, the cutoffs
        and the coin flips) -> synthesis."""
        ws_geo, ws_tex = self.mapping(z_geo, z_tex, psi=psi, update_w_avg=update_w_avg)
        if style_mixing_prob > 0:
            ws_geo = self._style_mix(self.mapping_geo, ws_geo, z_geo, psi, style_mixing_prob, generator,
                                     style_mixing_group)
            ws_tex = self._style_mix(self.mapping_tex, ws_tex, z_tex, psi, style_mixing_prob, generator,
                                     style_mixing_group)
        return self.synthesis(ws_geo, ws_tex, cameras, resolution=resolution, return_meshes=return_meshes)


def flexicubes_meshes(verts: torch.Tensor, sdf: torch.Tensor, cubes: torch.Tensor, res: int, weights: torch.Tensor,
                      training: bool) -> Tuple[list, torch.Tensor]:
    """FlexiCubes per shape, as GET3D's generator runs it: verts [B,N,3] deformed grid, sdf [B,N]
    (negative inside), cubes [F,8], weights [B,F,21] raw (12 beta, 8 alpha, 1 gamma) ->
    (B meshes (verts [V,3], faces [F,3] int64), mean of all shapes' L_dev entries (0 if none))."""
    meshes, l_dev = [], []
    for b in range(sdf.shape[0]):
        w = weights[b]
        v, f, dev = flexicubes(verts[b], sdf[b], cubes, res, w[:, :12], w[:, 12:20], w[:, 20], training=training,
                               weight_scale=FLEXICUBES_WEIGHT_SCALE)
        meshes.append((v, f))
        l_dev.append(dev)
    l_dev = torch.cat(l_dev)
    surface_reg = l_dev.mean() if l_dev.numel() else weights.sum() * 0
    return meshes, surface_reg


def seed_latents(generator, seeds: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    """z_geo, z_tex [len(seeds), z_dim]: each seed alone decides its two codes (CPU RNG, so
    the same seed gives the same codes on any device)."""
    z = torch.stack([torch.randn(2, generator.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    return z[:, 0].to(device), z[:, 1].to(device)
