"""Fuzzed mesh files (hypothesis): OBJ/MTL, PLY, GLB, OFF and STL, truncated, with bytes
overwritten, NaN/inf coordinates, out-of-range indices, huge counts in headers and non-UTF-8
names. Both readers (``Mesh.load`` for generate/metrics/refine --mesh, ``load_shading_mesh`` for
render-dataset) must return a valid mesh (finite vertices, faces in range) or raise a one-line
Get3dError naming the file: never another exception, a hang or a crash."""
import re

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from get3d.geometry.mesh_io import load_shading_mesh
from get3d.geometry.mesh import Mesh
from tests.fuzz import budget, check_one_line, time_limit

FORMATS = ("obj", "ply", "glb", "off", "stl")


def _seed_files() -> dict[str, bytes]:
    """Valid small files to mutate: a textured box in each format (OBJ with its MTL)."""
    box = trimesh.creation.box()
    uv = np.stack([box.vertices[:, 0] + 0.5, box.vertices[:, 1] + 0.5], axis=1)
    from PIL import Image

    image = Image.fromarray(np.full((4, 4, 3), 200, np.uint8))
    textured = trimesh.Trimesh(box.vertices, box.faces, process=False,
                               visual=trimesh.visual.TextureVisuals(uv=uv, image=image))
    files = {}
    for ext in FORMATS:
        data = (textured if ext in ("obj", "glb") else box).export(file_type=ext)
        files[ext] = data.encode() if isinstance(data, str) else data
    files["ply_ascii"] = box.export(file_type="ply", encoding="ascii").encode() \
        if isinstance(box.export(file_type="ply", encoding="ascii"), str) else box.export(file_type="ply", encoding="ascii")
    return files


SEEDS = _seed_files()
NUMBER = re.compile(rb"-?\d+(\.\d+)?(e-?\d+)?")
NASTY_NUMBERS = [b"nan", b"inf", b"-inf", b"1e999", b"NaN", b"99999999999", b"-7", b"4294967295", b"0x10", b""]
NASTY_NAMES = [b"\xff\xfe.png", b"caf\xe9.mtl", b"../../etc/passwd", b"a" * 300, b"\x00", b"nul\x00.png"]


@st.composite
def mutated(draw):
    """(file extension, bytes): a seed file with one to three mutations."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    ext = "ply" if name == "ply_ascii" else name
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "overwrite", "number", "header", "name", "insert"]))
        if kind == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "overwrite" and data:
            at = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at: at + len(chunk)] = chunk
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "number":
            matches = list(NUMBER.finditer(bytes(data)))
            if matches:
                m = draw(st.sampled_from(matches))
                data[m.start(): m.end()] = draw(st.sampled_from(NASTY_NUMBERS))
        elif kind == "header":
            data = bytearray(_huge_header(ext, bytes(data), draw(st.sampled_from([2 ** 31 - 1, 2 ** 32 - 1, 10 ** 12,
                                                                                  0, 3]))))
        elif kind == "name":
            data = bytearray(_bad_name(ext, bytes(data), draw(st.sampled_from(NASTY_NAMES))))
    return ext, bytes(data)


def _huge_header(ext: str, data: bytes, count: int) -> bytes:
    if ext == "ply":
        return re.sub(rb"element (vertex|face) \d+", lambda m: b"element " + m.group(1) + b" %d" % count, data, 1)
    if ext == "off":
        return re.sub(rb"OFF\n\d+ \d+", b"OFF\n%d %d" % (count, count), data, 1)
    if ext == "stl" and len(data) >= 84:
        return data[:80] + (count % 2 ** 32).to_bytes(4, "little") + data[84:]
    if ext == "glb":
        return re.sub(rb'"count":\d+', b'"count":%d' % count, data, 1)
    if ext == "obj":
        return data + b"\nf 1 2 %d\n" % count
    return data


def _bad_name(ext: str, data: bytes, name: bytes) -> bytes:
    if ext == "obj":
        return re.sub(rb"(mtllib|usemtl) \S+", lambda m: m.group(1) + b" " + name, data, 1)
    if ext == "glb":
        return data.replace(b'"name":"', b'"name":"' + name.replace(b"\x00", b"") + b"_", 1)
    if ext == "ply":
        return data.replace(b"comment ", b"comment " + name + b" ", 1)
    return data


def _write(tmp_path, ext: str, data: bytes, index: int):
    folder = tmp_path / f"case{index}"
    folder.mkdir()
    path = folder / f"m\u00e9sh.{ext}"  # a non-ASCII file name too
    path.write_bytes(data)
    if ext == "obj":  # the MTL and texture the OBJ names, themselves sometimes damaged
        (folder / "material.mtl").write_bytes(b"newmtl material_0\nKd 1 1 1\nmap_Kd material_0.png\n")
        (folder / "material_0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + data[:7])
    return path


def _check_mesh(path, reader):
    try:
        with time_limit(60, path):
            mesh = reader(path)
    except Exception as err:  # noqa: BLE001 - the property: only a one-line Get3dError
        check_one_line(err, path)
        return "error"
    verts, faces = mesh.verts, mesh.faces
    assert verts.ndim == 2 and verts.shape[1] == 3 and bool(np.isfinite(verts.numpy()).all()), path
    assert faces.shape[0] > 0 and int(faces.min()) >= 0 and int(faces.max()) < verts.shape[0], path
    return "mesh"


def _fuzz_meshes(tmp_path_factory, case):
    ext, data = case
    tmp = tmp_path_factory.mktemp("fuzz-mesh")
    path = _write(tmp, ext, data, 0)
    for reader in (Mesh.load, load_shading_mesh):
        _check_mesh(path, reader)


@settings(max_examples=budget(60), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_fuzzed_mesh_files_load_or_fail_with_one_line(tmp_path_factory, case):
    _fuzz_meshes(tmp_path_factory, case)


@pytest.mark.slow
@settings(max_examples=budget(60, slow=True), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_fuzzed_mesh_files_load_or_fail_with_one_line_large_budget(tmp_path_factory, case):
    _fuzz_meshes(tmp_path_factory, case)


@pytest.mark.parametrize("ext", FORMATS)
def test_every_seed_file_loads(tmp_path, ext):
    """The mutations start from files both readers accept (so a failure is the mutation's)."""
    path = _write(tmp_path, ext, SEEDS[ext], 0)
    assert _check_mesh(path, Mesh.load) == "mesh"
    assert _check_mesh(path, load_shading_mesh) == "mesh"


@pytest.mark.parametrize("ext, data", [
    ("obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n"),  # index past the end
    ("obj", b"v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n"),
    ("off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"),
    ("off", b"OFF\n3 1 0\n0 0 0\n1 0 inf\n0 1 0\n3 0 1 2\n"),
    ("ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
            b"element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n"),
    ("ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 4294967295\nproperty float x\nproperty float y\n"
            b"property float z\nend_header\n" + b"\x00" * 12),
    ("stl", b"\x00" * 80 + (2 ** 32 - 1).to_bytes(4, "little") + b"\x00" * 50),
])
def test_known_hostile_files_are_one_line_errors(tmp_path, ext, data):
    path = tmp_path / f"bad.{ext}"
    path.write_bytes(data)
    for reader in (Mesh.load, load_shading_mesh):
        assert _check_mesh(path, reader) == "error"
