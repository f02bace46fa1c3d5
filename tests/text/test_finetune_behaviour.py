"""What the fine-tune promises beyond its direction: exact top-k, frozen parameters untouched,
resume equal to an uninterrupted run, NaN steps skipped and counted, the CLIP score moving."""
import pytest
import torch

from get3d import Get3dError
from get3d.checkpoint import load_generator
from get3d.metrics.clip_score import clip_score
from get3d.text.finetune import FinetuneOptions, TextFinetuner, finetune_text
from get3d.text.layers import group_units, select_units, unit_parameters
from tests.text.stand_ins import ColourEncoder

SMALL = dict(batch=1, views=2, resolution=32, templates="none", grid_seeds=1, grid_views=1)


@pytest.fixture(scope="module")
def chair():
    G, config = load_generator("tiny-chair", device="cpu")
    return G, config


def test_adaptive_selection_returns_exactly_the_units_whose_codes_the_loss_moves(chair):
    G, _ = chair
    units = group_units(G, "auto")
    geo_units = [u for u in units if u.branch == "geo"]
    tex_units = [u for u in units if u.branch == "tex"]
    ws_geo = torch.zeros(2, G.num_ws_geo, G.w_dim)
    ws_tex = torch.zeros(2, G.num_ws_tex, G.w_dim)
    # A loss whose gradient is 3 on geo code a, 2 on tex code b, 1 on geo code c, 0 elsewhere:
    # one SGD step moves the codes by exactly lr * those numbers, so the top 2 are a and b.
    a, b, c = geo_units[1].w_index, tex_units[0].w_index, geo_units[0].w_index

    def loss_fn(geo, tex):
        return 3 * geo[:, a].sum() + 2 * tex[:, b].sum() + geo[:, c].sum()

    chosen, movement = select_units(units, ws_geo, ws_tex, loss_fn, k=2, iters=1, lr=0.01)
    assert [u.name for u in chosen] == [geo_units[1].name, tex_units[0].name]
    assert float(movement[units.index(geo_units[1])]) == pytest.approx(0.03, rel=1e-5)
    assert float(movement[units.index(tex_units[0])]) == pytest.approx(0.02, rel=1e-5)
    assert float(movement[units.index(geo_units[0])]) == pytest.approx(0.01, rel=1e-5)
    assert int((movement > 0).sum()) == 3
    with pytest.raises(Get3dError):
        select_units(units, ws_geo, ws_tex, loss_fn, k=len(units) + 1)


@pytest.mark.parametrize("layers", ["texture", "geometry", "auto"])
def test_parameters_outside_the_trained_units_stay_bit_identical(chair, layers):
    G, _ = chair
    before = {n: p.detach().clone() for n, p in G.named_parameters()}
    opts = FinetuneOptions(iters=2, lr=0.01, layers=layers, top_k=2, auto_batch=1, **SMALL)
    tuner = TextFinetuner(G, [ColourEncoder()], "a chair", "a red chair", opts)
    allowed = set()
    for _ in range(2):
        tuner.step()
        allowed |= {n for n, p in tuner.tuned.named_parameters() if p.requires_grad}
    if layers == "auto":
        assert len(tuner.selections) >= 1 and sum(tuner.selections.values()) == 2 * 2
        chosen_units = [u for u in group_units(G, "auto") if u.name in tuner.selections]
        assert allowed == {n for n, _ in unit_parameters(tuner.tuned, chosen_units)}
    changed = {n for n, p in tuner.tuned.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed, "nothing trained"
    assert changed <= allowed, sorted(changed - allowed)[:3]
    assert not any(n.startswith("mapping") for n in allowed)
    for name, p in G.named_parameters():  # the frozen reference is never touched
        assert torch.equal(p, before[name]), name


def test_resume_gives_the_weights_of_an_uninterrupted_run(chair, tmp_path):
    G, _ = chair
    kwargs = dict(layers="texture", lr=0.01, snapshot_every=2, **SMALL)
    whole = finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=4, outdir=tmp_path / "a", **kwargs)
    finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=2, outdir=tmp_path / "b", **kwargs)
    resumed = finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=4, outdir=tmp_path / "b",
                            resume="auto", return_result=True, **kwargs)
    assert resumed.steps == 4
    for (name, p), q in zip(whole.named_parameters(), resumed.generator.parameters()):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), name


def test_non_finite_steps_are_skipped_and_counted_then_stop_with_the_snapshot_intact(chair, tmp_path):
    G, _ = chair
    result = finetune_text(G, ColourEncoder(nan_calls=2), "a chair", "a red chair", iters=3, layers="texture",
                           return_result=True, **SMALL)
    assert result.steps == 3 and result.skipped_steps == 2
    out = tmp_path / "nan"
    finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=1, layers="texture", outdir=out, **SMALL)
    snap = sorted(out.glob("snapshot-*.json"))[-1]
    saved = snap.read_bytes(), snap.with_suffix(".safetensors").read_bytes()
    with pytest.raises(Get3dError, match="non-finite steps in a row"):
        finetune_text(G, ColourEncoder(nan_calls=100), "a chair", "a red chair", iters=20, layers="texture",
                      outdir=out, resume="auto", max_bad_steps=3, **SMALL)
    assert (snap.read_bytes(), snap.with_suffix(".safetensors").read_bytes()) == saved
    assert sorted(out.glob("snapshot-*.json"))[-1] == snap


def test_a_generator_without_a_texture_branch_is_refused(chair):
    G, _ = chair

    class GeometryOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = G.generator.tri_plane_synthesis  # no mapping_tex, no texture MLP

    with pytest.raises(Get3dError, match="no texture branch"):
        finetune_text(GeometryOnly(), ColourEncoder(), "a chair", "a red chair", iters=1)


def test_clip_score_rises_toward_the_target_after_a_red_fine_tune(chair):
    G, config = chair
    tuned = finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=5, batch=2, views=2, resolution=32,
                          lr=0.01, templates="none", layers="texture")
    ranges = (tuple(config.data.rotation_range), tuple(config.data.elevation_range))
    kw = dict(num_images=3, views=2, truncation=0.7, camera_ranges=ranges, seed=1)
    before = clip_score(G, ColourEncoder(), "a red chair", **kw)
    after = clip_score(tuned, ColourEncoder(), "a red chair", **kw)
    assert after["clip"] > before["clip"] + 0.01
    # The score is the mean cosine to the prompt's embedding: check it against a direct computation.
    enc = ColourEncoder()
    from get3d.render import Cameras
    from get3d.text.views import render_views

    rng = torch.Generator().manual_seed(1)
    z = torch.randn(3, 2, G.z_dim, generator=rng)  # one batch of 3 latents, then their 6 cameras
    cams = Cameras.sample_training_cameras(6, rng, rot_range=ranges[0], elev_range=ranges[1])
    with torch.no_grad():
        ws_geo, ws_tex = G.mapping(z[:, 0], z[:, 1], psi=0.7)
        images = render_views(G, ws_geo, ws_tex, cams, 2, 32)
    emb = torch.nn.functional.normalize(enc.encode_image(images), dim=-1)
    text = torch.nn.functional.normalize(enc.encode_text(["a red chair"]), dim=-1)[0]
    assert before["clip"] == pytest.approx(float((emb @ text).mean()), abs=1e-6)
