"""COV / MMD / 1-NNA on constructed sets with known answers, and 1-NNA against a plain loop."""
import numpy as np
import pytest
import torch

from get3d.errors import Get3dError
from get3d.metrics import coverage, geometry_metrics, mmd, one_nna, pairwise_chamfer


def _distinct_shapes(count, n=64, seed=0):
    """Clouds placed far apart from each other so every shape is clearly distinct."""
    base = torch.rand(count, n, 3, generator=torch.Generator().manual_seed(seed))
    return base + torch.arange(count).view(count, 1, 1) * 10.0


def _all_metrics(gen, ref):
    d_gr = pairwise_chamfer(gen, ref)
    return coverage(d_gr), mmd(d_gr), one_nna(pairwise_chamfer(gen), pairwise_chamfer(ref), d_gr)


def test_identical_distinct_sets_full_coverage_zero_mmd_and_memorisation_1nna():
    ref = _distinct_shapes(6)
    cov, dist, nna = _all_metrics(ref.clone(), ref)
    assert cov == 1.0 and dist == 0.0
    assert nna == 0.0  # every shape's nearest other shape is its exact copy in the other set


def test_all_shapes_identical_ties_give_half():
    one = _distinct_shapes(1)
    cov, dist, nna = _all_metrics(one.expand(5, -1, -1).clone(), one.expand(4, -1, -1).clone())
    assert dist == 0.0 and cov == 1 / 4  # ties: the first reference takes the match
    assert nna == 0.5  # all distances 0: every shape is a coin flip


def test_disjoint_far_apart_sets_are_perfectly_separated():
    gen = torch.rand(5, 32, 3, generator=torch.Generator().manual_seed(1))
    ref = torch.rand(7, 32, 3, generator=torch.Generator().manual_seed(2)) + 100.0
    assert _all_metrics(gen, ref)[2] == 1.0


def test_single_mode_generator_covers_one_reference():
    ref = _distinct_shapes(8)
    gen = (ref[3] + 0.01).expand(20, -1, -1).clone()
    d = pairwise_chamfer(gen, ref)
    assert coverage(d) == 1 / 8
    assert mmd(d) == pytest.approx(d[0].mean().item())  # every reference's nearest is the one mode
    assert mmd(d) > mmd(pairwise_chamfer(ref + 0.01, ref))


def test_mmd_and_coverage_on_a_hand_made_matrix():
    d = np.array([[0.0, 5.0, 5.0],  # gen 0 -> ref 0
                  [1.0, 1.0, 9.0],  # tie between ref 0 and ref 1: the first (ref 0) wins
                  [3.0, 2.0, 8.0]])  # gen 2 -> ref 1
    assert coverage(d) == pytest.approx(2 / 3)
    assert mmd(d) == pytest.approx((0.0 + 1.0 + 5.0) / 3)


def _one_nna_loop(d_gg, d_rr, d_gr):
    g, r = d_gr.shape
    full = np.block([[d_gg, d_gr], [d_gr.T, d_rr]])
    labels = np.array([0] * g + [1] * r)
    correct = 0.0
    for i in range(g + r):
        others = [j for j in range(g + r) if j != i]
        j = min(others, key=lambda k: full[i, k])
        correct += labels[j] == labels[i]
    return correct / (g + r)


def test_one_nna_matches_an_explicit_leave_one_out_loop():
    rng = np.random.default_rng(0)
    gen, ref = rng.normal(size=(9, 4)), rng.normal(size=(7, 4)) + 0.5
    dist = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1)  # noqa: E731 - no ties with random data
    d_gg, d_rr, d_gr = dist(gen, gen), dist(ref, ref), dist(gen, ref)
    assert one_nna(d_gg, d_rr, d_gr) == pytest.approx(_one_nna_loop(d_gg, d_rr, d_gr))


def test_one_nna_checks_shapes():
    with pytest.raises(Get3dError, match="d_ref_ref"):
        one_nna(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 3)))


def test_geometry_metrics_on_point_clouds():
    ref = _distinct_shapes(5, n=48)
    out = geometry_metrics(ref * 3 + 1, ref)  # each shape is normalised: scale/offset vanish
    assert out["cov"] == 1.0 and out["mmd"] < 1e-10 and out["1nna"] < 0.5
    assert out["num_gen"] == out["num_ref"] == 5
