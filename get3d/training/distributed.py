"""Multi-process training through torch.distributed (one process per GPU, launched by torchrun).

- :func:`setup` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) and
  initialises the process group: NCCL on CUDA, gloo on CPU. Without that environment it is a
  single process and nothing is initialised.
- Gradients are averaged with one flat ``all_reduce`` per phase (:func:`average_gradients`)
  rather than DistributedDataParallel: GET3D's phases each use only part of the parameters
  (e.g. the texture head gets no gradient when a rank's batch has no visible surface), which
  DDP's bucketing handles badly; averaging every trainable parameter, with a zero gradient where
  a rank had none, keeps all ranks' updates identical.
- :class:`ShardedInfiniteSampler` gives each rank its own slice of a seeded per-epoch shuffle,
  forever, starting at any position (exact resume).
- **A rank that dies** (killed, out of memory, its node gone): every collective here turns the
  failure into :class:`RankLost`, one line (a Get3dError) saying a peer is gone. On one machine
  the survivors see it at once (the dead process's sockets close) and torchrun, which notices the
  dead worker within its monitor interval, sends the others SIGTERM and SIGKILLs what is left
  after its 30 s grace. Where no socket closes (a node lost without a trace, a peer frozen) the
  bound is the process group's timeout, :data:`DEFAULT_TIMEOUT_S` (torch's own 30 minutes) unless
  set: ``get3d train --dist-timeout S`` / ``train(dist_timeout=S)`` / ``GET3D_DIST_TIMEOUT``. It
  must exceed the longest time one rank works alone while the others wait at a collective
  (rank 0 writing a snapshot and running the ``--metrics`` hook).
- :func:`torchrun_command` builds the re-execution through ``python -m torch.distributed.run``
  that ``get3d train --gpus N`` uses when it was not started by torchrun.
"""
from __future__ import annotations

import datetime
import functools
import os
import sys
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import torch
import torch.distributed as dist

from get3d.errors import Get3dError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DistEnv",
    "RankLost",
    "ShardedInfiniteSampler",
    "all_reduce_flag",
    "all_reduce_mean",
    "average_buffers",
    "average_gradients",
    "broadcast_modules",
    "in_torchrun",
    "setup",
    "shutdown",
    "torchrun_command",
]


DEFAULT_TIMEOUT_S = 1800.0  # torch's own default for gloo and NCCL process groups


class RankLost(Get3dError):
    """A collective failed because another rank died or stopped answering."""


def _collective(fn):
    """Turn a failed collective (a dead peer, a timeout) into one line naming what happened."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuntimeError as err:  # gloo/NCCL raise DistBackendError / RuntimeError
            if not dist.is_initialized():
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            first = first.split(" This is typically")[0]  # gloo's advice and emoji: the line stays short
            raise RankLost(f"another process of this torchrun job died or stopped answering "
                           f"(rank {dist.get_rank()} of {dist.get_world_size()}, in {fn.__name__}: {first[:300]})"
                           ) from None
    return wrapper


def timeout_seconds(value: Optional[float] = None) -> float:
    """The process group's timeout: ``value``, else $GET3D_DIST_TIMEOUT, else DEFAULT_TIMEOUT_S."""
    if value is None:
        text = os.environ.get("GET3D_DIST_TIMEOUT")
        if text is None:
            return DEFAULT_TIMEOUT_S
        try:
            value = float(text)
        except ValueError:
            raise Get3dError(f"environment variable GET3D_DIST_TIMEOUT={text!r} is not a number of seconds") from None
    if not value > 0:
        raise Get3dError(f"dist_timeout (--dist-timeout) must be > 0 seconds, got {value}")
    return float(value)


