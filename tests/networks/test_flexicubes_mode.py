"""GET3D's FlexiCubes mode in the generator, the losses and the config (model.iso_surface)."""
import json

import pytest
import torch

from get3d import Get3dError
from get3d.config import Config, preset
from get3d.geometry import Mesh, replace_empty_shapes
from get3d.geometry.flexicubes import boundary_layer_mask, voxel_grid
from get3d.networks.generator import Generator
from get3d.render import Cameras


def _generator(iso_surface="flexicubes", tet_res=12, seed=0):
    cfg = preset("tiny", iso_surface=iso_surface).model
    cfg.tet_res = tet_res
    torch.manual_seed(seed)
    return Generator(cfg, render_backend="torch")


def _codes(G, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, G.z_dim, generator=gen), torch.randn(n, G.z_dim, generator=gen)


def test_flexicubes_heads_grid_and_deformation_bound():
    G = _generator()
    dm = _generator("dmtet")
    head = G.generator.mlp_synthesis_weight
    assert dm.generator.mlp_synthesis_weight is None
    # 21 outputs from the 8 corners' triplane features (GET3D: input_channel * 8).
    assert head.layers[0].weight.shape[1] == 8 * G.generator.img_feat_dim and head.out_channels == 21
    assert G.deformation_multiplier == 2 * dm.deformation_multiplier  # GET3D doubles it
    ws_geo, _ = G.mapping(*_codes(G))
    geo_planes, _ = G.triplanes(ws_geo, None)
    geo = G._geometry(ws_geo, geo_planes)
    grid = voxel_grid(12)
    assert geo["sdf"].shape == (2, len(grid.verts)) and geo["weights"].shape == (2, len(grid.cubes), 21)
    # A vertex moves at most half a cell: offsets < 1 / (2 * tet_res) (the grid spans grid_scale).
    assert geo["deformation"].abs().max() < 0.5 / 12
    assert torch.equal(geo["edges"], grid.edges)

    # The weights are 0.1 x the head on each cube's 8 corner features, corner order of the grid:
    # permuting a cube's corners changes its weights.
    from get3d.networks.generator import sample_triplane

    pos = (grid.verts * G.grid_scale).unsqueeze(0).expand(2, -1, -1)
    feat = sample_triplane(geo_planes, pos, G.generator.shape_min, G.generator.shape_length)
    ws_mlp = ws_geo[:, G.generator.tri_plane_synthesis.num_ws_geo:]
    manual = 0.1 * head(ws_mlp, feat[:, grid.cubes.reshape(-1)].reshape(2, len(grid.cubes), -1))
    assert torch.allclose(geo["weights"], manual, atol=1e-6)
    flipped = 0.1 * head(ws_mlp, feat[:, grid.cubes[:, [7, 6, 5, 4, 3, 2, 1, 0]].reshape(-1)].reshape(2, len(grid.cubes), -1))
    assert not torch.allclose(geo["weights"], flipped, atol=1e-4)


