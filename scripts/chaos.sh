#!/usr/bin/env bash
# Fault loops on CPU: N times, SIGKILL one of 2 torchrun (gloo) training ranks (every other time
# while rank 0 writes a snapshot), check the job exits without hanging and every snapshot verifies,
# resume with --resume auto (2 processes, or 1: 2 -> 1), and run a snapshot into a full disk
# (RLIMIT_FSIZE) then resume. Prints a JSON summary (kills, hangs, resumed, snapshots verified);
# exits non-zero when any loop failed. Usage: scripts/chaos.sh [N] [--out DIR] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
loops="${1:-3}"
shift || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m tests.training._chaos --loops "$loops" "$@"
