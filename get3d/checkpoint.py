"""What ``--ckpt`` names, and the generator it holds: every command that reads a model (generate,
interpolate, metrics, train --init, finetune-text, refine, invert) goes through here.

:func:`resolve_checkpoint` turns ``--ckpt`` into a snapshot JSON path: a snapshot file (.json,
.safetensors or the stem), a run folder (its newest complete snapshot), or a bundled model's name
(``get3d/pretrained/<name>.json``, :data:`BUNDLED_DIR`). :func:`load_generator` also opens GET3D's
own ``.pt`` files (get3d.official, tensors only).

Layering: snapshot IO (get3d.snapshot) and GET3D's checkpoints (get3d.official, which writes
converted snapshots through get3d.snapshot) sit below this module; nothing below imports it, so
the three form no circle (tests/test_imports.py).
"""
from __future__ import annotations

from pathlib import Path

import torch

from get3d.errors import Get3dError
from get3d.networks.generator import Generator
from get3d.official import is_official_checkpoint, load_official_checkpoint
from get3d.snapshot import latest_snapshot, read_snapshot, resolve_snapshot_path, restore_modules, snapshot_config

__all__ = ["BUNDLED_DIR", "bundled_models", "load_generator", "resolve_checkpoint"]

BUNDLED_DIR = Path(__file__).parent / "pretrained"  # bundled models: <name>.json + .safetensors


def bundled_models() -> list[str]:
    """Names of the bundled models (``--ckpt NAME``)."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.json")) if BUNDLED_DIR.is_dir() else []


def resolve_checkpoint(ckpt: str | Path) -> Path:
    """A snapshot path, an output folder (its newest complete snapshot), or a bundled model's name."""
    path = Path(ckpt)
    if path.is_dir():
        snap = latest_snapshot(path)
        if snap is None:
            damaged = len(list(path.glob("snapshot-*.json")))
            raise Get3dError(f"{path}: no complete snapshot in this folder" +
                             (f" ({damaged} damaged: see the warnings above)" if damaged else ""))
        return Path(snap.json_path)
    if path.exists() or path.with_suffix(".json").exists():
        return resolve_snapshot_path(path)
    bundled = BUNDLED_DIR / f"{ckpt}.json"
    if bundled.exists():
        return bundled
    raise Get3dError(f"ckpt (--ckpt): {ckpt!r} is neither a snapshot file or folder nor a bundled model "
                     f"(bundled: {', '.join(bundled_models()) or 'none'})")


def load_generator(ckpt: str | Path, device: str | torch.device | None = None, category: str | None = None):
    """Load the EMA generator of a snapshot, or of a GET3D ``.pt`` checkpoint (``category`` gives
    its grid: see get3d.official): -> (G in eval mode, Config)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if is_official_checkpoint(ckpt):
        official = load_official_checkpoint(ckpt, category=category, device=device)
        return official.G_ema.requires_grad_(False), official.config
    path = resolve_checkpoint(ckpt)
    tensors, meta = read_snapshot(path)
    config = snapshot_config(meta, path)
    try:
        generator = Generator(config.model)
    except Get3dError as err:
        raise Get3dError(f"{path}: {err}") from None
    except Exception as err:  # noqa: BLE001 - a hand-edited or hostile config: one line, not a traceback
        raise Get3dError(f"{path}: its config does not describe a buildable model "
                         f"({type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''})"
                         ) from None
    restore_modules(tensors, {"G_ema": generator}, source=str(path))
    return generator.to(device).eval().requires_grad_(False), config
