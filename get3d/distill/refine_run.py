"""``get3d refine``: text-guided refinement of one explicit asset by score distillation.

``refine(prior, asset, prompt, options)`` takes a :class:`get3d.distill.options.RefineOptions`
(every setting, defaults stated once, checked once) and drives a :class:`RefineRun`: ``setup``
(optimiser, settings record, resume), ``step`` (one optimisation step, non-finite steps skipped),
``snapshot``, ``export``, in the spirit of training's get3d.training.step.StepRunner.
Names: ``options.run_seed`` seeds the run's cameras and noise; ``seed`` is always the asset's
(``refine_checkpoint(ckpt, seed, ...)``, ``get3d refine --seed``).

Each step (``step`` counts from 0; ``steps`` is the run's total, resumed runs included):

1. ``batch`` cameras from :func:`get3d.distill.views.sample_views` (random stream seeded by
   ``(run_seed, step)``, so a resumed run draws what an uninterrupted one would);
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

Outputs in ``outdir``: ``refined.glb``, ``refined.obj`` (+ .mtl, .png) through get3d.export
(bake_mesh, save_asset: what ``get3d generate`` writes), ``before.glb`` (the asset at the run's
start), ``before_after.png`` (row 1 the start, row 2 the result, 4 fixed views; labelled with
prompt, rule and steps), ``turntable.gif``, ``settings.json`` (prompt, model, the asset's seed and
every setting: RefineOptions.to_dict, with the values the run resolved), ``index.html`` (both
meshes in 3-D viewers, get3d.export.gallery), TensorBoard logs in ``outdir/tb`` when asked.

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
from get3d.distill.options import RefineOptions, parse_refine_background
from get3d.distill.perpneg import view_embeddings
from get3d.distill.prior import check_prior
from get3d.distill.rules import NonFiniteUpdate, make_rule
from get3d.distill.views import SUFFIXES, sample_views
from get3d.errors import Get3dError

_D = RefineOptions()  # the defaults (the CLI reads the same)

__all__ = ["PHASES", "RefineOptions", "RefineResult", "RefineRun", "parse_refine_background", "refine",
           "refine_checkpoint", "refine_mesh"]

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


def _check_prompt(prompt) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise Get3dError("prompt (--prompt) is empty: give the text the asset should match")


def _checked(options) -> RefineOptions:
    if not isinstance(options, RefineOptions):
        raise Get3dError(f"options must be a get3d.distill.options.RefineOptions, got {options!r} "
                         f"(e.g. RefineOptions(rule='sds', steps=100))")
    return options.check()


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
# The outputs' settings (previews, export, rasterizer, logging, profiling) do not change the
# optimisation either.
RESUMABLE_CHANGES = ("steps", "snapshot_every", "max_bad_steps", "texture_res", "formats", "export_every",
                     "resumed_from_step", "preview_res", "turntable_frames", "export", "backend", "tensorboard",
                     "profile")


def _comparable(record: dict) -> dict:
    """A settings record without what a resumed run legitimately measures differently: a mesh
    asset's colour fit is skipped on resume (the snapshot holds the fitted planes). Records
    written before RefineOptions call the run seed ``seed``; read as ``run_seed``."""
    asset = {k: v for k, v in (record.get("asset") or {}).items() if not k.startswith("colour_fit")}
    record = dict(record, asset=asset)
    if "seed" in record and "run_seed" not in record:
        record["run_seed"] = record.pop("seed")
    return record


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


class RefineRun:
    """One refine run (see the module docstring): :meth:`setup` builds the optimiser and the
    settings record, resumes and writes ``settings.json``; :meth:`step` is one optimisation step;
    :meth:`snapshot` writes a snapshot; :meth:`finish` the last one; :meth:`export` the outputs.
    :func:`refine` drives it: ``setup``, ``step`` for each step with the periodic snapshots and
    progress exports, ``finish``, ``export``."""

    def __init__(self, prior, asset: RefineAsset, prompt: str, options: RefineOptions = _D, outdir=None, *,
                 settings: Optional[dict] = None):
        from get3d.render import Renderer

        check_prior(prior)
        _check_prompt(prompt)
        self.options = o = _checked(options)
        self.rule = make_rule(o.rule, **(o.rule_options or {}))
        self.prior, self.asset, self.prompt, self.settings = prior, asset, prompt, settings
        self.size = int(prior.image_size)
        self.res = int(o.render_res or self.size)
        self.device = asset.device
        background = parse_refine_background(o.background)
        self.random_background = background == "random"
        if not self.random_background:
            background = torch.tensor(background, dtype=torch.float32, device=self.device)
        self.background = background
        self.renderer = Renderer(o.backend)
        self.outdir = Path(outdir) if outdir is not None else None
        self.snap_dir = self.outdir / "snapshots" if self.outdir is not None else None
        self.result = RefineResult(asset, steps=o.steps)
        self.train_geo, self.train_tex = not o.texture_only, not o.geometry_only

    def _record(self) -> dict:
        """settings.json: where the asset came from (``settings``), the prompt, every option
        (RefineOptions.to_dict) with the values this run resolved, and the asset's own record."""
        o, asset = self.options, self.asset
        record = dict(self.settings or {}, prompt=self.prompt)
        record.update(o.to_dict(asset=False))
        record.update(rule_options=self.rule.options(), seed_of_asset=asset.seed, image_size=self.size,
                      render_res=self.res,
                      background="random" if self.random_background else self.background.tolist(),
                      views=asdict(o.views), asset=dict(asset.info, source=asset.source))
        return record

    def setup(self, resume: Optional[str] = None) -> int:
        """Optimiser, settings record, resume (``"auto"``: the newest snapshot in outdir/snapshots,
        or a snapshot path), settings.json, text embeddings -> the first step to run."""
        from get3d.snapshot import read_snapshot, restore_modules, restore_optimizers, resume_auto

        o, asset, outdir, snap_dir = self.options, self.asset, self.outdir, self.snap_dir
        params = asset.params
        for p in params.geometry():
            p.requires_grad_(self.train_geo)
        params.tex_planes.requires_grad_(self.train_tex)
        groups = []
        if self.train_geo:
            groups += [{"params": [params.sdf], "lr": o.lr_sdf},
                       {"params": [params.deformation], "lr": o.lr_deformation}]
            if params.weights is not None:  # FlexiCubes assets: raw weights, O(0.1) like the SDF's scale of steps
                groups.append({"params": [params.weights], "lr": o.lr_sdf})
        if self.train_tex:
            groups.append({"params": [params.tex_planes], "lr": o.lr_texture})
        self.optimizer = optimizer = torch.optim.Adam(groups)

        self.before = asset.mesh(o.texture_res, o.backend) if outdir is not None and o.export else None
        self.record = record = self._record()

        start = 0
        _refuse_other_run(outdir, resume)
        if resume is not None:
            if snap_dir is None:
                raise Get3dError("resume (--resume) needs outdir (--outdir): the run folder holding snapshots/")
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
                if start > o.steps:
                    raise Get3dError(f"steps (--steps) {o.steps} is below the resumed snapshot's step {start}")
        self.start = self.last_saved = self.result.start_step = start
        record["resumed_from_step"] = start
        if outdir is not None:
            outdir.mkdir(parents=True, exist_ok=True)
            _write_json(outdir / "settings.json", record)

        prompts = [self.prompt + s for s in SUFFIXES] if o.view_prompts else [self.prompt] * len(SUFFIXES)
        with torch.no_grad():
            self.cond_all = self.prior.embed_text(prompts)
            self.uncond = self.prior.embed_text([o.negative_prompt])
            self.inverse = self.prior.embed_text([""])  # ISM's inversion prompt (LucidDreamer's inverse_text)
        self.writer = None
        if o.tensorboard and outdir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(outdir / "tb"))
        self.fixed_mesh = None
        if not self.train_geo:
            with torch.no_grad():
                self.fixed_mesh = asset.extract()
        self.sync = torch.cuda.synchronize if o.profile and self.device.type == "cuda" else (lambda: None)
        self.streak = 0
        return start

    def step(self, step: int) -> bool:
        """One optimisation step -> True when applied. A step whose loss or gradients are not finite
        is skipped and counted (-> False); ``max_bad_steps`` of them in a row raise."""
        o, asset, result, device = self.options, self.asset, self.result, self.device
        params, optimizer, rule_obj, sync = asset.params, self.optimizer, self.rule, self.sync
        spent = {k: 0.0 for k in PHASES}

        def lap(phase, since):
            sync()
            now = time.perf_counter()
            spent[phase] += now - since
            return now

        gen = torch.Generator().manual_seed(int(o.run_seed) * 1_000_003 + step)
        cameras, suffix = sample_views(o.batch, o.views, gen, device)
        step_background = (torch.rand(o.batch, 3, generator=gen).to(device) if self.random_background
                           else self.background)
        optimizer.zero_grad(set_to_none=True)
        try:
            sync()
            clock = start_clock = time.perf_counter()
            verts, faces, flexi_reg = ((*self.fixed_mesh, None) if self.fixed_mesh is not None
                                       else asset.extract_with_reg())
            if faces.shape[0] == 0:
                raise Get3dError(f"step {step}: the shape became empty (no surface); lower lr_sdf (--lr-sdf) or "
                                 f"raise sdf_reg_weight (--sdf-reg-weight), or resume from an earlier snapshot")
            images, _ = _render(asset, self.renderer, verts, faces, cameras, self.res, self.size, step_background)
            clock = lap("render", clock)
            latents = self.prior.encode(images)
            clock = lap("encode", clock)
            if o.perp_neg:
                cond, negatives = view_embeddings(self.cond_all, torch.cat([c.rotation for c in cameras]),
                                                  torch.cat([c.elevation for c in cameras]), o.views.front_azimuth,
                                                  o.views.overhead)
            else:
                cond, negatives = self.cond_all[suffix.to(self.cond_all.device)], None
            loss = rule_obj.loss(latents, self.prior, cond, self.uncond, step, o.steps, generator=gen,
                                 inverse=self.inverse, perp_neg=negatives)
            clock = lap("rule", clock)
            parts = {"rule": float(loss.detach())}
            if self.train_geo:
                reg, smooth = asset.sdf_reg(), laplacian_loss(verts, faces)
                # The weights are relative to a rule gradient of g / B (SDS's scale): scaled by the
                # rule's own loss scale, they keep their balance with every rule (docs/refine.md).
                unit = rule_obj.relative_scale(latents.shape)
                loss = loss + unit * (o.sdf_reg_weight * reg + o.laplacian_weight * smooth)
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
            self.streak += 1
            if self.streak >= o.max_bad_steps:
                raise Get3dError(f"refine {o.rule}: {self.streak} non-finite steps in a row at step {step}; stopped "
                                 f"(last snapshot intact in {self.snap_dir})")
            return False
        self.streak = 0
        optimizer.step()
        lap("backward", clock)
        for phase, seconds in spent.items():
            result.timings[phase] += seconds
        result.losses.append(float(loss.detach()))
        writer = self.writer
        if writer is not None:
            for key, value in parts.items():
                writer.add_scalar(f"loss/{key}", value, step)
            writer.add_scalar("rule/grad_norm", rule_obj.last.get("grad_norm", 0.0), step)
            writer.add_scalar("time/step_s", time.perf_counter() - start_clock, step)
            if (step + 1) % o.snapshot_every == 0:
                writer.add_images("renders", images.detach().clamp(0, 1), step)
        return True

    def snapshot(self, step: int) -> None:
        """Asset and Adam state at ``step`` into outdir/snapshots (nothing without an outdir)."""
        from get3d.snapshot import write_snapshot

        if self.snap_dir is not None:
            self.last_saved = step
            write_snapshot(self.snap_dir, step, {"asset": self.asset.params}, step=step,
                           optimizers={"adam": self.optimizer}, save_rng=False, extra={"refine": self.record})

    def export_progress(self, step: int) -> None:
        """The mesh now as outdir/progress/step-<step>.* (``export_every``)."""
        from get3d.export.files import parse_formats, save_asset

        if self.outdir is not None:
            o = self.options
            self.result.files += _with_companions(save_asset(self.asset.mesh(o.texture_res, o.backend),
                                                             self.outdir / "progress", f"step-{step:06d}",
                                                             parse_formats(o.formats)))

    def interrupted(self, step: int, stop) -> Exception:
        """Ctrl-C / SIGTERM before ``step``: a snapshot when newer than the last -> the error to raise."""
        from get3d.snapshot import snapshot_stem

        if step > self.last_saved:
            self.snapshot(step)
        snap_dir, last_saved = self.snap_dir, self.last_saved
        saved = (f"snapshot {snap_dir / snapshot_stem(last_saved)}.json" if snap_dir is not None and last_saved
                 else "no snapshot (no --outdir)" if snap_dir is None else "no snapshot (no step done)")
        return stop.interrupted(f"at step {step}; {saved}; continue with resume='auto' (--resume auto)")

    def finish(self) -> None:
        """The final snapshot (when a step ran) and the TensorBoard writer closed."""
        if self.options.steps > self.start:
            self.snapshot(self.options.steps)
        if self.writer is not None:
            self.writer.close()

    def export(self) -> RefineResult:
        """refined.*, before.glb, before_after.png, turntable.gif (``export``), settings.json with the
        run's outcome, index.html -> the RefineResult."""
        o, asset, outdir, result, record = self.options, self.asset, self.outdir, self.result, self.record
        start, steps, prompt = self.start, o.steps, self.prompt
        if outdir is not None and o.export:
            from get3d.export.previews import labelled_grid, render_previews, save_gif, save_image
            from get3d.export.files import parse_formats, save_asset
            from get3d.render.camera import Cameras

            result.mesh = asset.mesh(o.texture_res, o.backend)
            result.files += _with_companions(save_asset(result.mesh, outdir, "refined", parse_formats(o.formats)))
            result.files += save_asset(self.before, outdir, "before", ["glb"])  # to turn beside the result
            fixed = Cameras.orbit(4, 20.0, start=30.0)
            grid = render_previews([self.before, result.mesh], fixed, o.preview_res, o.backend)
            image = labelled_grid(grid, [f"before (step {start})", f"after (step {steps})"],
                                  [f"{float(a):.0f} deg" for a in fixed.rotation],
                                  f'"{prompt}" - {o.rule} - steps {start}-{steps}')
            result.files.append(str(save_image(outdir / "before_after.png", image)))
            if o.turntable_frames > 0:
                frames = render_previews([result.mesh], Cameras.orbit(o.turntable_frames, 20.0), o.preview_res,
                                         o.backend)[0]
                result.files.append(str(save_gif(outdir / "turntable.gif", frames)))
        if outdir is not None:
            record.update(skipped_steps=result.skipped, finite_steps=len(result.losses),
                          final_loss=result.losses[-1] if result.losses else None, files=result.files)
            _write_json(outdir / "settings.json", record)
            result.files.append(str(outdir / "settings.json"))
        if outdir is not None and o.export:
            from get3d.export.gallery import GalleryItem, write_gallery

            refined = [f for f in result.files
                       if Path(f).stem == "refined" and Path(f).suffix in (".glb", ".obj", ".ply")]
            items = [GalleryItem(f"before (step {start})", [outdir / "before.glb"]),
                     GalleryItem(f"after (step {steps}): {prompt}", refined)]
            result.files.append(str(write_gallery(outdir, f"get3d refine ({o.rule}): {prompt}",
                                                  [outdir / "before_after.png", outdir / "turntable.gif"], items,
                                                  record)))
        return result


