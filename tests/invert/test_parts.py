"""The pieces of an inversion against answers known in advance."""
import math

import pytest
import torch

from get3d.errors import Get3dError
from get3d.invert.losses import WPrior, silhouette_loss, soft_iou
from get3d.invert.metrics import mask_iou, masked_psnr
from get3d.invert.optimize import InvertOptions, invert, schedule
from get3d.invert.render import render_codes
from get3d.invert.search import camera_grid
from get3d.invert.target import InvertTarget

from .conftest import seed_codes


def test_mask_metrics_on_known_masks():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.zeros(1, 1, 4, 4)
    a[..., :2, :] = 1  # 8 pixels
    b[..., 1:3, :] = 1  # 8 pixels, 4 shared
    assert float(mask_iou(a, b)[0]) == pytest.approx(4 / 12)
    assert float(soft_iou(a, b)[0]) == pytest.approx(4 / 12)
    assert float(silhouette_loss(a, a)) == 0.0


def test_masked_psnr_counts_only_the_target_mask():
    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    rgb = target.clone()
    rgb[..., 2:, :] = 1.0  # wrong only outside the mask: perfect
    assert math.isinf(float(masked_psnr(rgb, target, mask)[0]))
    rgb[..., :2, :] = 0.1  # error 0.1 everywhere inside: 20 dB
    assert float(masked_psnr(rgb, target, mask)[0]) == pytest.approx(20.0, abs=1e-4)


def test_prior_is_about_one_on_mapped_codes_and_large_far_away(chair):
    G, _ = chair
    prior = WPrior.estimate(G)
    ws_geo, ws_tex = seed_codes(G, 3, psi=1.0)
    assert 0.3 < float(prior(ws_geo, ws_tex)) < 3
    assert float(prior(ws_geo + 10 * prior.geo_std, ws_tex)) > 40


def test_render_codes_matches_synthesis(chair):
    G, _ = chair
    ws_geo, ws_tex = seed_codes(G, 5)
    cams = camera_grid(3, 2)
    with torch.no_grad():
        ours = render_codes(G, ws_geo, ws_tex, cams, 32)
        theirs = G.synthesis(ws_geo.expand(len(cams), -1, -1), ws_tex.expand(len(cams), -1, -1), cams, resolution=32)
    assert torch.allclose(ours.mask, theirs.mask, atol=1e-5)
    assert torch.allclose(ours.rgb, theirs.rgb, atol=1e-5)  # tiny-chair renders on black


def test_schedule_warms_up_and_decays():
    assert schedule(0, 100) < schedule(5, 100) == pytest.approx(1.0, abs=0.01)
    assert schedule(99, 100) == pytest.approx(0.1, abs=0.01)


def test_target_rejects_mismatched_cameras():
    from get3d.render import Cameras

    with pytest.raises(Get3dError, match="3 target images but 2 cameras"):
        InvertTarget(torch.zeros(3, 3, 8, 8), torch.zeros(3, 1, 8, 8), Cameras([0.0, 1.0], [0.0, 0.0]))


def test_generator_without_texture_branch_is_refused(chair, sample):
    G, _ = chair

    class GeometryOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = torch.nn.Module()
            self.num_ws_tex = 0
            self.w = torch.nn.Parameter(torch.zeros(1))

    target = InvertTarget(sample["rgb"], sample["mask"], sample["cameras"])
    with pytest.raises(Get3dError, match="no texture branch"):
        invert(GeometryOnly(), target, InvertOptions(steps=1))
