"""GET3D's metric protocol (metrics/metric_utils.py): style mixing 0.9 per sample, cameras from the
generator's training distribution, psi 1; 'dataset' keeps the older real-view cameras, no mixing."""
import pytest
import torch

from get3d import Get3dError
from get3d.metrics.evaluate import generated_images, generated_meshes


@pytest.fixture(scope="module")
def tiny_chair():
    from get3d.checkpoint import load_generator

    return load_generator("tiny-chair", device="cpu")


def test_get3d_protocol_mixes_styles_and_samples_training_cameras(tiny_chair, monkeypatch):
    G, cfg = tiny_chair
    calls = []
    original = G.forward

    def spy(z_geo, z_tex, cameras, **kwargs):
        calls.append((cameras, kwargs))
        return original(z_geo, z_tex, cameras, **kwargs)

    monkeypatch.setattr(G, "forward", spy)
    ranges = ((0.0, 360.0), (0.0, 30.0))
    a = torch.cat(list(generated_images(G, ranges, 6, 16, batch=3, seed=0, protocol="get3d")))
    b = torch.cat(list(generated_images(G, ranges, 6, 16, batch=3, seed=0, protocol="get3d")))
    assert torch.equal(a, b) and a.shape == (6, 3, 16, 16) and a.dtype == torch.uint8
    assert all(kw["style_mixing_prob"] == 0.9 and kw["psi"] == 1.0 for _, kw in calls)
    elev = torch.cat([c.elevation for c, _ in calls])
    assert ((elev >= 0) & (elev <= 30)).all() and len(set(elev.tolist())) == 6  # two identical runs of 6
    calls.clear()
    pool = (torch.tensor([10.0, 20.0]).numpy(), torch.tensor([5.0, 5.0]).numpy())
    list(generated_images(G, pool, 4, 16, batch=4, seed=0, protocol="dataset"))
    assert calls[0][1]["style_mixing_prob"] == 0.0 and set(calls[0][0].elevation.tolist()) == {5.0}


def test_get3d_protocol_mixes_geometry_codes(tiny_chair):
    G, _ = tiny_chair
    mixed, _ = generated_meshes(G, 3, seed=0, protocol="get3d")
    plain, _ = generated_meshes(G, 3, seed=0, protocol="dataset")
    assert len(mixed) == len(plain) == 3
    assert any(m.verts.shape != p.verts.shape or not torch.equal(m.verts, p.verts) for m, p in zip(mixed, plain))
    with pytest.raises(Get3dError, match="--protocol"):
        generated_meshes(G, 1, protocol="nope")
