"""Frechet distance and KID against independent references (scipy sqrtm, explicit loops)."""
import numpy as np
import pytest
import torch
from scipy import linalg

from get3d.errors import Get3dError
from get3d.metrics import (
    compute_stats,
    fid_from_features,
    frechet_distance,
    kernel_inception_distance,
    kid_from_features,
    mean_cov,
)


def _random_gaussian(rng, dim, samples):
    x = rng.normal(size=(samples, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def _fid_sqrtm_reference(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("dim", [1, 2, 8, 64, 256])
def test_frechet_matches_scipy_sqrtm_on_full_rank_gaussians(dim):
    rng = np.random.default_rng(dim)
    mu1, s1 = _random_gaussian(rng, dim, 4 * dim + 10)
    mu2, s2 = _random_gaussian(rng, dim, 4 * dim + 10)
    expected = _fid_sqrtm_reference(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(expected, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("dim,rank", [(16, 4), (64, 10), (128, 127)])
def test_frechet_rank_deficient_matches_closed_form(dim, rank):
    """Covariances sharing eigenvectors: FID = |d mu|^2 + sum (sqrt a_i - sqrt b_i)^2 exactly."""
    rng = np.random.default_rng(rank)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a = np.zeros(dim)
    b = np.zeros(dim)
    a[:rank] = rng.uniform(0.1, 3, rank)
    b[dim - rank:] = rng.uniform(0.1, 3, rank)  # different null spaces
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # scipy's sqrtm of a singular product is only approximate; the pytorch-fid recipe adds eps.
    assert frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(expected, rel=1e-3)


def test_frechet_sample_covariances_with_fewer_samples_than_dims():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(25, 64)) + 0.1
    mu1, s1 = mean_cov(x)
    mu2, s2 = mean_cov(y)
    reference = _fid_sqrtm_reference(mu1, s1, mu2, s2)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(ours) and ours == pytest.approx(reference, rel=1e-4)


def test_frechet_identical_stats_is_zero_and_shift_is_squared_mean_difference():
    rng = np.random.default_rng(3)
    mu, s = _random_gaussian(rng, 32, 200)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-9
    shift = rng.normal(size=32)
    assert frechet_distance(mu, s, mu + shift, s) == pytest.approx((shift ** 2).sum(), rel=1e-9)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(Get3dError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(Get3dError, match="dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def _kid_explicit(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as plain double loops."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("n,d", [(2, 3), (9, 5), (15, 4)])
def test_kid_with_one_full_subset_matches_explicit_formula(n, d):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3 + 0.2
    ours = kernel_inception_distance(x, y, num_subsets=1, max_subset_size=1000, seed=5)
    assert ours == pytest.approx(_kid_explicit(x, y), rel=1e-10, abs=1e-12)
    assert kid_from_features(torch.from_numpy(x), torch.from_numpy(y), num_subsets=1) == pytest.approx(ours)


def test_kid_subsets_average_and_separate_distributions():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    far = rng.normal(size=(300, 8)) + 1.0
    same = kernel_inception_distance(a, b, num_subsets=20, max_subset_size=100)
    diff = kernel_inception_distance(a, far, num_subsets=20, max_subset_size=100)
    assert abs(same) < 0.05 < diff
    with pytest.raises(Get3dError, match="at least 2"):
        kernel_inception_distance(a[:1], b)


def test_compute_stats_is_independent_of_batching_and_matches_mean_cov():
    """Streamed moments (shifted sums) equal the direct biased covariance."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (23, 3, 4, 4), generator=gen, dtype=torch.uint8)
    proj = torch.randn(48, 5, generator=gen)

    class Flat:
        name = "flat"

        def __call__(self, x):
            return x.float().flatten(1) @ proj + 1000.0  # large offset: tests the shifted sums

    mu, sigma, feats = compute_stats(images, Flat(), batch_size=4)
    mu2, sigma2, feats2 = compute_stats([images[:10], images[10:]], Flat(), batch_size=64)
    ref_mu, ref_sigma = mean_cov(feats)
    assert feats.shape == (23, 5) and np.allclose(feats, feats2)
    assert np.allclose(mu, ref_mu) and np.allclose(sigma, ref_sigma, rtol=1e-6, atol=1e-6)
    assert np.allclose(mu2, ref_mu) and np.allclose(sigma2, ref_sigma, rtol=1e-6, atol=1e-6)
    assert fid_from_features(feats, feats2) == pytest.approx(0, abs=1e-6)
