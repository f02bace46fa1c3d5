"""COV, MMD and 1-NNA from distance matrices between generated and reference shapes.

Definitions (PointFlow, Yang et al. 2019; LION; GET3D's evaluation_scripts/compute_cov_mmd.py),
for any distance (GET3D uses Chamfer and light-field distance):

- COV: fraction of reference shapes that are the nearest reference of at least one generated
  shape. Higher is better; 1 means every reference is matched.
- MMD: mean over reference shapes of the distance to the closest generated shape. Lower is
  better; it measures fidelity (GET3D reports MMD-CD x 10^3).
- 1-NNA: leave-one-out accuracy of the 1-nearest-neighbour classifier that labels each shape of
  the union (generated + reference) by its nearest other shape. 0.5 is ideal (the sets are
  indistinguishable); 1.0 means they are fully separated; values below 0.5 mean shapes sit
  closer to the other set than to their own, e.g. 0.0 when the generated set is an exact copy of
  a reference set of distinct shapes (memorisation).

Ties (equal distances, e.g. duplicate shapes; pairwise_chamfer returns exact 0 for identical
clouds, so ties are real):
- COV: a generated shape equidistant to several references matches only the first of them (lowest
  index), as ``argmin`` in PointFlow's and GET3D's code does.
- 1-NNA: when a shape's nearest distance to its own set equals its nearest distance to the other
  set, the classifier is a coin flip and the shape counts 0.5 correct (PointFlow's ``topk``
  picks one arbitrarily). So a union of identical shapes scores exactly 0.5.
"""
from __future__ import annotations

import numpy as np
import torch

from get3d.errors import Get3dError


def _matrix(d, name: str, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    d = np.asarray(d.detach().cpu() if isinstance(d, torch.Tensor) else d, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0:
        raise Get3dError(f"{name} must be a non-empty 2-D distance matrix, got shape {d.shape}")
    if (rows is not None and d.shape[0] != rows) or (cols is not None and d.shape[1] != cols):
        raise Get3dError(f"{name} must be [{rows},{cols}], got {list(d.shape)}")
    if np.isnan(d).any():
        raise Get3dError(f"{name} contains NaN distances")
    return d


def coverage(d_gen_ref) -> float:
    """COV from d_gen_ref [G,R]: |{argmin_r d[g, r] : g}| / R (first index wins ties)."""
    d = _matrix(d_gen_ref, "d_gen_ref")
    matched = np.unique(np.argmin(d, axis=1))  # numpy's argmin returns the first minimum
    return len(matched) / d.shape[1]


def mmd(d_gen_ref) -> float:
    """MMD from d_gen_ref [G,R]: mean over references of the minimum over generated shapes."""
    return float(_matrix(d_gen_ref, "d_gen_ref").min(axis=0).mean())


def _loo_min(d_same: np.ndarray) -> np.ndarray:
    """Row minima of a square within-set matrix, leaving each shape's distance to itself out."""
    d = d_same.copy()
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def one_nna(d_gen_gen, d_ref_ref, d_gen_ref) -> float:
    """1-NNA accuracy from d_gen_gen [G,G], d_ref_ref [R,R], d_gen_ref [G,R] (ties: see module doc).

    A shape alone in its set (G or R = 1) has no same-set neighbour and always counts as wrong.
    """
    d_gr = _matrix(d_gen_ref, "d_gen_ref")
    g, r = d_gr.shape
    d_gg = _matrix(d_gen_gen, "d_gen_gen", g, g)
    d_rr = _matrix(d_ref_ref, "d_ref_ref", r, r)
    same = np.concatenate([_loo_min(d_gg), _loo_min(d_rr)])
    other = np.concatenate([d_gr.min(axis=1), d_gr.min(axis=0)])
    score = np.where(same < other, 1.0, np.where(same == other, 0.5, 0.0))
    return float(score.mean())