def refine(prior, asset: RefineAsset, prompt: str, options: RefineOptions = _D, outdir=None, *,
           resume: Optional[str] = None, settings: Optional[dict] = None, progress: bool = False) -> RefineResult:
    """Refine ``asset`` in place so its renders match ``prompt`` under ``prior`` (see the module
    docstring) with the settings of ``options`` (a RefineOptions: rule, steps, rates, views,
    ``run_seed``, exports; see get3d.distill.options). ``prior`` is any DiffusionPrior;
    ``outdir`` (None: nothing is written) receives snapshots, settings.json and the exports;
    ``resume``: "auto" or a snapshot path; ``settings``: extra entries for settings.json (where the
    asset came from); ``progress``: a tqdm bar.
    Returns a RefineResult (the asset, the exported mesh, per-step losses, skipped count, files, and
    ``timings``: seconds per phase summed over the finite steps: ``render`` = mesh extraction +
    rasterisation, ``encode`` = prior.encode, ``rule`` = the rule's loss (its UNet calls),
    ``backward`` = regularisers + backward + Adam; with ``options.profile`` each phase ends with a
    CUDA synchronise so GPU time lands in the right phase)."""
    from tqdm import tqdm

    from get3d._interrupt import graceful_stop

    run = RefineRun(prior, asset, prompt, options, outdir, settings=settings)
    o = run.options
    start = run.setup(resume)
    bar = tqdm(range(start, o.steps), desc=f"refine {o.rule}", disable=not progress, initial=start, total=o.steps)
    with graceful_stop("refine") as stop:
        for step in bar:
            if stop.requested:  # Ctrl-C / SIGTERM: save when newer than the last snapshot, stop
                raise run.interrupted(step, stop)
            if not run.step(step):
                continue
            bar.set_postfix(loss=f"{run.result.losses[-1]:.4g}", t=run.rule.last.get("t"))
            if (step + 1) % o.snapshot_every == 0 and step + 1 < o.steps:
                run.snapshot(step + 1)
            if o.export_every > 0 and (step + 1) % o.export_every == 0 and step + 1 < o.steps:
                run.export_progress(step + 1)
    run.finish()
    return run.export()


