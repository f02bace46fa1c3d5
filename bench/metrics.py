"""Benchmark the geometry metrics; prints one JSON document.

For each device (cpu, and cuda when present) it reports, as the median of --repeats runs after a
warm-up:
  chamfer_pairs_per_s   all-pairs Chamfer distance between --points-point clouds
                        (pairwise_chamfer on a block of pairs, default chunking)
  cov_mmd_s             --shapes x --shapes: the generated-vs-reference matrix + COV + MMD
  cov_mmd_1nna_s        the same plus the two within-set matrices and 1-NNA
  metrics_only_ms       COV + MMD + 1-NNA from ready matrices (the rest is Chamfer)
On a CPU the full-size COV/MMD runs take hours, so unless --full-cpu they are extrapolated from
the measured pair rate (``"measured": false`` in the output); on a GPU they are measured.

    python bench/metrics.py [--quick] [--points 2048] [--shapes 1000] [--devices cpu,cuda] [--full-cpu]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from _env import environment

from get3d.metrics import coverage, mmd, one_nna, pairwise_chamfer


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_s(fn, device: str, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _clouds(count: int, points: int, device: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(count, points, 3, generator=gen) - 0.5).to(device)


def bench_device(device: str, points: int, shapes: int, block: int, repeats: int, full_cpu: bool) -> dict:
    gen, ref = _clouds(block, points, device, 0), _clouds(block, points, device, 1)
    pair_s = _median_s(lambda: pairwise_chamfer(gen, ref), device, repeats)
    pairs_per_s = block * block / pair_s

    d_gr = torch.rand(shapes, shapes, generator=torch.Generator().manual_seed(2))
    d_gg = torch.rand(shapes, shapes, generator=torch.Generator().manual_seed(3))
    d_gg = (d_gg + d_gg.T) / 2
    metrics_s = _median_s(lambda: (coverage(d_gr), mmd(d_gr), one_nna(d_gg, d_gg, d_gr)), "cpu", repeats)

    row = {"device": device, "points": points, "pair_block": f"{block}x{block}",
           "chamfer_pairs_per_s": pairs_per_s, "metrics_only_ms": 1000 * metrics_s}
    cross_pairs = shapes * shapes
    within_pairs = shapes * (shapes + 1)  # two symmetric matrices, each pair evaluated once
    if device == "cpu" and not full_cpu:
        row.update(measured=False, shapes=shapes,
                   cov_mmd_s=cross_pairs / pairs_per_s + metrics_s,
                   cov_mmd_1nna_s=(cross_pairs + within_pairs) / pairs_per_s + metrics_s)
        return row
    g, r = _clouds(shapes, points, device, 4), _clouds(shapes, points, device, 5)

    def cov_mmd():
        d = pairwise_chamfer(g, r)
        return coverage(d), mmd(d)

    def cov_mmd_1nna():
        d = pairwise_chamfer(g, r)
        return coverage(d), mmd(d), one_nna(pairwise_chamfer(g), pairwise_chamfer(r), d)

    row.update(measured=True, shapes=shapes,
               cov_mmd_s=_median_s(cov_mmd, device, repeats),
               cov_mmd_1nna_s=_median_s(cov_mmd_1nna, device, repeats))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--shapes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--full-cpu", action="store_true", help="measure full-size COV/MMD on the CPU too (hours)")
    args = parser.parse_args()
    if args.quick:
        args.points, args.shapes, args.repeats = 128, 12, 1
    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    rows = []
    for device in devices:
        # Enough pairs per timing that per-call overhead does not dominate.
        block = 8 if args.quick else (16 if device == "cpu" else 128)
        rows.append(bench_device(device, args.points, args.shapes, block, args.repeats, args.full_cpu or args.quick))
    print(json.dumps({
        **environment("metrics"),
        "quick": args.quick,
        "results": rows,
    }, indent=2))


if __name__ == "__main__":
    main()
