"""GET3D's published ShapeNet splits by name: ``--split get3d-chair`` instead of a file path.

GET3D's repository ships the train/val/test shape lists it used (``3dgan_data_split/
shapenet_{car,chair,motorbike}/{train,val,test}.txt``, one ShapeNet shape id per line). A name
``get3d-<category>[-<part>]`` (part: train, the default, val or test) is fetched on first use
from GET3D's repository at a pinned commit, verified by its sha256 and cached as
``<cache>/splits/get3d-<category>-<part>.txt`` (``$GET3D_CACHE_DIR``, default ~/.cache/get3d);
later uses read the cache. ``$GET3D_SPLIT_URL`` replaces the base URL (a mirror, or a
``file://`` folder laid out like ``3dgan_data_split/``); ``$GET3D_OFFLINE=1`` turns downloads off.
Anything that is not such a name is a split file path, as before.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from get3d._io import cache_dir, sha256_file
from get3d.errors import Get3dError

__all__ = ["GET3D_SPLITS", "SPLIT_BASE_URL", "is_split_name", "resolve_split"]

# GET3D's repository at the commit whose files these hashes are of (its master as of 2026).
SPLIT_BASE_URL = ("https://raw.githubusercontent.com/nv-tlabs/GET3D/1ea45ce2e189695e47eb438de6aea2717d69f4dd/"
                  "3dgan_data_split")
# (category, part) -> (sha256, number of shape ids)
GET3D_SPLITS: dict[tuple[str, str], tuple[str, int]] = {
    ("car", "train"): ("e510d11bea327e1fd36ad1ecf4f3bcd2813adb410448791950b6ba4598f9a25a", 5201),
    ("car", "val"): ("11707c4b22be7453e417e7a0e86970076f8539737cbaaa2ad4b9133146ffc8dc", 743),
    ("car", "test"): ("7568404721eb6abfecf8bbd3bdd36e81b4cef6dcb73757febc1c592cca06844d", 1494),
    ("chair", "train"): ("2493c663c9fee986279384283f7f15568e464a781c4a554ce17f9bc22bf57ac0", 4184),
    ("chair", "val"): ("2f1d1ee0add0d98d66c11972dc24cec7d209d5b5c69ec1e3788ea3b9e33a471b", 573),
    ("chair", "test"): ("6d0761b0f4e88dad3d43ee2b1d40b11213867a1febcc0a1d8357a01a6f0fb04a", 1131),
    ("motorbike", "train"): ("7a8ea3484d4162bce449431af3eca2dc79d3f2cdca0995e2630645dc8db1de71", 231),
    ("motorbike", "val"): ("9e67b342eef22ffdffd5efae32fde36562466a9ddc4ba2f3e840efd7499f106d", 33),
    ("motorbike", "test"): ("bef74108bfc0c963e0a97db1ce921764889d81629c452b853455bd5d6543847e", 73),
}
_NAME = re.compile(r"get3d-([a-z]+)(?:-([a-z]+))?")


def is_split_name(value: str | Path) -> bool:
    """True for names of the form get3d-<something> that are not an existing file."""
    text = str(value)
    return _NAME.fullmatch(text) is not None and not Path(text).exists()


def _parse(name: str) -> tuple[str, str]:
    match = _NAME.fullmatch(name)
    category, part = match.group(1), match.group(2) or "train"
    if (category, part) not in GET3D_SPLITS:
        names = sorted({f"get3d-{c}" for c, _ in GET3D_SPLITS} | {f"get3d-{c}-{p}" for c, p in GET3D_SPLITS})
        raise Get3dError(f"unknown split {name!r}: GET3D publishes {', '.join(names)}")
    return category, part


def resolve_split(value: str | Path, download: bool = True) -> Path:
    """A split file path for ``value``: a GET3D split name (fetched and cached on first use) or a path."""
    if not is_split_name(value):
        return Path(value)
    category, part = _parse(str(value))
    sha256, _ = GET3D_SPLITS[(category, part)]
    cached = cache_dir("splits") / f"get3d-{category}-{part}.txt"
    if cached.is_file():
        if sha256_file(cached) == sha256:
            return cached
        cached.unlink(missing_ok=True)  # a tampered or stale cache is fetched again
    base = (os.environ.get("GET3D_SPLIT_URL") or SPLIT_BASE_URL).rstrip("/")
    url = f"{base}/shapenet_{category}/{part}.txt"
    if not download or os.environ.get("GET3D_OFFLINE", "0") not in ("", "0"):
        raise Get3dError(f"split {value}: not cached at {cached} and downloads are off ($GET3D_OFFLINE); "
                         f"download {url} there (sha256 {sha256[:12]}...) or pass a split file path")
    from get3d._download import download_verified

    try:
        return download_verified(url, cached, sha256)
    except Get3dError as err:
        raise Get3dError(f"split {value}: {err}; offline, put the file at {cached} or pass a split file "
                         f"path") from None
