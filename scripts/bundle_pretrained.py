"""Turn a training run's snapshot into a model bundled with the package (EMA generator only).

    python scripts/bundle_pretrained.py RUN_OR_SNAPSHOT NAME --data "..." --device "..." [--command "..."]

Writes get3d/pretrained/NAME.safetensors + NAME.json (config, images seen, the training record)
and NAME.md (the record for people), so `get3d generate --ckpt NAME` works after install.
"""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from get3d.config import Config
from get3d.checkpoint import resolve_checkpoint
from get3d.networks.generator import Generator
from get3d.snapshot import read_snapshot, restore_modules, write_snapshot

PRETRAINED = Path(__file__).resolve().parents[1] / "get3d" / "pretrained"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", help="snapshot file or run folder")
    parser.add_argument("name", help="bundled model name, e.g. tiny-chair")
    parser.add_argument("--data", required=True, help="what it was trained on")
    parser.add_argument("--device", required=True, help="what it was trained on (machine)")
    parser.add_argument("--command", default="", help="the training command")
    parser.add_argument("--notes", default="")
    args = parser.parse_args()

    path = resolve_checkpoint(args.snapshot)
    tensors, meta = read_snapshot(path)
    config = Config.from_dict(meta["config"])
    generator = Generator(config.model)
    restore_modules(tensors, {"G_ema": generator}, source=str(path))
    record = {
        "preset": "tiny", "kimg": meta["kimg"], "steps": meta["step"], "data": args.data,
        "device": args.device, "command": args.command, "date": datetime.date.today().isoformat(),
        "source_snapshot": path.name, "notes": args.notes,
    }
    snap = write_snapshot(PRETRAINED, meta["images_seen"], {"G_ema": generator}, config=config, step=meta["step"],
                          save_rng=False, extra={"bundled": record}, stem=args.name)
    lines = [f"# Bundled model `{args.name}`", "",
             "The EMA generator of a get3d training run, shipped with the package so that",
             f"`get3d generate --ckpt {args.name}` works right after install.", "",
             "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in record.items() if value != ""]
    lines += ["", f"Files: `{snap.weights_path.name}` ({snap.weights_path.stat().st_size / 1e6:.1f} MB), "
              f"`{snap.json_path.name}` (config and this record)."]
    (PRETRAINED / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print(snap.json_path)


if __name__ == "__main__":
    main()
