"""Procedural shape categories: determinism, variation between seeds, closed outward-wound parts."""
from functools import lru_cache

import numpy as np
import pytest
import torch

from get3d.datasets.synthetic import CATEGORIES, TARGET_SIZE, generate_shape, generate_shapes
from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh

CATS = sorted(CATEGORIES)
NUM_SEEDS = 16


@lru_cache(maxsize=None)
def _shapes(category: str) -> tuple:
    return tuple(generate_shape(category, s) for s in range(NUM_SEEDS))


def _weld(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with bit-identical positions: (verts [U,3], faces [F,3] into them)."""
    verts, inverse = np.unique(mesh.verts.numpy(), axis=0, return_inverse=True)
    return verts, inverse.reshape(-1)[mesh.faces.numpy()]


def _components(num_verts: int, faces: np.ndarray) -> list[np.ndarray]:
    """Face index arrays of the edge-connected components (union-find over face corners)."""
    parent = list(range(num_verts))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, c in faces.tolist():
        ra, rb, rc = find(a), find(b), find(c)
        parent[rb] = ra
        parent[find(rc)] = ra
    roots = np.array([find(int(f[0])) for f in faces])
    return [np.nonzero(roots == r)[0] for r in np.unique(roots)]


def _directed_edges(faces: np.ndarray) -> np.ndarray:
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def test_registry_has_the_three_categories():
    assert {"chair", "vase", "mushroom"} <= set(CATEGORIES)
    assert all(callable(fn) for fn in CATEGORIES.values())


@pytest.mark.parametrize("category", CATS)
def test_same_seed_same_shape_bitwise(category):
    a, b = generate_shape(category, 7), generate_shape(category, 7)
    for name in ("verts", "faces", "uvs", "texture"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("category", CATS)
def test_different_seeds_differ_in_geometry_and_texture(category):
    shapes = _shapes(category)[:6]
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            a, b = shapes[i], shapes[j]
            if a.verts.shape == b.verts.shape:
                assert (a.verts - b.verts).abs().max() > 1e-3, (i, j)
            assert (a.texture - b.texture).abs().mean() > 0.01, (i, j)


def test_categories_use_independent_streams():
    """The same seed in two categories draws different random numbers (category is hashed in)."""
    a, b = generate_shape("vase", 0), generate_shape("mushroom", 0)
    assert (a.texture - b.texture).abs().mean() > 0.01


@pytest.mark.parametrize("category", CATS)
def test_shapes_are_valid_textured_meshes(category):
    for seed, m in enumerate(_shapes(category)):
        assert m.verts.dtype == torch.float32 and m.faces.dtype == torch.int64
        assert torch.isfinite(m.verts).all()
        assert int(m.faces.min()) >= 0 and int(m.faces.max()) < m.num_verts
        assert 0 < m.num_faces <= 10_000, (seed, m.num_faces)
        assert m.uvs is not None and m.uvs.dtype == torch.float32
        assert float(m.uvs.min()) >= 0.0 and float(m.uvs.max()) <= 1.0
        assert m.texture is not None and tuple(m.texture.shape) == (256, 256, 3)
        assert float(m.texture.min()) >= 0.0 and float(m.texture.max()) <= 1.0
        assert float(m.texture.std()) > 0.02, "texture should carry a pattern, not one flat colour"
        lo, hi = m.verts.min(0).values, m.verts.max(0).values
        assert 0.85 <= float((hi - lo).max()) <= 0.95, seed
        assert abs(float((hi - lo).max()) - TARGET_SIZE) < 1e-5, seed
        assert float(((hi + lo) / 2).abs().max()) < 1e-4, seed
        assert float(m.signed_volume()) > 0, seed
        areas = m.face_areas()
        assert float(areas.min()) > 1e-10, f"seed {seed}: degenerate triangle"


@pytest.mark.parametrize("category", CATS)
def test_every_part_is_closed_and_outward_wound(category):
    for seed, m in enumerate(_shapes(category)):
        verts, faces = _weld(m)
        for comp in _components(len(verts), faces):
            part = Mesh(torch.from_numpy(verts), torch.from_numpy(faces[comp]))
            assert part.boundary_and_nonmanifold_edges() == (0, 0), (seed, len(comp))
            # consistent winding: every directed edge once, and its reverse present
            edges = _directed_edges(faces[comp])
            keys = edges[:, 0] * len(verts) + edges[:, 1]
            assert len(np.unique(keys)) == len(keys), seed
            assert np.isin(edges[:, 1] * len(verts) + edges[:, 0], keys).all(), seed
            assert float(part.signed_volume()) > 0, f"seed {seed}: an inside-out part"


@pytest.mark.parametrize("category", CATS)
def test_shapes_vary_across_seeds(category):
    shapes = _shapes(category)
    dims = np.stack([(m.verts.max(0).values - m.verts.min(0).values).numpy() for m in shapes])
    # the largest side is normalised to 0.9, so variation shows in the other two
    assert dims.std(0).sum() > 0.06, dims.std(0)
    volumes = np.array([float(m.signed_volume()) for m in shapes])
    assert volumes.std() / volumes.mean() > 0.15, volumes
    assert len({m.num_faces for m in shapes}) >= 2
    colours = np.stack([m.texture.mean((0, 1)).numpy() for m in shapes])
    assert colours.std(0).mean() > 0.04, colours.std(0)
    assert len({tuple(np.round(c, 4)) for c in colours}) == len(shapes), "two seeds share a texture"


def test_generate_shapes_ids_and_seeds():
    items = list(generate_shapes("vase", 3, seed=5))
    assert [i for i, _ in items] == ["vase_00005", "vase_00006", "vase_00007"]
    assert torch.equal(items[1][1].verts, generate_shape("vase", 6).verts)
    assert [i for i, _ in generate_shapes("chair", 2)] == ["chair_00000", "chair_00001"]
    assert list(generate_shapes("chair", 0)) == []


def test_unknown_category_raises_listing_known_ones():
    with pytest.raises(Get3dError, match="chair.*mushroom.*vase"):
        generate_shape("teapot", 0)
    with pytest.raises(Get3dError, match="known categories"):
        generate_shapes("teapot", 3)  # raised at the call, not at the first next()
    with pytest.raises(Get3dError):
        generate_shape("chair", -1)


def test_shape_survives_obj_round_trip(tmp_path):
    mesh = generate_shape("mushroom", 1)
    loaded = Mesh.load(mesh.save(tmp_path / "m.obj"))
    assert loaded.num_faces == mesh.num_faces
    assert loaded.texture is not None and tuple(loaded.texture.shape) == (256, 256, 3)
    assert torch.allclose(loaded.verts, mesh.verts, atol=1e-5)
    assert (loaded.texture - mesh.texture).abs().max() <= 1 / 255 + 1e-6
