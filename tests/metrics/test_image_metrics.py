"""FID/KID end to end: PNG folders -> tiny TorchScript extractor -> cached real statistics."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from get3d.errors import Get3dError
from get3d.metrics import (
    CallableExtractor,
    InceptionExtractor,
    TorchScriptExtractor,
    image_folder_metrics,
    image_metrics,
    iter_image_batches,
    load_image,
    to_uint8_images,
)
from get3d.metrics.features import INCEPTION_ENV, INCEPTION_URL


class _TinyNet(torch.nn.Module):
    """Stands in for Inception: same call convention, pooled colours projected to 6 dims."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3 * 4 * 4, 6)

    def forward(self, x, return_features: bool = False):
        f = self.proj(torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1))
        return f if return_features else f.sum(1, keepdim=True)


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated; Inception is TorchScript
        torch.jit.script(_TinyNet()).save(str(path))
    return path


def _write_pngs(folder, count, seed, brightness, size=24):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        rgb = np.clip(rng.normal(brightness, 40, size=(size, size, 3)), 0, 255)
        alpha = np.full((size, size, 1), 255.0)
        alpha[: size // 4] = 0  # transparent band: composited to black
        Image.fromarray(np.concatenate([rgb, alpha], -1).astype(np.uint8), "RGBA").save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return _write_pngs(root / "a", 20, 0, 90.0), _write_pngs(root / "b", 20, 1, 170.0)


class _Counting:
    """Wraps an extractor and counts the images it sees (detects recomputation)."""

    def __init__(self, inner):
        self.inner, self.name, self.seen = inner, inner.name, 0

    def __call__(self, images):
        self.seen += images.shape[0]
        return self.inner(images)


def test_fid_zero_for_same_folder_and_larger_for_different(tiny_net, folders, tmp_path):
    a, b = folders
    ext = TorchScriptExtractor(tiny_net, call_kwargs={"return_features": True}, input_dtype="uint8")
    same = image_folder_metrics(a, a, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=5)
    diff = image_folder_metrics(a, b, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=5)
    assert abs(same["fid"]) < 1e-6
    # Unbiased MMD^2 of a set against itself is (2/m)(mean off-diagonal k - mean diagonal k) <= 0.
    assert same["kid"] <= 0 < diff["kid"] and abs(same["kid"]) < diff["kid"] / 10
    assert diff["fid"] > 1e-3 > 1e3 * abs(same["fid"])
    assert same["num_real"] == same["num_fake"] == 20 and diff["resolution"] == 16


def test_real_stats_cache_is_reused_invalidated_and_corruption_recomputed(tiny_net, folders, tmp_path):
    a, b = folders
    ext = _Counting(TorchScriptExtractor(tiny_net, call_kwargs={"return_features": True}))
    first = image_folder_metrics(a, b, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=2)
    assert ext.seen == 40  # real + fake
    [cache_file] = list(tmp_path.glob("*.npz"))

    second = image_folder_metrics(a, b, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=2)
    assert ext.seen == 60  # fake only: real statistics came from the cache
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-12)

    image_folder_metrics(a, b, 20, extractor=ext, cache_dir=tmp_path, kid_subsets=2)
    assert ext.seen == 100  # another resolution is another cache entry

    cache_file.write_bytes(b"not an npz file")
    third = image_folder_metrics(a, b, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=2)
    assert ext.seen == 140  # corrupt cache: recomputed...
    assert third["fid"] == pytest.approx(first["fid"], rel=1e-9)
    with np.load(cache_file) as data:  # ...and rewritten whole
        assert data["features"].shape == (20, 6)
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_key_changes_when_the_dataset_changes(tiny_net, folders, tmp_path):
    a, _ = folders
    copy = _write_pngs(tmp_path / "copy", 6, 2, 90.0)
    ext = _Counting(TorchScriptExtractor(tiny_net, call_kwargs={"return_features": True}))
    fake = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    image_metrics(copy, fake, 16, extractor=ext, cache_dir=tmp_path / "c", metrics=("fid",))
    _write_pngs(tmp_path / "copy" / "more", 2, 3, 90.0)
    out = image_metrics(copy, fake, 16, extractor=ext, cache_dir=tmp_path / "c", metrics=("fid",))
    assert ext.seen == 6 + 4 + 8 + 4 and out["num_real"] == 8 and "kid" not in out


def test_fake_side_takes_any_iterable_of_batches(tiny_net, folders, tmp_path):
    """The generator boundary: batches rendered on the fly, float in [-1, 1] converted first."""
    a, _ = folders
    ext = TorchScriptExtractor(tiny_net, call_kwargs={"return_features": True})
    real = torch.cat(list(iter_image_batches(a, 16)))

    def render():  # a stand-in generator yielding float images in [-1, 1]
        for chunk in real.split(7):
            yield to_uint8_images(chunk.float() / 127.5 - 1.0)

    out = image_metrics(a, render(), 16, extractor=ext, cache_dir=tmp_path)
    assert abs(out["fid"]) < 1e-6 and out["num_fake"] == 20
    with pytest.raises(Get3dError, match="16x16"):
        image_metrics(a, [torch.zeros(2, 3, 8, 8)], 16, extractor=ext, cache_dir=tmp_path)