def _refine_with_model(asset, prompt, model, outdir, options, local_files_only, settings, resume,
                       progress) -> RefineResult:
    from get3d.distill.diffusion import load_diffusion

    prior = load_diffusion(model, device=asset.device, local_files_only=local_files_only)
    return refine(prior, asset, prompt, options, outdir, resume=resume, settings=dict(model=str(model), **settings),
                  progress=progress)


def refine_checkpoint(ckpt, seed, prompt: str, model, outdir=None, options: RefineOptions = _D, *, device=None,
                      local_files_only=None, latents=None, resume: Optional[str] = None,
                      progress: bool = False) -> RefineResult:
    """``get3d refine --ckpt`` end to end: load the prior (``load_diffusion(model)``) and the asset of
    ``seed`` in ``ckpt`` (``options.truncation``; on ``options.tet_res``'s grid when given;
    ``options.category`` for a GET3D ``.pt``; or the codes of a ``latents`` file from get3d invert
    instead of a seed), then :func:`refine`; records ckpt, seed and model in settings.json. Checks
    the cheap inputs (options, prompt, seed, the run folder) before loading anything."""
    options = _checked(options)
    _check_prompt(prompt)
    make_rule(options.rule, **options.rule_options)  # the rule options' values, before loading anything
    _refuse_other_run(outdir, resume)
    text = "" if seed is None else str(seed).strip()
    if latents is not None:  # a latents file from get3d invert replaces the seed
        asset = asset_from_checkpoint(ckpt, None, options.truncation, device, tet_res=options.tet_res,
                                      category=options.category, latents=latents)
        settings = dict(ckpt=str(ckpt), latents=str(latents), seed_of_asset=None, category=options.category)
        return _refine_with_model(asset, prompt, model, outdir, options, local_files_only, settings, resume, progress)
    if not text.isdigit():
        raise Get3dError(f"seed (--seed) must be a non-negative integer, got {text!r}" if text else
                         "seed (--seed) is empty: give the seed of the asset to refine (as get3d generate's "
                         "seeds, --seeds)")
    asset = asset_from_checkpoint(ckpt, int(text), options.truncation, device, tet_res=options.tet_res,
                                  category=options.category)
    settings = dict(ckpt=str(ckpt), seed_of_asset=int(text), truncation=options.truncation, category=options.category)
    return _refine_with_model(asset, prompt, model, outdir, options, local_files_only, settings, resume, progress)


