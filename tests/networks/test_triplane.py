"""The triplane hot path (sample_triplane, the texture query's padding) samples per plane on views;
these pin it to the plain formulation: stack the coordinate pairs, merge batch and planes, sum."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from get3d.networks.generator import _ragged_to_padded, sample_triplane
from tests._support import DTYPE_TOLERANCE, assert_close_in, dtype_params


def _reference(planes, points, shape_min, shape_length):
    """Stacked pairs (x,y), (y,z), (x,z), one grid_sample over B*3 planes, sum over the planes."""
    b, _, c, r, _ = planes.shape
    p = ((points.detach().float() - shape_min) / shape_length).clamp(0, 1) * 2 - 1
    coords = torch.stack([p[..., [0, 1]], p[..., [1, 2]], p[..., [0, 2]]], dim=1)
    feat = F.grid_sample(planes.float().reshape(b * 3, c, r, r), coords.reshape(b * 3, 1, -1, 2), mode="bilinear",
                         padding_mode="zeros", align_corners=False)
    return feat.reshape(b, 3, c, -1).sum(1).transpose(1, 2)


@pytest.mark.parametrize("batch", [1, 3])
def test_per_plane_views_give_the_stacked_result_bit_for_bit_and_the_same_gradients(batch, any_device):
    gen = torch.Generator().manual_seed(0)
    backbone = torch.randn(batch, 2 * 3 * 5, 9, 9, generator=gen).to(any_device)  # geometry then texture channels
    geo = backbone[:, :15].reshape(batch, 3, 5, 9, 9)  # a view that cannot merge B with the planes
    points = (torch.rand(batch, 300, 3, generator=gen) * 1.4 - 0.7).to(any_device)  # some outside the box
    ours_planes = geo.detach().clone().requires_grad_(True)
    ref_planes = geo.detach().clone().requires_grad_(True)
    ours = sample_triplane(ours_planes, points, -0.5, 1.0)
    ref = _reference(ref_planes, points, -0.5, 1.0)
    assert ours.shape == (batch, 300, 5) and torch.equal(ours, ref)
    weights = torch.randn(ours.shape, generator=gen).to(any_device)
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(ours_planes.grad, ref_planes.grad, atol=1e-6)
    assert torch.equal(sample_triplane(geo, points, -0.5, 1.0), ref.detach())  # the view itself


def test_plane_orientation_at_a_texel_centre():
    planes = torch.zeros(1, 3, 1, 4, 4)
    planes[0, 0, 0, 1, 2] = 1.0  # plane (x, y): width = x index 2, height = y index 1
    planes[0, 1, 0, 3, 0] = 10.0  # plane (y, z): width = y index 0, height = z index 3
    planes[0, 2, 0, 0, 1] = 100.0  # plane (x, z): width = x index 1, height = z index 0
    centre = lambda i: (i + 0.5) / 4  # noqa: E731  texel centre in [0, 1]
    point = torch.tensor([[[centre(2), centre(1), centre(0)]]])
    assert sample_triplane(planes, point, 0.0, 1.0).item() == 1.0
    point = torch.tensor([[[centre(1), centre(0), centre(3)]]])
    assert sample_triplane(planes, point, 0.0, 1.0).item() == 10.0
    point = torch.tensor([[[centre(1), centre(3), centre(0)]]])
    assert sample_triplane(planes, point, 0.0, 1.0).item() == 100.0


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_ragged_to_padded_places_each_item_in_order(order):
    index = torch.tensor([0, 0, 1, 1, 1, 3, 3, 3, 3])
    if order == "shuffled":
        index = index[torch.tensor([4, 0, 7, 2, 8, 1, 5, 3, 6])]
    points = torch.arange(27.0).reshape(9, 3)
    padded, slot = _ragged_to_padded(points, index, 4)
    assert padded.shape == (4, 4, 3) and torch.equal(padded[index, slot], points)
    assert padded[2].abs().sum() == 0  # item 2 has no points: all padding
    for item in range(4):  # within an item, points keep their order
        mine = (index == item).nonzero().flatten()
        assert torch.equal(slot[mine], torch.arange(len(mine)))


def _numpy_bilinear(planes: np.ndarray, points: np.ndarray, shape_min: float, shape_length: float) -> np.ndarray:
    """float64 triplane sampling from first principles: planes [3,C,R,R], points [P,3] -> [P,C].
    align_corners=False puts texel i's centre at (i + 0.5) / R * 2 - 1; taps outside the plane are 0."""
    _, c, r, _ = planes.shape
    p = np.clip((points - shape_min) / shape_length, 0, 1) * 2 - 1
    out = np.zeros((len(points), c))
    for k, (u, v) in enumerate(((0, 1), (1, 2), (0, 2))):  # (width, height) coordinates of each plane
        x, y = ((p[:, u] + 1) * r - 1) / 2, ((p[:, v] + 1) * r - 1) / 2
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        for dx in (0, 1):
            for dy in (0, 1):
                w = (1 - abs(x - (x0 + dx))) * (1 - abs(y - (y0 + dy)))
                xi, yi = x0 + dx, y0 + dy
                ok = (xi >= 0) & (xi < r) & (yi >= 0) & (yi < r)
                out[ok] += w[ok, None] * planes[k][:, yi[ok], xi[ok]].T
    return out


@pytest.mark.parametrize("dtype", dtype_params(torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_sampling_in_each_dtype_matches_a_float64_reference(dtype, any_device):
    """float64 planes sample in float64; float32 and the autocast half types in float32 (documented:
    half-precision positions would quantise the lookups), so their result is the float32 one of the
    rounded planes. Compared with a numpy bilinear sampler on the same (rounded) values."""
    gen = torch.Generator().manual_seed(4)
    planes = torch.randn(2, 3, 4, 7, 7, generator=gen).to(dtype)
    points = (torch.rand(2, 200, 3, generator=gen, dtype=torch.float64) * 1.4 - 0.7).to(dtype)
    out = sample_triplane(planes.to(any_device), points.to(any_device), -0.5, 1.0)
    assert out.device.type == any_device
    out_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    ref = np.stack([_numpy_bilinear(planes[b].double().numpy(), points[b].double().numpy(), -0.5, 1.0)
                    for b in range(2)])
    assert_close_in(out_dtype, out, torch.from_numpy(ref), scale=3.0, what="sample_triplane")
    assert DTYPE_TOLERANCE[out_dtype]["atol"] <= 1e-6  # the half types do not get a half tolerance
