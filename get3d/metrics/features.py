"""Image feature extractors for FID/KID: the standard Inception network, or any model you plug in.

An extractor is anything with a ``name`` (a string that identifies the network and its settings,
used to key the real-statistics cache) and ``__call__(images [B,3,H,W]) -> [B,D]``, where images
are uint8 or float in [0, 255] (not [-1, 1] or [0, 1]). Convert generator output with
:func:`to_uint8_images` first, as GET3D/StyleGAN3 do before their detector.

Where the Inception file is looked for, in order (see docs/metrics.md):

1. the ``path`` argument of :meth:`InceptionExtractor.from_path`;
2. ``$GET3D_INCEPTION`` (the older name ``$GET3D_INCEPTION_PATH`` works too);
3. ``<torch hub dir>/checkpoints/inception-2015-12-05.pt`` (``$TORCH_HOME/hub`` or
   ``~/.cache/torch/hub``: where ``torch.hub.load_state_dict_from_url`` would put it);
4. StyleGAN2/3's own download cache, ``~/.cache/dnnlib/downloads/*_inception-2015-12-05.pt``;
5. otherwise it is downloaded once into (3) from ``INCEPTION_URL`` (``$GET3D_INCEPTION_URL``
   overrides it, e.g. a mirror) and verified by its sha256 before it is moved into place: a
   corrupt or partial download raises and leaves nothing in the cache. ``$GET3D_OFFLINE=1``
   turns the download off. Nothing is downloaded at import, only when FID/KID first need it.

URL and hash: StyleGAN2-ADA's published copy, the one clean-fid and k-diffusion download (k-diffusion
pins this sha256; 95,607,719 bytes). StyleGAN3's NGC copy (``INCEPTION_URL_NGC``) is the same network.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch

from get3d._download import download_verified  # noqa: F401  (re-exported: tests and callers use it here)
from get3d.errors import Get3dError

INCEPTION_FILENAME = "inception-2015-12-05.pt"
INCEPTION_ENV = "GET3D_INCEPTION"
INCEPTION_ENV_OLD = "GET3D_INCEPTION_PATH"  # accepted for compatibility
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
INCEPTION_URL_NGC = (
    "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/metrics/"
    "inception-2015-12-05.pt"
)
INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"


@runtime_checkable
class FeatureExtractor(Protocol):
    """``name`` identifies the features (cache key); calling maps images [B,3,H,W] to [B,D]."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


