"""The GET3D training loop: alternating G / D / lazy-R1 phases, EMA, snapshots, resume.

``train(config, data_dir, outdir)`` runs in one process or in each process of a torchrun job
(:mod:`get3d.training.distributed`). One step consumes ``config.train.batch`` real images over
all ranks and runs, in StyleGAN2's order:

1. Gmain (G's Adam): adversarial loss against both discriminators + SDF regulariser, with style
   mixing and ``update_w_avg``;
2. Dmain (both D Adams): logistic loss on fresh fakes and the real batch;
3. Dreg every ``r1_interval`` steps: lazy R1 on the reals;
4. the EMA generator ``G_ema`` follows G with StyleGAN2's half-life ``ema_kimg`` (ramped up over
   the first images when ``ema_rampup`` is set).

Randomness that shapes an update (latents, cameras, style mixing) is drawn from a generator seeded
by (seed, rank, step), and the data order by (seed, epoch), so a resumed run repeats exactly
what an uninterrupted one would have done. Non-finite losses or gradients skip the step's
update; ``max_bad_steps`` in a row stop the run with the last good snapshot untouched.

Data errors never kill a run silently. Problems found when the folder is opened (missing camera
files, unreadable PNG headers) stop the run at once, or with ``skip_bad`` are skipped and listed.
An image whose pixels fail to decode later (a truncated PNG passes the header check) is
replaced in its batch by the next readable view; with ``skip_bad`` it is counted (a log line
per file, TensorBoard ``Progress/skipped_images``, ``TrainResult.skipped_images``), otherwise
the run writes a snapshot of the weights so far and stops with one line naming the file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from get3d._interrupt import graceful_stop
from get3d._io import atomic_write
from get3d.config import Config
from get3d.errors import Get3dError
from get3d.render import Cameras
from get3d.training import distributed as du
from get3d.snapshot import (Snapshot, list_snapshots, prune_snapshots, read_snapshot,
                            resolve_snapshot_path, restore_modules, restore_optimizers, restore_rng, resume_auto,
                            write_snapshot)
from get3d.training.monitor import Monitor, StatsAccumulator
from get3d.training.options import validate_config
from get3d.training.step import StepRunner, TrainState, build_state, ema_beta

__all__ = ["TrainResult", "TrainState", "build_state", "ema_beta", "train"]  # the last three from .step

SnapshotHook = Callable[[Snapshot, torch.nn.Module, int], Optional[dict]]
GRID_SIZE = 8  # fixed latents shown in the image grids (2 rows of 4)


@dataclass
class TrainResult:
    """What a finished ``train`` call did."""

    steps: int  # total optimisation steps, including those before a resume
    images_seen: int  # real images shown to the discriminators, all ranks together
    snapshot: Optional[Path]  # JSON path of the last snapshot written (or resumed from)
    losses: dict = field(default_factory=dict)  # mean statistics over the last log interval
    skipped_steps: int = 0  # steps whose update was skipped for non-finite values, this call
    resumed_from: Optional[Path] = None
    outdir: Optional[Path] = None
    skipped_images: list = field(default_factory=list)  # "PATH: reason" of each image skipped (this rank)
    data_problems: list = field(default_factory=list)  # (path, reason) skipped when the folder was opened
    state: Optional["TrainState"] = field(default=None, repr=False)  # the networks, ready to use


# ------------------------------------------------------------------------------ set-up helpers
def _check_model_matches(cfg: Config, meta: dict, source: Path) -> None:
    saved = (meta.get("config") or {}).get("model")
    if saved is None:
        return
    # Fields added to ModelConfig later are absent from older snapshots: their defaults are what
    # those snapshots were built with.
    from get3d.snapshot import snapshot_config

    saved = snapshot_config({"config": {"model": saved}}, source).to_dict()["model"]
    mine = cfg.to_dict()["model"]
    for key in sorted(set(mine) | set(saved)):
        if mine.get(key) != saved.get(key):
            raise Get3dError(f"{source}: snapshot was trained with model.{key}={saved.get(key)!r} but the config "
                             f"says {mine.get(key)!r}; resume with the run's own config (or resolution, --resolution)")


def _init_weights(state, init, source_cfg: Config) -> str:
    """Start a fresh run from another checkpoint's weights (``--init``): a get3d snapshot, run
    folder or bundled model name (G_ema, and G, D_rgb, D_mask where it has them), or a GET3D .pt.
    G starts as the checkpoint's G when present, else as its G_ema; the discriminators stay fresh
    when the checkpoint has none. Shapes must match the run's model config (one line otherwise)."""
    from get3d.checkpoint import resolve_checkpoint
    from get3d.official import is_official_checkpoint, load_official_checkpoint

    if is_official_checkpoint(init):
        official = load_official_checkpoint(init, category=source_cfg.data.category,
                                            tet_res=source_cfg.model.tet_res, grid_scale=source_cfg.model.grid_scale,
                                            device="cpu")
        tensors = {}
        for name, module in (("G", official.G), ("G_ema", official.G_ema), ("D_rgb", official.D_rgb),
                             ("D_mask", official.D_mask)):
            if module is not None:
                tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        source = str(init)
    else:
        path = resolve_checkpoint(init)
        tensors, _ = read_snapshot(path)
        source = str(path)
    have = {name for name in ("G", "G_ema", "D_rgb", "D_mask") if any(k.startswith(name + ".") for k in tensors)}
    if "G_ema" not in have:
        raise Get3dError(f"init (--init) {source}: holds no generator weights (G_ema)")
    if "G" not in have:
        tensors.update({"G." + k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    modules = {"G": state.G, "G_ema": state.G_ema}
    if {"D_rgb", "D_mask"} <= have:
        modules.update(D_rgb=state.D_rgb, D_mask=state.D_mask)
    restore_modules(tensors, modules, source=f"init (--init) {source}")
    return source


def _adopt_official_image_style(cfg: Config, init) -> dict:
    """A run started from a GET3D .pt takes GET3D's colour activation and image style
    (get3d.official.IMAGE_STYLE: what the weights' to_rgb was trained for), whatever the preset
    said; -> the fields changed, {name: (old, new)} (the run's log names them)."""
    from get3d.official import IMAGE_STYLE, is_official_checkpoint

    if not is_official_checkpoint(init):
        return {}
    changed = {k: (getattr(cfg.model, k), v) for k, v in IMAGE_STYLE.items() if getattr(cfg.model, k) != v}
    for key, (_, value) in changed.items():
        setattr(cfg.model, key, value)
    return changed


def _find_resume(resume, outdir: Path) -> Optional[Path]:
    if resume is None:
        if list_snapshots(outdir):
            raise Get3dError(f"{outdir}: already holds snapshots; pass resume='auto' (--resume auto) to continue "
                             "that run or choose another outdir (--outdir)")
        return None
    if resume == "auto":
        snap = resume_auto(outdir)  # the newest intact one: damaged ones are skipped with a warning
        return snap.json_path if snap is not None else None
    return resolve_snapshot_path(resume)


def _make_loader(cfg: Config, data_dir, env: du.DistEnv, start: int, skip_bad: bool):
    from get3d.datasets import RenderFolderDataset

    dataset = RenderFolderDataset(data_dir, resolution=cfg.data.resolution, category=cfg.data.category,
                                  split_file=cfg.data.split_file, skip_bad=skip_bad, on_bad_image="replace",
                                  alpha=cfg.data.alpha)
    sampler = du.ShardedInfiniteSampler(len(dataset), env.rank, env.world_size, seed=cfg.train.seed, start=start)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.train.batch // env.world_size, sampler=sampler, num_workers=cfg.data.workers,
        pin_memory=env.device.type == "cuda", persistent_workers=cfg.data.workers > 0,
        # A private generator: creating the loader's iterator must not consume the global RNG.
        generator=torch.Generator().manual_seed(cfg.train.seed),
        # A terminal's Ctrl-C reaches the whole process group: workers ignore it, so the main
        # process can finish its step (get3d._interrupt) instead of losing its data workers.
        worker_init_fn=_ignore_sigint if cfg.data.workers > 0 else None,
    )
    return dataset, loader


def _ignore_sigint(_worker_id: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _grid_inputs(cfg: Config, device: torch.device):
    """Fixed latents and cameras for the image grids (the same in every run with this seed)."""
    gen = torch.Generator().manual_seed(cfg.train.seed + 7919)
    z = torch.randn(2, GRID_SIZE, cfg.model.z_dim, generator=gen).to(device)
    rot = torch.arange(GRID_SIZE, dtype=torch.float32) * (360.0 / GRID_SIZE) + 30.0
    elev = torch.full((GRID_SIZE,), float(np.mean(cfg.data.elevation_range)))
    return z[0], z[1], Cameras(rot.to(device), elev.to(device))


@torch.no_grad()
def _render_grid(G_ema, grid, chunk: int):
    z_geo, z_tex, cams = grid
    rgb, mask = [], []
    for i in range(0, z_geo.shape[0], chunk):
        out = G_ema(z_geo[i: i + chunk], z_tex[i: i + chunk], cams[i: i + chunk])
        rgb.append(out.rgb)
        mask.append(out.mask)
    return torch.cat(rgb), torch.cat(mask)


# ------------------------------------------------------------------------------ the loop
def train(config: Config, data_dir: Union[str, Path], outdir: Union[str, Path], *,
          resume: Union[None, str, Path] = None, device: Optional[str] = None, max_steps: Optional[int] = None,
          progress: bool = True, on_snapshot: Optional[SnapshotHook] = None, skip_bad: bool = False,
          init: Union[None, str, Path] = None, dist_timeout: Optional[float] = None) -> TrainResult:
    """Train GET3D on a render folder until ``config.train.kimg`` (or ``max_steps`` total steps).

    Args:
        config: full Config (see get3d.training.options.build_config).
        data_dir: GET3D render layout (img/, camera/).
        outdir: run folder: config.json, snapshots, TensorBoard events, fakes_*.png, metrics.jsonl.
        resume: None (fresh; refuses a folder that already has snapshots), "auto" (the newest
            complete snapshot in outdir, or fresh when there is none) or a snapshot path.
        device: 'cpu' / 'cuda' / 'cuda:N' (default CUDA when available; under torchrun each
            CUDA rank takes cuda:LOCAL_RANK).
        max_steps: stop once this many steps exist in total (counting those before a resume).
        progress: show a tqdm bar (rank 0).
        on_snapshot: ``hook(snapshot, G_ema, images_seen) -> dict | None`` called on rank 0 after
            each snapshot; returned scalars go to TensorBoard ``metrics/`` and metrics.jsonl.
        skip_bad: skip unreadable dataset files instead of stopping (see the module docstring).
        init: start a fresh run from these weights (snapshot, run folder, bundled model name or
            GET3D .pt; see _init_weights). Ignored when resuming: the run's own snapshot wins.
            ``resume`` naming a GET3D .pt means the same as ``init`` (it holds weights only).
        dist_timeout: seconds a collective waits for a silent rank before this one gives up
            (get3d.training.distributed.timeout_seconds; default $GET3D_DIST_TIMEOUT or 1800).
    """
    env = du.setup(device, dist_timeout)
    try:
        return _train(config, Path(data_dir), Path(outdir), env, resume, max_steps, progress, on_snapshot, skip_bad,
                      init)
    except du.RankLost as err:
        raise du.RankLost(f"{err}; this rank stopped, the snapshots in {outdir} are intact: continue with "
                          f"resume='auto' (--resume auto), with any number of processes") from None
    except OSError as err:
        from get3d.snapshot import SPACE_ERRNOS

        if err.errno not in SPACE_ERRNOS:
            raise
        # A full disk while writing logs or image grids (snapshots say so themselves): one line.
        raise Get3dError(f"{outdir}: no space left while writing {err.filename or 'the run files'} ({err.strerror}); "
                         f"the snapshots already there are intact: free space, then continue "
                         f"with resume='auto' (--resume auto)") from None
    finally:
        du.shutdown(env)


def _train(cfg, data_dir, outdir, env, resume, max_steps, progress, on_snapshot, skip_bad, init=None) -> TrainResult:
    validate_config(cfg, env.world_size)
    if max_steps is not None and max_steps < 0:
        raise Get3dError(f"max_steps (--max-steps) must be >= 0, got {max_steps}")
    t = cfg.train
    # Before the run folder is made: a typo in --data must not leave a config.json behind.
    if not (data_dir / "img").is_dir():
        raise Get3dError(f"{data_dir / 'img'}: not found (data_dir, --data: {data_dir}"
                         + (": no such folder" if not data_dir.is_dir() else "") +
                         "; expected GET3D's layout img/<category>/<shape>/000.png, made by get3d synth-data "
                         "or render-dataset)")
    outdir.mkdir(parents=True, exist_ok=True)
    if resume not in (None, "auto") and init is None:
        from get3d.official import is_official_checkpoint

        if is_official_checkpoint(resume):
            # A GET3D .pt holds weights only (no optimizer state, step count or RNG): continuing
            # from it is starting from its weights, which is what --init does.
            resume, init = None, resume
    resume_path = _find_resume(resume, outdir)
    adopted = _adopt_official_image_style(cfg, init) if resume_path is None and init is not None else {}
    state = build_state(cfg, env.device)
    step, images_seen, last_snapshot = 0, 0, None
    world_note = None
    if resume_path is not None:
        tensors, meta = read_snapshot(resume_path)
        _check_model_matches(cfg, meta, resume_path)
        restore_modules(tensors, state.modules(), source=str(resume_path))
        restore_optimizers(tensors, meta, state.opt, source=str(resume_path))
        restore_rng(tensors, meta)
        step, images_seen, last_snapshot = int(meta["step"]), int(meta["images_seen"]), resume_path
        world_note = _world_size_note(meta.get("world_size"), env.world_size, cfg.train.batch)
    init_source = None
    if resume_path is None and init is not None:
        init_source = _init_weights(state, init, cfg)
    du.broadcast_modules(state.modules().values(), env)
    if env.is_main:
        text = (cfg.to_json() + "\n").encode()
        atomic_write(outdir / "config.json", lambda handle: handle.write(text))  # resume auto reads it

    batch, per_rank = t.batch, t.batch // env.world_size
    total_images = int(math.ceil(t.kimg * 1000))
    stop_step = max_steps if max_steps is not None else math.inf
    steps_left = max(0, min(math.ceil((total_images - images_seen) / batch), stop_step - step))
    final_images = images_seen + steps_left * batch
    snapshot_nimg = max(int(round(t.snapshot_kimg * 1000)), 1)
    log_nimg = max(int(round(t.log_interval_kimg * 1000)), 1)

    run_step = StepRunner(state, cfg, env, per_rank)
    dataset, loader = _make_loader(cfg, data_dir, env, start=step * per_rank, skip_bad=skip_bad)
    grid = _grid_inputs(cfg, env.device)
    monitor = Monitor(outdir, env.is_main, final_images / 1000, images_seen / 1000, progress)
    stats, last_stats = StatsAccumulator(), {}
    skipped, bad_streak, snapshot_due = 0, 0, False
    skipped_images: dict[str, None] = {}  # insertion-ordered set of "PATH: reason"
    snapshot_images = images_seen if resume_path is not None else None
    _report_data_problems(dataset.report, monitor)

    def snapshot(hook: bool = True) -> Snapshot:
        nonlocal last_snapshot, snapshot_images
        snap = None
        snapshot_images = images_seen
        if env.is_main:
            snap = write_snapshot(outdir, images_seen, state.modules(), config=cfg, step=step,
                                  optimizers=state.opt, extra={"world_size": env.world_size})
            last_snapshot = snap.json_path
            prune_snapshots(outdir, t.keep_snapshots, protect=(snap.json_path,))
            rgb, mask = _render_grid(state.G_ema, grid, per_rank)
            monitor.log_fakes(rgb, mask, images_seen, cols=4)
            if hook and on_snapshot is not None:
                monitor.log_metrics(on_snapshot(snap, state.G_ema, images_seen) or {}, images_seen,
                                    snap.json_path.stem)
        monitor.start_ticks(images_seen)
        return snap

    stop = graceful_stop("train")
    try:
        stop.__enter__()
        data = iter(loader)
        monitor.start_ticks(images_seen)
        if resume_path is not None:
            monitor.message(f"resumed from {resume_path} at step {step}, {images_seen / 1000:.3f} kimg")
            if world_note:
                monitor.message(world_note)
        elif init_source is not None:
            monitor.message(f"initialised from {init_source}")
            if adopted:
                monitor.message("GET3D checkpoint: its image style is used: " + ", ".join(
                    f"model.{k} {old!r} -> {new!r}" for k, (old, new) in adopted.items()))
        for _ in range(steps_left):
            # Ctrl-C / SIGTERM: every rank stops at the same step boundary; the state is saved
            # when it is newer than the last snapshot (get3d._interrupt's rule).
            if stop.should_stop(lambda flag: du.all_reduce_flag(flag, env)):
                if images_seen != (snapshot_images or 0):
                    snapshot(hook=False)
                saved = f"snapshot {last_snapshot}" if last_snapshot is not None else "no snapshot (no step done)"
                raise stop.interrupted(f"at step {step} ({images_seen / 1000:.3f} kimg); {saved}; "
                                       f"continue with resume='auto' (--resume auto)")
            real = next(data)
            bad = [line for text in real["bad_files"] if text for line in text.split("\n")]
            if not skip_bad and du.all_reduce_flag(bool(bad), env):
                if snapshot_images != images_seen:  # nothing new since the last snapshot otherwise
                    snapshot(hook=False)
                raise Get3dError(_stop_message(bad, data_dir, step, last_snapshot))
            for line in bad:
                if line not in skipped_images:
                    skipped_images[line] = None
                    monitor.message(f"skipped unreadable image {line}")
            real_rgb = real["image"].to(env.device, non_blocking=True)
            real_mask = real["mask"].to(env.device, non_blocking=True)
            real_labels = torch.stack([real["rotation"], real["elevation"]], dim=1).to(env.device)
            outcome = run_step(real_rgb, real_mask, real_labels, step, images_seen + batch)

            images_before = images_seen
            step += 1
            images_seen += batch
            if outcome.ok:
                bad_streak = 0
                stats.add(outcome.stats)
            else:
                skipped += 1
                bad_streak += 1
                monitor.message(f"step {step - 1}: non-finite loss or gradient in the {outcome.bad_phase} phase; "
                                f"update skipped ({bad_streak} in a row)")
                if bad_streak >= t.max_bad_steps:
                    raise Get3dError(f"training diverged: {bad_streak} consecutive non-finite steps "
                                     f"(last good snapshot: {last_snapshot or 'none'})")
            monitor.advance(batch)

            if images_seen // log_nimg > images_before // log_nimg or images_seen == final_images:
                means = stats.means()
                means["Progress/kimg"] = images_seen / 1000
                means["Progress/skipped_steps"] = skipped
                means["Progress/skipped_images"] = len(skipped_images)
                last_stats = monitor.log_scalars(means, images_seen, env.device) or means
                stats.reset()
            # While steps are being skipped the weights are those of the last good step: a periodic
            # snapshot waits for the next good step so it cannot prune good snapshots for copies.
            snapshot_due |= images_seen // snapshot_nimg > images_before // snapshot_nimg
            if (snapshot_due and bad_streak == 0) or images_seen == final_images:
                snapshot()
                snapshot_due = False
    finally:
        stop.__exit__(None, None, None)
        monitor.close()

    return TrainResult(steps=step, images_seen=images_seen, snapshot=last_snapshot, losses=last_stats,
                       skipped_steps=skipped, resumed_from=resume_path, outdir=outdir, state=state,
                       skipped_images=list(skipped_images), data_problems=list(dataset.report.problems))


def _world_size_note(saved, world: int, batch: int) -> Optional[str]:
    """What changes when a run continues with another number of processes than wrote its snapshot."""
    if not isinstance(saved, int) or saved == world:
        return None
    return (f"note: the snapshot was written by {saved} processes, this run has {world}: the total batch stays "
            f"{batch} but each process now takes {batch // world} images instead of {batch // saved}; the data order "
            f"continues from the same number of images into the seeded shuffle, cut into {world} shards instead of "
            f"{saved}, and per-process latents and cameras (seeded by rank and step) differ, so the run goes on "
            f"from the same weights, optimizer state and step but is not bit-identical to an uninterrupted "
            f"{saved}-process run")


def _report_data_problems(report, monitor: Monitor, limit: int = 20) -> None:
    """With skip_bad, say what opening the folder skipped (the first ``limit`` problems)."""
    if not report.problems:
        return
    monitor.message(f"dataset: {report.summary()}")
    for path, reason in report.problems[:limit]:
        monitor.message(f"  skipped {path}: {reason}")
    if len(report.problems) > limit:
        monitor.message(f"  ... and {len(report.problems) - limit} more")


def _stop_message(bad: list[str], data_dir: Path, step: int, snapshot: Optional[Path]) -> str:
    """One line: which image failed (on this rank), what was saved, and the two ways on."""
    culprit = bad[0] if bad else "an unreadable image on another process"
    saved = f"snapshot {snapshot}" if snapshot is not None else "no snapshot"
    return (f"{culprit}; training stopped at step {step} ({saved}). List every bad file with "
            f"`get3d check-data {data_dir}`, or skip such images with skip_bad=True (--skip-bad) "
            f"and continue with resume='auto' (--resume auto)")
