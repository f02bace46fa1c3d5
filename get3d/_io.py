"""File plumbing shared by every writer: atomic writes, sha256 of a file, the cache folder.

Conventions:
- An atomic write goes to a temporary file in the destination's own folder (``.<name>.<random>.tmp``,
  so a rename never crosses file systems) and is renamed onto the destination only once it is
  complete: readers see the old file or the new one, never a partial one. On any failure the
  temporary file is removed and the destination is left as it was.
- Files get the ordinary permissions of the process umask (``mkstemp`` alone would give 0600).
- ``cache_dir(kind)`` is ``$GET3D_CACHE_DIR/<kind>``, else ``~/.cache/get3d/<kind>``: the tet grids
  (``tets``) and the metric statistics (``metrics``) both live under it.

Imports nothing from get3d, so any module may use it (tests/test_imports.py checks the layering).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Union

__all__ = ["atomic_path", "atomic_write", "try_atomic_write", "sha256_file", "cache_dir"]

PathLike = Union[str, "os.PathLike[str]"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block finishes without an exception the
    file written there is (fsynced and) renamed onto ``path``, otherwise it is deleted.

    For writers that want a file name rather than a file object (PIL, trimesh, np.save).
    The destination's folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: PathLike, write: Callable, *, fsync: bool = True) -> Path:
    """Call ``write(binary file object)`` on a temporary file beside ``path``, then rename it onto
    ``path`` (see the module docstring). ``write`` may be bytes instead of a callable."""
    data = write if isinstance(write, (bytes, bytearray)) else None
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "wb") as handle:
            if data is not None:
                handle.write(data)
            else:
                write(handle)
    return Path(path)


def try_atomic_write(path: PathLike, write: Callable, *, fsync: bool = False) -> bool:
    """``atomic_write`` for caches: an OSError (read-only or full cache folder) only costs a
    recomputation next time, so it is swallowed. -> whether the file was written."""
    try:
        atomic_write(path, write, fsync=fsync)
        return True
    except OSError:
        return False


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir(kind: str) -> Path:
    """``$GET3D_CACHE_DIR/<kind>``, else ``~/.cache/get3d/<kind>`` (not created here)."""
    root = os.environ.get("GET3D_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "get3d")
    return Path(root) / kind
