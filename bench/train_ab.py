"""A/B of training choices: GET3D's reference training ('reference' variant) against each of this
project's own choices (the 'plus' variant's).

Every arm trains the tiny preset from scratch on the same procedural chairs (rendered once, the
demo's data: 24 shapes x 8 views), for the same number of steps, once per seed; then the EMA
generator is scored on geometry against the chairs' meshes (COV, MMD and 1-NNA with Chamfer
distance, GET3D's protocol: style-mixed geometry codes, psi 1, empty shapes left out and counted)
and the mean losses of the last log interval are recorded. FID needs Inception weights, which
are not available offline, so it is not measured here.

Arms (all start from the 'reference' variant; each changes one group of fields to plus's; the
arms were named 'get3d' and 'get3d-plus' before the variants were renamed, and bench/results files
written then say so; the old names are still accepted):

  init           no training (0 steps): the score of the random initialisation, for scale
  reference      GET3D's train_3d.py / training loop
  soft-masks     data.alpha='blend' + train.mask_range='signed' (soft real masks, masks in [-1, 1])
  resnet-sincos  model.d_architecture='resnet' + d_camera_encoding='sincos'
  g-lr           train.g_reg_interval=None (G's Adam at lr 0.002, beta2 0.99)
  black-aa       model.image_background='black' + antialias_color=True (fakes on black, colour
                 antialiased; GET3D shows to_rgb's bias off the object and no colour antialiasing)
  plus           every plus choice at once (the tiny preset's own variant)
  flexicubes     model.iso_surface='flexicubes' (GET3D's FlexiCubes mode; the 'reference' arm is its
                 DMTet twin: same seeds, steps and settings otherwise)

    python bench/train_ab.py [--steps 300] [--seeds 0,1] [--arms reference,plus] [--res 32]
                             [--shapes 24] [--quick] [--workdir DIR] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from _env import environment

from get3d.config import VARIANT_ALIASES, apply_variant

ARMS = {
    "init": {},
    "reference": {},
    "soft-masks": {"data": {"alpha": "blend"}, "train": {"mask_range": "signed"}},
    "resnet-sincos": {"model": {"d_architecture": "resnet", "d_camera_encoding": "sincos"}},
    "g-lr": {"train": {"g_reg_interval": None}},
    "black-aa": {"model": {"image_background": "black", "antialias_color": True}},
    "plus": "plus",
    "flexicubes": {"model": {"iso_surface": "flexicubes"}},
}


def arm_config(arm: str, seed: int, steps: int, res: int):
    from get3d.training.options import build_config, validate_config

    spec = ARMS[arm]
    batch = 4
    kimg = steps * batch / 1000
    cfg = build_config("tiny", resolution=res, seed=seed, kimg=kimg, snapshot_kimg=kimg)
    apply_variant(cfg, spec if isinstance(spec, str) else "reference")
    if isinstance(spec, dict):
        for section, values in spec.items():
            for key, value in values.items():
                setattr(getattr(cfg, section), key, value)
    cfg.train.log_interval_kimg = max(kimg / 4, 0.004)  # the reported losses: the last quarter
    cfg.data.category = "chair"
    return validate_config(cfg)


def run_arm(arm: str, seed: int, steps: int, res: int, data: Path, work: Path, num_shapes: int,
            num_points: int) -> dict:
    from get3d.metrics.evaluate import evaluate_generator
    from get3d.training.loop import train

    steps = 0 if arm == "init" else steps
    cfg = arm_config(arm, seed, max(steps, 1), res)
    start = time.perf_counter()
    result = train(cfg, data, work / f"{arm}-s{seed}", max_steps=steps, progress=False, device="cpu")
    train_s = time.perf_counter() - start
    G = result.state.G_ema.eval()
    row = {"arm": arm, "seed": seed, "steps": result.steps, "train_s": round(train_s, 1),
           "s_per_step": round(train_s / result.steps, 3) if result.steps else None,
           "skipped_steps": result.skipped_steps}
    try:
        geo = evaluate_generator(G, cfg, data, "cov,mmd,1nna", num_shapes=num_shapes, num_points=num_points,
                                 seed=0, category="chair", protocol="get3d")
        row.update(cov=geo["cov"], mmd_x1000=1000 * geo["mmd"], nna=geo["1nna"], empty=geo["empty_generated"])
    except Exception as err:  # all shapes empty: report it rather than stop the whole A/B
        row.update(cov=None, mmd_x1000=None, nna=None, empty=num_shapes, error=str(err))
    losses = result.losses
    for key in ("Loss/G/adv", "Loss/D/rgb", "Loss/D/mask", "SDF/empty_frac", "Fakes/mask_mean"):
        if key in losses:
            row[key] = float(losses[key])
    return row


def summarise(rows: list[dict]) -> dict:
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        mine = [r for r in rows if r["arm"] == arm]
        entry = {}
        for key in ("cov", "mmd_x1000", "nna", "empty", "train_s", "s_per_step"):
            values = [r[key] for r in mine if r.get(key) is not None]
            if values:
                entry[key] = sum(values) / len(values)
                entry[key + "_per_seed"] = values
        out[arm] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--res", type=int, default=32, help="training resolution (the data is rendered at 64)")
    parser.add_argument("--shapes", type=int, default=24, help="procedural chairs in the dataset")
    parser.add_argument("--num-shapes", type=int, default=48, help="generated shapes scored per arm")
    parser.add_argument("--num-points", type=int, default=1024)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="seconds: 2 steps, 1 seed, 3 shapes (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds, args.shapes, args.num_shapes, args.num_points, args.res = 2, "0", 3, 2, 64, 16
    from get3d.datasets.render_dataset import RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset

    torch.set_num_threads(max(1, torch.get_num_threads()))
    arms = [VARIANT_ALIASES.get(a.strip(), a.strip()) for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="get3d-ab-"))
    data = work / "data"
    settings = RenderSettings(views=8, resolution=64 if not args.quick else 16, backend="torch")
    make_synthetic_dataset("chair", args.shapes, data, settings, workers=0, progress=False)
    rows = []
    report = environment("train_ab")

    def write_report():
        report.update(steps=args.steps, seeds=seeds, res=args.res, batch=4, dataset_shapes=args.shapes,
                      views=8, num_shapes=args.num_shapes, num_points=args.num_points, quick=args.quick,
                      rows=rows, summary=summarise(rows))
        text = json.dumps(report, indent=2)
        if args.out:  # rewritten after every arm, so a long A/B that is stopped keeps what it finished
            Path(args.out).write_text(text + "\n")
        return text

    for seed in seeds:
        for arm in arms:
            rows.append(run_arm(arm, seed, args.steps, args.res, data, work, args.num_shapes, args.num_points))
            write_report()
    print(write_report())


if __name__ == "__main__":
    main()
