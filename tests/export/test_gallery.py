"""generate and interpolate write an index.html that references only files that exist."""
import re
from pathlib import Path

from get3d.generate import generate_assets, interpolate


def _references(page: Path) -> list[str]:
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text  # self-contained
    return re.findall(r'(?:href|src)="([^"]+)"', text)


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