def to_uint8_images(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Quantise float images [B,C,H,W] in ``value_range`` to uint8 as GET3D does before the detector.

    For the default [-1, 1] this is StyleGAN3's ``(x * 127.5 + 128).clamp(0, 255).to(uint8)``:
    the +128 followed by truncation rounds to nearest, exactly like saving a PNG would.
    """
    lo, hi = value_range
    if not hi > lo:
        raise Get3dError(f"to_uint8_images: value_range must be (low, high) with high > low, got {value_range}")
    scaled = (images.float() - lo) * (255.0 / (hi - lo))
    return (scaled + 0.5).clamp(0, 255).to(torch.uint8)


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha1 of a file's bytes: two different networks saved under the same name get different caches."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check_images(images: torch.Tensor, who: str) -> torch.Tensor:
    """Validate [B,C,H,W] with C in (1, 3); grey images are repeated to 3 channels (as StyleGAN3 does)."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise Get3dError(f"{who}: images must be [B,3,H,W] (or [B,1,H,W]), got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    return images


def _check_features(features, batch: int, who: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != batch:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise Get3dError(f"{who}: feature extractor must return [B,D] with B={batch}, got {shape}")
    return features


class CallableExtractor:
    """Wrap any function images [B,3,H,W] (uint8/float in [0,255]) -> features [B,D] (CLIP, DINO...).

    ``name`` must change whenever the function does: it keys the cached real statistics.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str, device: str | torch.device = "cpu"):
        if not name:
            raise Get3dError("CallableExtractor needs a non-empty name (it keys the real-statistics cache)")
        self.fn = fn
        self.name = name
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, self.name).to(self.device)
        return _check_features(self.fn(images), images.shape[0], self.name)


class TorchScriptExtractor:
    """A TorchScript feature network loaded from a file, called as ``model(images, **call_kwargs)``.

    ``input_dtype``: "uint8" hands the network images rounded to uint8 (what the StyleGAN3
    Inception expects and how GET3D feeds it), "float" hands float32 values in [0, 255].
    The name defaults to ``torchscript:<file stem>:<first 12 hex of the file's sha1>``.
    """

    def __init__(
        self,
        path: str | Path,
        call_kwargs: dict | None = None,
        device: str | torch.device = "cpu",
        input_dtype: str = "float",
        name: str | None = None,
    ):
        path = Path(path).expanduser()
        if not path.is_file():
            raise Get3dError(f"{path}: no such TorchScript feature-extractor file")
        if input_dtype not in ("uint8", "float"):
            raise Get3dError(f"input_dtype must be 'uint8' or 'float', got {input_dtype!r}")
        self.path = path
        self.device = torch.device(device)
        try:
            with warnings.catch_warnings():
                # torch >= 2.10 flags torch.jit as deprecated, but the published Inception
                # network exists only as TorchScript, so loading it is the point here.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as err:  # noqa: BLE001 - any load failure means the file is not a usable TorchScript model
            raise Get3dError(f"{path}: cannot load as TorchScript ({type(err).__name__}: {err})") from None
        self.call_kwargs = dict(call_kwargs or {})
        self.input_dtype = input_dtype
        kwargs = ",".join(f"{k}={v}" for k, v in sorted(self.call_kwargs.items()))
        self.name = name or f"torchscript:{path.stem}:{file_digest(path)[:12]}:{input_dtype}:{kwargs}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images, str(self.path)).to(self.device)
        if self.input_dtype == "uint8":
            if images.dtype != torch.uint8:
                images = (images.float() + 0.5).clamp(0, 255).to(torch.uint8)  # round to nearest
        else:
            images = images.float()
        features = self.model(images, **self.call_kwargs)
        return _check_features(features, images.shape[0], str(self.path)).float()


def inception_search_paths() -> list[Path]:
    """The default places the Inception file is looked for (after the explicit path and env var)."""
    return [Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILENAME]


def _dnnlib_cached_inception() -> Path | None:
    """StyleGAN2/3 cache their downloads as ~/.cache/dnnlib/downloads/<md5>_<filename>."""
    folder = Path(os.path.expanduser("~")) / ".cache" / "dnnlib" / "downloads"
    hits = sorted(folder.glob(f"*_{INCEPTION_FILENAME}")) if folder.is_dir() else []
    return hits[0] if hits else None


def find_inception(path: str | Path | None = None, download: bool = True) -> Path:
    """Resolve the Inception TorchScript file (downloading it when allowed), or raise Get3dError
    saying where to put it."""
    how_to_get = (f"download it from {INCEPTION_URL} (StyleGAN's copy of the network GET3D and clean-fid use, "
                  f"sha256 {INCEPTION_SHA256[:12]}...) and pass its path (inception, --inception) or set ${INCEPTION_ENV} to it")
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise Get3dError(f"Inception file {path} does not exist; {how_to_get}")
        return path
    for name in (INCEPTION_ENV, INCEPTION_ENV_OLD):
        env = os.environ.get(name)
        if env:
            env_path = Path(env).expanduser()
            if not env_path.is_file():
                raise Get3dError(f"${name}={env}: no such file; {how_to_get}")
            return env_path
    for candidate in inception_search_paths():
        if candidate.is_file():
            return candidate
    cached = _dnnlib_cached_inception()
    if cached is not None:
        return cached
    default = inception_search_paths()[0]
    if download and os.environ.get("GET3D_OFFLINE", "0") in ("", "0"):
        url = os.environ.get("GET3D_INCEPTION_URL") or INCEPTION_URL
        try:
            return download_verified(url, default, INCEPTION_SHA256)
        except Get3dError as err:
            raise Get3dError(f"Inception network {INCEPTION_FILENAME} not found at {default} and {err}; "
                             f"offline, put the file there, or {how_to_get}") from None
    raise Get3dError(
        f"Inception network {INCEPTION_FILENAME} not found at {default} (downloads are off: $GET3D_OFFLINE): "
        f"put it there, or {how_to_get}"
    )


class InceptionExtractor(TorchScriptExtractor):
    """The TorchScript Inception-v3 used by StyleGAN2/3, GET3D and clean-fid: 2048-d pool features.

    The network resizes to 299x299 itself; it is called as ``model(uint8 images, return_features=True)``.
    """

    @classmethod
    def from_path(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "InceptionExtractor":
        return cls(path, device=device)

    def __init__(self, path=None, call_kwargs=None, device="cpu", input_dtype="uint8", name=None):
        path = find_inception(path)
        # Named by content, not by path: every copy of the same file shares the cached statistics.
        name = name or f"inception-2015-12-05:{file_digest(path)[:12]}"
        super().__init__(path, call_kwargs or {"return_features": True}, device, input_dtype, name)
