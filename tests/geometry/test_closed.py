"""Exported meshes are watertight: surfaces cut by the generation grid's box are capped."""
import torch
import trimesh

from get3d.config import preset
from get3d.geometry import close_on_boundary, marching_tets, tet_grid
from get3d.networks.generator import Generator


def _watertight(verts, faces):
    return trimesh.Trimesh(verts.detach().numpy(), faces.numpy(), process=True).is_watertight


def test_a_shape_cut_by_the_box_is_capped():
    verts, tets = tet_grid(16)
    sdf = verts[:, 0] + 0.2  # a slab x < -0.2 cut by the box: open on five box faces
    raw = marching_tets(verts, tets, sdf)
    closed = marching_tets(verts, tets, close_on_boundary(sdf, verts))
    assert not _watertight(*raw)
    assert _watertight(*closed)
    mesh = trimesh.Trimesh(closed[0].numpy(), closed[1].numpy(), process=True)
    assert mesh.volume > 0  # counter-clockwise from outside
    # The cap sits just inside the box: interior values are untouched.
    inner = (verts.abs().amax(-1) < 0.5 - 1e-6)
    assert torch.equal(close_on_boundary(sdf, verts)[inner], sdf[inner])


def test_bundled_model_exports_watertight_meshes():
    from get3d.checkpoint import load_generator
    from get3d.networks.generator import seed_latents

    G, _ = load_generator("tiny-chair", device="cpu")
    z_geo, z_tex = seed_latents(G, list(range(6)), "cpu")
    with torch.no_grad():
        ws_geo, _ = G.mapping(z_geo, z_tex, psi=0.7)
        closed = G.extract_meshes(ws_geo)
        raw = G.extract_meshes(ws_geo, closed=False)
    assert all(_watertight(v, f) for v, f in closed)
    assert not all(_watertight(v, f) for v, f in raw)  # the bundled chairs touch the box
    for (v, f), (rv, rf) in zip(closed, raw):
        mesh = trimesh.Trimesh(v.numpy(), f.numpy(), process=True)
        # The object, not a box around it: positive volume, chair-sized (well under the grid's 1.0),
        # with the raw surface's extent.
        assert 0 < mesh.volume < 0.2
        assert (mesh.extents <= (rv.amax(0) - rv.amin(0)).numpy() + 0.05).all()


def test_an_inverted_sdf_is_closed_around_the_object_not_the_box():
    verts, tets = tet_grid(16)
    sdf = 0.25 - verts.norm(dim=-1)  # a ball with the sign the wrong way round (positive inside)
    v, f = marching_tets(verts, tets, close_on_boundary(sdf, verts))
    mesh = trimesh.Trimesh(v.numpy(), f.numpy(), process=True)
    assert mesh.is_watertight and abs(mesh.volume - 4 / 3 * 3.14159 * 0.25 ** 3) < 0.01


def test_random_generators_export_watertight_meshes():
    cfg = preset("tiny").model
    for seed in range(3):
        torch.manual_seed(seed)
        G = Generator(cfg).eval()
        with torch.no_grad():
            ws_geo, _ = G.mapping(torch.randn(2, cfg.z_dim), torch.randn(2, cfg.z_dim))
            for verts, faces in G.extract_meshes(ws_geo, empty_as_none=True):
                if faces is not None and len(faces):
                    assert _watertight(verts, faces)
