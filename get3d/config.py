"""Configs for the GET3D model and its training, with named presets.

A config is three dataclasses (model, training, data) that round-trip through plain JSON, so a
snapshot records exactly how it was made. Presets give GET3D's published settings per ShapeNet
category and a ``tiny`` one that trains on a laptop CPU.

GET3D's own defaults (its ``train_3d.py`` and released configs): z/w 512, 8-layer mappings with
lr multiplier 0.01, triplanes of 3 x 32 channels at 256^2 from a StyleGAN2 backbone
(channel_base 32768, channel_max 512), deformation multiplier 1.0, 1024^2 images, batch 32 over
8 GPUs, Adam lr 0.002 betas (0, 0.99), lazy R1 every 16 steps, SDF regulariser 0.01, style mixing
0.9. The per-category values (tet_res, dmtet_scale, R1 gamma) come from get3d.categories: one
``shapenet-<name>`` preset per category that has a published gamma.

Training choices where this project's own ('plus') and GET3D's reference code ('reference': what
nv-tlabs' train_3d.py runs) differ are fields too, set together by :func:`apply_variant`
(VARIANTS; docs/training.md). The variants were once named 'get3d-plus' and 'get3d' (the second
read as this package, not the paper); configs, snapshots and run folders that record those names
still load, read as the new ones (VARIANT_ALIASES). Fields added after snapshots were first
written default to what those snapshots were built and trained with.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from get3d.categories import CAMERA_MODES, CATEGORIES, GET3D_TET_RES, Category
from get3d.errors import Get3dError


@dataclass
class ModelConfig:
    z_dim: int = 512  # each of z_geo and z_tex
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mult: float = 0.01
    triplane_res: int = 256  # final triplane resolution (the backbone starts at 4)
    triplane_channels: int = 32  # per plane, for each of the geometry and texture triplanes
    channel_base: int = 32768  # StyleGAN2 channel schedule: min(channel_base // res, channel_max)
    channel_max: int = 512
    mlp_hidden: int = 32  # hidden width of the SDF/deformation and texture MLP heads (GET3D 32)
    tet_res: int = GET3D_TET_RES
    grid_scale: float = 1.0  # GET3D's dmtet_scale: grid vertices span [-0.5, 0.5]^3 * grid_scale
    deformation_multiplier: float = 1.0
    img_resolution: int = 1024  # render resolution during training
    conv_clamp: float | None = 256.0  # StyleGAN2 activation clamp (used with mixed precision)
    # Choices that used to be constructor-only arguments; recorded here so a snapshot rebuilds
    # exactly what was trained. Snapshots written before these fields existed get the defaults,
    # which are what those snapshots were built with.
    tex_feat_channels: int = 16  # texture MLP output width before to_rgb (GET3D --feat_channel)
    n_implicit_layers: int = 1  # hidden layers of the SDF/deformation/texture heads (GET3D 1)
    rgb_activation: str = "sigmoid"  # 'sigmoid' (this project's) or 'get3d' (GET3D's clamp((x + 1) / 2, 0, 1), converted weights)
    # How Generator.synthesis composes its images. get3d: colour antialiased like the mask, on black
    # (as the dataset images). GET3D: colour from the hard (centre-covered) mask, not antialiased,
    # with to_rgb applied to zero features off the object, so the background shows to_rgb's bias.
    image_background: str = "black"  # 'black' or 'to_rgb_bias' (GET3D's)
    antialias_color: bool = True  # False = GET3D's (only the mask is antialiased)
    d_architecture: str = "resnet"  # discriminators: 'resnet' or 'skip' (GET3D's released configs)
    d_camera_encoding: str = "sincos"  # discriminator camera code: 'sincos' (4) or 'get3d' (14 values)
    d_channel_base: int | None = None  # discriminator channel schedule (None = channel_base / channel_max)
    d_channel_max: int | None = None
    w_avg_beta: float = 0.995  # decay of the mappings' tracked mean w (GET3D 0.998; truncation only)
    # Surface extractor (GET3D --iso_surface): 'dmtet' (tet grid) or 'flexicubes' (voxel grid with
    # tet_res cubes per axis, a per-cube weight head, docs/model.md). Older snapshots: 'dmtet'.
    iso_surface: str = "dmtet"
    # Discriminators conditioned on the camera (GET3D --add_camera_cond, default on); off for data
    # whose cameras are unknown: D then sees images only.
    d_camera_cond: bool = True


@dataclass
class TrainConfig:
    batch: int = 32  # total over all GPUs
    lr_g: float = 0.002
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = CATEGORIES["car"].r1_gamma  # for the RGB discriminator (the defaults are GET3D's car run)
    r1_gamma_mask: float | None = None  # for the mask discriminator; None = same as r1_gamma
    r1_interval: int = 16  # lazy regularisation; lr and betas are rescaled accordingly
    sdf_reg_weight: float = 0.01
    style_mixing_prob: float = 0.9
    ema_kimg: float | None = 10.0  # G_ema half-life in kimg; None = GET3D's batch * 10 / 32
    ema_rampup: float | None = 0.05  # EMA half-life ramp-up as a fraction of images seen
    kimg: float = 20000.0  # training length
    snapshot_kimg: float = 200.0  # snapshot (and image grid) interval
    keep_snapshots: int = 3
    log_interval_kimg: float = 4.0
    seed: int = 0
    mixed_precision: bool = False  # bf16/fp16 autocast on GPU where stable (measured in bench/train.py)
    channels_last: bool = False
    compile: bool = False  # torch.compile the networks
    max_bad_steps: int = 10  # consecutive non-finite steps before training stops
    # GET3D's reference choices vs this project's own (docs/training.md). The defaults are what
    # snapshots written before these fields existed were trained with ('plus'); apply_variant()
    # sets them all, and the shapenet-* presets use 'reference'.
    variant: str = "plus"  # the bundle the fields below started from (see VARIANTS; old names read as new)
    g_reg_interval: int | None = None  # G's Adam lr/betas rescaled as if lazily regularised every k steps (GET3D 4)
    empty_loss_weight: float | None = None  # weight of the empty-shape loss; None = sdf_reg_weight (GET3D 1)
    mask_range: str = "signed"  # masks into D_mask: 'signed' ([-1, 1], like RGB) or 'unit' ([0, 1], GET3D)
    style_mixing_group: int | None = None  # samples sharing one mixing draw; None = per sample (GET3D 4 = batch_gpu)
    w_avg_phase: str = "G"  # pass that updates w_avg: 'G' (Gmain) or 'D' (the Dmain fakes, GET3D)
    # FlexiCubes mode only (model.iso_surface): GET3D's lambda_flexicubes_surface_reg (x mean L_dev)
    # and lambda_flexicubes_weights_reg (x mean squared weight).
    flexicubes_surface_reg: float = 0.5
    flexicubes_weights_reg: float = 0.1

    def __post_init__(self):
        # A config written before the rename says 'get3d' / 'get3d-plus': read it as the new name.
        self.variant = VARIANT_ALIASES.get(self.variant, self.variant)


@dataclass
class DataConfig:
    resolution: int = 1024  # images are resized to this (and the generator renders at it)
    category: str | None = None  # category folder under img/ (None = all)
    split_file: str | None = None
    rotation_range: tuple[float, float] = (0.0, 360.0)  # fake-camera sampling, degrees
    elevation_range: tuple[float, float] = (0.0, 30.0)
    # The GET3D --data_camera_mode name the two ranges above came from (CAMERA_MODES), if any.
    camera_mode: str | None = None
    workers: int = 2
    # Real images: 'blend' (colour premultiplied by alpha, area-resized; soft mask like the
    # generator's antialiased one) or 'binary' (GET3D's training/dataset.py: RGB bilinear, alpha
    # nearest, colour kept where alpha > 0, mask binarised).
    alpha: str = "blend"


# GET3D's named camera distributions for the generator's training views (--data_camera_mode):
# get3d.categories.CAMERA_MODES, each category's row. Radius 1.2, azimuth uniform over the full
# circle, polar angle from the up axis uniform in [90 - e_hi, 90 - e_lo] degrees, i.e. elevation
# uniform in (e_lo, e_hi).


def apply_camera_mode(config: "Config", name: str) -> "Config":
    """Set data.rotation_range / elevation_range from a GET3D camera mode name (in place, returned)."""
    if name not in CAMERA_MODES:
        raise Get3dError(f"unknown camera mode {name!r}; choose from {', '.join(CAMERA_MODES)}")
    config.data.rotation_range = (0.0, 360.0)
    config.data.elevation_range = tuple(CAMERA_MODES[name])
    config.data.camera_mode = name
    return config


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        if not isinstance(data, dict):
            raise Get3dError(f"a config must be a JSON object, got {type(data).__name__}")
        return cls(
            model=_build(ModelConfig, data.get("model", {}), "model"),
            train=_build(TrainConfig, data.get("train", {}), "train"),
            data=_build(DataConfig, data.get("data", {}), "data"),
        )

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Config":
        path = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        try:
            data = json.loads(path.read_text() if path is not None else str(text_or_path))
        except FileNotFoundError:
            raise Get3dError(f"{path}: config file not found") from None
        except json.JSONDecodeError as err:
            raise Get3dError(f"{path or 'config'}: not valid JSON ({err})") from None
        return cls.from_dict(data)


MAX_CONFIG_INT = 2 ** 24  # far above any real size, far below an allocation that would take the machine


def _check_value(section: str, name: str, annotation: str, value) -> None:
    """A config value must have its field's type (a JSON config or snapshot is untrusted input):
    ints within +-MAX_CONFIG_INT, floats finite, pairs of numbers, strings, booleans, or None
    where the field allows it."""
    allowed = annotation.replace(" ", "")
    where = f"config {section}.{name}"
    if value is None:
        if "None" not in allowed:
            raise Get3dError(f"{where} must not be null")
        return
    if allowed.startswith("tuple["):
        if not isinstance(value, (list, tuple)) or len(value) != allowed.count(",") + 1 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            raise Get3dError(f"{where} must be a list of {allowed.count(',') + 1} numbers, got {value!r}"[:300])
        return
    kinds = set(allowed.split("|")) - {"None"}
    if "bool" in kinds:
        ok = isinstance(value, bool)
    elif "float" in kinds:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif "int" in kinds:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_CONFIG_INT
    elif "str" in kinds:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise Get3dError(f"{where} must be {' or '.join(sorted(kinds))}"
                         f"{' (|value| <= %d)' % MAX_CONFIG_INT if kinds == {'int'} else ''}, got {value!r}"[:300])


def _build(kind, values: dict[str, Any], section: str):
    if not isinstance(values, dict):
        raise Get3dError(f"config section {section!r} must be an object, got {type(values).__name__}")
    names = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(names), key=str)
    if unknown:
        raise Get3dError(f"config section {section!r} has unknown key {unknown[0]!r}")
    for key, value in values.items():
        _check_value(section, key, str(names[key].type), value)
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**converted)


# The variants' names before they were renamed (a snapshot records its variant): read as the new ones.
VARIANT_ALIASES = {"get3d": "reference", "get3d-plus": "plus"}

# Each variant sets these fields; "reference" is what GET3D's train_3d.py and training loop run,
# "plus" this project's own choices (each kept as an option, measured in docs/training.md).
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "reference": {
        "model": {"d_architecture": "skip", "d_camera_encoding": "get3d", "w_avg_beta": 0.998, "conv_clamp": None,
                  "image_background": "to_rgb_bias", "antialias_color": False},
        "train": {"g_reg_interval": 4, "empty_loss_weight": 1.0, "mask_range": "unit", "style_mixing_group": 4,
                  "w_avg_phase": "D", "ema_kimg": None, "ema_rampup": 0.05},
        "data": {"alpha": "binary"},
    },
    "plus": {
        "model": {"d_architecture": "resnet", "d_camera_encoding": "sincos", "w_avg_beta": 0.995, "conv_clamp": 256.0,
                  "image_background": "black", "antialias_color": True},
        "train": {"g_reg_interval": None, "empty_loss_weight": None, "mask_range": "signed",
                  "style_mixing_group": None, "w_avg_phase": "G"},
        "data": {"alpha": "blend"},
    },
}


def apply_variant(config: Config, name: str) -> Config:
    """Set every field a variant decides (VARIANTS[name]) and ``train.variant``; in place, returned.

    'plus' leaves the EMA settings as they are (the preset's); 'reference' uses GET3D's
    half-life formula (batch * 10 / 32 kimg) with its 0.05 ramp-up. The old names 'get3d' and
    'get3d-plus' are accepted (VARIANT_ALIASES)."""
    name = VARIANT_ALIASES.get(name, name)
    if name not in VARIANTS:
        raise Get3dError(f"variant (--variant): unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    for section, values in VARIANTS[name].items():
        for key, value in values.items():
            setattr(getattr(config, section), key, value)
    config.train.variant = name
    return config


def ema_half_life_kimg(train: TrainConfig) -> float:
    """The G_ema half-life in kimg: ``ema_kimg``, or GET3D's ``batch * 10 / 32`` when it is None."""
    return train.batch * 10 / 32 if train.ema_kimg is None else float(train.ema_kimg)


def _shapenet(category: Category) -> Config:
    """GET3D's train_3d.py settings for one ShapeNet category (the 'reference' variant)."""
    return apply_variant(Config(
        model=ModelConfig(tet_res=category.tet_res, grid_scale=category.grid_scale),
        train=TrainConfig(r1_gamma=category.r1_gamma),
        data=DataConfig(resolution=1024),
    ), "reference")


def _tiny() -> Config:
    """Small enough to train for a few hundred steps on two CPU cores in minutes."""
    return Config(
        model=ModelConfig(
            z_dim=64, w_dim=64, mapping_layers=2, triplane_res=32, triplane_channels=8,
            channel_base=1024, channel_max=64, mlp_hidden=16, tet_res=24, img_resolution=64,
        ),
        train=TrainConfig(
            batch=4, r1_gamma=1.0, ema_kimg=0.5, ema_rampup=None, kimg=2.0, snapshot_kimg=0.5,
            log_interval_kimg=0.1,
        ),
        data=DataConfig(resolution=64, workers=0),
    )


PRESETS = {
    "tiny": _tiny,
    **{f"shapenet-{name}": (lambda name=name: _shapenet(CATEGORIES[name])) for name, row in CATEGORIES.items()
       if row.r1_gamma is not None},
}


def preset(name: str, iso_surface: str | None = None) -> Config:
    """A fresh Config for a named preset; ``iso_surface`` ('dmtet' or 'flexicubes') overrides its
    surface extractor (every preset defaults to 'dmtet', GET3D's default)."""
    if name not in PRESETS:
        raise Get3dError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    config = PRESETS[name]()
    if iso_surface is not None:
        if iso_surface not in ("dmtet", "flexicubes"):
            raise Get3dError(f"iso_surface must be 'dmtet' or 'flexicubes', got {iso_surface!r}")
        config.model.iso_surface = iso_surface
    return config
