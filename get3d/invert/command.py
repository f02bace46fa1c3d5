"""``get3d invert``: files in, files out. A command module (like get3d.generate, whose exporter it
uses): it sits above the rest of get3d.invert.

Outputs in ``outdir``:

* ``latents.safetensors``  the codes, cameras and settings (get3d.invert.latents)
* ``inverted.glb`` / ``.obj`` (+ .mtl, .png)  the result through ``get3d generate``'s exporter
* ``before_after.png``  row 1 the target views, row 2 the result from the same (found) cameras
* ``progress.gif``  view 0 during stage 2: target | current, every ``frame_every`` steps
* ``metrics.json``  stage 1's winner and the final result: IoU per view, masked PSNR, Chamfer
* ``settings.json``  checkpoint, target (files, mesh normalisation, cameras), every option
* ``tb/``  TensorBoard scalars (``loss/<term>`` per stage)
* ``snapshots/``  resumable state (``--resume auto``); ``tuned-generator.{json,safetensors}``
  with ``--tune-generator`` (a snapshot: ``--ckpt OUT/tuned-generator.json`` anywhere)
* ``index.html``  the gallery every export command writes
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from get3d._io import atomic_write
from get3d.checkpoint import load_generator
from get3d.errors import Get3dError
from get3d.export.files import parse_formats, save_asset
from get3d.export.gallery import GalleryItem, write_gallery
from get3d.export.previews import image_grid, save_gif, save_image
from get3d.generate import textured_mesh
from get3d.invert.latents import save_latents
from get3d.invert.optimize import InvertOptions, invert
from get3d.invert.render import render_codes
from get3d.invert.target import image_target, mesh_target, parse_colour, read_camera_folder
from get3d.snapshot import write_snapshot

__all__ = ["invert_command", "parse_angles", "dataset_scale"]


def parse_angles(text, name: str) -> Optional[list]:
    """'30,120' or a sequence of numbers -> [30.0, 120.0]; None stays None."""
    if text is None or (not isinstance(text, str) and len(text) == 0):
        return None
    items = text.split(",") if isinstance(text, str) else [v for t in text for v in str(t).split(",")]
    try:
        return [float(v) for v in items if str(v).strip()]
    except ValueError:
        raise Get3dError(f"{name} (--{name}): not comma-separated degrees: {text!r}") from None


def dataset_scale(config) -> tuple[float, str]:
    """The normalised size of the checkpoint's training meshes, and where that number comes from."""
    from get3d.categories import DEFAULT_RENDER_SCALE, render_scale

    category = getattr(getattr(config, "data", None), "category", None)
    if category:
        return render_scale(category), f"category {category!r} (GET3D's Blender script scale)"
    return DEFAULT_RENDER_SCALE, (f"default {DEFAULT_RENDER_SCALE:g} (render-dataset and synth-data; the checkpoint "
                                  "records no category)")


