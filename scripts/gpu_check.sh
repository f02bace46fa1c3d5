#!/usr/bin/env bash
# GPU verification in one call, from the repo root on a machine with CUDA (the lent H200: prepare
# with scripts/gpu_wheels.sh on the CPU side and carry .whl). Writes everything under $OUT
# (default out/gpu_check): nvidia-smi, the GPU tests' log (nvdiffrast vs the torch reference, CUDA
# DMTet), and the benches' CUDA rows as JSON. Each step has its own time limit so one hang cannot
# eat the device time; the whole script stays under about 9 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, record the status
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc=$? seconds=$((SECONDS - start))" | tee -a "$OUT/summary.txt"
}
step gpu_tests 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests
step bench_refine 120 sh -c "python3 bench/refine.py --devices cuda --steps 10 --warmup 2 > $OUT/bench_refine.json"
step bench_distill 60 sh -c "python3 bench/distill.py --devices cuda > $OUT/bench_distill.json"
step bench_finetune_text 60 sh -c "python3 bench/finetune_text.py --devices cuda > $OUT/bench_finetune_text.json"
step bench_dmtet 30 sh -c "python3 bench/dmtet.py --devices cuda > $OUT/bench_dmtet.json"
