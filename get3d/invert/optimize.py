"""Stage 2, W+ optimisation, and ``invert()``: the three stages in order.

W+ (GET3D's per-layer codes): the geometry code is ``num_ws_geo`` separate w vectors (one per
modulated layer of the triplane backbone and the SDF/deformation heads) and the texture code
``num_ws_tex`` (the backbone's texture skip outputs, the texture MLP and to_rgb). Stage 2 starts
from stage 1's winner (all layers equal, as mapped) and lets every layer move:

    loss = w_silhouette * (1 - soft IoU) + w_colour * masked colour MSE
           + w_chamfer * Chamfer(surface samples, target points)     (mesh targets)
           + w_prior * WPrior(ws_geo, ws_tex)                          (see losses.py)

Adam, learning rate ``lr`` with a short linear warm-up (5% of the steps) and a cosine decay to
10% (StyleGAN2's projector schedule, without its noise terms: GET3D's triplanes run without
noise). With unknown cameras the rotation and elevation of each view (degrees) are optimised
too, with their own rate ``lr_camera`` (degrees per step, same schedule), elevation clamped to
[-10, 60]: searched cameras are only grid-accurate (30 degrees apart by default).

Snapshots (``snapshot_dir``; get3d.snapshot, atomic, safetensors): the codes, cameras and Adam
state every ``snapshot_every`` steps and at the end of each stage, with the search result and
the history in the JSON, so ``resume`` continues where a killed run stopped and draws the same
numbers (the Chamfer samples are seeded by step).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from get3d.categories import SURFACE_POINTS, TRUNCATION
from get3d.errors import Get3dError
from get3d.invert.losses import WPrior, inversion_loss
from get3d.invert.metrics import image_metrics, mesh_chamfer
from get3d.invert.render import render_codes
from get3d.invert.search import camera_grid, search_codes
from get3d.invert.target import InvertTarget
from get3d._interrupt import graceful_stop
from get3d.render.camera import Cameras
from get3d.snapshot import snapshot_stem

__all__ = ["InvertOptions", "InvertResult", "invert", "evaluate"]

STAGES = ("search", "optimize", "tune")


@dataclass
class InvertOptions:
    """Every setting that changes an inversion's result (settings.json records them all)."""

    candidates: int = 16  # stage 1: random codes tried
    truncation: float = TRUNCATION  # psi of the candidates
    search_seed: int = 0
    camera_rotations: int = 12  # unknown cameras: grid searched in stage 1
    camera_elevations: int = 3
    elevation_range: tuple = (0.0, 30.0)
    steps: int = 200  # stage 2
    lr: float = 0.02
    lr_camera: float = 1.0  # degrees per step (unknown cameras)
    w_silhouette: float = 1.0
    w_colour: float = 1.0
    w_chamfer: float = 100.0  # Chamfer in generator units is ~1e-3 for a close match
    w_prior: float = 1e-3
    chamfer_points: int = SURFACE_POINTS
    tune_steps: int = 0  # stage 3 (pivotal tuning); 0 = off
    tune_lr: float = 3e-4
    w_locality: float = 1.0  # stage 3: keep other codes' renders as they were
    frame_every: int = 10  # progress frames (view 0) every k steps; 0 = none
    snapshot_every: int = 50
    resolution: Optional[int] = None  # default: the target's

    def validate(self) -> "InvertOptions":
        if self.candidates < 1:
            raise Get3dError(f"candidates (--candidates) must be >= 1, got {self.candidates}")
        if self.steps < 0 or self.tune_steps < 0:
            raise Get3dError(f"steps (--steps) and tune_steps (--tune-steps) must be >= 0, got {self.steps} and "
                             f"{self.tune_steps}")
        for name in ("lr", "lr_camera", "tune_lr"):
            if not getattr(self, name) > 0:
                raise Get3dError(f"{name} (--{name.replace('_', '-')}) must be > 0, got {getattr(self, name)}")
        for name in ("w_silhouette", "w_colour", "w_chamfer", "w_prior", "w_locality"):
            if getattr(self, name) < 0:
                flag = f" (--{name.replace('_', '-')})" if name != "w_locality" else ""  # no CLI flag for w_locality
                raise Get3dError(f"{name}{flag} must be >= 0, got {getattr(self, name)}")
        if self.snapshot_every < 1:
            raise Get3dError(f"snapshot_every (--snapshot-every) must be >= 1, got {self.snapshot_every}")
        return self


