"""``get3d refine``: text-guided refinement of one explicit asset by score distillation.

Each step (``step`` counts from 0; ``steps`` is the run's total, resumed runs included):

1. ``batch`` cameras from :func:`get3d.distill.views.sample_views` (random stream seeded by
   ``(seed, step)``, so a resumed run draws what an uninterrupted one would);
2. the asset's mesh (marching tets of sdf on grid + deformation) rendered at ``render_res``
   (default: the prior's ``image_size``; lower values are upsampled bilinearly) with its texture
   field, composited on the background (white default) -> images [B,3,S,S] in [0,1];
3. loss = rule.loss(prior.encode(images), prompt + view suffix, negative prompt; with ``perp_neg``
   the interpolated view prompt and the other views as Perp-Neg negatives)
   + c * (sdf_reg_weight * GET3D's SDF regulariser + laplacian_weight * uniform Laplacian of the
   mesh [+ a FlexiCubes asset's regularisers]) (geometry terms only while geometry trains),
   c = ``rule.relative_scale(latents)``: the rule's loss scale relative to SDS's g / B (ISM: B,
   SDI: 1 / numel(latents)), so a weight means the same balance against every rule;
4. Adam with one learning rate each for sdf, deformation and texture triplane (a FlexiCubes
   asset's weights use the SDF's rate, and add GET3D's ``0.5 * mean(L_dev) + 0.1 * mean(w^2)``).

A step whose loss or gradients are not finite (or whose prior returns NaN) is skipped and
counted; ``max_bad_steps`` in a row stop the run with an error, the last snapshot untouched
(snapshots are written only from finite parameters). Snapshots: ``outdir/snapshots/
snapshot-<step>.{safetensors,json}`` (get3d.snapshot) every ``snapshot_every``
steps and at the end; ``resume="auto"`` continues from the newest.

Outputs in ``outdir``: ``refined.glb``, ``refined.obj`` (+ .mtl, .png) through get3d.generate's
export, ``before.glb`` (the asset at the run's start), ``before_after.png`` (row 1 the start, row 2
the result, 4 fixed views; labelled with prompt, rule and steps), ``turntable.gif``,
``settings.json`` (prompt, rule, model, seed and every setting), ``index.html`` (both meshes in
3-D viewers, get3d.export.gallery),
TensorBoard logs in ``outdir/tb`` when asked.

Default learning rates are ours, not from a paper (GET3D assets are not refined by any public
system): sdf 1e-2 (its values near the surface are O(0.1-1) in the bundled models),
deformation 1e-4 (offsets are bounded by 1/tet_res), texture 1e-2 (triplane features O(1)).
The SDF regulariser weight 0.01 is GET3D's; the Laplacian weight 0.1 is ours. See docs/distill.md.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from get3d._io import atomic_write
from get3d.distill.asset import RefineAsset, asset_from_checkpoint, laplacian_loss
from get3d.distill.options import RefineOptions
from get3d.distill.perpneg import view_embeddings
from get3d.distill.prior import check_prior
from get3d.distill.rules import RULES, NonFiniteUpdate, make_rule
from get3d.distill.views import SUFFIXES, ViewRanges, sample_views
from get3d.errors import Get3dError

_D = RefineOptions()  # every default below comes from here (the CLI reads the same)

__all__ = ["PHASES", "RefineResult", "parse_refine_background", "refine", "refine_checkpoint", "refine_mesh"]


def parse_refine_background(value):
    """'random' (a uniform random solid colour per view and step) or anything
    get3d.text.options.parse_background takes ('white', 'black', 'grey', 'R,G,B', a 3-sequence)."""
    from get3d.text.options import parse_background

    if isinstance(value, str) and value.strip().lower() == "random":
        return "random"
    try:
        return parse_background(value)
    except Get3dError as err:
        raise Get3dError(str(err).replace("is not white,", "is not random, white,")) from None


PHASES = ("render", "encode", "rule", "backward")  # RefineResult.timings keys (see refine's docstring)


@dataclass
class RefineResult:
    asset: RefineAsset
    mesh: object = None  # the exported get3d.geometry.Mesh (None without outdir or export)
    losses: list = field(default_factory=list)  # per finite step (rule + regularisers)
    skipped: int = 0  # non-finite steps skipped
    start_step: int = 0  # > 0 when resumed
    steps: int = 0
    files: list = field(default_factory=list)
    timings: dict = field(default_factory=lambda: {k: 0.0 for k in PHASES})  # seconds summed over steps


def _check(prompt, rule, steps, geometry_only, texture_only, batch, snapshot_every, render_res, export_every=0):
    if not isinstance(prompt, str) or not prompt.strip():
        raise Get3dError("--prompt is empty: give the text the asset should match")
    if rule not in RULES:
        raise Get3dError(f"--rule: unknown rule {rule!r}; choose from {', '.join(RULES)}")
    if steps < 0:
        raise Get3dError(f"--steps must be >= 0, got {steps}")
    if geometry_only and texture_only:
        raise Get3dError("--geometry-only and --texture-only exclude each other (nothing would train)")
    if batch < 1:
        raise Get3dError(f"--batch must be >= 1, got {batch}")
    if snapshot_every < 1:
        raise Get3dError(f"--snapshot-every must be >= 1, got {snapshot_every}")
    if export_every < 0:
        raise Get3dError(f"--export-every must be >= 0, got {export_every}")
    if render_res is not None and render_res < 8:
        raise Get3dError(f"--render-res must be >= 8, got {render_res}")


def _check_rates(**values) -> None:
    """Learning rates and loss weights: finite and >= 0 (0 freezes / switches off; < 0 would climb)."""
    for name, value in values.items():
        if not (math.isfinite(float(value)) and float(value) >= 0):
            raise Get3dError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}")


def _render(asset: RefineAsset, renderer, verts, faces, cameras: list, res: int, size: int, background):
    """-> images [B,3,size,size] on ``background`` ([3], or [B,3] one colour per view), masks [B,1,size,size]."""
    images, masks = [], []
    background = background.expand(len(cameras), 3)
    for b, camera in enumerate(cameras):
        out = renderer.render(verts, faces, camera, res, texture_fn=lambda p, _: asset.colors(p))
        images.append(out.color + background[b] * (1 - out.mask))  # colour is 0 off the object
        masks.append(out.mask)
    images = torch.cat(images).permute(0, 3, 1, 2)
    masks = torch.cat(masks).permute(0, 3, 1, 2)
    if res != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        masks = F.interpolate(masks, size=(size, size), mode="bilinear", align_corners=False)
    return images, masks


# Settings a resumed run may change; every other entry of settings.json must match the snapshot's.
RESUMABLE_CHANGES = ("steps", "snapshot_every", "max_bad_steps", "texture_res", "formats", "export_every",
                     "resumed_from_step")


def _comparable(record: dict) -> dict:
    """A settings record without what a resumed run legitimately measures differently: a mesh
    asset's colour fit is skipped on resume (the snapshot holds the fitted planes)."""
    asset = {k: v for k, v in (record.get("asset") or {}).items() if not k.startswith("colour_fit")}
    return dict(record, asset=asset)


