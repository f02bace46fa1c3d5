"""Galleries in a real headless browser: every model turns in its viewer, from file:// and from
`get3d view`, with no console errors and no network.

Needs Chromium (Debian: ``apt-get install chromium``; or GET3D_CHROMIUM=/path); skipped without.
"""
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.export.browser import Browser, find_browser, open_page

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install chromium, or "
                                "set GET3D_CHROMIUM): the galleries' browser test needs one")

WIDTH = 1000
ALL_LOADED = ("(() => { const v = [...document.querySelectorAll('model-viewer')]; "
              "return v.length > 0 && v.every(e => e.loaded && e.modelIsVisible) && v.length; })()")
RECTS = ("[...document.querySelectorAll('model-viewer')].filter(e => e.offsetParent !== null).map(e => "
         "{ const r = e.getBoundingClientRect(); "
         "return [r.left, r.top + scrollY, r.width, r.height, e.dataset.file]; })")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    from get3d.generate import generate_assets

    out = tmp_path_factory.mktemp("gallery")
    generate_assets("tiny-chair", [0, 1], out, formats="glb,obj", texture_res=32, preview_views=2, preview_res=32,
                    progress=False, device="cpu", backend="torch")
    return out


def _show(browser: Browser, url: str) -> list:
    """Open ``url``, make the viewport as tall as the page, wait until every visible viewer shows
    its model. -> [(left, top, width, height, file)] of each visible viewer, in page pixels."""
    open_page(browser, url, WIDTH, 900)
    height = int(browser.evaluate("document.documentElement.scrollHeight"))
    browser.call("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": height, "deviceScaleFactor": 1,
                                                        "mobile": False})
    return browser.evaluate(RECTS)


def _check_models_drawn(browser: Browser, rects: list) -> None:
    browser.pump(1.5)  # a few frames after the last model arrived
    shot = np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("RGB")).astype(int)
    for left, top, width, height, name in rects:
        box = shot[int(top) + 2:int(top + height) - 2, int(left) + 2:int(left + width) - 2]
        assert box.size, (name, shot.shape)
        drawn = (np.abs(box - 255).sum(-1) > 40).mean()  # the viewer's background is white
        assert drawn > 0.01, f"{name}: only {drawn:.2%} of its viewer differs from the background"


def _no_network(browser: Browser) -> None:
    remote = [u for u in browser.requested_urls() if not u.startswith(("file:", "data:", "blob:", "http://127.0.0.1"))]
    assert not remote, remote


def test_generate_gallery_turns_from_file_without_network(gallery):
    with Browser(BROWSER) as browser:
        rects = _show(browser, (gallery / "index.html").as_uri())
        assert sorted(r[4] for r in rects) == ["seed0000.glb", "seed0001.glb"]
        assert browser.wait_for(ALL_LOADED, timeout=90) == 2
        _check_models_drawn(browser, rects)
        # Orbit: turn the first viewer's camera; the picture in it changes.
        before = browser.screenshot()
        browser.evaluate("(() => { const v = document.querySelector('model-viewer'); "
                         "v.cameraOrbit = '120deg 60deg auto'; v.jumpCameraToGoal(); return true; })()")
        browser.pump(1.0)
        assert browser.screenshot() != before
        assert browser.console_errors() == []
        _no_network(browser)
        images = browser.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
        assert ["preview.png", 64] in [[s, w] for s, w in images], images  # the preview image is kept


@pytest.mark.slow  # ~25 s of software WebGL; the server itself is tested in the default suite (test_gallery.py)
def test_large_models_are_served_by_get3d_view(gallery, tmp_path):
    """Over the embedding limit a model is linked: from file:// the page says to use `get3d view`
    (and logs no error); served by get3d view on 127.0.0.1, the viewer loads it by URL."""
    import shutil

    from get3d.export.gallery import GalleryItem, write_gallery
    from get3d.export.serve import gallery_server

    for name in ("seed0000.glb", "seed0001.glb"):
        shutil.copy(gallery / name, tmp_path / name)
    write_gallery(tmp_path, "large", items=[GalleryItem("a", [tmp_path / "seed0000.glb"]),
                                            GalleryItem("b", ["seed0001.glb"])], embed_max_bytes=1000)
    page = (tmp_path / "index.html").read_text()
    assert "data:model" not in page and "get3d view" in page
    with Browser(BROWSER) as browser:
        assert _show(browser, (tmp_path / "index.html").as_uri()) == []  # nothing to turn from file://
        browser.pump(1.0)
        notes = browser.evaluate("[...document.querySelectorAll('.served')].filter(e => e.offsetParent).length")
        assert notes == 3  # the page's note and one under each model
        assert browser.console_errors() == []
    server = gallery_server(tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Browser(BROWSER) as browser:
            rects = _show(browser, server.url)
            assert len(rects) == 2
            assert browser.wait_for(ALL_LOADED, timeout=90) == 2
            _check_models_drawn(browser, rects)
            assert browser.console_errors() == []
            _no_network(browser)
            assert any(u.endswith("/seed0001.glb") for u in browser.requested_urls())
    finally:
        server.shutdown()
        server.server_close()