@dataclass
class InvertResult:
    ws_geo: torch.Tensor  # [1,num_ws_geo,w_dim]
    ws_tex: torch.Tensor  # [1,num_ws_tex,w_dim]
    cameras: Cameras  # V cameras (given, or searched and refined)
    metrics: dict  # after the last stage: iou [V], psnr [V], iou_mean, psnr_mean, chamfer_x1e3 (meshes)
    search_metrics: dict  # the same for stage 1's winner
    search: dict  # stage 1: winning index, scores, z
    history: list = field(default_factory=list)  # per step: stage, step, losses
    frames: list = field(default_factory=list)  # (step, rgb [3,S,S], mask [1,S,S]) of view 0
    seconds: dict = field(default_factory=dict)  # per stage
    generator: Optional[torch.nn.Module] = None  # the tuned copy (stage 3), else None
    resumed_from: Optional[int] = None  # global step a resumed run started at


class Codes(torch.nn.Module):
    """What stage 2 optimises, as a module so snapshots hold it like any other."""

    def __init__(self, ws_geo, ws_tex, cameras: Cameras):
        super().__init__()
        self.ws_geo = torch.nn.Parameter(ws_geo.detach().clone().float())
        self.ws_tex = torch.nn.Parameter(ws_tex.detach().clone().float())
        self.rotation = torch.nn.Parameter(cameras.rotation.detach().clone().float())
        self.elevation = torch.nn.Parameter(cameras.elevation.detach().clone().float())

    def cameras(self) -> Cameras:
        return Cameras(self.rotation, self.elevation.clamp(-10.0, 60.0))


