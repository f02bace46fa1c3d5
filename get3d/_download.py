"""Verified downloads: a file fetched once (http(s) or file://), kept only if its sha256 matches.

Used for the Inception network (get3d.metrics.features) and GET3D's split files
(get3d.datasets.splits). Nothing is downloaded at import.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from get3d._io import atomic_write
from get3d.errors import Get3dError

__all__ = ["download_verified"]


def download_verified(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` (http(s) or file://) to ``dest`` through a temporary file in the same
    folder, renamed into place only when its sha256 matches; otherwise nothing is left behind."""
    import urllib.request

    dest = Path(dest)
    digest = hashlib.sha256()

    def write(out):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256.lower():  # raising here leaves nothing behind
            raise Get3dError(f"download of {url} is corrupt: sha256 {digest.hexdigest()} != expected {sha256}; "
                             f"nothing was saved, try again")

    try:
        atomic_write(dest, write)
    except (OSError, ValueError) as err:
        raise Get3dError(f"cannot download {url} ({type(err).__name__}: {err})") from None
    return dest
