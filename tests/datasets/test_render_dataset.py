import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from get3d import Get3dError
from get3d.cli import cli
from get3d.datasets import RenderFolderDataset
from get3d.datasets.render_dataset import (
    Lighting,
    RenderSettings,
    discover_meshes,
    render_mesh_folder,
    shape_cameras,
)
from get3d.geometry import Mesh
from get3d.geometry.mesh_io import load_shading_mesh
from get3d.render.primitives import icosphere

RES = 48


def write_textured_box_obj(folder, name="crate", colour=(0, 255, 0), flat_colour=(1.0, 0.0, 0.0)):
    """A unit box: 10 faces textured with a constant image, the top two with a flat Kd colour."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(folder / f"{name}.png")
    (folder / f"{name}.mtl").write_text(
        f"newmtl tex\nKd 1 1 1\nmap_Kd {name}.png\nnewmtl flat\nKd {' '.join(map(str, flat_colour))}\n")
    v = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]
    quads = {"-x": (0, 1, 3, 2), "+x": (4, 6, 7, 5), "-y": (0, 4, 5, 1), "+y": (2, 3, 7, 6),
             "-z": (0, 2, 6, 4), "+z": (1, 5, 7, 3)}
    lines = [f"mtllib {name}.mtl"] + [f"v {x} {y} {z}" for x, y, z in v] + ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1"]
    for mat, sides in (("tex", ["-x", "+x", "-y", "-z", "+z"]), ("flat", ["+y"])):
        lines.append(f"usemtl {mat}")
        for side in sides:
            a, b, c, d = (i + 1 for i in quads[side])
            lines += [f"f {a}/1 {b}/2 {c}/3", f"f {a}/1 {c}/3 {d}/4"]
    (folder / f"{name}.obj").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.obj"


def reference_silhouette(verts, faces, rotation, elevation, res):
    """Pixel-centre coverage [res,res] (top row first) from the stated camera convention, in numpy."""
    r, e = math.radians(rotation), math.radians(elevation)
    eye = 1.2 * np.array([-math.cos(e) * math.sin(r), math.sin(e), -math.cos(e) * math.cos(r)])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    d = verts - eye
    depth = d @ forward
    t = math.tan(math.atan(16 / 35))  # tan(fovy / 2)
    col = ((d @ right) / (depth * t) + 1) / 2 * res
    row = (1 - (d @ up) / (depth * t)) / 2 * res
    px = np.stack([col, row], -1)[faces]  # [F,3,2]
    ys, xs = np.mgrid[0:res, 0:res] + 0.5
    p = np.stack([xs.ravel(), ys.ravel()], -1)[:, None]  # [P,1,2]

    def edge(a, b):
        return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])

    a, b, c = px[:, 0][None], px[:, 1][None], px[:, 2][None]
    e0, e1, e2 = edge(a, b), edge(b, c), edge(c, a)
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    return inside.any(-1).reshape(res, res)


@pytest.fixture(scope="module")
def mesh_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("meshes")
    write_textured_box_obj(root / "props")
    verts, faces = icosphere(2, radius=0.5)
    # Lopsided in x, y and z, so a mirrored image or a wrong azimuth sign changes the silhouette.
    lopsided = torch.where(verts > 0, verts * torch.tensor([1.8, 1.4, 1.2]), verts * torch.tensor([1.0, 0.6, 0.8]))
    Mesh(lopsided, faces).save(root / "props" / "egg.glb")
    shapenet = root / "02958343" / "car01" / "models"
    shapenet.mkdir(parents=True)
    Mesh(verts, faces).save(shapenet / "model_normalized.obj")
    (root / "props" / "broken.obj").write_text("v 0 0\nf 1 2 3\n")
    return root


@pytest.fixture(scope="module")
def rendered(mesh_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("renders")
    settings = RenderSettings(views=3, resolution=RES, backend="torch")
    summary = render_mesh_folder(mesh_dir, out, settings, workers=0, progress=False)
    return out, summary


def test_discovery_names_shapenet_and_flat_layouts(mesh_dir):
    found = {(s.category, s.shape_id) for s in discover_meshes(mesh_dir)}
    assert found == {("props", "crate"), ("props", "egg"), ("props", "broken"), ("02958343", "car01")}
    assert {s.category for s in discover_meshes(mesh_dir, category="misc")} == {"misc"}


def test_layout_summary_and_bad_mesh_skipped(rendered):
    out, summary = rendered
    assert summary.rendered == 3 and summary.skipped == 0
    assert len(summary.failed) == 1 and "broken.obj" in summary.failed[0][0]
    for cat, shape in (("props", "crate"), ("props", "egg"), ("02958343", "car01")):
        assert sorted(p.name for p in (out / "img" / cat / shape).iterdir()) == ["000.png", "001.png", "002.png"]
        rot = np.load(out / "camera" / cat / shape / "rotation.npy")
        elev = np.load(out / "camera" / cat / shape / "elevation.npy")
        assert rot.shape == elev.shape == (3,)
        assert (0 <= rot).all() and (rot < 360).all() and (0 <= elev).all() and (elev < 30).all()
        with Image.open(out / "img" / cat / shape / "000.png") as im:
            assert im.mode == "RGBA" and im.size == (RES, RES)
    assert not (out / "img" / "props" / "broken").exists()


@pytest.mark.parametrize("cat, shape", [("props", "crate"), ("props", "egg")])
def test_alpha_matches_independent_silhouette(rendered, mesh_dir, cat, shape):
    out, _ = rendered
    src = {"crate": mesh_dir / "props" / "crate.obj", "egg": mesh_dir / "props" / "egg.glb"}[shape]
    mesh = load_shading_mesh(src)
    verts = mesh.verts.double().numpy()
    lo, hi = verts.min(0), verts.max(0)
    verts = (verts - (lo + hi) / 2) * (0.9 / (hi - lo).max())  # GET3D's normalisation, done here by hand
    rot = np.load(out / "camera" / cat / shape / "rotation.npy")
    elev = np.load(out / "camera" / cat / shape / "elevation.npy")
    for view in range(3):
        alpha = np.asarray(Image.open(out / "img" / cat / shape / f"{view:03d}.png"))[..., 3] >= 128
        expected = reference_silhouette(verts, mesh.faces.numpy(), rot[view], elev[view], RES)
        iou = (alpha & expected).sum() / (alpha | expected).sum()
        assert iou > 0.97, f"view {view}: IoU {iou:.3f}"


def test_texture_and_flat_materials_unlit(mesh_dir, tmp_path):
    out = tmp_path / "unlit"
    settings = RenderSettings(views=4, resolution=RES, lighting=Lighting(1.0, 0.0), backend="torch")
    render_mesh_folder(mesh_dir / "props", out, settings, workers=0, progress=False)
    colours = set()
    for view in range(4):
        rgba = np.asarray(Image.open(out / "img" / "props" / "crate" / f"{view:03d}.png")).reshape(-1, 4)
        solid = rgba[rgba[:, 3] == 255, :3]
        assert len(solid) > 100
        colours |= {tuple(c) for c in solid}
    assert (0, 255, 0) in colours, "texture colour on the sides"
    assert (255, 0, 0) in colours, "Kd colour on the top (elevation > 0 shows it)"
    # Unlit: every opaque pixel is green, red, or (antialiased along the material seam) a mix of
    # the two; lighting would darken them, bleeding would bring in other colours.
    mixes = np.array(sorted(colours), dtype=int)
    assert (mixes[:, 2] == 0).all() and (np.abs(mixes[:, 0] + mixes[:, 1] - 255) <= 1).all()


def test_resume_skips_finished_and_redoes_partial(rendered, mesh_dir):
    out, _ = rendered
    (out / "camera" / "props" / "egg" / "rotation.npy").unlink()  # as if interrupted before the end
    before = (out / "img" / "props" / "crate" / "000.png").stat().st_mtime_ns
    settings = RenderSettings(views=3, resolution=RES, backend="torch")
    summary = render_mesh_folder(mesh_dir, out, settings, workers=0, progress=False)
    assert summary.rendered == 1 and summary.skipped == 2
    assert (out / "img" / "props" / "crate" / "000.png").stat().st_mtime_ns == before
    assert (out / "camera" / "props" / "egg" / "rotation.npy").is_file()
    ds = RenderFolderDataset(out)
    assert len(ds) == 9


def test_cameras_are_seeded_per_shape():
    a = shape_cameras(0, "chair", "x", 5)
    assert all(np.array_equal(u, v) for u, v in zip(a, shape_cameras(0, "chair", "x", 5)))
    assert not np.array_equal(a[0], shape_cameras(0, "chair", "y", 5)[0])
    assert not np.array_equal(a[0], shape_cameras(1, "chair", "x", 5)[0])


def test_worker_processes(mesh_dir, tmp_path):
    settings = RenderSettings(views=1, resolution=16, backend="torch")
    summary = render_mesh_folder(mesh_dir, tmp_path / "w", settings, workers=2, progress=False)
    assert summary.rendered == 3 and len(summary.failed) == 1


def test_cli_render_dataset(mesh_dir, tmp_path):
    result = CliRunner().invoke(cli, ["render-dataset", str(mesh_dir / "props"), str(tmp_path / "o"),
                                      "--views", "2", "--res", "16", "--workers", "0", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "rendered 2, skipped 0 (already done), failed 1" in result.output
    result = CliRunner().invoke(cli, ["render-dataset", str(tmp_path / "none"), str(tmp_path / "o")])
    assert result.exit_code == 1 and "mesh folder not found" in result.output


def test_unreadable_mesh_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.glb"
    bad.write_bytes(b"nope")
    with pytest.raises(Get3dError, match="x.glb"):
        load_shading_mesh(bad)


def test_keep_meshes_writes_normalised_copies_for_the_geometry_metrics(mesh_dir, tmp_path):
    import trimesh

    from get3d.geometry.mesh_io import normalize_verts

    out = tmp_path / "k"
    result = CliRunner().invoke(cli, ["render-dataset", str(mesh_dir / "props"), str(out), "--keep-meshes",
                                      "--views", "1", "--res", "16", "--workers", "0", "--backend", "torch",
                                      "--scale", "0.7", "--recentre"])
    assert result.exit_code == 0, result.output
    kept = sorted((out / "mesh").rglob("*.ply"))
    rendered = sorted(p.name for p in (out / "img").glob("*/*"))
    assert sorted(p.stem for p in kept) == rendered and len(kept) == 2
    for path in kept:
        mesh = trimesh.load(path, process=False)
        source = load_shading_mesh(next(p for p in (mesh_dir / "props").iterdir() if p.stem == path.stem))
        expected = normalize_verts(source.verts, 0.7).numpy()
        assert abs(mesh.vertices - expected).max() < 1e-5  # the renders' frame, not the raw file's
