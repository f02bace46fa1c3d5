"""Fault injection for a 2-rank torchrun (gloo, CPU) training run and for a full disk; used by
tests/training/test_rank_death.py and, in loops with a JSON summary, by scripts/chaos.sh:

    python -m tests.training._chaos --loops 5 [--out DIR]

Each rank-kill loop starts `get3d train` under torchrun with 2 processes (snapshot writes slowed
by tests/training/_faulty_train.py so a kill can land inside one), SIGKILLs one rank at a random
moment (or, every other loop, while rank 0 writes a snapshot), then checks: torchrun and the
survivor exit within the bound (no hang), every snapshot on disk verifies (sha256), and
`--resume auto` continues, with 2 processes and with 1. Each disk-full loop runs a snapshot into
a file-size limit (RLIMIT_FSIZE) and resumes afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANG_LIMIT_S = 120.0  # a kill not followed by every process exiting within this is counted as a hang
TINY = ["--preset", "tiny", "--resolution", "32", "--batch", "4", "--snapshot-kimg", "0.008", "--device", "cpu",
        "--quiet"]


def env(**extra) -> dict:
    values = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        values.pop(name, None)
    return values


def start_torchrun(data, out, *extra, nproc: int = 2, slow_write: float = 0.0) -> subprocess.Popen:
    """`get3d train` under torchrun (through the slow-write wrapper), in its own session."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "tests.training._faulty_train", "train", "--data", str(data), "--outdir", str(out), *TINY, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT),
                            env=env(GET3D_TEST_SLOW_WRITE=str(slow_write)), start_new_session=True)