def test_training_splits_quads_into_four_and_regularisers_have_gradients():
    G = _generator()
    z = _codes(G)
    cams = Cameras(torch.tensor([30.0, 200.0]), torch.tensor([20.0, 10.0]))
    G.eval()
    with torch.no_grad():
        out_eval = G(*z, cams, resolution=32, return_meshes=True)
    G.train()
    out = G(*z, cams, resolution=32, return_meshes=True)
    assert not out.empty.any()
    for (ve, fe), (vt, ft) in zip(out_eval.meshes, out.meshes):
        quads = fe.shape[0] // 2
        assert ft.shape[0] == 4 * quads and vt.shape[0] == ve.shape[0] + quads  # one centre vertex per quad
    assert out.flexicubes_surface_reg.dim() == 0 and out.flexicubes_surface_reg > 0
    assert out.flexicubes_weights_reg > 0
    (out.flexicubes_surface_reg + out.flexicubes_weights_reg).backward()
    grad = G.generator.mlp_synthesis_weight.layers[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # DMTet output carries no FlexiCubes terms.
    dm = _generator("dmtet")
    assert dm(*_codes(dm), cams, resolution=32).flexicubes_surface_reg is None


def test_exported_meshes_are_closed_and_outward():
    G = _generator(tet_res=16).eval()
    ws_geo, _ = G.mapping(*_codes(G, 3, seed=1))
    with torch.no_grad():
        meshes = G.extract_meshes(ws_geo)
    for v, f in meshes:
        mesh = Mesh(v, f)
        assert mesh.num_faces > 0 and mesh.boundary_and_nonmanifold_edges() == (0, 0)
        assert mesh.signed_volume() > 0


def test_empty_check_ignores_the_boundary_layer():
    res = 6
    grid = voxel_grid(res)
    boundary = boundary_layer_mask(res)
    sdf = torch.ones(1, len(grid.verts))
    sdf[0, boundary.nonzero()[0]] = -1.0  # a sign change on the boundary layer only
    _, empty, _ = replace_empty_shapes(sdf, grid.verts, ignore=boundary)
    assert bool(empty[0])
    _, empty_dmtet_rule, _ = replace_empty_shapes(sdf, grid.verts)
    assert not bool(empty_dmtet_rule[0])
    sdf[0, (~boundary).nonzero()[0]] = -1.0  # one interior vertex inside: a surface
    assert not bool(replace_empty_shapes(sdf, grid.verts, ignore=boundary)[1][0])


def test_generator_loss_adds_get3ds_flexicubes_terms():
    from get3d.networks.discriminator import build_discriminators
    from get3d.training.loss import Get3dLoss

    cfg = preset("tiny", iso_surface="flexicubes")
    cfg.model.tet_res, cfg.model.img_resolution, cfg.data.resolution = 10, 32, 32
    torch.manual_seed(0)
    G = Generator(cfg.model, render_backend="torch").train()
    D_rgb, D_mask = build_discriminators(cfg.model)
    losses = {}
    for surface, weights in ((0.5, 0.1), (0.0, 0.0)):
        cfg.train.flexicubes_surface_reg, cfg.train.flexicubes_weights_reg = surface, weights
        loss_fn = Get3dLoss(G, D_rgb, D_mask, cfg.train, cfg.data, torch.device("cpu"))
        fake = loss_fn.sample_fake(2, G.z_dim, torch.Generator().manual_seed(0))
        losses[surface] = loss_fn.generator_loss(fake)
    (with_terms, stats), (without, _) = losses[0.5], losses[0.0]
    expected = 0.5 * stats["Loss/G/flexicubes_surface_reg"] + 0.1 * stats["Loss/G/flexicubes_weights_reg"]
    assert float((with_terms - without).detach()) == pytest.approx(float(expected.detach()), rel=1e-4, abs=1e-7)


def test_config_field_round_trips_and_old_snapshots_read_as_dmtet():
    cfg = preset("tiny", iso_surface="flexicubes")
    assert Config.from_json(cfg.to_json()).model.iso_surface == "flexicubes"
    old = json.loads(preset("tiny").to_json())
    del old["model"]["iso_surface"]
    assert Config.from_dict(old).model.iso_surface == "dmtet"
    assert Generator(Config.from_dict(old).model).iso_surface == "dmtet"
    with pytest.raises(Get3dError, match="iso_surface"):
        preset("tiny", iso_surface="marching-cubes")
    bad = preset("tiny").model
    bad.iso_surface = "mc"
    with pytest.raises(Get3dError, match="iso_surface"):
        Generator(bad)


def test_get3d_flexicubes_checkpoints_are_refused_by_name():
    """GET3D's FlexiCubes mode feeds its SDF unnegated; get3d does not guess a conversion."""
    from get3d.official import official_model_config

    G = _generator()
    state = {("synthesis." + k if k.startswith("generator.") else k): v for k, v in G.state_dict().items()}
    assert any("mlp_synthesis_weight" in k for k in state)
    with pytest.raises(Get3dError, match="GET3D checkpoint with flexicubes surfaces"):
        official_model_config(state, source="g.pt")
    dmtet_state = {k: v for k, v in state.items() if "mlp_synthesis_weight" not in k}
    assert official_model_config(dmtet_state, source="g.pt").iso_surface == "dmtet"
