"""Snapshot IO: writing, listing, reading and restoring training snapshots (below every command;
imports nothing above get3d.networks). Resolving ``--ckpt`` and loading a generator live one level
up, in get3d.checkpoint, which also opens GET3D's own checkpoints (get3d.official).

Snapshots cannot run code and cannot be half-written.

A snapshot is two files in the run folder, named by the number of real images the
discriminators have seen (so names sort in training order):

    snapshot-000004000.safetensors   every tensor: module weights and buffers ("G.", "G_ema.",
                                     "D_rgb.", ...), optimizer state ("optim.<name>.<i>.<key>"),
                                     torch RNG states ("rng.<name>")
    snapshot-000004000.json          config, step, images seen, optimizer hyper-parameters,
                                     Python/NumPy RNG states, metrics, the weights' size and sha256

The weights are written first and the JSON last, each to a temporary file renamed into place,
so a snapshot whose JSON exists is complete: a run killed mid-write leaves at most a stray
temporary file, never a snapshot that `--resume auto` would pick up half-written. Nothing is
unpickled on load (safetensors + JSON only), so a downloaded snapshot cannot execute code.
"""
from __future__ import annotations

import errno
import hashlib
import json
import random
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from get3d._io import atomic_write, sha256_file
from get3d.config import Config
from get3d.errors import Get3dError

FORMAT_VERSION = 1
_NAME = re.compile(r"^snapshot-(\d{9})$")


@dataclass(frozen=True)
class Snapshot:
    """One complete snapshot on disk."""

    json_path: Path
    weights_path: Path
    images_seen: int

    @property
    def kimg(self) -> float:
        return self.images_seen / 1000.0


def snapshot_stem(images_seen: int) -> str:
    return f"snapshot-{int(images_seen):09d}"


# ------------------------------------------------------------------------------------ writing
def _module_tensors(name: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value.detach() for key, value in module.state_dict().items()}


