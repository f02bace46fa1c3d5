"""generate and interpolate write an index.html that references only files that exist, shows each GLB
in a viewer (embedded, or linked when large) and carries the vendored viewer with its licence."""
import base64
import hashlib
import re
from pathlib import Path

from get3d.generate import generate_assets, interpolate


def _references(page: Path) -> list[str]:
    """The page's links to files (data: URIs left out); asserts it needs no network."""
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained
    scripts = re.findall(r'<script src="([^"]+)"', text)
    assert scripts in ([], ["viewer/model-viewer-umd.min.js"]), scripts  # only the vendored viewer
    return [r for r in re.findall(r'(?:href|src|data-src)="([^"]+)"', text) if not r.startswith("data:")]


def test_generate_gallery_links_every_seed_and_only_existing_files(tmp_path):
    generate_assets("tiny-chair", [1, 2], tmp_path, formats="glb,obj", texture_res=16, preview_views=2,
                    turntable_frames=2, preview_res=32, progress=False, device="cpu", backend="torch")
    refs = _references(tmp_path / "index.html")
    for ref in refs:
        assert not ref.startswith("/") and (tmp_path / ref).is_file(), ref
    for name in ("preview.png", "seed0001.glb", "seed0001.obj", "seed0002_turntable.gif"):
        assert name in refs
    assert "truncation" in (tmp_path / "index.html").read_text()


def test_interpolate_gallery(tmp_path):
    written = interpolate("tiny-chair", [1, 2], tmp_path, steps=2, resolution=32, device="cpu", backend="torch",
                          write_meshes=True, texture_res=16)
    refs = _references(Path(written["gallery"]))
    assert "interp_both.png" in refs and "interp_both.gif" in refs
    assert any(r.startswith("interp_both_meshes/") for r in refs)
    for ref in refs:
        assert (tmp_path / ref).is_file(), ref


def test_galleries_with_a_relative_outdir_link_every_file(tmp_path, monkeypatch):
    """README style: `get3d generate ... --outdir out/s` run from some working directory (issue 24.2:
    the folder was joined onto the already relative paths, and the page came out empty)."""
    from click.testing import CliRunner

    from get3d.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", "--ckpt", "tiny-chair", "--seeds", "0-1", "--outdir", "out/s",
                                 "--texture-res", "16", "--preview-views", "2", "--backend", "torch", "--device",
                                 "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    refs = _references(tmp_path / "out" / "s" / "index.html")
    for name in ("preview.png", "seed0000.glb", "seed0001.glb", "seed0001.obj"):
        assert name in refs, refs
    result = runner.invoke(cli, ["interpolate", "--ckpt", "tiny-chair", "--seeds", "0,1", "--outdir", "out/i",
                                 "--steps", "2", "--res", "32", "--backend", "torch", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    refs = _references(tmp_path / "out" / "i" / "index.html")
    assert "interp_both.png" in refs and "interp_both.gif" in refs, refs


def test_models_are_embedded_exactly_and_the_viewer_travels_with_its_licence(tmp_path):
    from get3d.export.gallery import GalleryItem, write_gallery

    generate_assets("tiny-chair", [3], tmp_path, formats="glb", texture_res=16, preview_views=0, progress=False,
                    device="cpu", backend="torch")
    text = (tmp_path / "index.html").read_text()
    uris = re.findall(r'<model-viewer src="data:model/gltf-binary;base64,([^"]+)" data-file="seed0003.glb"', text)
    assert len(uris) == 1 and base64.b64decode(uris[0]) == (tmp_path / "seed0003.glb").read_bytes()
    vendor = Path(__file__).parents[2] / "get3d" / "export" / "vendor" / "model-viewer"
    for name in ("model-viewer-umd.min.js", "LICENSE", "README.md"):
        assert (tmp_path / "viewer" / name).read_bytes() == (vendor / name).read_bytes()
    digest = hashlib.sha256((vendor / "model-viewer-umd.min.js").read_bytes()).hexdigest()
    assert digest in (vendor / "README.md").read_text()  # the pinned build is the one described
    assert "Apache License" in (vendor / "LICENSE").read_text()
    # Over the limit: linked by name (loaded when served), with the way to open it on the page.
    write_gallery(tmp_path, "t", items=[GalleryItem("big", ["seed0003.glb"])], embed_max_bytes=100)
    text = (tmp_path / "index.html").read_text()
    assert 'data-src="seed0003.glb"' in text and "data:model" not in text and "get3d view" in text
    # The page's total is bounded too: the second of two models no longer fits.
    size = (tmp_path / "seed0003.glb").stat().st_size
    (tmp_path / "copy.glb").write_bytes((tmp_path / "seed0003.glb").read_bytes())
    write_gallery(tmp_path, "t", items=[GalleryItem("a", ["seed0003.glb"]), GalleryItem("b", ["copy.glb"])],
                  embed_total_bytes=size + 10)
    text = (tmp_path / "index.html").read_text()
    assert text.count("data:model/gltf-binary") == 1 and 'data-src="copy.glb"' in text


def test_a_page_without_models_has_no_viewer(tmp_path):
    from get3d.export.gallery import write_gallery

    (tmp_path / "a.png").write_bytes(b"png")
    write_gallery(tmp_path, "images only", overview=["a.png"])
    assert "<script" not in (tmp_path / "index.html").read_text() and not (tmp_path / "viewer").exists()


def test_get3d_view_serves_the_folder_on_loopback_only(tmp_path):
    import threading
    import urllib.error
    import urllib.request

    import pytest
    from click.testing import CliRunner

    from get3d.cli import cli
    from get3d.errors import Get3dError
    from get3d.export.serve import gallery_server

    result = CliRunner().invoke(cli, ["view", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such folder" in result.output
    with pytest.raises(Get3dError, match="no index.html"):
        gallery_server(tmp_path)
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "m.glb").write_bytes(b"glTF")
    server = gallery_server(tmp_path)
    assert server.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = server.url.rsplit("/", 1)[0]
        assert urllib.request.urlopen(server.url).read() == b"<p>hi</p>"
        with urllib.request.urlopen(base + "/m.glb") as reply:
            assert reply.headers["Content-Type"] == "model/gltf-binary" and reply.read() == b"glTF"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/../" + tmp_path.name + "/index.html")
    finally:
        server.shutdown()
        server.server_close()
