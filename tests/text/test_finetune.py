"""The CLIP directional fine-tune with stand-ins whose right answer is known (tests/text/stand_ins.py)."""
import pytest
import torch

from get3d import Get3dError
from get3d.checkpoint import load_generator
from get3d.networks.generator import seed_latents
from get3d.render import Cameras
from get3d.text.finetune import finetune_text
from get3d.text.loss import directional_loss, text_direction
from tests.text.stand_ins import ColourEncoder, redness, save_tiny_clip


def _renders(G, seeds=(0, 1, 2)):
    z_geo, z_tex = seed_latents(G, list(seeds), "cpu")
    cams = Cameras.orbit(len(seeds), 20.0, start=30.0)
    with torch.no_grad():
        ws_geo, ws_tex = G.mapping(z_geo, z_tex, psi=0.7)
        out = G.synthesis(ws_geo, ws_tex, cams, resolution=32)
    return out.rgb + (1 - out.mask), out.mask, ws_geo


def test_texture_finetune_toward_red_makes_renders_redder_and_keeps_the_meshes():
    G, _ = load_generator("tiny-chair", device="cpu")
    frozen_state = {k: v.clone() for k, v in G.state_dict().items()}
    tuned = finetune_text(G, ColourEncoder(), "a chair", "a red chair", layers="texture", iters=5, batch=2, views=2,
                          resolution=32, lr=0.01, templates="none")
    before_rgb, before_mask, ws_geo = _renders(G)
    after_rgb, after_mask, _ = _renders(tuned)
    assert redness(after_rgb, after_mask) > redness(before_rgb, before_mask) + 0.02
    with torch.no_grad():
        for (v0, f0), (v1, f1) in zip(G.extract_meshes(ws_geo), tuned.extract_meshes(ws_geo)):
            assert torch.equal(v0, v1) and torch.equal(f0, f1)
    for key, value in G.state_dict().items():  # the reference generator is left untouched
        assert torch.equal(value, frozen_state[key]), key
    tuned_state = tuned.state_dict()
    for key in tuned_state:  # mapping networks never train
        if key.startswith("mapping"):
            assert torch.equal(tuned_state[key], frozen_state[key]), key


def test_directional_loss_matches_an_independent_computation():
    enc = ColourEncoder()
    text_dir = text_direction(enc, "a chair", "a red chair", templates=["{}"])
    t = torch.nn.functional.normalize(enc.encode_text(["a red chair"]), dim=-1) - \
        torch.nn.functional.normalize(enc.encode_text(["a chair"]), dim=-1)
    t = torch.nn.functional.normalize(t, dim=-1)
    assert torch.allclose(text_dir.reshape(-1), t.reshape(-1), atol=1e-6)
    frozen = torch.full((2, 3, 8, 8), 0.5)
    tuned = frozen.clone()
    tuned[:, 0] += 0.2
    loss = directional_loss(enc, tuned, enc.encode_image(frozen), text_dir)
    e_t = torch.nn.functional.normalize(enc.encode_image(tuned), dim=-1)
    e_f = torch.nn.functional.normalize(enc.encode_image(frozen), dim=-1)
    d = e_t - e_f
    expected = (1 - torch.nn.functional.cosine_similarity(d, t.expand_as(d), dim=-1)).mean()
    assert float(loss) == pytest.approx(float(expected), abs=1e-5)


def test_bad_prompts_and_layers_are_one_line_errors():
    G, _ = load_generator("tiny-chair", device="cpu")
    with pytest.raises(Get3dError):
        finetune_text(G, ColourEncoder(), "a chair", "a chair", iters=1)
    with pytest.raises(Get3dError):
        finetune_text(G, ColourEncoder(), "", "a red chair", iters=1)
    with pytest.raises(Get3dError):
        finetune_text(G, ColourEncoder(), "a chair", "a red chair", layers="wheels", iters=1)


def test_tiny_clip_loads_offline_through_load_clip(tmp_path, monkeypatch):
    from get3d.text.encoder import load_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = save_tiny_clip(tmp_path / "clip")
    enc = load_clip(folder, device="cpu")
    images = torch.rand(2, 3, 40, 40, requires_grad=True)
    emb = enc.encode_image(images)
    assert emb.dim() == 2 and emb.shape[0] == 2
    emb.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # differentiable preprocessing
    assert enc.encode_text(["a chair", "a red chair"]).shape[0] == 2
    with pytest.raises(Get3dError):
        load_clip("nobody/no-such-clip", device="cpu")
