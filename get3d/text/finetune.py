"""CLIP-directed fine-tuning of a whole generator (StyleGAN-NADA, as GET3D's paper used it).

A frozen copy and a trained copy of the generator render the same latents from the same cameras;
the directional CLIP loss (get3d.text.loss) pulls the change between their renders' image
embeddings toward the change between the source and target texts' embeddings. Only the layer
units of ``layers`` (get3d.text.layers) learn; the mapping networks and every other parameter
stay bit-identical.

Per iteration ``i`` (RNG: ``torch.Generator().manual_seed(seed * 1_000_003 + i)``, so a resumed
run draws what an uninterrupted one would): ``batch`` latents z ~ N(0, I) mapped with truncation
``truncation``; ``views`` cameras per latent from the checkpoint's training camera distribution
(its config's rotation / elevation ranges); renders at ``resolution`` on ``background``; loss =
``sum_m weight_m * directional_loss_m``; one Adam step (StyleGAN-NADA: lr 0.002 x 0.8, betas
(0, 0.99^0.8)). With ``layers="auto"`` the trained units are re-chosen before each step.

A step whose loss or gradients are not finite is skipped and counted; ``max_bad_steps`` of them in
a row stop the run with a Get3dError (the snapshots already written stay intact).

With ``outdir``: TensorBoard scalars (``Loss/direction``, ``Loss/direction_similarity`` = mean cos
of image and text directions, per encoder too), before/after grids of fixed seeds at every
snapshot, ordinary get3d snapshots (weights as ``G_ema``, so ``get3d generate --ckpt OUTDIR``
loads the fine-tuned generator) named by latents seen (iterations x batch), their JSON carrying
every setting under ``"finetune_text"``, and ``before_after.png`` at the end.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional, Sequence

import torch

from get3d.categories import CLIP_MODELS, TRUNCATION
from get3d.errors import Get3dError
from get3d.render.camera import Cameras
from get3d.text.layers import group_units, select_units, set_trainable, unit_parameters
from get3d.text.options import FinetuneOptions, check_prompts, parse_background
from get3d.text.loss import IMAGENET_TEMPLATES, cosine, global_loss, image_direction, text_direction
from get3d.text.views import render_views

__all__ = ["FinetuneOptions", "FinetuneResult", "TextFinetuner", "before_after_grid", "check_prompts", "finetune_checkpoint",
           "finetune_text", "parse_background"]

_SEED_STRIDE = 1_000_003


@dataclass
class FinetuneResult:
    generator: torch.nn.Module  # the fine-tuned copy (eval mode, no grads)
    steps: int
    skipped_steps: int
    last_loss: float
    snapshot: Optional[Path] = None
    grid: Optional[Path] = None
    selections: dict = field(default_factory=dict)  # layers="auto": unit name -> times chosen


def _check_generator(G) -> None:
    needed = ("mapping_tex", "generator")
    if not all(hasattr(G, n) for n in needed) or not hasattr(G.generator, "mlp_synthesis_tex") \
            or getattr(G, "num_ws_tex", 0) < 1:
        raise Get3dError(f"{type(G).__name__} has no texture branch (mapping_tex, texture triplane, texture MLP): "
                         "text fine-tuning needs a textured get3d Generator")


class TextFinetuner:
    """The state of one fine-tune: frozen G, trained copy, optimizer, text directions."""

    def __init__(self, G, encoders: Sequence, source: str, target: str, options: FinetuneOptions,
                 camera_ranges: tuple = ((0.0, 360.0), (0.0, 30.0))):
        _check_generator(G)
        self.source, self.target = check_prompts(source, target)
        encoders = list(encoders) if isinstance(encoders, (list, tuple)) else [encoders]
        if not encoders:
            raise Get3dError("encoders (--clip): no encoder given")
        for enc in encoders:
            if not (hasattr(enc, "encode_image") and hasattr(enc, "encode_text")):
                raise Get3dError(f"{type(enc).__name__} is not an ImageTextEncoder (needs encode_image, encode_text)")
        options.validate(len(encoders))
        self.options = options
        self.encoders = encoders
        self.weights = [float(w) for w in (options.clip_weights or [1.0] * len(encoders))]
        self.device = next(G.parameters()).device
        self.frozen = G.eval().requires_grad_(False)
        self.tuned = copy.deepcopy(G).eval()
        self.camera_ranges = camera_ranges
        self.resolution = int(options.resolution or max(int(getattr(e, "image_size", 224)) for e in encoders))
        templates = IMAGENET_TEMPLATES if options.templates == "imagenet" else ("{}",)
        self.text_dirs = [text_direction(e, self.source, self.target, templates).to(self.device) for e in encoders]
        with torch.no_grad():
            self.target_embs = [e.encode_text([self.target]).float()[0].to(self.device) for e in encoders]
        self.units = group_units(self.tuned, options.layers)
        params = unit_parameters(self.tuned, self.units)
        if not params:
            raise Get3dError(f"layers (--layers) {options.layers}: the generator has no parameters in this group")
        set_trainable(self.tuned, self.units)
        self.param_names = [n for n, _ in params]
        self.optimizer = torch.optim.Adam([p for _, p in params], lr=options.lr, betas=tuple(options.betas))
        self.step_index = 0
        self.skipped = 0
        self.bad_run = 0
        self.selections: dict[str, int] = {}
        self.last = {}

    # ------------------------------------------------------------------ sampling
    def _rng(self, index: int, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.options.seed * _SEED_STRIDE + index * 2 + salt)

    def _cameras(self, n: int, rng: torch.Generator) -> Cameras:
        rot, elev = self.camera_ranges
        return Cameras.sample_training_cameras(n, rng, rot_range=tuple(rot), elev_range=tuple(elev),
                                               device=self.device)

    def _codes(self, n: int, rng: torch.Generator, psi: float):
        z = torch.randn(n, 2, self.frozen.z_dim, generator=rng).to(self.device)
        with torch.no_grad():
            return self.frozen.mapping(z[:, 0], z[:, 1], psi=psi)

    # ------------------------------------------------------------------ adaptive layers
    def choose_units(self, index: int) -> list:
        o = self.options
        rng = self._rng(index, salt=1)
        ws_geo, ws_tex = self._codes(o.auto_batch, rng, o.truncation)
        cams = self._cameras(o.auto_batch, rng)

        def loss_fn(geo, tex):
            images = render_views(self.tuned, geo, tex, cams, 1, self.resolution, o.background)
            return sum(w * global_loss(e, images, t) for e, w, t in zip(self.encoders, self.weights, self.target_embs))

        self.tuned.requires_grad_(False)
        chosen, _ = select_units(self.units, ws_geo, ws_tex, loss_fn, o.top_k, o.auto_iters, o.auto_lr)
        set_trainable(self.tuned, chosen)
        for unit in chosen:
            self.selections[unit.name] = self.selections.get(unit.name, 0) + 1
        return chosen

    # ------------------------------------------------------------------ one step
    def step(self) -> dict:
        """One optimisation step; returns its statistics (``skipped`` True when not finite)."""
        o = self.options
        index = self.step_index
        if o.layers == "auto":
            self.choose_units(index)
        rng = self._rng(index)
        ws_geo, ws_tex = self._codes(o.batch, rng, o.truncation)
        cams = self._cameras(o.batch * o.views, rng)
        with torch.no_grad():
            frozen = render_views(self.frozen, ws_geo, ws_tex, cams, o.views, self.resolution, o.background)
            frozen_embs = [e.encode_image(frozen).float() for e in self.encoders]
        tuned = render_views(self.tuned, ws_geo, ws_tex, cams, o.views, self.resolution, o.background)
        losses, sims = [], []
        for enc, weight, t_dir, f_emb in zip(self.encoders, self.weights, self.text_dirs, frozen_embs):
            cos = cosine(image_direction(enc.encode_image(tuned), f_emb), t_dir)
            losses.append(weight * (1 - cos).mean())
            sims.append(cos.mean().detach())
        loss = torch.stack(losses).sum()
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
            finite = all(bool(torch.isfinite(p.grad).all()) for g in self.optimizer.param_groups
                         for p in g["params"] if p.grad is not None)
        stats = {"Loss/direction": float(loss.detach()), "Loss/direction_similarity": float(torch.stack(sims).mean())}
        for label, sim in zip(encoder_labels(self.encoders), sims):
            stats[f"Loss/direction_similarity/{label}"] = float(sim)
        self.step_index += 1
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            self.bad_run += 1
            stats["skipped"] = True
            return stats
        self.optimizer.step()
        self.bad_run = 0
        stats["skipped"] = False
        self.last = stats
        return stats

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def grid(self) -> torch.Tensor:
        # Rendered at no less than GRID_MIN_RES: the training resolution of small models (32 px)
        # makes tiles nobody can judge; the rasteriser renders any size from the same latents.
        return before_after_grid(self.frozen, self.tuned, range(self.options.grid_seeds), self.options.grid_views,
                                 max(self.resolution, GRID_MIN_RES), self.options.grid_truncation,
                                 self.options.background,
                                 title=f'"{self.source}" -> "{self.target}" - CLIP direction - step {self.step_index}')


GRID_MIN_RES = 128


@torch.no_grad()
def before_after_grid(frozen, tuned, seeds, views: int, resolution: int, truncation: float = TRUNCATION,
                      background=(1.0, 1.0, 1.0), title: str = "") -> torch.Tensor:
    """[H,W,3]: for each seed a row of the frozen generator's views, then the same latents and
    cameras through the tuned one (orbit at 20 deg elevation, starting at 30 deg); rows labelled
    "seed S before/after", columns by camera rotation, ``title`` on top (export.labelled_grid)."""
    from get3d.export.previews import labelled_grid
    from get3d.networks.generator import seed_latents

    device = next(frozen.parameters()).device
    seeds = list(seeds)
    z_geo, z_tex = seed_latents(frozen, seeds, device)
    ws_geo, ws_tex = frozen.mapping(z_geo, z_tex, psi=truncation)
    orbit = Cameras.orbit(views, 20.0, start=30.0)
    rows = []
    for i in range(len(seeds)):
        for G in (frozen, tuned):
            cams = orbit.to(device)
            rows.append(render_views(G, ws_geo[i:i + 1], ws_tex[i:i + 1], cams, views, resolution, background))
    images = torch.cat(rows).permute(0, 2, 3, 1).float().cpu()
    labels = [f"seed {s} {when}" for s in seeds for when in ("before", "after")]
    return labelled_grid(images.reshape(len(labels), views, *images.shape[1:]), labels,
                         [f"{float(a):.0f} deg" for a in orbit.rotation], title)


def encoder_labels(encoders) -> list[str]:
    """Short TensorBoard labels of the CLIP models: the last part of each folder or hub id
    ('/models/openai/clip-vit-base-patch32' -> 'clip-vit-base-patch32'), never the whole path
    (a path in a tag makes a TensorBoard group per folder); numbered when two would collide."""
    labels = []
    for i, enc in enumerate(encoders):
        name = str(getattr(enc, "name", type(enc).__name__)).replace("\\", "/").rstrip("/")
        labels.append(name.rsplit("/", 1)[-1] or f"clip{i}")
    if len(set(labels)) < len(labels):
        labels = [f"{i}-{label}" for i, label in enumerate(labels)]
    return labels


# Options a resumed run may change; every other option (and the prompts, CLIP models, base
# checkpoint) must be the snapshot's.
RESUMABLE_CHANGES = ("iters", "snapshot_every", "keep_snapshots", "log_every", "grid_seeds", "grid_views",
                     "grid_truncation", "max_bad_steps")


# ---------------------------------------------------------------------------------- the loop
def _meta(tuner: TextFinetuner, extra: Optional[dict]) -> dict:
    o = tuner.options
    record = {
        "source": tuner.source,
        "target": tuner.target,
        "clip": [getattr(e, "name", type(e).__name__) for e in tuner.encoders],
        "clip_weights": tuner.weights,
        "layers": o.layers,
        "trainable_parameters": tuner.param_names,
        "templates": f"{o.templates} ({len(IMAGENET_TEMPLATES) if o.templates == 'imagenet' else 1})",
        "resolution": tuner.resolution,
        "camera_ranges": [list(r) for r in tuner.camera_ranges],
        "options": o.to_dict(),
        "steps": tuner.step_index,
        "skipped_steps": tuner.skipped,
        "auto_selections": dict(tuner.selections),
    }
    record.update(extra or {})
    return {"finetune_text": record}


def _refuse_other_run(outdir, resume) -> None:
    """A folder holding another finetune-text run needs --resume (get3d.runs)."""
    from get3d.runs import refuse_other_run, run_evidence

    if outdir is not None and resume in (None, False, "", "none"):
        refuse_other_run(outdir, None, run_evidence(outdir, marker_files=("before_after.png",)), "finetune-text")


def _resume(tuner: TextFinetuner, outdir: Path, resume, extra_meta: Optional[dict] = None) -> Optional[Path]:
    from get3d.runs import check_same_settings
    from get3d.snapshot import read_snapshot, resolve_snapshot_path, restore_modules, restore_optimizers, \
        resume_auto

    if resume in (None, False, "", "none"):
        return None
    if resume == "auto":
        snap = resume_auto(outdir)  # the newest intact one: damaged ones are skipped with a warning
        if snap is None:
            return None
        path = Path(snap.json_path)
    else:
        path = resolve_snapshot_path(resume)
    tensors, meta = read_snapshot(path)
    saved = meta.get("finetune_text")
    if not saved:
        raise Get3dError(f"{path}: not a finetune-text snapshot (no 'finetune_text' record); cannot resume from it")
    for key, now in (("source", tuner.source), ("target", tuner.target), ("layers", tuner.options.layers)):
        if saved.get(key) != now:
            raise Get3dError(f"resume (--resume): {path} was fine-tuned with {key} {saved.get(key)!r}, this run asks "
                             f"for {now!r}; use another outdir (--outdir)")
    now = _meta(tuner, extra_meta)["finetune_text"]
    check_same_settings({k: saved[k] for k in ("clip", "clip_weights", "base_sha256") if k in saved},
                        {k: now[k] for k in ("clip", "clip_weights", "base_sha256") if k in now}, (), path)
    check_same_settings(saved.get("options") or {}, now["options"], RESUMABLE_CHANGES, path)
    restore_modules(tensors, {"G_ema": tuner.tuned}, source=str(path))
    set_trainable(tuner.tuned, tuner.units)
    restore_optimizers(tensors, meta, {"G": tuner.optimizer}, source=str(path))
    tuner.step_index = int(meta.get("step", 0))
    tuner.skipped = int(saved.get("skipped_steps", 0))
    tuner.selections = dict(saved.get("auto_selections") or {})
    return path


def finetune_text(G, encoders, source: str, target: str, *, outdir: str | Path | None = None,
                  resume: str | None = None, config=None, progress: bool = False, camera_ranges=None,
                  extra_meta: Optional[dict] = None, log=None, return_result: bool = False, **options):
    """Fine-tune a copy of ``G`` so its samples move from ``source`` toward ``target``.

    G: a get3d Generator (left unchanged: it is the frozen reference); encoders: one
    ImageTextEncoder or a list (``clip_weights`` weights them); options: FinetuneOptions fields
    (iters, batch, views, lr, layers, top_k, truncation, resolution, seed, ...). With ``outdir``,
    snapshots (``config``: the Config recorded with them), TensorBoard logs and before_after.png
    are written there; ``resume="auto"`` continues from its newest snapshot. Returns the fine-tuned
    generator (or a FinetuneResult with ``return_result``).
    """
    known = {f.name for f in fields(FinetuneOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise Get3dError(f"finetune_text: unknown option {unknown[0]!r}; known: {', '.join(sorted(known))}")
    opts = FinetuneOptions(**options)
    if config is None and hasattr(G, "cfg"):
        from get3d.config import Config

        config = Config(model=G.cfg)  # snapshots must say how to rebuild the generator
    if camera_ranges is None and config is not None:
        camera_ranges = (tuple(config.data.rotation_range), tuple(config.data.elevation_range))
    tuner = TextFinetuner(G, encoders, source, target, opts, camera_ranges or ((0.0, 360.0), (0.0, 30.0)))
    log = log or (lambda line: None)
    writer = None
    snapshot = grid_path = None
    if outdir is not None:
        outdir = Path(outdir)
        _refuse_other_run(outdir, resume)
        outdir.mkdir(parents=True, exist_ok=True)
        resumed = _resume(tuner, outdir, resume, extra_meta)
        if resumed is not None:
            log(f"resumed from {resumed} at iteration {tuner.step_index}")
            snapshot = resumed
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(outdir), purge_step=tuner.step_index or None)
    elif resume not in (None, False, "", "none"):
        raise Get3dError("resume (--resume) needs outdir (--outdir), the folder holding the snapshots")

    def save(step: int) -> Path:
        from get3d.snapshot import prune_snapshots, write_snapshot

        tuner.tuned.requires_grad_(False)
        snap = write_snapshot(outdir, step * opts.batch, {"G_ema": tuner.tuned}, config=config, step=step,
                              optimizers={"G": tuner.optimizer}, save_rng=False, extra=_meta(tuner, extra_meta))
        if opts.layers != "auto":
            set_trainable(tuner.tuned, tuner.units)
        grid = tuner.grid()
        writer.add_image("BeforeAfter", grid, step, dataformats="HWC")
        writer.flush()
        prune_snapshots(outdir, opts.keep_snapshots, protect=(snap.json_path,))
        return Path(snap.json_path)

    from tqdm import tqdm

    bar = tqdm(total=opts.iters, initial=min(tuner.step_index, opts.iters), unit="it", desc="finetune-text",
               disable=not progress, dynamic_ncols=True)
    from get3d._interrupt import graceful_stop

    stop = graceful_stop("finetune-text")
    try:
        stop.__enter__()
        if writer is not None and tuner.step_index == 0:
            writer.add_image("BeforeAfter", tuner.grid(), 0, dataformats="HWC")
        while tuner.step_index < opts.iters:
            if stop.requested:  # Ctrl-C / SIGTERM: save when newer than the last snapshot, stop
                if writer is not None and tuner.step_index > 0 and (
                        snapshot is None or tuner.step_index != _step_of(snapshot)):
                    snapshot = save(tuner.step_index)
                raise stop.interrupted(f"at iteration {tuner.step_index}; snapshot {snapshot or 'none'}; "
                                       f"continue with resume='auto' (--resume auto)")
            stats = tuner.step()
            step = tuner.step_index
            bar.update(1)
            if stats["skipped"]:
                log(f"iteration {step}: non-finite loss or gradients; step skipped ({tuner.skipped} so far)")
                if tuner.bad_run >= opts.max_bad_steps:
                    raise Get3dError(f"stopped after {tuner.bad_run} non-finite steps in a row at iteration {step}; "
                                     f"last snapshot: {snapshot or 'none'} (intact)")
                continue
            bar.set_postfix_str(f"loss={stats['Loss/direction']:.4f} sim={stats['Loss/direction_similarity']:.3f}")
            if writer is not None and (step % opts.log_every == 0 or step == opts.iters):
                for key, value in stats.items():
                    if key != "skipped":
                        writer.add_scalar(key, value, step)
                writer.add_scalar("Progress/skipped_steps", tuner.skipped, step)
            if writer is not None and opts.snapshot_every and step % opts.snapshot_every == 0 and step < opts.iters:
                snapshot = save(step)
        if writer is not None:
            if snapshot is None or tuner.step_index != _step_of(snapshot):
                snapshot = save(tuner.step_index)
            from get3d.export.previews import save_image

            grid_path = save_image(outdir / "before_after.png", tuner.grid())
    finally:
        stop.__exit__(None, None, None)
        bar.close()
        if writer is not None:
            writer.close()
    tuner.tuned.eval().requires_grad_(False)
    result = FinetuneResult(tuner.tuned, tuner.step_index, tuner.skipped, float(tuner.last.get("Loss/direction", math.nan)),
                            snapshot, grid_path, dict(tuner.selections))
    return result if return_result else tuner.tuned


def _step_of(snapshot: Path) -> int:
    import json

    try:
        return int(json.loads(Path(snapshot).read_text()).get("step", -1))
    except (OSError, ValueError):
        return -1


def finetune_checkpoint(ckpt, source: str, target: str, outdir: str | Path, clip: str | Sequence[str] = CLIP_MODELS,
        resume: str | None = None, device=None,
        progress: bool = True, log=print, category: str | None = None, **options) -> FinetuneResult:
    """``get3d finetune-text``: load a checkpoint and CLIP models, fine-tune, write snapshots.

    ``clip``: CLIP folders / hub ids (comma-separated string or list); ``category``: the grid of a
    GET3D ``.pt`` checkpoint. Prompts, layer group and options are checked before anything heavy
    is loaded.
    """
    from get3d.checkpoint import load_generator, resolve_checkpoint
    from get3d.official import is_official_checkpoint
    from get3d.text.encoder import load_clip, split_names
    from get3d._io import sha256_file

    check_prompts(source, target)
    names = split_names(clip)
    if not names:
        raise Get3dError("clip (--clip): no CLIP model given")
    FinetuneOptions(**options).validate(len(names))
    _refuse_other_run(outdir, resume)  # before anything is loaded
    if is_official_checkpoint(ckpt):
        path = weights = Path(ckpt)  # a GET3D .pt: its own file is the weights
    else:
        path = resolve_checkpoint(ckpt)
        weights = path.with_suffix(".safetensors")
    G, config = load_generator(ckpt, device, category=category)
    encoders = [load_clip(name, device=next(G.parameters()).device) for name in names]
    base = {"base_checkpoint": str(path), "base_sha256": sha256_file(weights) if weights.exists() else None,
            "base_category": category}
    return finetune_text(G, encoders, source, target, outdir=outdir, resume=resume, config=config,
                         progress=progress, extra_meta=base, log=log, return_result=True, **options)
