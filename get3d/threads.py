"""CPU threads for torch: ``--threads auto|N|default`` (global option of the CLI, ``$GET3D_THREADS``).

Why this exists: torch starts one OpenMP thread per core, and OpenMP's threads spin at every
barrier waiting for each other. On a machine where other processes are busy, a spinning thread
burns the time slice its partner needs, and small-tensor work (everything get3d does on a CPU) got
5-9x slower than with one thread (issue 24). The table behind the rule below is in
docs/benchmarks.md ("CPU threads"): with OpenMP's passive wait policy (threads sleep at barriers)
one thread per core was as fast as one thread or faster in every loaded case measured, while the
default active policy took 5-10x longer; one thread was the other safe choice.

On an idle machine the picture reverses: passive threads pay a wake-up at every barrier, and 10
training steps took 4.6 s passive against 2.4 s with the default (three runs each, load < 0.8,
2026-12-06). ``auto`` therefore looks at the machine first (the free cores over a 0.2 s sample,
below) and:

- before torch is loaded (the CLI: commands import torch lazily), one thread per usable core and
  OpenMP's default (spinning) wait when the machine is idle (free >= cores - 0.5: every core is
  ours), ``OMP_WAIT_POLICY=PASSIVE`` when it is not (unless the user set a policy). A load that
  starts after the sample is not seen: ``--threads 1`` or ``OMP_WAIT_POLICY=PASSIVE`` then;
- when torch is already loaded, or the user asked for another wait policy (OpenMP reads it once,
  at load, so it cannot be changed any more): uses only the cores that are free now,

      free    = cores x (fraction of CPU time idle over a 0.2 s sample of /proc/stat),
                or cores - 1-minute load average where /proc/stat is absent (macOS)
      threads = clamp(round(free), 1, cores)

  so an idle machine keeps one thread per core and a busy one gets 1 thread.

An explicit ``OMP_NUM_THREADS`` in the environment wins over ``auto`` (the user chose). Torch-free
until :func:`configure_threads` applies the choice.
"""
from __future__ import annotations

import os
import sys
import time

from get3d.errors import Get3dError

SAMPLE_SECONDS = 0.2


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies summed over all CPUs from /proc/stat; None where it is absent."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return idle, sum(values[:8])


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def free_cores(cores: int | None = None, sample_seconds: float = SAMPLE_SECONDS) -> float:
    """How many of the usable cores nobody is using right now (0..cores).

    /proc/stat counts the whole machine: its idle share is scaled to the cores we may use."""
    cores = cores or usable_cores()
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_seconds)
        second = _cpu_times()
        total = second[1] - first[1]
        if total > 0:
            return cores * max(0.0, min(1.0, (second[0] - first[0]) / total))
    try:
        return max(0.0, cores - os.getloadavg()[0])
    except OSError:  # no load average either: assume the machine is ours
        return float(cores)


def auto_threads(cores: int | None = None, free: float | None = None) -> int:
    """The rule of ``--threads auto``: the free cores, rounded, at least 1."""
    cores = cores or usable_cores()
    free = free_cores(cores) if free is None else free
    return max(1, min(cores, int(free + 0.5)))


def machine_is_idle(cores: int, free: float) -> bool:
    """Every usable core is free (within half a core): OpenMP's default spinning wait is fastest."""
    return free >= cores - 0.5


def parse_threads(value: str | int | None) -> str | int:
    """'auto', 'default' or a positive int; a clear error otherwise."""
    if value is None:
        return "auto"
    if isinstance(value, int):
        text = str(value)
    else:
        text = value.strip().lower()
    if text in ("auto", "default"):
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise Get3dError(f"threads (--threads) must be auto, default or a number >= 1, got {value!r}")
    return n


def configure_threads(value: str | int | None = "auto") -> int | None:
    """Apply a ``--threads`` choice; returns the thread count set (None for 'default').

    Safe to call before torch is imported (then only the environment is set, which torch reads
    when it loads) and after (then ``torch.set_num_threads`` too).
    """
    choice = parse_threads(value)
    if choice == "default":
        return None
    if choice == "auto":
        if os.environ.get("OMP_NUM_THREADS"):
            return None  # the user's explicit choice wins
        cores = usable_cores()
        free = free_cores(cores)
        if "torch" not in sys.modules and not machine_is_idle(cores, free):
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        passive = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"
        n = cores if passive or "torch" not in sys.modules else auto_threads(cores, free)
    else:
        n = choice
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n
