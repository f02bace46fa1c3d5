"""``get3d demo``: the whole pipeline on the embedded procedural data, in minutes on a laptop.

1. data         procedural chairs rendered in GET3D's layout          OUTDIR/data
2. train        continue the bundled ``tiny-chair`` model briefly on   OUTDIR/run
                that data (``--init tiny-chair``; from scratch, and longer, on a GPU)
3. generate     textured meshes (GLB, OBJ) and a preview grid          OUTDIR/samples
4. interpolate  W-space walks between seeds (strip + GIF)              OUTDIR/interpolation
   then         OUTDIR/index.html: the samples in 3-D viewers, the walk, links to each stage's page

Starting from the bundled model is what makes a few CPU minutes show chairs: from scratch, chairs
appear only after 4-6 kimg (about 8 minutes of 2-core CPU time), and a 2 kimg run shows blobs.

Every stage resumes: a second run reuses the rendered data and continues the training run from
its newest snapshot (a finished run is not retrained), so an interrupted demo picks up where it
stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from get3d.errors import Get3dError


@dataclass
class DemoSchedule:
    """How much work each stage does (defaults: a few minutes on 2 CPU cores)."""

    category: str = "chair"
    num_shapes: int = 24
    views: int = 8
    data_res: int = 64
    train_res: int = 64
    kimg: float = 0.4  # 100 steps of batch 4 on top of the bundled model: well under a minute on 2 CPU cores
    snapshot_kimg: float = 0.2
    init: str | None = "tiny-chair"  # start from the bundled model (None: from scratch)
    finetune_lr_g: float = 0.0002  # generator lr when starting from init (from scratch: the preset's 0.002)
    finetune_ema_kimg: float = 2.0
    seeds: list[int] = field(default_factory=lambda: list(range(8)))
    texture_res: int = 512
    interp_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    interp_steps: int = 6
    preview_res: int = 192

    @classmethod
    def for_device(cls, device: str) -> "DemoSchedule":
        """On a GPU the same minutes buy far more training, and it shows in the samples."""
        if device.startswith("cuda"):
            return cls(num_shapes=64, views=16, data_res=128, train_res=128, kimg=20.0, snapshot_kimg=5.0,
                       texture_res=1024, init=None)
        return cls()

    @classmethod
    def quick(cls) -> "DemoSchedule":
        """Seconds, for tests: every stage runs, none does real work."""
        return cls(num_shapes=3, views=2, data_res=32, train_res=32, kimg=0.008, snapshot_kimg=0.004,
                   seeds=[0, 1], texture_res=32, interp_seeds=[0, 1], interp_steps=3, preview_res=32, init=None)


    @classmethod
    def pick(cls, device: str, quick: bool = False, kimg: float | None = None) -> "DemoSchedule":
        """What ``get3d demo`` runs: :meth:`quick`, else :meth:`for_device`; ``kimg`` sets the
        training length (snapshots at least that often)."""
        schedule = cls.quick() if quick else cls.for_device(device)
        if kimg is not None:
            schedule.kimg = kimg
            schedule.snapshot_kimg = min(schedule.snapshot_kimg, kimg)
        return schedule


def run_demo(outdir: str | Path, schedule: DemoSchedule | None = None, device: str | None = None,
             backend: str = "auto", progress: bool = True, log=print, *, quick: bool = False,
             kimg: float | None = None) -> dict[str, Path]:
    """Run the four stages; returns {stage: output path}. Without ``schedule``, the one
    :meth:`DemoSchedule.pick` gives for ``device``, ``quick`` and ``kimg``."""
    from get3d.datasets.render_dataset import RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset
    from get3d.generate import generate_assets, interpolate
    from get3d.training.loop import train
    from get3d.training.options import build_config, validate_config

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    schedule = schedule or DemoSchedule.pick(device, quick, kimg)
    outdir = Path(outdir)
    paths = {"data": outdir / "data", "run": outdir / "run", "samples": outdir / "samples",
             "interpolation": outdir / "interpolation"}
    clock = time.perf_counter()
    # Built (and validated) before any work, so a bad --kimg fails before the data is rendered.
    base = None
    if schedule.init is not None:
        # The run's model must be the bundled model's: take its config, then this schedule's length.
        from get3d.checkpoint import resolve_checkpoint
        from get3d.snapshot import read_snapshot

        base = read_snapshot(resolve_checkpoint(schedule.init), verify=False)[1]["config"]
    config = build_config(None if base is not None else "tiny", base=base, resolution=schedule.train_res,
                          kimg=schedule.kimg, snapshot_kimg=schedule.snapshot_kimg)
    if schedule.init is not None:
        # Fine-tuning with fresh discriminators: at the from-scratch learning rate their first
        # random gradients wreck the pretrained generator within 100 steps (tried: the shapes
        # collapse into the grid's box). A 10x smaller generator lr and a longer EMA keep the chairs.
        config.train.lr_g = schedule.finetune_lr_g
        config.train.ema_kimg = schedule.finetune_ema_kimg
    validate_config(config)
    config.data.category = schedule.category

    log(f"[1/4] rendering {schedule.num_shapes} procedural {schedule.category}s x {schedule.views} views "
        f"at {schedule.data_res}^2 -> {paths['data']}")
    settings = RenderSettings(views=schedule.views, resolution=schedule.data_res, backend=backend)
    summary = make_synthetic_dataset(schedule.category, schedule.num_shapes, paths["data"], settings,
                                     progress=progress)
    if summary.failed:
        raise Get3dError(f"demo data: {len(summary.failed)} shapes failed to render ({summary.failed[0][1]})")

    start = f"from the bundled {schedule.init} model" if schedule.init else "from scratch"
    log(f"[2/4] training the tiny preset {start} for {schedule.kimg} kimg at {schedule.train_res}^2 on {device} "
        f"-> {paths['run']}  (watch: tensorboard --logdir {paths['run']})")
    result = train(config, paths["data"], paths["run"], resume="auto", device=device, progress=progress,
                   init=schedule.init)
    log(f"      {result.steps} steps, {result.images_seen} images seen; snapshot {result.snapshot}")

    log(f"[3/4] generating {len(schedule.seeds)} textured meshes -> {paths['samples']}")
    assets = generate_assets(paths["run"], schedule.seeds, paths["samples"], formats="glb,obj",
                             texture_res=schedule.texture_res, backend=backend, device=device,
                             preview_res=schedule.preview_res, progress=progress, log=log)
    written = sum(1 for a in assets if a.mesh is not None)

    log(f"[4/4] interpolating between seeds {schedule.interp_seeds} -> {paths['interpolation']}")
    interpolate(paths["run"], schedule.interp_seeds, paths["interpolation"], steps=schedule.interp_steps,
                mode="both", resolution=schedule.preview_res, backend=backend, device=device, log=log)

    # One page for the whole demo: the samples to turn in 3-D, the interpolation, the stage pages.
    from get3d.export.gallery import GalleryItem, write_gallery

    paths["gallery"] = write_gallery(
        outdir, "get3d demo", [paths["samples"] / "preview.png", paths["interpolation"] / "interp_both.gif"],
        [GalleryItem("pages of each stage", [paths["samples"] / "index.html", paths["interpolation"] / "index.html"])]
        + [GalleryItem(f"seed {a.seed}", a.files) for a in assets if a.mesh is not None],
        {"schedule": vars(schedule), "device": device, "run": str(paths["run"])})

    minutes = (time.perf_counter() - clock) / 60
    log(f"done in {minutes:.1f} min; open {paths['gallery']} to turn the samples in 3-D:")
    log(f"  training renders   {paths['data'] / 'img'}")
    log(f"  snapshots, logs    {paths['run']}  (tensorboard --logdir {paths['run']})")
    log(f"  {written} meshes        {paths['samples']}/seed*.glb|obj, preview {paths['samples'] / 'preview.png'}")
    log(f"  interpolation      {paths['interpolation'] / 'interp_both.gif'}")
    log("Run it again to see resume at work (nothing is redone); train longer with "
        f"get3d train --data {paths['data']} --outdir {paths['run']} --resume auto --kimg 4")
    return paths