@dataclass
class DistEnv:
    """Where this process sits: rank among world_size, its local rank and torch device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False  # this module created the process group (so it destroys it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def in_torchrun() -> bool:
    """True when started by torchrun (or any launcher setting RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise Get3dError(f"environment variable {name}={value!r} is not an integer") from None


def setup(device: Optional[str] = None, timeout_s: Optional[float] = None) -> DistEnv:
    """Join the process group described by the environment, pick this rank's device.

    device: 'cpu', 'cuda' or 'cuda:N' (default: CUDA when available). Under torchrun a CUDA
    rank uses ``cuda:LOCAL_RANK``. timeout_s: how long a collective waits for a silent peer
    (:func:`timeout_seconds`).
    """
    timeout = timeout_seconds(timeout_s)
    rank, world, local = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(want)
    except RuntimeError:
        raise Get3dError(f"device (--device): not a torch device: {want!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise Get3dError(f"device (--device) {want}: CUDA is not available on this machine")
        if world > 1:
            if local >= torch.cuda.device_count():
                raise Get3dError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices visible")
            dev = torch.device("cuda", local)
        elif dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(dev)
    env = DistEnv(rank, world, local, dev)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout))
        env.initialized_here = True
    return env


def shutdown(env: DistEnv) -> None:
    """Leave the process group if :func:`setup` created it."""
    if env.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
        env.initialized_here = False


@_collective
def broadcast_modules(modules: Iterable[torch.nn.Module], env: DistEnv) -> None:
    """Copy rank 0's parameters and buffers to every rank (identical starting point)."""
    if not env.distributed:
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


@_collective
def average_gradients(params: Sequence[torch.nn.Parameter], env: DistEnv) -> None:
    """Average the gradients of ``params`` over ranks in place (one flat all_reduce).

    Parameters without a gradient on this rank get zeros first, so every rank sends the same
    layout; a NaN on any rank reaches all ranks (so all of them skip the step together).
    """
    if not env.distributed or not params:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= env.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset: offset + n].view_as(g))
        offset += n


@_collective
def average_buffers(buffers: Sequence[torch.Tensor], env: DistEnv) -> None:
    """Average tensors (e.g. the mappings' tracked ``w_avg``) over ranks in place, so buffers that
    each rank updates from its own latents stay identical everywhere."""
    if not env.distributed:
        return
    for buf in buffers:
        dist.all_reduce(buf.data, op=dist.ReduceOp.SUM)
        buf.data /= env.world_size


@_collective
def all_reduce_flag(flag: bool, env: DistEnv) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not env.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


@_collective
def all_reduce_mean(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging statistics)."""
    if not env.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / env.world_size


class ShardedInfiniteSampler(torch.utils.data.Sampler):
    """Endless dataset indices for one rank: per epoch a shuffle seeded by (seed, epoch), padded
    by wrap-around to a multiple of ``world_size``, of which this rank takes ``rank::world_size``.

    ``start`` skips that many of this rank's indices (samples already consumed before a resume),
    so a resumed run sees exactly the data a straight run would have.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True,
                 start: int = 0):
        if size < 1:
            raise Get3dError("the dataset is empty")
        self.size, self.rank, self.world_size = size, rank, world_size
        self.seed, self.shuffle, self.start = seed, shuffle, start
        self.per_rank = -(-size // world_size)  # ceil: every rank gets the same count per epoch

    def _epoch(self, epoch: int) -> torch.Tensor:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.size, generator=gen)
        else:
            order = torch.arange(self.size)
        total = self.per_rank * self.world_size
        order = order.repeat(-(-total // self.size))[:total]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            for index in self._epoch(epoch)[offset:].tolist():
                yield index
            epoch, offset = epoch + 1, 0


def torchrun_command(nproc: int, argv: Sequence[str], module: str = "get3d") -> list[str]:
    """The command re-running ``python -m <module> <argv>`` under torchrun with ``nproc`` workers
    on this machine (single node; for several nodes run torchrun yourself, see docs/training.md)."""
    if nproc < 1:
        raise Get3dError(f"nproc (--gpus) must be >= 1, got {nproc}")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", module, *argv]