def refine_mesh(mesh, prompt: str, model, outdir=None, options: RefineOptions = _D, *, device=None,
                local_files_only=None, resume: Optional[str] = None, progress: bool = False) -> RefineResult:
    """``get3d refine --mesh`` end to end: the mesh file as an asset (get3d.distill.mesh_asset on
    ``options.tet_res`` or ``mesh_tet_res``, ``plane_res``; its colours fitted in ``fit_steps``
    unless a snapshot to resume from exists), then :func:`refine` as :func:`refine_checkpoint` does."""
    from get3d.distill.mesh_asset import asset_from_mesh
    from get3d.snapshot import list_snapshots

    options = _checked(options)
    _check_prompt(prompt)
    make_rule(options.rule, **options.rule_options)  # the rule options' values, before loading anything
    _refuse_other_run(outdir, resume)
    fit_steps = options.fit_steps
    if resume is not None and outdir is not None and (resume != "auto" or list_snapshots(Path(outdir) / "snapshots")):
        fit_steps = 0  # the snapshot holds the fitted (and refined) colour planes
    asset = asset_from_mesh(mesh, tet_res=options.tet_res or options.mesh_tet_res, plane_res=options.plane_res,
                            fit_steps=fit_steps, device=device, seed=options.run_seed, backend=options.backend,
                            progress=progress)
    settings = dict(mesh=str(mesh), seed_of_asset=None)
    return _refine_with_model(asset, prompt, model, outdir, options, local_files_only, settings, resume, progress)