def _refuse_other_run(outdir, resume) -> None:
    """A folder holding another refine run (snapshots or settings.json) needs --resume (get3d.runs)."""
    from get3d.runs import refuse_other_run, run_evidence

    if outdir is not None:
        refuse_other_run(outdir, resume, run_evidence(outdir, Path(outdir) / "snapshots"), "refine")


def _with_companions(paths: list[str]) -> list[str]:
    """save_asset's paths plus each OBJ's .mtl and texture .png (Mesh.save names them after the
    mesh), so "wrote N files" counts what is on disk."""
    out = []
    for p in map(Path, paths):
        out.append(str(p))
        if p.suffix.lower() == ".obj":
            out += [str(p.with_suffix(ext)) for ext in (".mtl", ".png") if p.with_suffix(ext).is_file()]
    return out


def _write_json(path: Path, record: dict) -> None:
    text = json.dumps(record, indent=2, default=str).encode()
    atomic_write(path, text)


def refine(prior, asset: RefineAsset, prompt: str, rule: str = _D.rule, steps: int = _D.steps, outdir=None, *,
           negative_prompt: str = "", rule_options: Optional[dict] = None, lr_sdf: float = _D.lr_sdf,
           lr_deformation: float = _D.lr_deformation, lr_texture: float = _D.lr_texture,
           sdf_reg_weight: float = _D.sdf_reg_weight, laplacian_weight: float = _D.laplacian_weight,
           geometry_only: bool = False, texture_only: bool = False, batch: int = _D.batch,
           render_res: Optional[int] = None, background=_D.background, views: Optional[ViewRanges] = None,
           view_prompts: bool = True, snapshot_every: int = _D.snapshot_every, resume: Optional[str] = None,
           max_bad_steps: int = _D.max_bad_steps, seed: int = _D.run_seed, texture_res: int = _D.texture_res,
           formats="glb,obj", preview_res: int = _D.preview_res, turntable_frames: int = 24, export: bool = True,
           tensorboard: bool = False, progress: bool = False, backend: str = "auto",
           settings: Optional[dict] = None, profile: bool = False, export_every: int = _D.export_every,
           perp_neg: bool = _D.perp_neg) -> RefineResult:
    """Refine ``asset`` in place so its renders match ``prompt`` under ``prior`` (see the module
    docstring). ``prior`` is any DiffusionPrior; ``rule_options`` go to ``make_rule(rule, ...)``;
    ``background``: an RGB triple in [0, 1], a name, or ``"random"`` (parse_refine_background);
    ``export_every`` K > 0 also exports the mesh every K steps as ``outdir/progress/step-<step>.*``;
    ``perp_neg``: Perp-Neg guidance with the other views' prompts as negatives (get3d.distill.perpneg).
    Returns a RefineResult (the asset, the exported mesh, per-step losses, skipped count, files, and
    ``timings``: seconds per phase summed over the finite steps: ``render`` = mesh extraction +
    rasterisation, ``encode`` = prior.encode, ``rule`` = the rule's loss (its UNet calls),
    ``backward`` = regularisers + backward + Adam; with ``profile`` each phase ends with a CUDA
    synchronise so GPU time lands in the right phase)."""
    from tqdm import tqdm

    from get3d.render import Renderer
    from get3d._interrupt import graceful_stop
    from get3d.snapshot import read_snapshot, restore_modules, restore_optimizers, resume_auto, \
        snapshot_stem, write_snapshot

    check_prior(prior)
    rule = str(rule).strip().lower()
    _check(prompt, rule, steps, geometry_only, texture_only, batch, snapshot_every, render_res, export_every)
    _check_rates(lr_sdf=lr_sdf, lr_deformation=lr_deformation, lr_texture=lr_texture, sdf_reg_weight=sdf_reg_weight,
                 laplacian_weight=laplacian_weight)
    rule_obj = make_rule(rule, **(rule_options or {}))
    if perp_neg and not view_prompts:
        raise Get3dError("--perp-neg needs the view-dependent prompts (its negatives are the other views' prompts)")
    views = views or ViewRanges()
    size = int(prior.image_size)
    res = int(render_res or size)
    device = asset.device
    background = parse_refine_background(background)
    random_background = background == "random"
    if not random_background:
        background = torch.tensor(background, dtype=torch.float32, device=device)
    renderer = Renderer(backend)
    outdir = Path(outdir) if outdir is not None else None
    result = RefineResult(asset, steps=steps)

    params = asset.params
    train_geo, train_tex = not texture_only, not geometry_only
    for p in params.geometry():
        p.requires_grad_(train_geo)
    params.tex_planes.requires_grad_(train_tex)
    groups = []
    if train_geo:
        groups += [{"params": [params.sdf], "lr": lr_sdf}, {"params": [params.deformation], "lr": lr_deformation}]
        if params.weights is not None:  # FlexiCubes assets: raw weights, O(0.1) like the SDF's scale of steps
            groups.append({"params": [params.weights], "lr": lr_sdf})
    if train_tex:
        groups.append({"params": [params.tex_planes], "lr": lr_texture})
    optimizer = torch.optim.Adam(groups)

    before = asset.mesh(texture_res, backend) if outdir is not None and export else None
    record = dict(settings or {}, prompt=prompt, negative_prompt=negative_prompt, rule=rule,
                  rule_options=rule_obj.options(), seed_of_asset=asset.seed, steps=steps, lr_sdf=lr_sdf,
                  lr_deformation=lr_deformation, lr_texture=lr_texture, sdf_reg_weight=sdf_reg_weight,
                  laplacian_weight=laplacian_weight, geometry_only=geometry_only, texture_only=texture_only,
                  batch=batch, image_size=size, render_res=res,
                  background="random" if random_background else background.tolist(),
                  views=asdict(views), view_prompts=view_prompts, perp_neg=perp_neg, snapshot_every=snapshot_every,
                  max_bad_steps=max_bad_steps, seed=seed, texture_res=texture_res, formats=formats,
                  export_every=export_every,
                  asset=dict(asset.info, source=asset.source))

    snap_dir = outdir / "snapshots" if outdir is not None else None
    start = 0
    _refuse_other_run(outdir, resume)
    if resume is not None:
        if snap_dir is None:
            raise Get3dError("--resume needs --outdir (the run folder holding snapshots/)")
        snap = resume_auto(snap_dir) if resume == "auto" else None
        path = snap.json_path if snap is not None else (None if resume == "auto" else Path(resume))
        if path is not None:
            tensors, meta = read_snapshot(path)
            from get3d.runs import check_same_settings

            if "refine" not in meta:
                raise Get3dError(f"{path}: not a refine snapshot (no 'refine' record); cannot resume from it")
            check_same_settings(_comparable(meta["refine"]), _comparable(record), RESUMABLE_CHANGES, path)
            restore_modules(tensors, {"asset": params}, source=str(path))
            restore_optimizers(tensors, meta, {"adam": optimizer}, source=str(path))
            start = int(meta["step"])
            if start > steps:
                raise Get3dError(f"--steps {steps} is below the resumed snapshot's step {start}")
    result.start_step = start
    record["resumed_from_step"] = start
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
        _write_json(outdir / "settings.json", record)

    prompts = [prompt + s for s in SUFFIXES] if view_prompts else [prompt] * len(SUFFIXES)
    with torch.no_grad():
        cond_all = prior.embed_text(prompts)
        uncond = prior.embed_text([negative_prompt])
        inverse = prior.embed_text([""])  # ISM's inversion prompt (LucidDreamer's inverse_text)
    writer = None
    if tensorboard and outdir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(outdir / "tb"))

    last_saved = start

    def snapshot(step):
        nonlocal last_saved
        if snap_dir is not None:
            last_saved = step
            write_snapshot(snap_dir, step, {"asset": params}, step=step, optimizers={"adam": optimizer},
                           save_rng=False, extra={"refine": record})

    fixed_mesh = None
    if not train_geo:
        with torch.no_grad():
            fixed_mesh = asset.extract()
    sync = torch.cuda.synchronize if profile and device.type == "cuda" else (lambda: None)

    def lap(phase, since):
        sync()
        now = time.perf_counter()
        spent[phase] += now - since
        return now

    streak = 0
    bar = tqdm(range(start, steps), desc=f"refine {rule}", disable=not progress, initial=start, total=steps)
    with graceful_stop("refine") as stop:
        for step in bar:
            if stop.requested:  # Ctrl-C / SIGTERM: save when newer than the last snapshot, stop
                if step > last_saved:
                    snapshot(step)
                saved = (f"snapshot {snap_dir / snapshot_stem(last_saved)}.json" if snap_dir is not None and last_saved
                         else "no snapshot (no --outdir)" if snap_dir is None else "no snapshot (no step done)")
                raise stop.interrupted(f"at step {step}; {saved}; continue with --resume auto")
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + step)
            cameras, suffix = sample_views(batch, views, gen, device)
            step_background = (torch.rand(batch, 3, generator=gen).to(device) if random_background
                               else background)
            optimizer.zero_grad(set_to_none=True)
            spent = {k: 0.0 for k in PHASES}
            try:
                sync()
                clock = start_clock = time.perf_counter()
                verts, faces, flexi_reg = (*fixed_mesh, None) if fixed_mesh is not None else asset.extract_with_reg()
                if faces.shape[0] == 0:
                    raise Get3dError(f"step {step}: the shape became empty (no surface); lower --lr-sdf or "
                                     f"raise --sdf-reg-weight, or resume from an earlier snapshot")
                images, _ = _render(asset, renderer, verts, faces, cameras, res, size, step_background)
                clock = lap("render", clock)
                latents = prior.encode(images)
                clock = lap("encode", clock)
                if perp_neg:
                    cond, negatives = view_embeddings(cond_all, torch.cat([c.rotation for c in cameras]),
                                                      torch.cat([c.elevation for c in cameras]), views.front_azimuth,
                                                      views.overhead)
                else:
                    cond, negatives = cond_all[suffix.to(cond_all.device)], None
                loss = rule_obj.loss(latents, prior, cond, uncond, step, steps, generator=gen, inverse=inverse,
                                     perp_neg=negatives)
                clock = lap("rule", clock)
                parts = {"rule": float(loss.detach())}
                if train_geo:
                    reg, smooth = asset.sdf_reg(), laplacian_loss(verts, faces)
                    # The weights are relative to a rule gradient of g / B (SDS's scale): scaled by the
                    # rule's own loss scale, they keep their balance with every rule (docs/refine.md).
                    unit = rule_obj.relative_scale(latents.shape)
                    loss = loss + unit * (sdf_reg_weight * reg + laplacian_weight * smooth)
                    parts.update(sdf_reg=float(reg.detach()), laplacian=float(smooth.detach()))
                    if flexi_reg is not None:  # GET3D's 0.5 * mean(L_dev) + 0.1 * mean(weights^2)
                        loss = loss + unit * flexi_reg
                        parts.update(flexicubes_reg=float(flexi_reg.detach()))
                loss.backward()
                grads = [p.grad for p in params.parameters() if p.grad is not None]
                finite = math.isfinite(float(loss.detach())) and all(bool(torch.isfinite(g).all()) for g in grads)
            except NonFiniteUpdate:
                finite = False
            if not finite:
                result.skipped += 1
                streak += 1
                if streak >= max_bad_steps:
                    raise Get3dError(f"refine {rule}: {streak} non-finite steps in a row at step {step}; stopped "
                                     f"(last snapshot intact in {snap_dir})")
                continue
            streak = 0
            optimizer.step()
            lap("backward", clock)
            for phase, seconds in spent.items():
                result.timings[phase] += seconds
            result.losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{result.losses[-1]:.4g}", t=rule_obj.last.get("t"))
            if writer is not None:
                for key, value in parts.items():
                    writer.add_scalar(f"loss/{key}", value, step)
                writer.add_scalar("rule/grad_norm", rule_obj.last.get("grad_norm", 0.0), step)
                writer.add_scalar("time/step_s", time.perf_counter() - start_clock, step)
                if (step + 1) % snapshot_every == 0:
                    writer.add_images("renders", images.detach().clamp(0, 1), step)
            if (step + 1) % snapshot_every == 0 and step + 1 < steps:
                snapshot(step + 1)
            if outdir is not None and export_every > 0 and (step + 1) % export_every == 0 and step + 1 < steps:
                from get3d.export.files import parse_formats, save_asset

                result.files += _with_companions(save_asset(asset.mesh(texture_res, backend), outdir / "progress",
                                                            f"step-{step + 1:06d}", parse_formats(formats)))
    if steps > start:
        snapshot(steps)
    if writer is not None:
        writer.close()

    if outdir is not None and export:
        from get3d.export.previews import labelled_grid, render_previews, save_gif, save_image
        from get3d.export.files import parse_formats, save_asset
        from get3d.render.camera import Cameras

        result.mesh = asset.mesh(texture_res, backend)
        result.files += _with_companions(save_asset(result.mesh, outdir, "refined", parse_formats(formats)))
        result.files += save_asset(before, outdir, "before", ["glb"])  # to turn beside the result
        fixed = Cameras.orbit(4, 20.0, start=30.0)
        grid = render_previews([before, result.mesh], fixed, preview_res, backend)
        image = labelled_grid(grid, [f"before (step {start})", f"after (step {steps})"],
                              [f"{float(a):.0f} deg" for a in fixed.rotation],
                              f'"{prompt}" - {rule} - steps {start}-{steps}')
        result.files.append(str(save_image(outdir / "before_after.png", image)))
        if turntable_frames > 0:
            frames = render_previews([result.mesh], Cameras.orbit(turntable_frames, 20.0), preview_res, backend)[0]
            result.files.append(str(save_gif(outdir / "turntable.gif", frames)))
    if outdir is not None:
        record.update(skipped_steps=result.skipped, finite_steps=len(result.losses),
                      final_loss=result.losses[-1] if result.losses else None, files=result.files)
        _write_json(outdir / "settings.json", record)
        result.files.append(str(outdir / "settings.json"))
    if outdir is not None and export:
        from get3d.export.gallery import GalleryItem, write_gallery

        items = [GalleryItem(f"before (step {start})", [outdir / "before.glb"]),
                 GalleryItem(f"after (step {steps}): {prompt}", [f for f in result.files if Path(f).stem == "refined"
                                                                 and Path(f).suffix in (".glb", ".obj", ".ply")])]
        result.files.append(str(write_gallery(outdir, f"get3d refine ({rule}): {prompt}",
                                              [outdir / "before_after.png", outdir / "turntable.gif"], items, record)))
    return result


