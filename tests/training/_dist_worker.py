"""Entry point of one rank in the two-process gloo test (importable, so spawn can pickle it)."""
import hashlib
import json
import os
from pathlib import Path

import torch


def digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_rank(rank: int, world: int, port: int, data: str, outdir: str, steps: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from get3d.training.loop import build_state, train
    from tests.training.conftest import tiny_config

    cfg = tiny_config(batch=4)
    initial = {name: digest(m) for name, m in build_state(cfg, torch.device("cpu")).modules().items()}
    result = train(cfg, data, outdir, device="cpu", max_steps=steps, progress=False)
    report = {
        "final": {name: digest(m) for name, m in result.state.modules().items()},
        "initial": initial,
        "steps": result.steps,
        "images_seen": result.images_seen,
    }
    Path(outdir, f"rank{rank}.json").write_text(json.dumps(report))