def _optimizer_payload(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state_dict into tensors and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"optim.{name}.{index}.{key}"] = value.detach()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _rng_payload() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{index}"] = value
    np_state = np.random.get_state()
    meta = {
        "python": _jsonable(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    return tensors, meta


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def write_snapshot(outdir: str | Path, images_seen: int, modules: Mapping[str, torch.nn.Module], *,
                   config=None, step: int = 0, optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                   save_rng: bool = True, extra: dict | None = None, stem: str | None = None) -> Snapshot:
    """Write modules (and optimizers, RNG states) as one snapshot; returns it once complete.

    `config` is a get3d Config (or a plain dict); `extra` is merged into the JSON (e.g. metrics).
    `stem` names the files instead of ``snapshot-<images seen>`` (e.g. a bundled model's name;
    such files are not listed by ``list_snapshots``).
    """
    outdir = Path(outdir)
    stem = stem or snapshot_stem(images_seen)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update(_module_tensors(name, module))
    optim_meta = {}
    for name, optimizer in (optimizers or {}).items():
        more, optim_meta[name] = _optimizer_payload(name, optimizer)
        tensors.update(more)
    rng_meta = None
    if save_rng:
        more, rng_meta = _rng_payload()
        tensors.update(more)
    # safetensors wants contiguous CPU tensors that share no memory.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    for key, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise Get3dError(f"refusing to write snapshot {stem}: tensor {key} holds NaN or Inf")

    from safetensors.torch import save

    weights_path = outdir / f"{stem}.safetensors"
    blob = save(tensors, metadata={"format": "get3d", "version": str(FORMAT_VERSION)})
    needed = len(blob) + 64 * 1024  # the weights plus a generous JSON
    outdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(outdir).free
    if free < needed:  # fail before writing anything (a quota or file-size limit shows up below)
        raise Get3dError(_no_space_message(outdir, stem, needed, free))
    try:
        atomic_write(weights_path, lambda handle: handle.write(blob))
    except OSError as err:
        raise _write_error(err, outdir, stem, needed) from None
    meta = {
        "format": "get3d-snapshot",
        "version": FORMAT_VERSION,
        "images_seen": int(images_seen),
        "kimg": images_seen / 1000.0,
        "step": int(step),
        "modules": sorted(modules),
        "config": config.to_dict() if hasattr(config, "to_dict") else config,
        "optimizers": optim_meta,
        "rng": rng_meta,
        "weights": {"file": weights_path.name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
    }
    meta.update(extra or {})
    json_path = outdir / f"{stem}.json"
    text = json.dumps(meta, indent=1).encode()
    try:
        atomic_write(json_path, lambda handle: handle.write(text))
    except OSError as err:
        # Weights without a JSON are invisible to every reader; remove them to give the space back.
        weights_path.unlink(missing_ok=True)
        raise _write_error(err, outdir, stem, needed) from None
    return Snapshot(json_path, weights_path, int(images_seen))


SPACE_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _no_space_message(outdir: Path, stem: str, needed: int, free: int | None) -> str:
    have = f", {free / 1e6:.1f} MB free" if free is not None else ""
    return (f"{outdir}: no space for snapshot {stem}: it needs {needed / 1e6:.1f} MB{have}; the snapshots "
            f"already there are intact: free space (or lower keep_snapshots), then continue with "
            f"resume='auto' (--resume auto)")


def _write_error(err: OSError, outdir: Path, stem: str, needed: int) -> Get3dError:
    """One line for a failed snapshot write: a full disk (ENOSPC, a quota, a file-size limit) says
    how much space a snapshot needs; any other OS error names the folder and the reason."""
    if err.errno in SPACE_ERRNOS:
        try:
            free = shutil.disk_usage(outdir).free
        except OSError:
            free = None
        return Get3dError(_no_space_message(outdir, stem, needed, free) + f" ({err.strerror})")
    return Get3dError(f"{outdir}: cannot write snapshot {stem} ({err.strerror or err}); "
                      f"the snapshots already there are intact")


# ------------------------------------------------------------------------------------ finding
def list_snapshots(folder: str | Path) -> list[Snapshot]:
    """Complete snapshots in a run folder (JSON and weights present), oldest first."""
    folder = Path(folder)
    found = []
    for json_path in folder.glob("snapshot-*.json"):
        match = _NAME.match(json_path.stem)
        weights = json_path.with_suffix(".safetensors")
        if match and weights.exists():
            found.append(Snapshot(json_path, weights, int(match.group(1))))
    return sorted(found, key=lambda s: s.images_seen)


def _warn(line: str) -> None:
    """Warnings about damaged snapshots go to stderr, one line each (monkeypatched by tests)."""
    print(f"get3d: warning: {line}", file=sys.stderr, flush=True)


def latest_snapshot(folder: str | Path, verify: bool = True, warn=None) -> Snapshot | None:
    """The newest *intact* snapshot in a run folder (what ``--resume auto``, ``--ckpt RUN`` and
    every command that reads a run folder use).

    With ``verify`` each candidate, newest first, is checked (:func:`check_snapshot`: JSON,
    weights present, size, sha256, safetensors header); a damaged one is skipped with a warning
    line naming the file and the reason, and the next older one is tried. A JSON whose weights file
    is missing counts as damaged too (the weights are written first, so that is never a write in
    progress); weights without a JSON are a write in progress and are passed over silently.
    """
    warn = warn or _warn
    folder = Path(folder)
    complete = list_snapshots(folder)
    if verify:
        for json_path in folder.glob("snapshot-*.json"):
            if _NAME.match(json_path.stem) and not json_path.with_suffix(".safetensors").exists():
                warn(f"skipping damaged snapshot {json_path}: its weights file "
                     f"{json_path.with_suffix('.safetensors').name} is missing")
    for snap in reversed(complete):
        problem = check_snapshot(snap.json_path) if verify else None
        if problem is None:
            return snap
        warn(f"skipping damaged snapshot {problem}; trying an older one")
    return None


def resume_auto(folder: str | Path) -> Snapshot | None:
    """``--resume auto``: the newest intact snapshot, None for a folder without snapshots (a fresh
    run), and an error when snapshots exist but every one is damaged (starting afresh over them
    would silently throw a run away)."""
    snap = latest_snapshot(folder)
    if snap is None:
        damaged = sorted(Path(folder).glob("snapshot-*.json"))
        if damaged:
            raise Get3dError(f"{folder}: all {len(damaged)} snapshots are damaged (see the warnings above); "
                             f"move them away to start afresh, or resume from a copy")
    return snap


def check_snapshot(json_path: str | Path) -> str | None:
    """None when the snapshot reads back intact, else one line 'FILE: what is wrong'."""
    try:
        _read_meta_and_weights(Path(json_path), verify=True)
    except Get3dError as err:
        return str(err)
    return None


def resolve_snapshot_path(path: str | Path) -> Path:
    """The JSON file of a snapshot given its .json, its .safetensors or its stem."""
    path = Path(path)
    if path.suffix == ".safetensors" or (path.suffix != ".json" and not path.exists()):
        path = path.with_suffix(".json") if path.suffix == ".safetensors" else Path(f"{path}.json")
    if not path.exists():
        raise Get3dError(f"{path}: snapshot not found")
    return path


def prune_snapshots(folder: str | Path, keep: int, protect: tuple[Path, ...] = ()) -> list[Path]:
    """Delete all but the newest `keep` snapshots (keep <= 0 keeps all); returns deleted files."""
    if keep <= 0:
        return []
    deleted = []
    protected = {Path(p).resolve() for p in protect}
    for snap in list_snapshots(folder)[:-keep]:
        if snap.json_path.resolve() in protected:
            continue
        # JSON first: a snapshot without its JSON is already invisible to list_snapshots.
        for path in (snap.json_path, snap.weights_path):
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


# ------------------------------------------------------------------------------------ reading
_VERIFIED: dict[tuple, bool] = {}  # (path, size, mtime_ns) whose sha256 matched: hash each file once


def _read_meta_and_weights(json_path: Path, verify: bool) -> tuple[dict, Path]:
    """Parse and check a snapshot's JSON, check its weights file (size, sha256, header)."""
    try:
        meta = json.loads(json_path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise Get3dError(f"{json_path}: snapshot not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise Get3dError(f"{json_path}: not a readable snapshot JSON ({str(err).splitlines()[0][:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != "get3d-snapshot":
        raise Get3dError(f"{json_path}: not a get3d snapshot (no 'format': 'get3d-snapshot')")
    version = meta.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise Get3dError(f"{json_path}: 'version' is {version!r}, not an integer")
    if version > FORMAT_VERSION:
        raise Get3dError(f"{json_path}: snapshot format {version} is newer than this get3d "
                         f"({FORMAT_VERSION}); upgrade get3d")
    for key in ("step", "images_seen"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Get3dError(f"{json_path}: {key!r} is {value!r}, not a count >= 0")
    for key in ("config", "optimizers", "rng"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise Get3dError(f"{json_path}: {key!r} is a {type(meta[key]).__name__}, not an object")
    expected = meta.get("weights", {})
    if not isinstance(expected, dict):
        raise Get3dError(f"{json_path}: 'weights' is a {type(expected).__name__}, not an object")
    name = expected.get("file", json_path.stem + ".safetensors")
    if not isinstance(name, str) or Path(name).name != name or not name:
        raise Get3dError(f"{json_path}: 'weights.file' must be a file name beside the JSON, got {name!r}")
    for key, kind in (("bytes", int), ("sha256", str)):
        value = expected.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise Get3dError(f"{json_path}: 'weights.{key}' is {value!r}, not a{'n integer' if kind is int else ' string'}"
                             [:300])
    weights_path = json_path.with_name(name)
    if not weights_path.is_file():
        raise Get3dError(f"{weights_path}: weights file of snapshot {json_path.name} is missing")
    stat = weights_path.stat()
    if verify and expected.get("bytes") is not None and stat.st_size != expected["bytes"]:
        raise Get3dError(f"{weights_path}: truncated or altered ({stat.st_size} bytes, "
                         f"{json_path.name} says {expected['bytes']})")
    key = (str(weights_path.resolve()), stat.st_size, stat.st_mtime_ns)
    if verify and expected.get("sha256") and key not in _VERIFIED:
        if sha256_file(weights_path) != expected["sha256"]:
            raise Get3dError(f"{weights_path}: checksum does not match its snapshot JSON {json_path.name} (corrupt file)")
        _VERIFIED[key] = True
    if verify and not expected.get("sha256"):  # older snapshots without a checksum: the header must parse
        from safetensors import safe_open

        try:
            with safe_open(str(weights_path), framework="pt") as handle:
                handle.keys()
        except Exception as err:  # safetensors raises its own error types for bad headers
            raise Get3dError(f"{weights_path}: cannot read weights ({str(err).splitlines()[0][:200]})") from None
    return meta, weights_path


def read_snapshot(path: str | Path, verify: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors on CPU, metadata). Raises Get3dError naming the file for anything wrong: an
    explicitly named damaged snapshot is an error (only folder look-ups skip damaged ones)."""
    json_path = resolve_snapshot_path(path)
    meta, weights_path = _read_meta_and_weights(json_path, verify)
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(weights_path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise Get3dError(f"{weights_path}: cannot read weights ({str(err).splitlines()[0][:200]})") from None
    return tensors, meta


def restore_modules(tensors: Mapping[str, torch.Tensor], modules: Mapping[str, torch.nn.Module],
                    source: str = "snapshot") -> None:
    """Load `<name>.`-prefixed tensors into each module; any missing or unexpected key, or a shape
    mismatch, is an error naming the first culprit (a config that does not match the weights)."""
    for name, module in modules.items():
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state:
            raise Get3dError(f"{source}: holds no weights for {name!r}")
        own = module.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            what = f"missing {name}.{missing[0]}" if missing else f"unexpected {name}.{unexpected[0]}"
            raise Get3dError(f"{source}: weights do not match the model ({what}; "
                             f"{len(missing)} missing, {len(unexpected)} unexpected)")
        for key, value in state.items():
            if own[key].shape != value.shape:
                raise Get3dError(f"{source}: {name}.{key} has shape {tuple(value.shape)}, "
                                 f"the model expects {tuple(own[key].shape)}")
        module.load_state_dict(state)


def restore_optimizers(tensors: Mapping[str, torch.Tensor], meta: dict,
                       optimizers: Mapping[str, torch.optim.Optimizer], source: str = "snapshot") -> None:
    saved = meta.get("optimizers") or {}
    for name, optimizer in optimizers.items():
        if name not in saved:
            raise Get3dError(f"{source}: holds no state for optimizer {name!r}")
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field_name = key[len(prefix):].split(".", 1)
                state.setdefault(int(index), {})[field_name] = value
        for index, values in saved[name].get("scalars", {}).items():
            state.setdefault(int(index), {}).update(values)
        try:
            optimizer.load_state_dict({"state": state, "param_groups": saved[name]["param_groups"]})
        except (ValueError, KeyError) as err:
            raise Get3dError(f"{source}: optimizer {name!r} does not match the model ({err})") from None
        for group in optimizer.param_groups:  # JSON turned tuples (Adam's betas) into lists
            for key, value in group.items():
                if isinstance(value, list) and key != "params":
                    group[key] = tuple(value)


def restore_rng(tensors: Mapping[str, torch.Tensor], meta: dict) -> None:
    """Put back the torch (CPU and, where the device count matches, CUDA), NumPy and Python RNGs."""
    if "rng.torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng.torch_cpu"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda"))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    rng = meta.get("rng") or {}
    if rng.get("python") is not None:
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))
    if rng.get("numpy") is not None:
        kind, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def snapshot_config(meta: dict, path) -> Config:
    """The Config a snapshot records, checked field by field (one line naming the file otherwise)."""
    if not isinstance(meta.get("config"), dict):
        raise Get3dError(f"{path}: snapshot records no config")
    try:
        return Config.from_dict(meta["config"])
    except Get3dError as err:
        raise Get3dError(f"{path}: {err}") from None
