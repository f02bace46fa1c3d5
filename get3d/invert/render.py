"""One code pair seen from many cameras: the generator's rendering, with the mesh extracted once.

``Generator.synthesis`` renders item b of a batch from camera b and recomputes the triplanes and
the mesh for every item; inversion looks at ONE shape from V cameras (and the search from dozens),
so here the triplanes, SDF and marching tets run once and the rasterizer draws that mesh V times
(instanced). The pixels are the same as ``synthesis`` gives for the same codes and cameras
(tests/invert/test_render.py checks it).

Colour is returned composited on BLACK (premultiplied by coverage) whatever the checkpoint's
``image_background``: targets are stored the same way, so losses compare like with like.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from get3d.render import Cameras, Renderer

__all__ = ["CodeRender", "render_codes"]


@dataclass
class CodeRender:
    rgb: torch.Tensor  # [V,3,H,W] colour on black in [0,1]
    mask: torch.Tensor  # [V,1,H,W] antialiased silhouette in [0,1]
    verts: torch.Tensor  # [N,3] extracted mesh (differentiable w.r.t. the geometry codes)
    faces: torch.Tensor  # [F,3] int64
    empty: bool  # the codes gave no surface (the mesh is GET3D's template)


def render_codes(G, ws_geo: torch.Tensor, ws_tex: torch.Tensor, cameras: Cameras, resolution: int,
                 closed: bool = False) -> CodeRender:
    """ws_geo [1,num_ws_geo,w_dim], ws_tex [1,num_ws_tex,w_dim], V cameras -> CodeRender.

    ``closed=False`` (default) renders the raw extraction, as training does."""
    geo_planes, tex_planes = G.triplanes(ws_geo, ws_tex)
    with torch.autocast(ws_geo.device.type, enabled=False):
        ws_geo, ws_tex = ws_geo.float(), ws_tex.float()
        geo = G._geometry(ws_geo, geo_planes.float(), closed=closed)
        verts, faces = geo["meshes"][0]
        tex_planes = tex_planes.float()

        def texture_fn(points: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
            # Every item is the same shape: all pixels look up item 0's texture field.
            return G._texture_ragged(tex_planes, ws_tex, points, torch.zeros_like(batch_index))

        result = Renderer(G.render_backend).render(verts, faces, cameras.to(verts.device), resolution,
                                                   texture_fn=texture_fn, antialias_color=G.antialias_color)
        rgb = result.color.permute(0, 3, 1, 2)
        mask = result.mask.permute(0, 3, 1, 2)
    return CodeRender(rgb, mask, verts, faces, bool(geo["empty"][0]))
