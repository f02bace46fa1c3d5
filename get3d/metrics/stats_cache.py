"""Disk cache for real-image feature statistics (mu, sigma, features), one .npz per key.

Real statistics depend only on the dataset, the resolution and the feature network, and cost
minutes to hours to compute, so they are computed once and reused across evaluations. Files live
in ``$GET3D_CACHE_DIR/metrics`` (default ``~/.cache/get3d/metrics``), are written to a temporary
file and renamed (readers never see half a file), and anything unreadable or inconsistent is
recomputed rather than trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from get3d._io import cache_dir, try_atomic_write
from get3d.errors import Get3dError

# Bump when what is stored (or how it is computed) changes, so stale files are never reused.
_STATS_FORMAT = 1

Stats = tuple[np.ndarray, np.ndarray, np.ndarray]  # mu [D] f64, sigma [D,D] f64, features [N,D] f32


def metrics_cache_dir() -> Path:
    """$GET3D_CACHE_DIR/metrics, else ~/.cache/get3d/metrics."""
    return cache_dir("metrics")


def folder_fingerprint(files: list[Path]) -> str:
    """A summary of a dataset's file list that changes when files are added, removed or modified.

    Uses relative names, sizes and modification times (not contents: hashing a 50k-image
    dataset would cost as much as reading it).
    """
    digest = hashlib.sha1()
    root = os.path.commonpath([str(f.resolve()) for f in files]) if files else ""
    digest.update(root.encode())
    for f in files:
        st = f.stat()
        rel = os.path.relpath(f.resolve(), root) if root else str(f)
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stats_key(dataset_key: str, resolution: int, extractor_name: str, **extra) -> str:
    """Hash of everything the statistics depend on."""
    payload = json.dumps(
        {"dataset": dataset_key, "resolution": resolution, "extractor": extractor_name,
         "format": _STATS_FORMAT, **extra},
        sort_keys=True, default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


def stats_cache_file(key: str, extractor_name: str, cache_dir: str | Path | None = None) -> Path:
    # The extractor's short name in the file name only helps humans browsing the folder.
    tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in extractor_name.split(":")[0])[:40]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else metrics_cache_dir()
    return folder / f"{tag}-{key}.npz"


def load_stats(path: Path, key: str) -> Stats | None:
    """The cached statistics, or None when the file is missing, corrupt or for another key."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            mu, sigma, features = data["mu"], data["sigma"], data["features"]
        dim = mu.shape[0]
        if mu.ndim != 1 or sigma.shape != (dim, dim) or features.ndim != 2 or features.shape[1] != dim:
            return None
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            return None
        return mu, sigma, features
    except Exception:  # noqa: BLE001 - a truncated or garbled file is recomputed, never trusted
        return None


def save_stats(path: Path, key: str, stats: Stats) -> None:
    """Write atomically (temp file in the same folder, then rename). Failures only cost a recompute."""
    mu, sigma, features = stats
    try_atomic_write(path, lambda handle: np.savez(handle, key=np.array(key), mu=mu, sigma=sigma,
                                                   features=features.astype(np.float32)))


def cached_real_stats(
    dataset_key: str,
    resolution: int,
    extractor_name: str,
    compute_fn: Callable[[], Stats],
    cache_dir: str | Path | None = None,
    **extra,
) -> Stats:
    """Return (mu, sigma, features) for a real dataset, from the cache or by calling ``compute_fn``.

    ``dataset_key`` must change whenever the data does: :func:`folder_fingerprint` of the file
    list is the usual choice. ``extra`` keyword values (e.g. max_images, alpha mode) join the key.
    """
    if not dataset_key:
        raise Get3dError("cached_real_stats needs a non-empty dataset_key")
    key = stats_key(dataset_key, resolution, extractor_name, **extra)
    path = stats_cache_file(key, extractor_name, cache_dir)
    stats = load_stats(path, key)
    if stats is None:
        stats = compute_fn()
        save_stats(path, key, stats)
    return stats
