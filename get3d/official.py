"""GET3D's released checkpoints -> get3d models (tensors only: nothing is unpickled).

GET3D (nv-tlabs/GET3D) writes ``network-snapshot-*.pt`` files, and released its pretrained
ShapeNet models, as ``torch.save({'G': ..., 'G_ema': ..., 'D': ...})`` of three state dicts.
:func:`load_official_checkpoint` opens such a file with ``torch.load(weights_only=True)``, which
only rebuilds tensors and plain containers, so a downloaded checkpoint cannot run code.

Key mapping (docs/model.md, "Checkpoint names"): generator keys lose their ``synthesis.`` prefix
(``synthesis.generator.*`` -> ``generator.*``, ``synthesis.to_rgb.*`` -> ``to_rgb.*``) and the texture
mapping ``mapping.*`` becomes ``mapping_tex.*``; ``synthesis.dmtet_geometry.*`` buffers (GET3D's
Quartet grid) are dropped, since get3d builds its tet grid in code. The discriminator splits in two:
``b{res}.*``, ``b4.*``, ``mapping.*`` form the RGB discriminator, ``mask_b{res}.*``, ``mask_b4.*``,
``mask_mapping.*`` the mask one.

No configuration is stored in the file, so the architecture is read from tensor shapes: z/w sizes
and mapping depth from the mapping networks, triplane resolution and channels from the backbone
blocks, the channel schedule (``channel_base``, ``channel_max``) from each block's width, the heads'
widths and depth, the texture feature width, the discriminator resolution, architecture (skip or
resnet) and camera code (GET3D's 14 values). What shapes cannot tell (tet_res, dmtet_scale) comes
from the category's row in get3d.categories, or the arguments. Converted generators use GET3D's colour activation
(``rgb_activation='get3d'``), and its images: the ``to_rgb`` bias as background, colour not
antialiased (``image_background='to_rgb_bias'``, ``antialias_color=False``).

Sign convention: get3d's SDF is negative inside, GET3D's head positive inside; the generator keeps
GET3D's head and negates its output (get3d/networks/generator.py), so weights need no change.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from get3d.categories import CATEGORIES as _ROWS
from get3d.categories import GET3D_TET_RES, SYNSETS, find_category, get_category
from get3d.config import Config, ModelConfig
from get3d.errors import Get3dError
from get3d.snapshot import write_snapshot

__all__ = ["CATEGORIES", "SYNSETS", "OfficialCheckpoint", "convert_official", "is_official_checkpoint",
           "load_official_checkpoint", "official_model_config", "split_official_state"]

# What loading a GET3D checkpoint takes from each category's row (get3d.categories): its grid.
CATEGORIES = {name: dict(tet_res=row.tet_res, grid_scale=row.grid_scale) for name, row in _ROWS.items()}
# How GET3D turns its texture field into images; converted checkpoints, and runs started from one
# with `get3d train --init`, use it (the weights' to_rgb was trained for it).
IMAGE_STYLE = {"rgb_activation": "get3d", "image_background": "to_rgb_bias", "antialias_color": False}


@dataclass
class OfficialCheckpoint:
    """A converted GET3D checkpoint: get3d modules (eval mode) and the Config that rebuilds them."""

    G: torch.nn.Module  # get3d Generator (GET3D's 'G')
    G_ema: torch.nn.Module  # get3d Generator (GET3D's 'G_ema': the one to sample from)
    D_rgb: Optional[torch.nn.Module]  # get3d Discriminator on RGB, None when the file has no 'D'
    D_mask: Optional[torch.nn.Module]  # get3d Discriminator on the mask
    config: Config
    source: str


def is_official_checkpoint(path) -> bool:
    """True for a GET3D ``.pt`` / ``.pkl`` file (by suffix; contents are checked on loading)."""
    return Path(path).suffix.lower() in (".pt", ".pth", ".pkl") and Path(path).is_file()


def _load_file(path: Path) -> dict:
    if not path.is_file():
        raise Get3dError(f"{path}: GET3D checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a tensors-only GET3D file"
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise Get3dError(f"{path}: not a GET3D checkpoint readable as tensors only ({first})") from None
    if not isinstance(data, dict) or "G_ema" not in data:
        keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise Get3dError(f"{path}: not a GET3D checkpoint (expected a dict with 'G', 'G_ema', 'D'; found {keys})")
    for name in ("G", "G_ema", "D"):
        if name in data and not isinstance(data[name], dict):
            raise Get3dError(f"{path}: '{name}' is not a state dict of tensors")
        for key, value in (data.get(name) or {}).items():
            if not isinstance(key, str) or not torch.is_tensor(value):
                raise Get3dError(f"{path}: '{name}' entry {str(key)[:80]!r} is a {type(value).__name__}, not a tensor")
            if not value.is_floating_point() and key.endswith((".weight", ".bias")):
                raise Get3dError(f"{path}: '{name}' entry {key!r} holds {value.dtype} values, not floating point")
    return data


def _shape(state: dict, key: str, source: str):
    if key not in state:
        raise Get3dError(f"{source}: not a GET3D generator: missing key {key!r}")
    return tuple(state[key].shape)


def official_model_config(g_state: dict, d_state: Optional[dict] = None, *, tet_res: int = GET3D_TET_RES,
                          grid_scale: float = 1.0, source: str = "checkpoint") -> ModelConfig:
    """Read GET3D's architecture from the tensor shapes of its G (and D) state dicts."""
    fcs = sorted(int(m.group(1)) for k in g_state if (m := re.fullmatch(r"mapping_geo\.fc(\d+)\.weight", k)))
    if not fcs:
        raise Get3dError(f"{source}: not a GET3D generator: missing key 'mapping_geo.fc0.weight'")
    z_dim = _shape(g_state, "mapping_geo.fc0.weight", source)[1]
    w_dim = _shape(g_state, f"mapping_geo.fc{fcs[-1]}.weight", source)[0]
    prefix = "synthesis.generator.tri_plane_synthesis."
    block_res = sorted({int(m.group(1)) for k in g_state if (m := re.match(re.escape(prefix) + r"b(\d+)\.", k))})
    if not block_res:
        raise Get3dError(f"{source}: not a GET3D generator: missing key {prefix + 'b4.const'!r}")
    widths = {res: _shape(g_state, f"{prefix}b{res}.conv1.weight", source)[0] for res in block_res}
    channel_max = max(widths.values())
    top = block_res[-1]
    channel_base = widths[top] * top if widths[top] < channel_max else channel_max * top
    schedule = {res: min(channel_base // res, channel_max) for res in block_res}
    if schedule != widths:
        raise Get3dError(f"{source}: backbone widths {widths} follow no StyleGAN2 channel schedule")
    feat = _shape(g_state, f"{prefix}b4.togeo.weight", source)[0] // 3
    if any(k.startswith("synthesis.generator.mlp_synthesis_weight.") for k in g_state):
        # GET3D released no FlexiCubes checkpoints; its FlexiCubes mode feeds the SDF head's output
        # to FlexiCubes unnegated (negative inside), unlike its DMTet mode, so a conversion would
        # need its own sign rule. Not guessed here.
        raise Get3dError(f"{source}: a GET3D checkpoint with flexicubes surfaces (its --iso_surface flexicubes); converting those is not "
                         "supported (train with get3d's model.iso_surface = 'flexicubes', --iso-surface flexicubes, instead)")
    mlp = "synthesis.generator.mlp_synthesis_sdf.layers."
    n_layers = len({k.split(".")[4] for k in g_state if k.startswith(mlp)})
    tex_last = f"synthesis.generator.mlp_synthesis_tex.layers.{n_layers - 1}.weight"
    cfg = ModelConfig(
        z_dim=z_dim, w_dim=w_dim, mapping_layers=len(fcs), mapping_lr_mult=0.01, triplane_res=top,
        triplane_channels=feat, channel_base=channel_base, channel_max=channel_max,
        mlp_hidden=_shape(g_state, f"{mlp}0.weight", source)[0], tet_res=int(tet_res), grid_scale=float(grid_scale),
        deformation_multiplier=1.0, conv_clamp=None, tex_feat_channels=_shape(g_state, tex_last, source)[0],
        n_implicit_layers=n_layers - 1, d_architecture="skip", d_camera_encoding="get3d",
        **IMAGE_STYLE,  # GET3D's colour activation and images (docs/model.md)
        w_avg_beta=0.998,  # GET3D's MappingNetwork default (matters only if training continues)
    )
    if d_state:
        d_res = sorted(int(m.group(1)) for k in d_state if (m := re.fullmatch(r"b(\d+)\.conv0\.weight", k)))
        if not d_res:
            raise Get3dError(f"{source}: not a GET3D discriminator: missing key 'b8.conv0.weight'")
        cfg.img_resolution = d_res[-1]
        d_widths = {res: d_state[f"b{res}.conv0.weight"].shape[0] for res in d_res}
        d_max = max(d_widths.values())
        d_base = d_widths[d_res[-1]] * d_res[-1] if d_widths[d_res[-1]] < d_max else d_max * d_res[-1]
        if (d_base, d_max) != (channel_base, channel_max):
            cfg.d_channel_base, cfg.d_channel_max = d_base, d_max
        cfg.d_architecture = "resnet" if any(k.endswith(".skip.weight") for k in d_state) else "skip"
        embed = d_state.get("mapping.embed.weight")
        cfg.d_camera_encoding = "get3d" if embed is None or embed.shape[1] == 14 else "sincos"
        # GET3D --add_camera_cond 0 builds its discriminators without a camera mapping.
        cfg.d_camera_cond = any(k.startswith("mapping.") for k in d_state)
    return cfg


def split_official_state(g_state: dict, d_state: Optional[dict]):
    """GET3D key names -> (generator state, RGB D state, mask D state) in get3d names."""
    gen = {}
    for key, value in g_state.items():
        if key.startswith("synthesis.dmtet_geometry."):
            continue  # GET3D's Quartet grid buffers: get3d builds its grid in code
        if key.startswith("synthesis."):
            key = key[len("synthesis."):]
        elif key.startswith("mapping."):
            key = "mapping_tex." + key[len("mapping."):]
        gen[key] = value
    rgb, mask = {}, {}
    for key, value in (d_state or {}).items():
        if key.startswith("mask_"):
            mask[key[len("mask_"):]] = value
        else:
            rgb[key] = value
    return gen, rgb, mask


def _load_strict(module: torch.nn.Module, state: dict, what: str, source: str) -> None:
    """Copy ``state`` into ``module``; one line naming the first missing/unexpected/mis-shaped key."""
    ours = module.state_dict()
    missing = [k for k in ours if k not in state]
    extra = [k for k in state if k not in ours]
    if missing:
        raise Get3dError(f"{source}: {what} is missing key {missing[0]!r} ({len(missing)} missing)")
    if extra:
        raise Get3dError(f"{source}: {what} has unexpected key {extra[0]!r} ({len(extra)} unexpected)")
    for key, value in state.items():
        if tuple(value.shape) != tuple(ours[key].shape):
            raise Get3dError(f"{source}: {what} key {key!r} has shape {tuple(value.shape)}, "
                             f"expected {tuple(ours[key].shape)}")
    module.load_state_dict(state, strict=True)


def _resolve_grid(category: Optional[str], tet_res: Optional[int], grid_scale: Optional[float]):
    if category is not None:
        row = get_category(category, "category (--category)")
        tet_res = row.tet_res if tet_res is None else tet_res
        grid_scale = row.grid_scale if grid_scale is None else grid_scale
    if grid_scale is None:
        raise Get3dError("GET3D checkpoints do not store their grid scale: give category (--category: car, chair, "
                         "motorbike, ...) or grid_scale (--grid-scale, GET3D's dmtet_scale)")
    tet_res = GET3D_TET_RES if tet_res is None else tet_res
    from get3d.geometry.tets import cells_for_resolution

    try:
        cells_for_resolution(tet_res)  # before anything is converted or written
    except Get3dError as err:
        raise Get3dError(f"tet_res (--tet-res): {err}") from None
    if not (float(grid_scale) > 0 and math.isfinite(float(grid_scale))):
        raise Get3dError(f"grid_scale (--grid-scale) must be > 0, got {grid_scale}")
    return int(tet_res), float(grid_scale)


def describe_grid(category: Optional[str], tet_res: Optional[int], grid_scale: Optional[float]) -> str:
    """One line saying which grid a conversion uses and where each value came from (a wrong grid
    scale does not fail: it makes every mesh too big or too small, so it is said aloud)."""
    res, scale = _resolve_grid(category, tet_res, grid_scale)
    row = find_category(category) if category is not None else None
    key = row.name if row is not None else None
    documented = row is not None and row.r1_gamma is not None  # GET3D published a training command for it
    res_from = "tet_res (--tet-res)" if tet_res is not None else "GET3D's default"
    if grid_scale is not None:
        scale_from = "grid_scale (--grid-scale)"
    elif documented:
        scale_from = f"GET3D's dmtet_scale for {key}"
    else:
        published = ", ".join(f"{r.name} {r.grid_scale:g}" for r in _ROWS.values() if r.r1_gamma is not None)
        scale_from = (f"get3d's assumption for {key}, not a documented GET3D value (those: {published}); if the "
                      f"meshes look cut off or shrunk, convert again with the grid_scale (--grid-scale) the model was trained with")
    return f"grid: tet_res {res} ({res_from}), grid_scale {scale} ({scale_from})"


def load_official_checkpoint(path, category: Optional[str] = None, tet_res: Optional[int] = None,
                             grid_scale: Optional[float] = None, device=None) -> OfficialCheckpoint:
    """Open a GET3D ``.pt`` checkpoint -> OfficialCheckpoint (see the module docstring)."""
    from get3d.networks.discriminator import build_discriminators
    from get3d.networks.generator import Generator

    path = Path(path)
    source = str(path)
    data = _load_file(path)
    tet_res, grid_scale = _resolve_grid(category, tet_res, grid_scale)
    d_state = data.get("D")
    try:
        model = official_model_config(data["G_ema"], d_state, tet_res=tet_res, grid_scale=grid_scale, source=source)
        for name in ("triplane_res", "img_resolution"):
            value = getattr(model, name)
            if value & (value - 1) or not 4 <= value <= 4096:
                raise Get3dError(f"{source}: tensor names give {name} {value}, not a power of two in [4, 4096]")
        config = Config(model=model)
        config.data.resolution = model.img_resolution
        config.data.category = category
        generators = {}
        for name in ("G", "G_ema"):
            if name not in data:
                continue
            gen_state, _, _ = split_official_state(data[name], None)
            generator = Generator(model)
            _load_strict(generator, gen_state, f"'{name}'", source)
            generators[name] = generator
        d_rgb = d_mask = None
        if d_state:
            _, rgb_state, mask_state = split_official_state({}, d_state)
            d_rgb, d_mask = build_discriminators(model)
            _load_strict(d_rgb, rgb_state, "'D' (RGB part)", source)
            _load_strict(d_mask, mask_state, "'D' (mask part: mask_*)", source)
    except Get3dError:
        raise
    except Exception as err:  # noqa: BLE001 - shapes that fit no GET3D model: one line, not a traceback
        text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise Get3dError(f"{source}: its tensors describe no GET3D model ({type(err).__name__}: {text})") from None
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    move = lambda m: None if m is None else m.to(device).eval()  # noqa: E731
    g_ema = move(generators["G_ema"])
    return OfficialCheckpoint(G=move(generators.get("G", generators["G_ema"])), G_ema=g_ema, D_rgb=move(d_rgb),
                              D_mask=move(d_mask), config=config, source=source)


def convert_official(path, out, category: Optional[str] = None, tet_res: Optional[int] = None,
                     grid_scale: Optional[float] = None) -> Path:
    """``get3d convert-official``: write a GET3D checkpoint as a get3d snapshot -> its JSON path."""
    ckpt = load_official_checkpoint(path, category, tet_res, grid_scale, device="cpu")
    modules = {"G": ckpt.G, "G_ema": ckpt.G_ema}
    if ckpt.D_rgb is not None:
        modules.update(D_rgb=ckpt.D_rgb, D_mask=ckpt.D_mask)
    out = Path(out)
    stem = None
    if out.suffix in (".json", ".safetensors"):
        out, stem = out.parent, out.stem
    snapshot = write_snapshot(out, 0, modules, config=ckpt.config, save_rng=False,
                              extra={"converted_from": str(path), "category": category}, stem=stem)
    return Path(snapshot.json_path)
