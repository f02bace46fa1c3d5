"""Graceful stop on Ctrl-C / SIGTERM for the long-running commands (train, refine, finetune-text,
invert): finish the current step, write a snapshot if one is due, say so, exit non-zero.

A cluster scheduler sends SIGTERM some seconds (the grace period) before it kills a job; a user
presses Ctrl-C. Either way the first signal only sets a flag: the loop finishes the step it is
in, and at the step boundary writes a snapshot of the current state and raises
:class:`Interrupted` (a Get3dError: the CLI prints it on one line and exits with 128 + the signal
number, 130 for SIGINT, 143 for SIGTERM). A second Ctrl-C, at least ``DUPLICATE_WINDOW_S`` (1 s)
after the first, ends the process at once by SIGINT's default action (no cleanup; snapshots on
disk stay intact, the step in flight is lost). Repeats inside that second are the same request
arriving twice (a terminal sends Ctrl-C to every process of the group and torchrun forwards its
own copy to its workers) and are ignored, as is a repeated SIGTERM (torchrun sends SIGKILL after
its ``--shutdown-timeout``, 30 s by default; schedulers after their grace period). Python runs
the handler between bytecodes: a process blocked inside one long C call (a collective waiting
for a silent peer) reacts when that call returns or times out (``--dist-timeout``).

**Snapshot rule** (the same in every command): on a stop, a snapshot is written when the current
state is newer than the newest snapshot on disk (at least one step since it was written), so a
stop never loses finished steps and never writes a duplicate. Nothing else is due: image grids,
metrics hooks and exports wait for the next run.

The one call a loop makes (``invert`` included)::

    from get3d._interrupt import graceful_stop

    with graceful_stop("invert") as stop:          # installs the handlers, restores them on exit
        for step in range(start, steps):
            if stop.requested:                     # torchrun: stop.should_stop(any_rank)
                path = save(step) if step > last_saved else last_saved
                raise stop.interrupted(f"at step {step}; snapshot {path}; continue with resume='auto' (--resume auto)")
            ...one step...

Handlers are only installed from the main thread (signal's rule); elsewhere ``requested`` stays
False and the signals keep their usual meaning. Under torchrun every rank installs them; only
rank 0 prints the notice, and :meth:`GracefulStop.should_stop` all-reduces the flag so every rank
stops at the same step (torchrun forwards SIGTERM to each worker, not necessarily between the
same two steps).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Sequence

from get3d.errors import Get3dError

__all__ = ["GracefulStop", "Interrupted", "graceful_stop", "run_forwarding_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DUPLICATE_WINDOW_S = 1.0  # a second Ctrl-C sooner than this after the first is the same request


class Interrupted(Get3dError):
    """The run stopped on a signal after saving what was due; ``exit_code`` = 128 + signal."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + int(signum)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class GracefulStop:
    """Context manager: the first SIGINT/SIGTERM sets ``requested`` (see the module docstring)."""

    def __init__(self, what: str, log: Optional[Callable[[str], None]] = None,
                 signals: Sequence[int] = STOP_SIGNALS):
        self.what = what
        self.signals = tuple(signals)
        self.requested = False
        self.signum: Optional[int] = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}
        quiet = os.environ.get("RANK", "0") != "0"  # one notice per job, not one per rank
        self._log = log or (lambda line: None if quiet else print(line, file=sys.stderr, flush=True))

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        if self.requested:
            # A repeat within DUPLICATE_WINDOW_S is the same request arriving twice (a terminal's
            # Ctrl-C reaches every process of the group, and torchrun forwards its own copy); a
            # repeated SIGTERM never escalates (torchrun and schedulers SIGKILL after their grace).
            if signum == signal.SIGINT and now - self._first_at >= DUPLICATE_WINDOW_S:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)  # the default action: the process ends now
            return
        self.requested = True
        self.signum = signum
        self._first_at = now
        self._log(f"get3d {self.what}: {_signal_name(signum)} received; finishing the current step, then "
                  f"saving a snapshot if one is due and stopping (Ctrl-C again quits at once)")

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask for a stop as a signal would (tests, or a caller with its own stop condition)."""
        self.requested, self.signum = True, signum

    def should_stop(self, any_rank: Optional[Callable[[bool], bool]] = None) -> bool:
        """``requested`` here, or on any rank when ``any_rank`` (e.g. ``lambda f:
        get3d.training.distributed.all_reduce_flag(f, env)``) reduces the flag over the job."""
        if any_rank is None:
            return self.requested
        stop = bool(any_rank(self.requested))
        if stop and self.signum is None:
            self.signum = signal.SIGTERM  # another rank was signalled (torchrun forwards SIGTERM)
        return stop

    def interrupted(self, detail: str) -> Interrupted:
        """The error to raise once what was due is saved: 'get3d WHAT stopped by SIGTERM DETAIL'."""
        signum = self.signum or signal.SIGINT
        return Interrupted(f"{self.what} stopped by {_signal_name(signum)} {detail}", signum)


def graceful_stop(what: str, log: Optional[Callable[[str], None]] = None) -> GracefulStop:
    """``with graceful_stop("train") as stop:`` -- see the module docstring."""
    return GracefulStop(what, log)


def run_forwarding_signals(command: Sequence[str]) -> int:
    """Run a child (``train --gpus N``'s torchrun) and pass SIGTERM on to it instead of dying first;
    SIGINT from a terminal already reaches the child's whole process group, so the launcher only
    waits for it. Returns the child's exit status (128 + signal when it was killed by one)."""
    child = subprocess.Popen(list(command))
    previous = {}

    def forward(signum, frame):
        if signum == signal.SIGTERM:
            child.send_signal(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, forward)
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code