def _on_white(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[V,3,S,S] on black + [V,1,S,S] -> [V,S,S,3] on white."""
    return (rgb + (1 - mask)).clamp(0, 1).permute(0, 2, 3, 1).cpu()


def _write_json(path: Path, record: dict) -> None:
    atomic_write(path, json.dumps(record, indent=2, default=str).encode(), fsync=False)


def invert_command(ckpt, outdir, images: Sequence = (), mesh=None, *, rotation=None, elevation=None,
                   cameras_dir=None, background=None, key_tolerance: float = 0.08, views: int = 8,
                   mesh_scale="dataset", unlit: bool = False, resolution: Optional[int] = None,
                   options: Optional[InvertOptions] = None, formats="glb,obj", texture_res: int = 512,
                   resume: Optional[str] = None, device=None, backend: str = "auto", category=None,
                   tensorboard: bool = True, progress: bool = False, log: Callable = print) -> dict:
    """``get3d invert`` end to end (see the module docstring) -> {'metrics', 'files', 'result'}."""
    from tqdm import tqdm

    images = [Path(p) for p in (images or ())]
    if bool(images) == (mesh is not None):
        raise Get3dError("give the target: images (--image IMG [--image IMG ...]) or mesh (--mesh MESH), not both")
    if mesh is not None and (rotation is not None or cameras_dir is not None or background is not None):
        raise Get3dError("rotation, elevation, cameras_dir and background (--rotation/--elevation/--cameras/"
                         "--background) are for image targets (--image); a mesh (--mesh) is rendered from views "
                         "(--views) cameras")
    if rotation is not None and cameras_dir is not None:
        raise Get3dError("give cameras either as rotation/elevation (--rotation/--elevation) or as cameras_dir (--cameras DIR), not both")
    formats = parse_formats(formats)
    options = (options or InvertOptions()).validate()
    if texture_res < 8:
        raise Get3dError(f"texture_res (--texture-res) must be >= 8, got {texture_res}")
    if background is not None:
        background = parse_colour(background)
    if outdir is not None:  # one run per folder, before anything is loaded (get3d.runs)
        from get3d.runs import refuse_other_run, run_evidence

        refuse_other_run(outdir, resume, run_evidence(outdir, Path(outdir) / "snapshots"), "invert")
    try:
        G, config = load_generator(ckpt, device, category=category)
    except Get3dError as err:
        if any(key in str(err) for key in ("mapping_tex", "synthesis_tex", "totex", "to_rgb")):
            raise Get3dError(f"ckpt (--ckpt) {ckpt}: the checkpoint has no texture branch ({err}); inversion needs a "
                             f"textured GET3D model") from None
        raise
    if getattr(G, "num_ws_tex", 0) < 1 or not hasattr(G, "mapping_tex"):
        raise Get3dError(f"ckpt (--ckpt) {ckpt}: the generator has no texture branch; inversion needs a textured GET3D model")
    res = int(resolution or G.img_resolution)
    data = getattr(config, "data", None)
    if data is not None and getattr(data, "elevation_range", None) is not None:
        # The camera distribution the model was trained on (GET3D's --data_camera_mode): what
        # unknown cameras are searched over and mesh views drawn from.
        options.elevation_range = tuple(float(v) for v in data.elevation_range)
    if res < 16:
        raise Get3dError(f"resolution (--res) must be >= 16, got {res}")
    outdir = Path(outdir)
    clock = time.perf_counter()
    if images:
        if cameras_dir is not None:
            rotation, elevation = read_camera_folder(cameras_dir, len(images))
        target = image_target(images, res, rotation, elevation, background, key_tolerance)
    else:
        if mesh_scale in (None, "dataset"):
            scale, why = dataset_scale(config)
        elif str(mesh_scale).lower() == "keep":
            scale, why = None, "--mesh-scale keep"
        else:
            try:
                scale, why = float(mesh_scale), "--mesh-scale"
            except ValueError:
                raise Get3dError(f"mesh_scale (--mesh-scale) must be a number, 'dataset' or 'keep', got {mesh_scale!r}") from None
            if not 0 < scale <= G.grid_scale:
                raise Get3dError(f"mesh_scale (--mesh-scale) {scale} must lie in (0, {G.grid_scale}] (the generator's box)")
        target = mesh_target(mesh, res, views=views, scale=scale, seed=options.search_seed, unlit=unlit,
                             backend=backend, elevation_range=options.elevation_range)
        target.info["scale_from"] = why
    target_seconds = time.perf_counter() - clock
    settings = dict(command="invert", checkpoint=str(ckpt), category=category, target=target.info, resolution=res,
                    options=asdict(options), formats=formats, texture_res=texture_res, backend=backend)
    if resume is not None and (outdir / "settings.json").is_file():
        # Before settings.json is rewritten: the run continues only with its own target, model and
        # options (more steps are fine; get3d.runs, get3d.invert.optimize.RESUMABLE_CHANGES).
        from get3d.invert.optimize import RESUMABLE_CHANGES
        from get3d.runs import check_same_settings

        try:
            saved = json.loads((outdir / "settings.json").read_text())
        except (OSError, ValueError):
            saved = {}
        check_same_settings(saved, {k: v for k, v in settings.items() if k != "options"},
                            ("formats", "texture_res", "backend"), outdir / "settings.json")
        check_same_settings(saved.get("options") or {}, settings["options"], RESUMABLE_CHANGES,
                            outdir / "settings.json")
    outdir.mkdir(parents=True, exist_ok=True)
    _write_json(outdir / "settings.json", settings)

    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(outdir / "tb"))
    total = options.steps + options.tune_steps
    bar = tqdm(total=total, desc="invert", disable=not progress)

    def callback(stage, step, parts):
        bar.update(1)
        bar.set_postfix(stage=stage, loss=f"{parts['total']:.4f}")
        if writer is not None:
            for key, value in parts.items():
                writer.add_scalar(f"loss/{key}", value, step)

    result = invert(G, target, options, snapshot_dir=outdir / "snapshots", resume=resume, callback=callback,
                    config=config, log=log)
    bar.close()
    if writer is not None:
        for key in ("iou_mean", "psnr_mean", "chamfer_x1e3"):
            if key in result.metrics:
                writer.add_scalar(f"metrics/{key}", result.metrics[key], total)
        writer.close()

    clock = time.perf_counter()
    files = []
    final_G = result.generator if result.generator is not None else G
    if result.generator is not None:
        snap = write_snapshot(outdir, 0, {"G_ema": result.generator}, config=config, save_rng=False,
                              stem="tuned-generator", extra={"invert": dict(source=str(ckpt), latents="latents.safetensors")})
        files += [str(snap.json_path), str(snap.weights_path)]
    settings.update(search=dict(index=result.search["index"], scores=result.search["scores"]),
                    resumed_from_step=result.resumed_from,
                    tuned_generator="tuned-generator.json" if result.generator is not None else None)
    files.append(str(save_latents(outdir / "latents.safetensors", result.ws_geo, result.ws_tex,
                                  result.cameras.rotation, result.cameras.elevation,
                                  dict(settings, metrics=result.metrics))))
    mesh_out = textured_mesh(final_G, result.ws_geo, result.ws_tex, texture_res, backend=backend)
    if mesh_out is None:
        log("the inverted shape is empty (no surface); no mesh written")
    else:
        files += save_asset(mesh_out, outdir, "inverted", formats)
    with torch.no_grad():
        out = render_codes(final_G, result.ws_geo, result.ws_tex, result.cameras.to(result.ws_geo.device), res)
    tgt = _on_white(target.rgb, target.mask)
    got = _on_white(out.rgb, out.mask)
    files.append(str(save_image(outdir / "before_after.png", image_grid(torch.cat([tgt, got]), len(target)))))
    if result.frames:
        frames = [torch.cat([tgt[0], _on_white(rgb[None], mask[None])[0]], dim=1) for _, rgb, mask in result.frames]
        files.append(str(save_gif(outdir / "progress.gif", torch.stack(frames), fps=8)))
    seconds = dict(target=target_seconds, **result.seconds, export=time.perf_counter() - clock)
    metrics = dict(search=result.search_metrics, final=result.metrics, views=target.names, seconds=seconds)
    _write_json(outdir / "metrics.json", metrics)
    files.append(str(outdir / "metrics.json"))
    settings.update(metrics=result.metrics, seconds=seconds, files=[Path(f).name for f in files])
    _write_json(outdir / "settings.json", settings)
    items = [GalleryItem("inverted", [f for f in files if f.endswith((".glb", ".obj"))] + [outdir / "progress.gif"],
                         f"IoU {result.metrics['iou_mean']:.3f}, PSNR {result.metrics['psnr_mean']:.1f} dB")]
    write_gallery(outdir, f"get3d invert: {ckpt}", [outdir / "before_after.png"], items, settings)
    return dict(metrics=metrics, files=files, result=result)