def schedule(step: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up over 5% of the steps, cosine decay to 0.1."""
    t = step / max(steps, 1)
    warm = min(1.0, (step + 1) / max(1, math.ceil(0.05 * steps)))
    return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


@torch.no_grad()
def evaluate(G, ws_geo, ws_tex, cameras: Cameras, target: InvertTarget, res: Optional[int] = None) -> dict:
    """Metrics of codes against the target (see get3d.invert.metrics)."""
    from get3d.geometry.mesh import Mesh

    out = render_codes(G, ws_geo, ws_tex, cameras, int(res or target.resolution))
    metrics = image_metrics(out.rgb, out.mask, target.rgb.to(out.rgb.device), target.mask.to(out.rgb.device))
    if target.mesh is not None:
        (verts, faces), = G.extract_meshes(ws_geo, closed=True)
        mesh = Mesh(verts, faces)
        empty = faces.shape[0] == 0
        metrics["chamfer_x1e3"] = math.inf if empty else mesh_chamfer(mesh, target.mesh, normalize=False)
        metrics["chamfer_get3d_x1e3"] = math.inf if empty else mesh_chamfer(mesh, target.mesh)
    return metrics


def _snapshot(snapshot_dir, step, codes, optimizer, extra, tuned=None, keep: int = 2, tune_optimizer=None):
    from get3d.snapshot import prune_snapshots, write_snapshot

    modules = {"codes": codes}
    if tuned is not None:
        modules["G_ema"] = tuned
    optimizers = {"adam": optimizer} if optimizer else {}
    if tune_optimizer is not None:
        optimizers["adam_tune"] = tune_optimizer
    write_snapshot(snapshot_dir, step, modules, step=step, optimizers=optimizers or None,
                   save_rng=False, extra={"invert": extra}, config=extra.get("config"))
    prune_snapshots(snapshot_dir, keep)


RESUMABLE_CHANGES = ("steps", "tune_steps", "frame_every", "snapshot_every")


def _resume_point(snapshot_dir, resume):
    """-> (tensors, meta) of the snapshot to continue from, or None."""
    from get3d.snapshot import latest_snapshot, read_snapshot

    if resume in (None, False, "", "none"):
        return None
    if snapshot_dir is None:
        raise Get3dError("resume (--resume) needs outdir (--outdir), the folder holding the inversion's snapshots")
    if resume == "auto":
        snap = latest_snapshot(snapshot_dir)
        return read_snapshot(snap.json_path) if snap is not None else None
    tensors, meta = read_snapshot(resume)
    if "invert" not in meta:
        raise Get3dError(f"resume (--resume) {resume}: not an invert snapshot (no 'invert' record)")
    return tensors, meta


def invert(G, target: InvertTarget, options: Optional[InvertOptions] = None, *, snapshot_dir=None,
           resume: Optional[str] = None, callback: Optional[Callable] = None, config=None,
           log: Callable = lambda line: None) -> InvertResult:
    """Find W+ codes (and cameras) whose renders match ``target``; optionally tune G around them.

    ``callback(stage, step, parts)`` is called after every optimisation step (TensorBoard,
    progress bars). ``snapshot_dir`` / ``resume`` ('auto' or a snapshot path): see the module
    docstring; ``config`` (the checkpoint's Config) is recorded with a tuned generator's snapshot.
    """
    from get3d.snapshot import restore_modules, restore_optimizers

    options = (options or InvertOptions()).validate()
    if not hasattr(G, "mapping_tex") or getattr(G, "num_ws_tex", 0) < 1 or not hasattr(G.generator, "mlp_synthesis_tex"):
        raise Get3dError(f"{type(G).__name__} has no texture branch (mapping_tex, texture triplane, texture MLP): "
                         "inversion matches colour and needs a textured get3d Generator")
    dev = next(G.parameters()).device
    target = target.to(dev)
    res = int(options.resolution or target.resolution)
    if res != target.resolution:
        raise Get3dError(f"options.resolution {res} differs from the target's {target.resolution}")
    G = G.eval().requires_grad_(False)
    prior = WPrior.estimate(G)
    seconds = {s: 0.0 for s in STAGES}
    snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
    point = _resume_point(snapshot_dir, resume)
    record = dict(options=asdict(options), config=config.to_dict() if hasattr(config, "to_dict") else config)

    # ------------------------------------------------------------------ stage 1
    if point is None:
        clock = time.perf_counter()
        grid = camera_grid(options.camera_rotations, options.camera_elevations, options.elevation_range, dev)
        found = search_codes(G, target, options.candidates, options.truncation, options.search_seed,
                             options.w_colour / max(options.w_silhouette, 1e-12),
                             options.w_chamfer / max(options.w_silhouette, 1e-12) if target.points is not None else 0.0,
                             grid, res)
        seconds["search"] = time.perf_counter() - clock
        search = dict(index=found.index, scores=found.scores, z=found.z.cpu().tolist(),
                      rotation=found.cameras.rotation.cpu().tolist(), elevation=found.cameras.elevation.cpu().tolist())
        codes = Codes(found.ws_geo, found.ws_tex, found.cameras).to(dev)
        log(f"stage 1: candidate {found.index} of {options.candidates} (score {found.scores[found.index]:.4f})")
        history, start, resumed = [], 0, None
    else:
        tensors, meta = point
        rec = meta["invert"]
        from get3d.runs import check_same_settings

        # A resumed inversion continues only under its own options (more steps or stage-3 steps,
        # another snapshot or frame interval are fine): get3d.runs.
        check_same_settings(rec.get("options") or {}, asdict(options), RESUMABLE_CHANGES,
                            snapshot_dir if snapshot_dir is not None else "the snapshot")
        search, history, start = rec["search"], rec["history"], int(meta["step"])
        seconds.update(rec.get("seconds", {}))
        shapes = Cameras(torch.tensor(search["rotation"]), torch.tensor(search["elevation"]))
        codes = Codes(torch.zeros(1, G.num_ws_geo, G.w_dim), torch.zeros(1, G.num_ws_tex, G.w_dim), shapes).to(dev)
        restore_modules(tensors, {"codes": codes}, source=str(snapshot_dir))
        resumed = start
        log(f"resumed at step {start}")
    known = target.cameras is not None
    if point is not None:
        search_metrics = rec["search_metrics"]
    else:
        search_metrics = evaluate(G, codes.ws_geo, codes.ws_tex, codes.cameras(), target, res)

    # ------------------------------------------------------------------ stage 2
    groups = [{"params": [codes.ws_geo, codes.ws_tex], "lr": options.lr, "base": options.lr}]
    if not known:
        groups.append({"params": [codes.rotation, codes.elevation], "lr": options.lr_camera, "base": options.lr_camera})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
    if point is not None and start <= options.steps and "adam" in (point[1].get("optimizers") or {}):
        restore_optimizers(point[0], point[1], {"adam": optimizer}, source=str(snapshot_dir))
    frames = []

    # Ctrl-C / SIGTERM (get3d._interrupt): finish the step in flight, snapshot it when newer than
    # the newest on disk (a stop during the search saves its result as step 0), raise Interrupted.
    stop = graceful_stop("invert").__enter__()
    last_saved = [start if point is not None else -1]

    def stop_here(step, save):
        if snapshot_dir is None:
            saved = "no snapshot (no outdir, --outdir)"
        else:
            if step > last_saved[0]:
                save()
                last_saved[0] = step
            saved = f"snapshot {snapshot_dir / snapshot_stem(step)}.json"
        raise stop.interrupted(f"at step {step}; {saved}; continue with resume='auto' (--resume auto)")

    try:
        return _stages(G, target, options, prior, codes, optimizer, known, start, point, res, search, search_metrics,
                       history, frames, seconds, record, snapshot_dir, callback, resumed, stop, stop_here, last_saved)
    finally:
        stop.__exit__(None, None, None)


def _stages(G, target, options, prior, codes, optimizer, known, start, point, res, search, search_metrics, history,
            frames, seconds, record, snapshot_dir, callback, resumed, stop, stop_here, last_saved) -> InvertResult:
    """Stages 2 and 3 of :func:`invert` (under its graceful-stop handler)."""
    from get3d.snapshot import restore_modules

    def state(stage, step):
        return dict(stage=stage, step=step, search=search, search_metrics=search_metrics, history=history,
                    seconds=seconds, **record)

    clock = time.perf_counter()
    for step in range(min(start, options.steps), options.steps):
        if stop.requested:
            stop_here(step, lambda: _snapshot(snapshot_dir, step, codes, optimizer, state("optimize", step)))
        factor = schedule(step, options.steps)
        for group in optimizer.param_groups:
            group["lr"] = group["base"] * factor
        cameras = codes.cameras() if not known else target.cameras
        loss, parts, out = inversion_loss(G, codes.ws_geo, codes.ws_tex, cameras, target, options, prior, step, res)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        parts["total"] = float(loss.detach())
        history.append(dict(stage="optimize", step=step, **parts))
        if options.frame_every and step % options.frame_every == 0:
            frames.append((step, out.rgb[0].detach().cpu(), out.mask[0].detach().cpu()))
        if callback is not None:
            callback("optimize", step, parts)
        if snapshot_dir is not None and (step + 1) % options.snapshot_every == 0 and step + 1 < options.steps:
            seconds["optimize"] += time.perf_counter() - clock
            clock = time.perf_counter()
            _snapshot(snapshot_dir, step + 1, codes, optimizer, state("optimize", step + 1))
            last_saved[0] = step + 1
    seconds["optimize"] += time.perf_counter() - clock
    final_cams = (codes.cameras() if not known else target.cameras)
    final_cams = Cameras(final_cams.rotation.detach(), final_cams.elevation.detach())
    if snapshot_dir is not None and start < options.steps:
        _snapshot(snapshot_dir, options.steps, codes, optimizer, state("optimize", options.steps))
        last_saved[0] = options.steps

    # ------------------------------------------------------------------ stage 3
    tuned = None
    if options.tune_steps > 0:
        from get3d.invert.tune import tune_generator

        clock = time.perf_counter()
        tuned_start = None
        if point is not None and start > options.steps and "G_ema" in point[1].get("modules", []):
            tuned_start = copy.deepcopy(G)
            restore_modules(point[0], {"G_ema": tuned_start}, source=str(snapshot_dir))

        def save_tuned(step, module, tune_optimizer=None):
            if snapshot_dir is not None:
                _snapshot(snapshot_dir, options.steps + step, codes, None, state("tune", options.steps + step),
                          tuned=module, tune_optimizer=tune_optimizer)
                last_saved[0] = options.steps + step

        tuned = tune_generator(G, codes.ws_geo.detach(), codes.ws_tex.detach(), target, final_cams, options, prior,
                               start=max(0, start - options.steps), initial=tuned_start, history=history,
                               callback=callback, on_snapshot=save_tuned,
                               stop=lambda step, module, opt: stop_here(options.steps + step,
                                                                        lambda: save_tuned(step, module, opt))
                               if stop.requested else None,
                               resume_state=point if tuned_start is not None else None)
        seconds["tune"] += time.perf_counter() - clock
        save_tuned(options.tune_steps, tuned)
    final_G = tuned if tuned is not None else G
    metrics = evaluate(final_G, codes.ws_geo.detach(), codes.ws_tex.detach(), final_cams, target, res)
    return InvertResult(codes.ws_geo.detach(), codes.ws_tex.detach(), final_cams, metrics, search_metrics,
                        search, history, frames, seconds, tuned, resumed)
