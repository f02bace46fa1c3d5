import numpy as np
import pytest
import torch

from get3d import Get3dError
from get3d.geometry import tets as tetmod
from get3d.geometry import cells_for_resolution, edge_table, tet_grid, tet_grid_cells

# (GET3D's Quartet vertex count, tet count) for the two grids it documents.
GET3D_COUNTS = {64: (36_562, 192_492), 90: (98_653, 532_314)}


def _faces(tets: np.ndarray) -> np.ndarray:
    return np.sort(np.concatenate([tets[:, [0, 1, 2]], tets[:, [0, 1, 3]], tets[:, [0, 2, 3]], tets[:, [1, 2, 3]]]), 1)


def _check_valid(verts: np.ndarray, tets: np.ndarray) -> None:
    assert verts.dtype == np.float32 and tets.dtype == np.int64
    assert verts.min() >= -0.5 and verts.max() <= 0.5
    assert np.array_equal(np.unique(tets), np.arange(len(verts))), "every vertex is used"
    p = verts.astype(np.float64)[tets]
    vol = np.einsum("ti,ti->t", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    assert vol.min() > 0, "all tets positively oriented"
    assert np.isclose(vol.sum() / 6, 1.0), "tets tile the unit cube exactly"
    faces, counts = np.unique(_faces(tets), axis=0, return_counts=True)
    assert counts.max() == 2, "no triangle shared by more than two tets"
    boundary = verts[faces[counts == 1]]  # [K,3 corners,3]
    on_box = np.any(np.all(np.isclose(np.abs(boundary), 0.5), axis=1), axis=1)
    assert on_box.all(), "every unshared triangle lies on the box surface (conforming grid)"


@pytest.mark.parametrize("cells", [1, 2, 5])
def test_small_grids_are_valid(cells):
    verts, tets = tet_grid_cells(cells)
    _check_valid(verts.numpy(), tets.numpy())
    assert len(verts) == (cells + 1) ** 3 + cells**3
    assert len(tets) == 12 * cells**3


@pytest.mark.parametrize("res", [64, 90])
def test_named_grids_are_valid_and_sized_like_get3d(res):
    verts, tets = tet_grid(res)
    _check_valid(verts.numpy(), tets.numpy())
    ref_v, ref_t = GET3D_COUNTS[res]
    assert abs(len(verts) - ref_v) / ref_v < 0.03
    assert abs(len(tets) - ref_t) / ref_t < 0.10
    # Edge length close to Quartet's at the same vertex count: mean edge ~ 0.93 / cells.
    edges = edge_table(tets).edges
    mean_len = (verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=-1).mean().item()
    assert abs(mean_len * cells_for_resolution(res) - 0.93) < 0.05


def test_resolution_mapping_table():
    expected = {64: 26, 70: 28, 80: 32, 90: 36, 100: 40, 128: 51}
    assert {res: cells_for_resolution(res) for res in expected} == expected


@pytest.mark.parametrize("bad", [0, 2, -5, 90.0, "90", True])
def test_bad_resolution_is_a_clear_error(bad):
    with pytest.raises(Get3dError, match="tet_res"):
        tet_grid(bad)


def test_grid_is_deterministic_and_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tetmod, "_GRIDS", {})
    v1, t1 = tet_grid_cells(4)
    files = list((tmp_path / "tets").glob("bcc_n4_*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(tetmod, "_GRIDS", {})
    # A second load must come from the file: make building impossible.
    monkeypatch.setattr(tetmod, "bcc_tet_grid_numpy", lambda cells: pytest.fail("rebuilt despite cache"))
    v2, t2 = tet_grid_cells(4)
    assert torch.equal(v1, v2) and torch.equal(t1, t2)


def test_corrupt_cache_file_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tetmod, "_GRIDS", {})
    v1, t1 = tet_grid_cells(3)
    (cache_file,) = (tmp_path / "tets").glob("bcc_n3_*.npz")
    cache_file.write_bytes(b"not an npz file")
    monkeypatch.setattr(tetmod, "_GRIDS", {})
    v2, t2 = tet_grid_cells(3)
    assert torch.equal(v1, v2) and torch.equal(t1, t2)
    with np.load(cache_file) as data:  # and the bad file was replaced by a good one
        assert np.array_equal(data["tets"], t1.numpy())


def test_edge_table_matches_tets():
    verts, tets = tet_grid_cells(3)
    table = edge_table(tets)
    assert table is edge_table(tets), "edge table is built once per grid"
    e = table.edges
    assert (e[:, 0] < e[:, 1]).all()
    assert len(torch.unique(e, dim=0)) == len(e)
    for k, (a, b) in enumerate(tetmod.TET_EDGE_SLOTS):
        pair = torch.sort(tets[:, [a, b]], dim=1).values
        assert torch.equal(e[table.tet_edges[:, k]], pair)


def test_edge_table_not_reused_after_in_place_change():
    _, tets = tet_grid_cells(2)
    tets = tets.clone()
    first = edge_table(tets)
    tets[0, [2, 3]] = tets[0, [3, 2]]
    assert edge_table(tets) is not first
