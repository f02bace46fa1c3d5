"""Render the preview grid of the procedural categories (docs/synthetic_preview.png).

Usage: python scripts/synthetic_preview.py [OUT.png] [--seeds 0,1,2,3] [--res 128]
Rows are categories, columns seeds; colour is the UV texture times a simple Lambert term
(the renderer itself outputs unlit colour) over a white background.
"""
import argparse

import numpy as np
import torch
from PIL import Image

from get3d.datasets.synthetic import category_names, generate_shape
from get3d.render import Cameras, Renderer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="docs/synthetic_preview.png")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--res", type=int, default=160)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    renderer = Renderer("torch")
    light = torch.nn.functional.normalize(torch.tensor([-0.3, 0.8, 0.5]), dim=0)
    rotations = torch.tensor([150.0, 210.0, 120.0, 240.0, 180.0, 100.0])[torch.arange(len(seeds)) % 6]
    rows = []
    for category in category_names():
        meshes = [generate_shape(category, s) for s in seeds]
        out = renderer.render(
            [m.verts for m in meshes],
            [m.faces for m in meshes],
            Cameras(rotations, torch.full((len(seeds),), 20.0)),
            args.res,
            uvs=[m.uvs for m in meshes],
            textures=[m.texture for m in meshes],
        )
        shade = 0.45 + 0.55 * (out.normal * light).sum(-1, keepdim=True).clamp(min=0)
        rows.append(torch.cat(list(out.color * shade + (1 - out.mask)), 1))
    image = torch.cat(rows, 0).clamp(0, 1).numpy()
    Image.fromarray((image * 255 + 0.5).astype(np.uint8)).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