def _check_options(prompt, rule, options) -> str:
    rule = str(rule).strip().lower()
    _check(prompt, rule, options.get("steps", _D.steps), options.get("geometry_only", False),
           options.get("texture_only", False), options.get("batch", _D.batch),
           options.get("snapshot_every", _D.snapshot_every), options.get("render_res"),
           options.get("export_every", _D.export_every))
    _check_rates(**{k: options.get(k, getattr(_D, k)) for k in ("lr_sdf", "lr_deformation", "lr_texture",
                                                                "sdf_reg_weight", "laplacian_weight")})
    parse_refine_background(options.get("background", _D.background))
    return rule


def _refine_with_model(asset, prompt, model, outdir, rule, local_files_only, guidance, run_seed, settings,
                       options) -> RefineResult:
    from get3d.distill.diffusion import load_diffusion

    prior = load_diffusion(model, device=asset.device, local_files_only=local_files_only)
    rule_options = dict(options.pop("rule_options", None) or {})
    if guidance is not None:
        rule_options["guidance_scale"] = guidance
    settings = dict(options.pop("settings", None) or {}, model=str(model), **settings)
    return refine(prior, asset, prompt, rule, outdir=outdir, rule_options=rule_options, settings=settings,
                  seed=run_seed, **options)


def refine_checkpoint(ckpt, seed, prompt: str, model, outdir, rule: str = _D.rule, truncation: float = _D.truncation,
                      device=None, local_files_only=None, guidance: Optional[float] = None, run_seed: int = _D.run_seed,
                      tet_res: Optional[int] = None, category: Optional[str] = None, latents=None,
                      **options) -> RefineResult:
    """``get3d refine --ckpt`` end to end: load the prior (``load_diffusion(model)``) and the asset of
    ``seed`` in ``ckpt`` (on a ``tet_res`` grid when given; ``category`` for a GET3D ``.pt``), then
    :func:`refine` with ``options`` (``run_seed`` is refine's ``seed``); records ckpt, seed and model
    in settings.json. Checks the cheap inputs (prompt, rule, seed) before loading anything."""
    rule = _check_options(prompt, rule, options)
    _refuse_other_run(outdir, options.get("resume"))  # before loading anything
    text = "" if seed is None else str(seed).strip()
    if latents is not None:  # a latents file from get3d invert replaces the seed
        asset = asset_from_checkpoint(ckpt, None, truncation, device, tet_res=tet_res, category=category,
                                      latents=latents)
        settings = dict(ckpt=str(ckpt), latents=str(latents), seed_of_asset=None, category=category)
        return _refine_with_model(asset, prompt, model, outdir, rule, local_files_only, guidance, run_seed, settings,
                                  options)
    if not text.isdigit():
        raise Get3dError(f"--seed must be a non-negative integer, got {text!r}" if text else "--seed is empty: "
                         "give the seed of the asset to refine, as in get3d generate --seeds")
    asset = asset_from_checkpoint(ckpt, int(text), truncation, device, tet_res=tet_res, category=category)
    settings = dict(ckpt=str(ckpt), seed_of_asset=int(text), truncation=truncation, category=category)
    return _refine_with_model(asset, prompt, model, outdir, rule, local_files_only, guidance, run_seed, settings,
                              options)


