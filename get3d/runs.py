"""One rule for every long command that writes into a run folder (train, refine, finetune-text,
distill-2d): a folder holding another run is refused unless the user asks to continue it, and a
run is continued only with the settings it was started with.

    refuse_other_run(outdir, resume, holds_run)   before anything is loaded or written
    check_same_settings(saved, now, changeable)   when resuming, before the snapshot is used

"Settings" are the JSON records the commands already keep (settings.json, a snapshot's extra
record); values are compared after a JSON round trip (tuples = lists). ``changeable`` names the
keys a continued run may change (e.g. the total number of steps, the snapshot interval, the
export formats); every other key must match, so a setting added later is checked by default.
Torch-free.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

from get3d.errors import Get3dError


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def refuse_other_run(outdir, resume, evidence: Optional[str], command: str) -> None:
    """Raise when ``outdir`` holds another run (``evidence``: what shows it, e.g. 'snapshots', or
    None when nothing does) and ``resume`` is not given."""
    if resume is None and evidence is not None:
        raise Get3dError(f"{outdir}: already holds {'an' if command[0] in 'aeiou' else 'a'} {command} run ({evidence}); pass "
                         f"resume='auto' (--resume auto) to continue it, or choose another outdir (--outdir)")


def run_evidence(outdir, snapshot_dir=None, marker_files: Iterable[str] = ("settings.json",)) -> Optional[str]:
    """What in ``outdir`` shows an earlier run: its snapshots or one of ``marker_files``; None if nothing."""
    if outdir is None:
        return None
    outdir = Path(outdir)
    folder = Path(snapshot_dir) if snapshot_dir is not None else outdir
    snaps = sorted(folder.glob("snapshot-*.json")) if folder.is_dir() else []  # get3d.snapshot's names
    if snaps:
        return f"{len(snaps)} snapshot{'s' if len(snaps) != 1 else ''}"
    for name in marker_files:
        if (outdir / name).exists():
            return name
    return None


def check_same_settings(saved: dict, now: dict, changeable: Iterable[str], source, what: str = "resume (--resume)",
                        advice: str = "resume with the same settings, or choose another outdir (--outdir)") -> None:
    """Raise when a setting of ``now`` differs from the run being resumed (``saved``), except the
    ``changeable`` keys. Keys absent from ``saved`` (older runs) are not compared."""
    saved, now, changeable = _plain(saved), _plain(now), set(changeable)
    for key in now:  # in the record's order: the defining settings (prompt, rule) come first
        if key in changeable or key not in saved:
            continue
        if saved[key] != now[key]:
            raise Get3dError(f"{what}: {source} was run with {key} = {_short(saved[key])}, this run asks for "
                             f"{_short(now[key])}; {advice}")


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
