"""Preview shading on a sphere, whose right answer is known: under the key light (from above and
the camera's left) the top is brighter than the bottom and the left than the right; unlit albedo
is flat. A headlight alone, or albedo alone, is symmetric and fails these."""
import pytest
import torch
import trimesh

from get3d.errors import Get3dError
from get3d.export.previews import CLAY, render_previews
from get3d.geometry import Mesh
from get3d.render.camera import Cameras


def _sphere(textured=False):
    ico = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    mesh = Mesh(torch.tensor(ico.vertices, dtype=torch.float32), torch.tensor(ico.faces, dtype=torch.long))
    if textured:
        mesh = Mesh(mesh.verts, mesh.faces, torch.full((mesh.verts.shape[0], 2), 0.5),
                    torch.tensor([0.2, 0.6, 0.9]).expand(4, 4, 3).clone())
    return mesh


def _halves(image):
    """Mean brightness of the sphere's top, bottom, left and right halves (white background out)."""
    grey = image.mean(-1)
    mask = (image < 0.99).any(-1)
    h, w = grey.shape
    rows = torch.arange(h)[:, None].expand(h, w)
    cols = torch.arange(w)[None, :].expand(h, w)
    centre_r = rows[mask].float().mean()
    centre_c = cols[mask].float().mean()
    mean = lambda sel: grey[mask & sel].mean().item()  # noqa: E731
    return mean(rows < centre_r), mean(rows > centre_r), mean(cols < centre_c), mean(cols > centre_c), grey[mask]


@pytest.mark.parametrize("rotation", [0.0, 135.0])
def test_clay_preview_is_lit_from_above_and_the_left(rotation):
    image = render_previews([_sphere()], Cameras(torch.tensor([rotation]), torch.tensor([0.0])), 64, "torch",
                            shading="clay")[0, 0]
    top, bottom, left, right, _ = _halves(image)
    assert top > bottom + 0.1 and left > right + 0.05, (top, bottom, left, right)


def test_albedo_preview_is_unlit_and_lit_keeps_the_texture_hue():
    camera = Cameras(torch.tensor([30.0]), torch.tensor([20.0]))
    flat = render_previews([_sphere()], camera, 64, "torch", shading="albedo")[0, 0]
    *_, values = _halves(flat)
    assert ((values - CLAY).abs() < 0.02).float().mean() > 0.9  # all but antialiased edge pixels
    lit = render_previews([_sphere(textured=True)], camera, 64, "torch")[0, 0]  # the default: "lit"
    top, bottom, *_ = _halves(lit)
    assert top > bottom + 0.1
    inside = lit[(lit < 0.99).any(-1)]
    darkish = inside[inside[:, 2] < 0.85]  # below saturation, blue stays 4.5x red (edges blend with white)
    assert len(darkish) > 20
    assert abs((darkish[:, 2] / darkish[:, 0]).median().item() - 4.5) < 0.3
    with pytest.raises(Get3dError, match="shading"):
        render_previews([_sphere()], camera, 16, "torch", shading="toon")
