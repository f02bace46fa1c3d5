"""Data sharding, the torchrun relaunch command, and a real two-process gloo run."""
import json
import socket
import sys

import torch.multiprocessing as mp

from get3d.training.distributed import ShardedInfiniteSampler, torchrun_command
from tests.training import _dist_worker


def _take(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def test_ranks_get_disjoint_shards_covering_each_epoch():
    a = _take(ShardedInfiniteSampler(10, rank=0, world_size=2, seed=3), 10)
    b = _take(ShardedInfiniteSampler(10, rank=1, world_size=2, seed=3), 10)
    assert sorted(a[:5] + b[:5]) == list(range(10))  # epoch 0 split between the ranks
    assert sorted(a[5:] + b[5:]) == list(range(10))  # epoch 1 too, in a new order
    assert a[:5] + b[:5] != a[5:] + b[5:]


def test_uneven_sizes_pad_by_wrapping_and_start_skips_consumed_samples():
    shards = [_take(ShardedInfiniteSampler(5, rank=r, world_size=2, seed=0), 3) for r in range(2)]
    assert len(set(shards[0] + shards[1])) == 5  # one index repeated to fill 6 slots
    full = _take(ShardedInfiniteSampler(7, rank=1, world_size=3, seed=1), 20)
    assert _take(ShardedInfiniteSampler(7, rank=1, world_size=3, seed=1, start=7), 13) == full[7:]


def test_torchrun_command_relaunches_this_module():
    cmd = torchrun_command(4, ["train", "--data", "d"])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in cmd and cmd[-4:] == ["get3d", "train", "--data", "d"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_stay_identical(tiny_data, tmp_path):
    """Each rank sees other images and latents; averaged gradients (and w_avg) keep all networks,
    including G_ema and the optimizers' effects, bit-identical across ranks."""
    mp.spawn(_dist_worker.run_rank, args=(2, _free_port(), str(tiny_data), str(tmp_path), 3), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert r0["final"] == r1["final"]
    assert all(r0["final"][k] != r0["initial"][k] for k in ("G", "G_ema", "D_rgb", "D_mask"))
    assert r0["steps"] == 3 and r0["images_seen"] == 12  # batch 4 = 2 per rank
    assert sorted(p.name for p in tmp_path.glob("snapshot-*.json")) == [
        "snapshot-000000004.json", "snapshot-000000008.json", "snapshot-000000012.json"]
