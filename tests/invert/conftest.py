import pytest
import torch

from get3d.render import Cameras


@pytest.fixture(scope="session")
def chair():
    """The bundled model, loaded through the real code path (what `get3d invert --ckpt tiny-chair` uses)."""
    from get3d.snapshot import load_generator

    G, config = load_generator("tiny-chair", "cpu")
    return G, config


def seed_codes(G, seed: int, psi: float = 0.7):
    from get3d.networks.generator import seed_latents

    z_geo, z_tex = seed_latents(G, [seed], "cpu")
    with torch.no_grad():
        return G.mapping(z_geo, z_tex, psi=psi)


@pytest.fixture(scope="session")
def sample(chair):
    """Seed 1000 of the bundled model seen from 4 training-distribution cameras: (codes, cameras,
    rgb [4,3,64,64], mask [4,1,64,64], its closed mesh)."""
    from get3d.geometry.mesh import Mesh
    from get3d.invert.render import render_codes

    G, _ = chair
    ws_geo, ws_tex = seed_codes(G, 1000)
    cams = Cameras.sample_training_cameras(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = render_codes(G, ws_geo, ws_tex, cams, 64)
        (verts, faces), = G.extract_meshes(ws_geo)
    return dict(ws_geo=ws_geo, ws_tex=ws_tex, cameras=cams, rgb=out.rgb, mask=out.mask, mesh=Mesh(verts, faces))


def best_of_random(G, target, cameras, seeds=range(2000, 2016)) -> dict:
    """The best IoU and Chamfer (each on its own) of 16 random seeds against ``target``, seen from
    the TRUE cameras: the bar an inversion must clear."""
    from get3d.invert.optimize import evaluate

    rows = [evaluate(G, *seed_codes(G, s), cameras, target) for s in seeds]
    best = dict(iou_mean=max(r["iou_mean"] for r in rows))
    if "chamfer_x1e3" in rows[0]:
        best["chamfer_x1e3"] = min(r["chamfer_x1e3"] for r in rows)
    return best


@pytest.fixture(scope="session")
def sample_glb(chair, tmp_path_factory):
    """The sample exported as `get3d generate` exports it (UV atlas, baked texture, GLB)."""
    from get3d.generate import save_asset, textured_mesh

    G, _ = chair
    ws_geo, ws_tex = seed_codes(G, 1000)
    mesh = textured_mesh(G, ws_geo, ws_tex, 128, backend="torch")
    folder = tmp_path_factory.mktemp("glb")
    return save_asset(mesh, folder, "seed1000", ["glb"])[0]


def write_rgba(path, rgb: torch.Tensor, mask: torch.Tensor):
    """One view (rgb [3,S,S] on black, mask [1,S,S]) as a straight-alpha RGBA PNG."""
    import numpy as np
    from PIL import Image

    straight = torch.where(mask > 0, rgb / mask.clamp_min(1e-6), torch.zeros_like(rgb)).clamp(0, 1)
    rgba = torch.cat([straight, mask]).permute(1, 2, 0).numpy()
    Image.fromarray((rgba * 255 + 0.5).astype(np.uint8), "RGBA").save(path)
    return path


@pytest.fixture(scope="session")
def sample_pngs(sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("png")
    return [write_rgba(folder / f"view{i}.png", sample["rgb"][i], sample["mask"][i]) for i in range(4)]
