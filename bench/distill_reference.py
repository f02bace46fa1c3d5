"""Measure get3d's rules against the reference fixture, default and every departure option; prints
one JSON document (the figures of docs/distill.md's table of options).

For each rule and option set: the largest relative L2 error of the gradient over the fixture's
cases of that rule (``||g_get3d - g_ref|| / ||g_ref||``; the README's tolerance is 1e-4). The
fixture is ../shared/fixtures/distill-reference (or --fixture).

    python bench/distill_reference.py [--fixture PATH]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from _env import environment

from get3d.distill.reference import load_reference, relative_error, run_case

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {
    "sds": [{}, {"guidance_form": "uncond"}, {"loss_scale": "batch"}],
    "ism": [{}, {"inversion": "even"}, {"inversion_prompt": "negative"}, {"guidance_form": "cond"},
            {"loss_scale": "batch"}, {"warmup_mode": "widen", "inversion": "even", "inversion_prompt": "negative",
                                      "loss_scale": "batch"}],
    "sdi": [{}, {"inversion": "uniform"}, {"inversion_end": "t"}, {"eta_mode": "nominal"},
            {"negative_timestep": "clamp"}, {"guidance_form": "uncond"}, {"loss_scale": "batch"},
            {"inversion": "uniform", "inversion_end": "t", "eta_mode": "nominal", "guidance_form": "uncond",
             "loss_scale": "batch"}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixture", default=str(ROOT / ".." / "shared" / "fixtures" / "distill-reference"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    data, prior = load_reference(args.fixture)
    report = environment("distill_reference")
    report["fixture"] = str(Path(args.fixture).resolve())
    report["results"] = []
    for rule, option_sets in OPTIONS.items():
        for options in option_sets:
            cases = data["cases"][rule]
            if options.get("inversion_prompt") == "negative":
                cases = [c for c in cases if c["negative_prompt"]]
            errors = {c["name"]: relative_error(run_case(prior, c, **options)[0], c["outputs"]["grad"]) for c in cases}
            report["results"].append({"rule": rule, "options": options or "defaults", "cases": len(cases),
                                      "max_rel_error": max(errors.values()), "per_case": errors})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
