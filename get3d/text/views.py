"""Several views per latent of a get3d Generator, composited on a background CLIP sees well.

``render_views(G, ws_geo [B,n_geo,w], ws_tex [B,n_tex,w], cameras (B*V entries), views=V)``
-> rgb [B*V,3,H,W] in [0,1]: item ``b*V + v`` is latent b seen from camera ``b*V + v``. The
triplanes and the DMTet mesh are computed once per latent (not once per view, as calling
``G.synthesis`` with repeated codes would), then the B meshes are rendered V times each. Colours
are the generator's (``G.synthesis`` renders them the same way, on black); here the antialiased
silhouette composites them over ``background`` (white by default: CLIP was trained on photos and
product shots, where a black void is rare).
"""
from __future__ import annotations

from typing import Sequence

import torch

from get3d.render import Cameras, Renderer

__all__ = ["composite", "render_views"]


def composite(rgb: torch.Tensor, mask: torch.Tensor, background: Sequence[float]) -> torch.Tensor:
    """rgb [N,3,H,W] on black (premultiplied), mask [N,1,H,W] -> [N,3,H,W] over ``background``."""
    bg = torch.tensor(tuple(background), dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return rgb + (1 - mask) * bg


def render_views(G, ws_geo: torch.Tensor, ws_tex: torch.Tensor, cameras: Cameras, views: int, resolution: int,
                 background: Sequence[float] = (1.0, 1.0, 1.0), return_mask: bool = False):
    """See the module docstring; ``return_mask`` also returns the silhouettes [B*V,1,H,W]."""
    G._check_ws(ws_geo, G.num_ws_geo, "ws_geo")
    G._check_ws(ws_tex, G.num_ws_tex, "ws_tex")
    batch = ws_geo.shape[0]
    geo_planes, tex_planes = G.triplanes(ws_geo, ws_tex)
    with torch.autocast(ws_geo.device.type, enabled=False):
        ws_geo, ws_tex = ws_geo.float(), ws_tex.float()
        geo_planes, tex_planes = geo_planes.float(), tex_planes.float()
        meshes = G._geometry(ws_geo, geo_planes)["meshes"]
        verts = [v for v, _ in meshes for _ in range(views)]
        faces = [f for _, f in meshes for _ in range(views)]

        def texture_fn(points: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
            return G._texture_ragged(tex_planes, ws_tex, points, torch.div(batch_index, views, rounding_mode="floor"))

        if len(cameras) != batch * views:
            from get3d.errors import Get3dError

            raise Get3dError(f"render_views needs {batch * views} cameras ({batch} latents x {views} views), "
                             f"got {len(cameras)}")
        result = Renderer(G.render_backend).render(verts, faces, cameras, resolution, texture_fn=texture_fn)
    rgb, mask = result.color.permute(0, 3, 1, 2), result.mask.permute(0, 3, 1, 2)
    out = composite(rgb, mask, background)
    return (out, mask) if return_mask else out