def refine_mesh(mesh, prompt: str, model, outdir, rule: str = _D.rule, device=None, local_files_only=None,
                guidance: Optional[float] = None, run_seed: int = _D.run_seed, tet_res: Optional[int] = None,
                plane_res: int = _D.plane_res, fit_steps: int = _D.fit_steps, **options) -> RefineResult:
    """``get3d refine --mesh`` end to end: the mesh file as an asset (get3d.distill.mesh_asset, its
    colours fitted unless a snapshot to resume from exists), then :func:`refine` as
    :func:`refine_checkpoint` does."""
    from get3d.distill.mesh_asset import asset_from_mesh
    from get3d.snapshot import list_snapshots

    rule = _check_options(prompt, rule, options)
    resume = options.get("resume")
    _refuse_other_run(outdir, resume)  # before loading anything
    if resume is not None and outdir is not None and (resume != "auto" or list_snapshots(Path(outdir) / "snapshots")):
        fit_steps = 0  # the snapshot holds the fitted (and refined) colour planes
    asset = asset_from_mesh(mesh, tet_res=tet_res, plane_res=plane_res, fit_steps=fit_steps, device=device,
                            seed=run_seed, backend=options.get("backend", "auto"),
                            progress=bool(options.get("progress", False)))
    settings = dict(mesh=str(mesh), seed_of_asset=None)
    return _refine_with_model(asset, prompt, model, outdir, rule, local_files_only, guidance, run_seed, settings,
                              options)