def train_once(data, out, *extra, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    """One plain `get3d train` process (optionally under a file-size limit)."""
    def fsize_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, like ENOSPC

    cmd = [sys.executable, "-m", "get3d", "train", "--data", str(data), "--outdir", str(out), *TINY, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env(), timeout=900,
                          preexec_fn=fsize_limit if limit_bytes else None)


def rank_pids(proc: subprocess.Popen, nproc: int = 2, limit: float = 120.0) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes (read from their environment)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        found = {}
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            children = []
        for pid in children:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in environ:
                if item.startswith(b"RANK="):
                    found[int(item[5:])] = int(pid)
        if len(found) == nproc:
            return found
        time.sleep(0.05)
    raise RuntimeError("torchrun's workers did not appear")


def wait_until(predicate, proc, limit: float = 300.0) -> bool:
    deadline = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def finish(proc: subprocess.Popen, limit: float = HANG_LIMIT_S) -> tuple[int | None, str, str, bool]:
    """-> (exit status, stdout, stderr, hung). A process still alive after `limit` is killed (with
    its whole session: torchrun and its workers) and reported as hung."""
    try:
        out, err = proc.communicate(timeout=limit)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return proc.returncode, out, err, True


def verify_snapshots(out) -> tuple[int, list[str]]:
    """(snapshots that read back intact, problems): every complete snapshot must verify."""
    from get3d.snapshot import check_snapshot, list_snapshots

    problems = [p for p in (check_snapshot(s.json_path) for s in list_snapshots(out)) if p]
    return len(list_snapshots(out)) - len(problems), problems


def kill_rank_loop(data, out, rng: random.Random, during_write: bool, victim: int | None = None,
                   max_steps: int = 200) -> dict:
    """Start 2 ranks, SIGKILL one (at a random moment after the first snapshot, or while rank 0
    writes one), wait for the job to end; -> a record of what happened."""
    victim = rng.randrange(2) if victim is None else victim
    proc = start_torchrun(data, out, "--max-steps", str(max_steps), slow_write=1.5 if during_write else 0.0)
    pids = rank_pids(proc)
    record = {"victim": victim, "during_write": during_write}
    if during_write:
        reached = wait_until(lambda: (Path(out) / ".writing").exists(), proc)
    else:
        reached = wait_until(lambda: any(Path(out).glob("snapshot-*.json")), proc)
        time.sleep(rng.uniform(0.0, 3.0))
    if not reached or proc.poll() is not None:
        code, _, err, _ = finish(proc)
        record.update(killed=False, error=f"run ended before the kill ({code}): {err[-500:]}")
        return record
    os.kill(pids[victim], signal.SIGKILL)
    killed_at = time.monotonic()
    code, _, err, hung = finish(proc)
    record.update(killed=True, exit=code, hung=hung, exit_s=round(time.monotonic() - killed_at, 1),
                  survivor_line=next((line for line in err.splitlines() if "another process of this torchrun job"
                                      in line), None),
                  stray_tmp=len(list(Path(out).glob(".*.tmp"))))
    intact, problems = verify_snapshots(out)
    record.update(snapshots_verified=intact, damaged=problems)
    return record


def resume_record(result: subprocess.CompletedProcess, steps: int) -> dict:
    return {"ok": result.returncode == 0 and f"trained to step {steps} " in result.stdout,
            "note": next((line for line in result.stderr.splitlines() if line.startswith("note: the snapshot was "
                                                                                          "written by")), None),
            "error": None if result.returncode == 0 else result.stderr.strip().splitlines()[-1:]}


def resume_after_kill(data, out, nproc: int) -> dict:
    """--resume auto with `nproc` processes for two more steps than the newest snapshot holds."""
    from get3d.snapshot import latest_snapshot, read_snapshot

    snap = latest_snapshot(out)
    start = read_snapshot(snap.json_path)[1]["step"] if snap else 0
    steps = start + 2
    if nproc == 1:
        result = train_once(data, out, "--resume", "auto", "--max-steps", str(steps))
    else:
        proc = start_torchrun(data, out, "--resume", "auto", "--max-steps", str(steps), nproc=nproc)
        code, stdout, stderr, _ = finish(proc, 900)
        result = subprocess.CompletedProcess(proc.args, code, stdout, stderr)
    record = resume_record(result, steps)
    record.update(nproc=nproc, from_step=start)
    return record


def disk_full_loop(data, out) -> dict:
    """A snapshot into a file-size limit, then --resume auto without it."""
    from get3d.snapshot import latest_snapshot

    first = train_once(data, out, "--max-steps", "2")
    if first.returncode != 0:
        return {"error": first.stderr[-500:]}
    size = latest_snapshot(out).weights_path.stat().st_size
    full = train_once(data, out, "--resume", "auto", "--max-steps", "4", limit_bytes=size // 2)
    line = full.stderr.strip().splitlines()[-1] if full.stderr.strip() else ""
    intact, problems = verify_snapshots(out)
    after = train_once(data, out, "--resume", "auto", "--max-steps", "4")
    return {"one_line_error": full.returncode == 1 and "no space for snapshot" in line and "Traceback" not in full.stderr,
            "snapshots_verified": intact, "damaged": problems, "resumed": after.returncode == 0}


def make_data(folder: Path) -> Path:
    from get3d.datasets.render_dataset import RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset

    if not (folder / "img").is_dir():
        make_synthetic_dataset("vase", 3, folder, RenderSettings(views=4, resolution=32, backend="torch"), workers=0)
    return folder


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=3, help="rank-kill loops (and as many disk-full loops)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = args.out or Path(tempfile.mkdtemp(prefix="get3d-chaos-"))
    data = make_data(work / "data")
    summary = {"loops": args.loops, "kills": 0, "kills_during_write": 0, "hangs": 0, "max_exit_s": 0.0,
               "survivor_one_line_errors": 0, "snapshots_verified": 0, "damaged_snapshots": 0,
               "resumed_same_world": 0, "resumed_2_to_1": 0, "notes_2_to_1": 0,
               "disk_full_one_line": 0, "disk_full_resumed": 0, "failures": []}
    started = time.monotonic()
    for loop in range(args.loops):
        during_write = loop % 2 == 1
        out = work / f"kill-{loop}"
        record = kill_rank_loop(data, out, rng, during_write)
        if not record.get("killed"):
            summary["failures"].append(record)
            continue
        summary["kills"] += 1
        summary["kills_during_write"] += int(during_write)
        summary["hangs"] += int(record["hung"])
        summary["max_exit_s"] = max(summary["max_exit_s"], record["exit_s"])
        summary["survivor_one_line_errors"] += int(record["survivor_line"] is not None)
        summary["snapshots_verified"] += record["snapshots_verified"]
        summary["damaged_snapshots"] += len(record["damaged"])
        nproc = 2 if loop % 2 == 0 else 1
        resumed = resume_after_kill(data, out, nproc)
        if resumed["ok"]:
            summary["resumed_same_world" if nproc == 2 else "resumed_2_to_1"] += 1
            summary["notes_2_to_1"] += int(nproc == 1 and resumed["note"] is not None)
        else:
            summary["failures"].append({"loop": loop, **record, "resume": resumed})
        disk = disk_full_loop(data, work / f"disk-{loop}")
        summary["disk_full_one_line"] += int(bool(disk.get("one_line_error")))
        summary["disk_full_resumed"] += int(bool(disk.get("resumed")))
        summary["damaged_snapshots"] += len(disk.get("damaged", []))
        summary["snapshots_verified"] += disk.get("snapshots_verified", 0)
        if not (disk.get("one_line_error") and disk.get("resumed")):
            summary["failures"].append({"loop": loop, "disk_full": disk})
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    sys.exit(0 if not main()["failures"] else 1)
