"""UV atlases (xatlas) and baking a texture field into a texture image.

GET3D's texture is a field: colour as a function of 3D position. To give users an ordinary
textured mesh, the surface is unwrapped into a UV atlas, the atlas is rasterised at the texture
resolution (each texel learns which surface point it shows), the field is queried there, and
the texels around each chart are filled by dilation so bilinear lookups (and mipmaps) at chart
borders see surface colour instead of background.

Conventions: UVs in [0,1] with (0,0) at the texture's bottom-left (OBJ, glTF via trimesh);
textures are [R,R,3] float in [0,1] with row 0 at the top, as image files store them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from get3d.errors import Get3dError

FieldFn = Callable[[torch.Tensor], torch.Tensor]  # points [P,3] -> rgb [P,3] in [0,1]


def uv_unwrap(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unwrap a mesh with xatlas.

    verts [V,3], faces [F,3] -> (verts [V',3] (seam vertices duplicated), faces [F,3] int64,
    uvs [V',2] float32 in [0,1]). Same device and dtype as the input.
    """
    import xatlas

    if faces.shape[0] == 0:
        raise Get3dError("cannot unwrap an empty mesh (no faces)")
    v_np = verts.detach().cpu().numpy().astype(np.float32)
    f_np = faces.detach().cpu().numpy().astype(np.uint32)
    vmapping, indices, uvs = xatlas.parametrize(v_np, f_np)
    vmapping = torch.from_numpy(vmapping.astype(np.int64)).to(verts.device)
    return (
        verts[vmapping],
        torch.from_numpy(indices.astype(np.int64)).to(faces.device),
        torch.from_numpy(uvs.astype(np.float32)).to(verts.device),
    )


def rasterize_uv_layout(verts: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, resolution: int,
                        backend) -> tuple[torch.Tensor, torch.Tensor]:
    """The surface point behind each texel.

    Returns points [R,R,3] and covered [R,R] bool, both with row 0 at the TOP of the texture
    (v = 1), i.e. in image order.
    """
    clip = torch.cat([uvs * 2 - 1, torch.zeros_like(uvs[:, :1]), torch.ones_like(uvs[:, :1])], -1)
    tri = faces.to(torch.int32).contiguous()
    rast, _ = backend.rasterize(clip[None].float().contiguous(), tri, resolution=(resolution, resolution))
    points, _ = backend.interpolate(verts[None].float().contiguous(), rast, tri)
    covered = rast[0, ..., 3] > 0
    # The rasterizer's row 0 is v = 0 (bottom); image row 0 is the top.
    return torch.flip(points[0], dims=[0]), torch.flip(covered, dims=[0])


def dilate(texture: torch.Tensor, filled: torch.Tensor, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grow filled regions outward: each pass gives empty texels the mean of their filled 8-neighbours.

    texture [R,R,C], filled [R,R] bool -> (texture, filled) after ``iterations`` passes.
    """
    kernel = torch.ones(1, 1, 3, 3, device=texture.device, dtype=texture.dtype)
    colour = (texture * filled[..., None]).permute(2, 0, 1)[:, None]  # [C,1,R,R]
    weight = filled.to(texture.dtype)[None, None]  # [1,1,R,R]
    for _ in range(iterations):
        colour_sum = F.conv2d(colour, kernel, padding=1)
        weight_sum = F.conv2d(weight, kernel, padding=1)
        grow = (weight == 0) & (weight_sum > 0)
        colour = torch.where(grow, colour_sum / weight_sum.clamp_min(1e-8), colour)
        weight = torch.where(grow, torch.ones_like(weight), weight)
    return colour[:, 0].permute(1, 2, 0), weight[0, 0] > 0


def bake_texture(verts: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, field: FieldFn,
                 resolution: int = 1024, padding: int = 8, backend="auto", chunk: int = 2**18) -> torch.Tensor:
    """Bake a texture field into a UV texture.

    verts [V,3], faces [F,3], uvs [V,2] (from ``uv_unwrap``), field: points [P,3] -> rgb [P,3]
    in [0,1] (called in chunks of ``chunk`` points, under no_grad). Returns texture [R,R,3] with
    row 0 at the top. Texels within ``padding`` of a chart get dilated colours; the rest get the
    mean surface colour, so nothing downstream ever samples a black background.
    """
    from get3d.render.rasterizer import get_backend

    if resolution < 2:
        raise Get3dError(f"texture resolution must be >= 2, got {resolution}")
    backend = get_backend(backend) if isinstance(backend, str) else backend
    with torch.no_grad():
        points, covered = rasterize_uv_layout(verts, faces, uvs, resolution, backend)
        texture = torch.zeros(resolution, resolution, 3, device=points.device)
        inside = covered.nonzero(as_tuple=True)
        surface = points[inside]
        if surface.shape[0] == 0:
            raise Get3dError("the UV layout covers no texel; is the texture resolution too small?")
        colours = torch.cat([field(surface[i:i + chunk]).float() for i in range(0, surface.shape[0], chunk)])
        if colours.shape != surface.shape:
            raise Get3dError(f"the texture field must return [P,3] colours, got {tuple(colours.shape)}")
        texture[inside] = colours.clamp(0, 1)
        texture, filled = dilate(texture, covered, padding)
        texture[~filled] = colours.mean(0).clamp(0, 1)
    return texture


def sample_texture(texture: torch.Tensor, uvs: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of texture [R,R,C] (row 0 top) at uvs [P,2] (v up) -> [P,C]. For tests and tools."""
    grid = torch.stack([uvs[:, 0] * 2 - 1, (1 - uvs[:, 1]) * 2 - 1], -1)[None, None]  # [1,1,P,2]
    out = F.grid_sample(texture.permute(2, 0, 1)[None], grid, mode="bilinear", align_corners=False,
                        padding_mode="border")
    return out[0, :, 0].T
