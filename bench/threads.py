"""Benchmark torch's CPU thread settings on an idle and on a loaded machine; prints one JSON document.

Why: on a shared CPU (other processes busy), torch's default of one OpenMP thread per core made
the demo 5-9x slower than one thread (issue 24): each parallel region waits at a barrier for a
thread that the kernel has handed to someone else. This script measures, for each condition and
each setting, two short workloads in a fresh process (OpenMP reads its environment once, at load):

  workloads   demo     the demo's last two stages on the bundled tiny-chair model: ``generate``
                       4 seeds (512^2 textures, 4 preview views), ``interpolate`` 2 seeds x 6 steps
              train    10 training steps of the tiny preset at 64^2, batch 4 (bench/train.py's step)
  settings    default  torch's default threads (one per core), OpenMP's default wait policy
              1        OMP_NUM_THREADS=1
              cores-1  OMP_NUM_THREADS=cores-1 (equals 1 on a 2-core machine; then not run twice)
              passive  default threads, OMP_WAIT_POLICY=PASSIVE
              auto     get3d's own choice (get3d.threads.configure_threads("auto"))
  conditions  idle     nothing added by this script (other users of the machine are recorded,
                       not removed: see each row's load average)
              loaded   ``--load`` busy-loop processes of our own running throughout

Each row records the 1-minute load average before and after, and the seconds of the workload
itself (imports and model loading excluded). Run from the repository root:

    python bench/threads.py [--load 3] [--workloads demo,train] [--settings default,1,cores-1,passive,auto]
                            [--conditions idle,loaded] [--repeats 1]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _env import environment

ROOT = Path(__file__).resolve().parents[1]

_WORKLOAD = r'''
import sys, time, tempfile, json
setting = sys.argv[1]
if setting == "auto":
    from get3d.threads import configure_threads
    configure_threads("auto")
import torch
work = sys.argv[2]
if work == "demo":
    from get3d.generate import generate_assets
    out = tempfile.mkdtemp()
    generate_assets("tiny-chair", [0], out, texture_res=64, preview_views=1, preview_res=64, progress=False,
                    log=lambda line: None, backend="torch")  # warm-up: model load, grid cache
    from get3d.generate import interpolate
    start = time.perf_counter()
    generate_assets("tiny-chair", [0, 1, 2, 3], out, texture_res=512, preview_views=4, preview_res=256,
                    progress=False, log=lambda line: None, backend="torch")
    interpolate("tiny-chair", [0, 1], out + "/walk", steps=6, resolution=192, backend="torch", log=lambda line: None)
else:
    sys.path.insert(0, "bench")
    from train import bench_config
    start = time.perf_counter()
    bench_config("tiny", 64, 4, torch.device("cpu"), steps=10, warmup=0, options={})
print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}))
'''


def _busy() -> None:
    while True:
        pass


def _env_for(setting: str, cores: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GET3D_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    if setting == "1":
        env["OMP_NUM_THREADS"] = "1"
    elif setting == "cores-1":
        env["OMP_NUM_THREADS"] = str(max(1, cores - 1))
    elif setting == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_one(work: str, setting: str, cores: int, timeout: float) -> dict:
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run([sys.executable, "-c", _WORKLOAD, setting, work], env=_env_for(setting, cores),
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"workload": work, "setting": setting, "error": f"over {timeout:.0f} s",
                "load_before": load_before, "load_after": os.getloadavg()[0]}
    row = {"workload": work, "setting": setting, "load_before": round(load_before, 2),
           "load_after": round(os.getloadavg()[0], 2)}
    if proc.returncode != 0:
        row["error"] = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return row
    row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=3, help="busy-loop processes in the loaded condition")
    parser.add_argument("--workloads", default="demo,train")
    parser.add_argument("--settings", default="default,1,cores-1,passive,auto")
    parser.add_argument("--conditions", default="idle,loaded")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is abandoned")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = args.settings.split(",")
    if cores - 1 <= 1 and "cores-1" in settings and "1" in settings:
        settings.remove("cores-1")  # the same setting as 1 here
    rows = []
    for condition in args.conditions.split(","):
        hogs = []
        if condition == "loaded":
            hogs = [mp.Process(target=_busy, daemon=True) for _ in range(args.load)]
            for h in hogs:
                h.start()
            time.sleep(5)  # let the load average start to show them
        try:
            for work in args.workloads.split(","):
                for setting in settings:
                    for _ in range(args.repeats):
                        row = run_one(work, setting, cores, args.timeout)
                        row["condition"] = condition
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
        finally:
            for h in hogs:
                h.terminate()
                h.join()
    env = environment("threads")
    env.pop("threads")
    print(json.dumps({**env, "load_processes": args.load, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