def test_rgba_is_composited_on_black_and_resized(tmp_path):
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., 0] = 200  # red everywhere, but only the right half is opaque
    pixels[:, 4:, 3] = 255
    Image.fromarray(pixels, "RGBA").save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png", 8)
    assert img.dtype == torch.uint8 and img.shape == (3, 8, 8)
    assert img[0, :, :4].max() == 0 and img[0, :, 4:].min() == 200 and img[1:].max() == 0
    assert load_image(tmp_path / "x.png", 4).shape == (3, 4, 4)
    half = load_image(tmp_path / "x.png", 8, alpha="blend")
    assert torch.equal(half, img)  # alpha is 0 or 255 here, so both modes agree
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(Get3dError, match="bad.png"):
        load_image(tmp_path / "bad.png", 8)


def test_callable_extractor_plugs_in_any_function(folders, tmp_path):
    a, b = folders
    ext = CallableExtractor(lambda x: x.float().mean((2, 3)), name="mean-colour")
    out = image_folder_metrics(a, b, 16, extractor=ext, cache_dir=tmp_path, kid_subsets=3)
    assert out["fid"] > 0 and out["extractor"] == "mean-colour"


def test_missing_inception_names_the_path_and_env_var(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "inception-2015-12-05.pt"
    monkeypatch.setenv(INCEPTION_ENV, str(missing))
    with pytest.raises(Get3dError) as err:
        InceptionExtractor.from_path()
    assert str(missing) in str(err.value) and INCEPTION_ENV in str(err.value) and INCEPTION_URL in str(err.value)

    with pytest.raises(Get3dError) as err:
        InceptionExtractor.from_path(tmp_path / "given.pt")
    assert str(tmp_path / "given.pt") in str(err.value) and INCEPTION_ENV in str(err.value)

    monkeypatch.delenv(INCEPTION_ENV)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(Get3dError) as err:
        image_folder_metrics(tmp_path, tmp_path, 16)  # default extractor: the Inception network
    message = str(err.value)
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "inception-2015-12-05.pt") in message
    assert INCEPTION_ENV in message and INCEPTION_URL in message


def _fake_inception(tmp_path):
    """A tiny TorchScript stand-in with the Inception call signature, and its sha256."""
    import hashlib

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            return x.float().mean((2, 3))

    path = tmp_path / "served" / "inception.pt"
    path.parent.mkdir()
    torch.jit.save(torch.jit.script(Net()), str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_inception_downloads_once_into_the_hub_cache_verified_by_sha256(tmp_path, monkeypatch):
    import get3d.metrics.features as features

    served, digest = _fake_inception(tmp_path)
    for name in ("GET3D_OFFLINE", features.INCEPTION_ENV, features.INCEPTION_ENV_OLD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GET3D_INCEPTION_URL", served.as_uri())
    cache = tmp_path / "torch" / "hub" / "checkpoints"

    monkeypatch.setattr(features, "INCEPTION_SHA256", "0" * 64)  # corrupt download: hash mismatch
    with pytest.raises(Get3dError) as err:
        InceptionExtractor.from_path()
    assert "corrupt" in str(err.value) and "\n" not in str(err.value)
    assert not cache.exists() or list(cache.iterdir()) == [], "nothing left in the cache"

    monkeypatch.setattr(features, "INCEPTION_SHA256", digest)
    ext = InceptionExtractor.from_path()
    assert ext.path == cache / "inception-2015-12-05.pt" and ext.path.read_bytes() == served.read_bytes()
    assert list(cache.iterdir()) == [ext.path], "no temporary file left"
    feats = ext(torch.full((2, 3, 8, 8), 10, dtype=torch.uint8))
    assert torch.allclose(feats, torch.full((2, 3), 10.0))
    served.unlink()  # found in the cache from now on: no second download
    assert InceptionExtractor.from_path().path == ext.path


def test_inception_offline_error_says_where_to_put_it_and_both_env_names_work(tmp_path, monkeypatch):
    import get3d.metrics.features as features

    for name in ("GET3D_OFFLINE", features.INCEPTION_ENV, features.INCEPTION_ENV_OLD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GET3D_INCEPTION_URL", (tmp_path / "unreachable.pt").as_uri())  # a failing fetch
    with pytest.raises(Get3dError) as err:
        features.find_inception()
    message = str(err.value)
    assert str(tmp_path / "torch/hub/checkpoints/inception-2015-12-05.pt") in message and "offline" in message
    assert "$GET3D_INCEPTION " in message and "\n" not in message

    served, _ = _fake_inception(tmp_path)
    for name in (features.INCEPTION_ENV, features.INCEPTION_ENV_OLD):
        monkeypatch.setenv(name, str(served))
        assert features.find_inception() == served
        monkeypatch.delenv(name)
