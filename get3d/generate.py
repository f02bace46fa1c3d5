"""From a trained generator to files users open anywhere: textured meshes, previews, interpolations.

Per seed: z_geo and z_tex drawn from that seed -> mapping with truncation psi -> DMTet mesh ->
UV atlas (xatlas) -> texture field baked into a texture image -> GLB (texture embedded) and
OBJ + MTL + PNG (and PLY, geometry only), named ``seed0042.*`` so many seeds share a folder.

Units and orientation: meshes are in the generator's own units (the tet grid spans
[-0.5, 0.5]^3 times the config's grid_scale, so a shape is about 1 unit across), Y up, faces
counter-clockwise seen from outside; at camera rotation 0 the camera looks along +Z.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from get3d.errors import Get3dError
from get3d.export.gallery import GalleryItem, write_gallery
from get3d.export.previews import SHADINGS, image_grid, render_previews, save_gif, save_image
from get3d.export.uv_bake import bake_texture, uv_unwrap
from get3d.geometry.mesh import Mesh
from get3d.render.camera import Cameras



# ---------------------------------------------------------------------------------- loading
# Checkpoint resolution and loading live in get3d.snapshot, the seed -> latents convention in
# get3d.networks.generator and file writing in get3d.export.files (below every command, so the
# text and distill stages and metrics need not import this module); re-exported here.
from get3d.export.files import FORMATS, parse_formats, save_asset  # noqa: E402,F401
from get3d.networks.generator import seed_latents  # noqa: E402,F401
from get3d.snapshot import BUNDLED_DIR, load_generator, resolve_checkpoint  # noqa: E402,F401


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    seeds: list[int] = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise Get3dError(f"--seeds: cannot read {text!r}; use e.g. 0-15 or 1,4,9")
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        if hi < lo:
            raise Get3dError(f"--seeds: range {part.strip()!r} runs backwards")
        seeds.extend(range(lo, hi + 1))
    return seeds


# ---------------------------------------------------------------------------------- one asset
@dataclass
class Asset:
    seed: int
    mesh: Mesh | None  # None when the shape came out empty
    files: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    name: str = ""  # file stem of a code pair given by spec (``codes``); "" = seedNNNN


def textured_mesh(generator, ws_geo: torch.Tensor, ws_tex: torch.Tensor, texture_res: int,
                  geometry_only: bool = False, backend="auto", timings: dict | None = None,
                  closed: bool = True) -> Mesh | None:
    """One asset from its codes (ws_* [1,n,w]): mesh, UV atlas, baked texture. None if empty.
    ``closed`` (default) caps surfaces cut by the grid's box (watertight meshes); False = raw."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    with torch.no_grad():
        (verts, faces), = generator.extract_meshes(ws_geo, empty_as_none=True, closed=closed)
    timings["mesh"] = time.perf_counter() - clock
    if faces is None or faces.shape[0] == 0:
        return None
    if geometry_only:
        return Mesh(verts.float().cpu(), faces.cpu())
    clock = time.perf_counter()
    verts, faces, uvs = uv_unwrap(verts, faces)
    timings["uv"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with torch.no_grad():
        _, tex_planes = generator.triplanes(ws_geo, ws_tex)

        def field(points):
            index = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
            return generator.texture_colors(ws_tex, points.to(ws_tex.device), index, tex_planes=tex_planes)

        texture = bake_texture(verts, faces, uvs, field, texture_res, backend=backend)
    timings["bake"] = time.perf_counter() - clock
    return Mesh(verts.float().cpu(), faces.cpu(), uvs.cpu(), texture.cpu())


# ---------------------------------------------------------------------------------- commands
def _load_for_seeds(ckpt, device, outdir, seeds: list[int], category=None):
    """-> (generator, output folder (created), z_geo, z_tex [len(seeds), z_dim] on its device)."""
    generator, _ = load_generator(ckpt, device, category=category)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    z_geo, z_tex = seed_latents(generator, seeds, next(generator.parameters()).device)
    return generator, outdir, z_geo, z_tex


def generate_assets(ckpt, seeds: list[int], outdir: str | Path, truncation: float = 0.7,
                    formats: str | list[str] = "glb,obj", texture_res: int = 1024, geometry_only: bool = False,
                    backend: str = "auto", device=None, preview_views: int = 4, turntable_frames: int = 0,
                    preview_res: int = 256, progress: bool = True, log=print, category: str | None = None,
                    raw_mesh: bool = False, codes: list | None = None, preview_shading: str = "lit") -> list[Asset]:
    """``get3d generate``: one textured mesh per seed, a preview grid, optional turntables.
    ``preview_shading``: "lit" (texture under a key light), "clay" or "albedo" (export.previews).
    ``codes``: (name, geometry spec, texture spec) triples generated after the seeds, written as
    ``<name>.*`` (a spec is a latents file from ``get3d invert`` or a seed: get3d.invert.latents)."""
    from get3d.invert.latents import codes_from_spec

    from tqdm import tqdm

    formats = parse_formats(formats)
    if preview_shading not in SHADINGS:
        raise Get3dError(f"--preview-shading must be one of {', '.join(SHADINGS)}, got {preview_shading!r}")
    if texture_res < 8:
        raise Get3dError(f"--texture-res must be >= 8, got {texture_res}")
    generator, outdir, z_geo, z_tex = _load_for_seeds(ckpt, device, outdir, seeds or [0], category)
    assets = []
    jobs = [(i, seed, None) for i, seed in enumerate(seeds)] + [(None, -1, c) for c in codes or []]
    for i, seed, code in tqdm(jobs, desc="generate", unit="seed", disable=not progress):
        with torch.no_grad():
            if code is None:
                ws_geo, ws_tex = generator.mapping(z_geo[i:i + 1], z_tex[i:i + 1], psi=truncation)
            else:
                ws_geo, ws_tex = codes_from_spec(generator, code[1], truncation)[0], \
                    codes_from_spec(generator, code[2], truncation)[1]
        asset = Asset(seed, None, name=code[0] if code is not None else "")
        asset.mesh = textured_mesh(generator, ws_geo, ws_tex, texture_res, geometry_only, backend, asset.seconds,
                                   closed=not raw_mesh)
        if asset.mesh is None:
            log(f"{asset.name or f'seed {seed}'}: the generated shape is empty (no surface); skipped")
        else:
            clock = time.perf_counter()
            asset.files = save_asset(asset.mesh, outdir, asset.name or f"seed{seed:04d}", formats)
            asset.seconds["export"] = time.perf_counter() - clock
        assets.append(asset)
    meshes = [a.mesh for a in assets if a.mesh is not None]
    if not meshes:
        raise Get3dError(f"all {len(jobs)} {'codes' if codes else 'seeds'} gave empty shapes (no surface); "
                         f"is {ckpt} trained?")
    if preview_views > 0:
        views = render_previews(meshes, Cameras.orbit(preview_views, 20.0, start=30.0), preview_res, backend,
                                shading=preview_shading)
        save_image(outdir / "preview.png", image_grid(views.reshape(-1, *views.shape[2:]), preview_views))
    if turntable_frames > 0:
        for asset in assets:
            if asset.mesh is not None:
                frames = render_previews([asset.mesh], Cameras.orbit(turntable_frames, 20.0), preview_res, backend,
                                         shading=preview_shading)[0]
                asset.files.append(str(save_gif(outdir / f"{asset.name or f'seed{asset.seed:04d}'}_turntable.gif", frames)))
    settings = dict(checkpoint=str(ckpt), category=category, seeds=seeds, truncation=truncation, formats=formats,
                    texture_res=texture_res, geometry_only=geometry_only, raw_mesh=raw_mesh, backend=backend,
                    codes=[list(map(str, c)) for c in codes or []], preview_shading=preview_shading)
    items = [GalleryItem(a.name or f"seed {a.seed}", a.files, "" if a.mesh is not None else "empty shape: skipped")
             for a in assets]
    write_gallery(outdir, f"get3d generate: {ckpt}", [outdir / "preview.png"], items, settings)
    return assets


def interpolate_codes(ws_a: torch.Tensor, ws_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear interpolation in W: [1,n,w] x 2 -> [steps,n,w], endpoints exactly ws_a and ws_b."""
    t = torch.linspace(0, 1, steps, device=ws_a.device).view(-1, 1, 1)
    return ws_a * (1 - t) + ws_b * t


MODES = ("geometry", "texture", "both", "grid")


def interpolation_walks(ws_geo: torch.Tensor, ws_tex: torch.Tensor, steps: int, mode: str):
    """Walks between consecutive codes: ws_* [S,n,w] -> list of S-1 (geo [steps,n,w], tex [steps,n,w]).

    "geometry" keeps the texture codes at the first seed's, "texture" keeps the geometry codes at
    the first seed's, "both" walks both; step 0 of walk a is seed a's codes, the last step seed a+1's.
    """
    walks = []
    for a in range(ws_geo.shape[0] - 1):
        geo = interpolate_codes(ws_geo[a:a + 1], ws_geo[a + 1:a + 2], steps)
        tex = interpolate_codes(ws_tex[a:a + 1], ws_tex[a + 1:a + 2], steps)
        if mode == "geometry":
            tex = ws_tex[:1].expand(steps, -1, -1)
        elif mode == "texture":
            geo = ws_geo[:1].expand(steps, -1, -1)
        walks.append((geo, tex))
    return walks


def render_codes(generator, ws_geo: torch.Tensor, ws_tex: torch.Tensor, cameras: Cameras,
                 resolution: int) -> torch.Tensor:
    """Codes [K,n,w] -> images [K,H,W,3] on white, one item at a time (bounded memory)."""
    frames = []
    with torch.no_grad():
        for k in range(ws_geo.shape[0]):
            out = generator.synthesis(ws_geo[k:k + 1], ws_tex[k:k + 1], cameras, resolution=resolution)
            rgb, mask = out.rgb[0].permute(1, 2, 0), out.mask[0].permute(1, 2, 0)
            frames.append(rgb + (1 - mask))  # rgb is on black: adding (1 - mask) puts it on white
    return torch.stack(frames).cpu()


def interpolate(ckpt, seeds: list[int], outdir: str | Path, steps: int = 8, mode: str = "both",
                truncation: float = 0.7, resolution: int = 256, write_meshes: bool = False, texture_res: int = 512,
                rotation: float = 30.0, elevation: float = 20.0, backend: str = "auto", device=None,
                log=print, category: str | None = None, raw_mesh: bool = False, progress: bool = False) -> dict:
    """``get3d interpolate``: W-space walks between consecutive seeds (or latents files from
    ``get3d invert``: any item that is not an int), as image strips and GIFs.

    mode: "geometry" (texture codes fixed to the first seed's), "texture" (geometry fixed),
    "both", or "grid" (GET3D's figure: rows vary geometry, columns texture, over the seeds).
    Returns {kind: path} of what was written.
    """
    from tqdm import tqdm

    if mode not in MODES:
        raise Get3dError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(seeds) < 2:
        raise Get3dError("--seeds: interpolation needs at least two seeds")
    if steps < 2:
        raise Get3dError(f"--steps must be >= 2, got {steps}")
    # Items that are not ints are code specs (latents files from get3d invert, get3d.invert.latents).
    generator, outdir, z_geo, z_tex = _load_for_seeds(ckpt, device, outdir,
                                                      [s if isinstance(s, int) else 0 for s in seeds], category)
    dev = z_geo.device
    with torch.no_grad():
        ws_geo, ws_tex = generator.mapping(z_geo, z_tex, psi=truncation)
    if not all(isinstance(s, int) for s in seeds):
        from get3d.invert.latents import codes_from_spec

        pairs = [codes_from_spec(generator, s, truncation) if not isinstance(s, int) else (ws_geo[k:k + 1], ws_tex[k:k + 1])
                 for k, s in enumerate(seeds)]
        ws_geo, ws_tex = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    camera = Cameras(torch.tensor([float(rotation)]), torch.tensor([float(elevation)])).to(dev)
    written: dict[str, str] = {}
    if mode == "grid":
        rows = [render_codes(generator, ws_geo[r:r + 1].expand(len(seeds), -1, -1), ws_tex, camera, resolution)
                for r in tqdm(range(len(seeds)), desc="interpolate: grid rows", unit="row", disable=not progress)]
        written["grid"] = str(save_image(outdir / "interp_grid.png", image_grid(torch.cat(rows), len(seeds))))
        _interpolation_gallery(outdir, ckpt, seeds, mode, len(seeds), truncation, written)
        return written
    walks = interpolation_walks(ws_geo, ws_tex, steps, mode)
    strips = [render_codes(generator, geo, tex, camera, resolution)
              for geo, tex in tqdm(walks, desc="interpolate: walks", unit="walk", disable=not progress)]
    written["strip"] = str(save_image(outdir / f"interp_{mode}.png", image_grid(torch.cat(strips), steps)))
    # The animation runs through the seeds once: each walk after the first starts where the
    # previous one ended, so its first frame would repeat.
    frames = torch.cat([strips[0]] + [strip[1:] for strip in strips[1:]])
    written["animation"] = str(save_gif(outdir / f"interp_{mode}.gif", frames, fps=8))
    if write_meshes:
        mesh_dir = outdir / f"interp_{mode}_meshes"
        mesh_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=len(walks) * steps, desc="interpolate: meshes", unit="mesh", disable=not progress)
        for w, (geo, tex) in enumerate(walks):
            for k in range(steps):
                bar.update(1)
                mesh = textured_mesh(generator, geo[k:k + 1], tex[k:k + 1], texture_res, backend=backend,
                                     closed=not raw_mesh)
                if mesh is None:
                    log(f"walk {w} step {k}: empty shape; skipped")
                    continue
                save_asset(mesh, mesh_dir, f"walk{w}_step{k:02d}", ["glb"])
        bar.close()
        written["meshes"] = str(mesh_dir)
    _interpolation_gallery(outdir, ckpt, seeds, mode, steps, truncation, written)
    return written


def _interpolation_gallery(outdir: Path, ckpt, seeds, mode, steps, truncation, written: dict) -> None:
    items = []
    if "meshes" in written:
        items.append(GalleryItem("meshes of every step", sorted(Path(written["meshes"]).glob("*.glb"))))
    settings = dict(checkpoint=str(ckpt), seeds=[s if isinstance(s, int) else str(s) for s in seeds], mode=mode, steps=steps, truncation=truncation)
    overview = [written[k] for k in ("grid", "animation", "strip") if k in written]
    written["gallery"] = str(write_gallery(outdir, f"get3d interpolate: {ckpt}", overview, items, settings))


def before_after_gallery(before_ckpt, after_ckpt, seeds: list[int], outdir: str | Path, title: str,
                         overview=(), settings: dict | None = None, truncation: float = 0.7, texture_res: int = 256,
                         backend: str = "auto", device=None, category: str | None = None, log=print) -> Path:
    """The same seeds through two generators (``finetune-text``'s base and result), side by side
    in 3-D: ``outdir/before/seedNNNN.glb``, ``outdir/after/seedNNNN.glb`` and ``outdir/index.html``
    with one card per seed holding both viewers (``overview``: images shown first). -> the page.
    ``category`` goes to the base (a GET3D ``.pt``); the result is a get3d snapshot."""
    outdir = Path(outdir)
    meshes: dict[int, list[str]] = {seed: [] for seed in seeds}
    for when, ckpt, cat in (("before", before_ckpt, category), ("after", after_ckpt, None)):
        generator, folder, z_geo, z_tex = _load_for_seeds(ckpt, device, outdir / when, seeds, cat)
        for i, seed in enumerate(seeds):
            with torch.no_grad():
                ws_geo, ws_tex = generator.mapping(z_geo[i:i + 1], z_tex[i:i + 1], psi=truncation)
            mesh = textured_mesh(generator, ws_geo, ws_tex, texture_res, backend=backend)
            if mesh is None:
                log(f"seed {seed} ({when}): the shape is empty (no surface); skipped")
                continue
            meshes[seed] += save_asset(mesh, folder, f"seed{seed:04d}", ["glb"])
    items = [GalleryItem(f"seed {seed}: before | after", files, "" if files else "empty shapes: skipped")
             for seed, files in meshes.items()]
    return write_gallery(outdir, title, overview, items, settings)
