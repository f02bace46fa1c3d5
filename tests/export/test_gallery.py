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
