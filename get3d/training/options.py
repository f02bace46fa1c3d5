"""Training configs from the command line: a preset or JSON file, then single-option overrides.

Order of precedence (later wins): ``--preset NAME`` (or the config saved in a run being resumed),
``--variant reference|plus`` (GET3D's reference training or this project's choices, config.VARIANTS),
``--config FILE`` (a full or partial Config JSON, merged section by section), then the single
options ``--kimg --batch --resolution --seed --gamma --snapshot-kimg --iso-surface --camera-cond``
and ``--camera-mode NAME`` (GET3D's named training-view distributions, config.CAMERA_MODES). ``--resolution`` sets both
the training image size (``data.resolution``) and the generator's render size
(``model.img_resolution``), which must agree.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from get3d.config import CAMERA_MODES, VARIANTS, Config, apply_camera_mode, apply_variant, preset
from get3d.errors import Get3dError

__all__ = ["build_config", "config_for_run", "validate_config"]

# CLI option -> (config section, field)
_OVERRIDES = {
    "kimg": ("train", "kimg"),
    "batch": ("train", "batch"),
    "seed": ("train", "seed"),
    "gamma": ("train", "r1_gamma"),
    "snapshot_kimg": ("train", "snapshot_kimg"),
    "split_file": ("data", "split_file"),
    "category": ("data", "category"),
    "iso_surface": ("model", "iso_surface"),
    "camera_cond": ("model", "d_camera_cond"),
}


def _read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise Get3dError(f"config_file (--config) {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Get3dError(f"config_file (--config) {path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise Get3dError(f"config_file (--config) {path}: expected a JSON object with model/train/data sections")
    unknown = sorted(set(data) - {"model", "train", "data"})
    if unknown:
        raise Get3dError(f"config_file (--config) {path}: unknown section {unknown[0]!r} (expected model, train, data)")
    return data


def build_config(preset_name: Optional[str] = None, config_file: Optional[str | Path] = None,
                 base: Optional[dict] = None, *, resolution: Optional[int] = None, variant: Optional[str] = None,
                 camera_mode: Optional[str] = None, **overrides: Any) -> Config:
    """A Config from a preset name (or ``base``, a Config dict such as a snapshot's), then
    ``variant`` ('reference' or 'plus', config.apply_variant), a JSON file merged over it, and
    the non-None ``overrides`` (kimg, batch, seed, gamma, snapshot_kimg).

    Raises Get3dError when nothing names a starting point or a value is invalid for its option.
    """
    if preset_name is not None:
        merged = preset(preset_name).to_dict()
    elif base is not None:
        merged = Config.from_dict(base).to_dict()
    elif config_file is not None:
        merged = Config().to_dict()
    else:
        raise Get3dError("give preset_name (--preset NAME) or config_file (--config FILE), or resume a run that has a config.json")
    if variant is not None:
        merged = apply_variant(Config.from_dict(merged), variant).to_dict()
    if config_file is not None:
        for section, values in _read_json(config_file).items():
            if not isinstance(values, dict):
                raise Get3dError(f"config_file (--config) {config_file}: section {section!r} must be an object")
            merged[section].update(values)
    for name, value in overrides.items():
        if name not in _OVERRIDES:
            raise Get3dError(f"unknown training option {name!r}")
        if value is not None:
            section, key = _OVERRIDES[name]
            merged[section][key] = value
    if resolution is not None:
        merged["data"]["resolution"] = resolution
        merged["model"]["img_resolution"] = resolution
    config = Config.from_dict(merged)
    if camera_mode is not None:
        apply_camera_mode(config, camera_mode)
    return config


def _is_pow2(value) -> bool:
    return isinstance(value, int) and value > 0 and value & (value - 1) == 0


def validate_config(cfg: Config, world_size: int = 1) -> Config:
    """Check what the trainer relies on; each failure names the option to change."""
    t, d, m = cfg.train, cfg.data, cfg.model
    if not isinstance(t.batch, int) or t.batch < 1:
        raise Get3dError(f"train.batch (--batch) must be a positive integer, got {t.batch!r}")
    if t.batch % world_size:
        raise Get3dError(f"train.batch (--batch) {t.batch} is not divisible by the {world_size} processes (GPUs)")
    if not _is_pow2(d.resolution) or d.resolution < 16:
        raise Get3dError(f"data.resolution (--resolution) must be a power of two >= 16, got {d.resolution!r}")
    if d.resolution != m.img_resolution:
        raise Get3dError(f"data.resolution {d.resolution} != model.img_resolution {m.img_resolution}; "
                         "set both with resolution (--resolution)")
    positive = {"train.kimg (--kimg)": t.kimg, "train.snapshot_kimg (--snapshot-kimg)": t.snapshot_kimg,
                "train.lr_g": t.lr_g, "train.lr_d": t.lr_d, "train.log_interval_kimg": t.log_interval_kimg}
    if t.ema_kimg is not None:
        positive["train.ema_kimg"] = t.ema_kimg
    for name, value in positive.items():
        if not isinstance(value, (int, float)) or not value > 0:
            raise Get3dError(f"{name} must be > 0, got {value!r}")
    if t.r1_gamma < 0 or (t.r1_gamma_mask is not None and t.r1_gamma_mask < 0):
        raise Get3dError(f"train.r1_gamma (--gamma) must be >= 0, got {t.r1_gamma!r}")
    if not isinstance(t.r1_interval, int) or t.r1_interval < 1:
        raise Get3dError(f"train.r1_interval must be an integer >= 1, got {t.r1_interval!r}")
    if not isinstance(t.max_bad_steps, int) or t.max_bad_steps < 1:
        raise Get3dError(f"train.max_bad_steps must be an integer >= 1, got {t.max_bad_steps!r}")
    if not 0 <= t.style_mixing_prob <= 1:
        raise Get3dError(f"train.style_mixing_prob must be in [0, 1], got {t.style_mixing_prob!r}")
    if len(t.betas) != 2 or not all(0 <= b < 1 for b in t.betas):
        raise Get3dError(f"train.betas must be two numbers in [0, 1), got {t.betas!r}")
    if t.ema_rampup is not None and not t.ema_rampup > 0:
        raise Get3dError(f"train.ema_rampup must be > 0 or null, got {t.ema_rampup!r}")
    if t.variant not in VARIANTS:
        raise Get3dError(f"train.variant must be one of {', '.join(VARIANTS)}, got {t.variant!r}")
    if t.g_reg_interval is not None and (not isinstance(t.g_reg_interval, int) or t.g_reg_interval < 1):
        raise Get3dError(f"train.g_reg_interval must be an integer >= 1 or null, got {t.g_reg_interval!r}")
    if t.empty_loss_weight is not None and not t.empty_loss_weight >= 0:
        raise Get3dError(f"train.empty_loss_weight must be >= 0 or null, got {t.empty_loss_weight!r}")
    if t.mask_range not in ("signed", "unit"):
        raise Get3dError(f"train.mask_range must be 'signed' or 'unit', got {t.mask_range!r}")
    if t.style_mixing_group is not None and (not isinstance(t.style_mixing_group, int) or t.style_mixing_group < 1):
        raise Get3dError(f"train.style_mixing_group must be an integer >= 1 or null, got {t.style_mixing_group!r}")
    if t.w_avg_phase not in ("G", "D"):
        raise Get3dError(f"train.w_avg_phase must be 'G' or 'D', got {t.w_avg_phase!r}")
    if d.camera_mode is not None and d.camera_mode not in CAMERA_MODES:
        raise Get3dError(f"data.camera_mode (--camera-mode) must be one of {', '.join(CAMERA_MODES)}, "
                         f"got {d.camera_mode!r}")
    if m.iso_surface not in ("dmtet", "flexicubes"):
        raise Get3dError(f"model.iso_surface (--iso-surface) must be 'dmtet' or 'flexicubes', got {m.iso_surface!r}")
    for name in ("flexicubes_surface_reg", "flexicubes_weights_reg"):
        if not getattr(t, name) >= 0:
            raise Get3dError(f"train.{name} must be >= 0, got {getattr(t, name)!r}")
    if not 0 <= m.w_avg_beta < 1:
        raise Get3dError(f"model.w_avg_beta must be in [0, 1), got {m.w_avg_beta!r}")
    if d.alpha not in ("blend", "binary"):
        raise Get3dError(f"data.alpha must be 'blend' or 'binary', got {d.alpha!r}")
    if not isinstance(d.workers, int) or d.workers < 0:
        raise Get3dError(f"data.workers must be an integer >= 0, got {d.workers!r}")
    for name, rng in (("data.rotation_range", d.rotation_range), ("data.elevation_range", d.elevation_range)):
        if len(rng) != 2 or not rng[0] <= rng[1]:
            raise Get3dError(f"{name} must be [low, high] with low <= high, got {list(rng)!r}")
    return cfg


def config_for_run(preset_name: Optional[str], config_file: Optional[str | Path], resume: Optional[str],
                   outdir: str | Path, overrides: dict) -> Config:
    """``get3d train``'s config: from ``--preset`` / ``--config``, else from the run being resumed
    (the snapshot given to ``--resume``, or with ``--resume auto`` the run's ``config.json``),
    then the single-option ``overrides``."""
    from get3d.snapshot import read_snapshot

    base = None
    if preset_name is None and config_file is None and resume is not None:
        saved = Path(outdir) / "config.json"
        if resume != "auto":
            base = read_snapshot(resume, verify=False)[1].get("config")
        elif saved.is_file():
            try:
                base = json.loads(saved.read_text())
            except json.JSONDecodeError as err:
                raise Get3dError(f"{saved}: not valid JSON ({err})") from None
    return build_config(preset_name, config_file, base=base, **overrides)
