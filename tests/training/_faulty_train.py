"""`python -m tests.training._faulty_train train ...`: `get3d train` with a slow snapshot write,
for tests and scripts/chaos.sh that kill a rank *during* a write.

With GET3D_TEST_SLOW_WRITE=S, every snapshot weights file is written in two halves with S seconds
between them, and ``<outdir>/.writing`` exists meanwhile (the killer waits for it). Fault
injection lives here, never in get3d itself."""
import os
import time
from pathlib import Path

import get3d.snapshot as snapshot_module

DELAY = float(os.environ.get("GET3D_TEST_SLOW_WRITE", "0"))
_real_atomic_write = snapshot_module.atomic_write


class _SlowHandle:
    def __init__(self, handle, marker: Path):
        self.handle, self.marker = handle, marker

    def write(self, data):
        half = len(data) // 2
        self.handle.write(data[:half])
        self.handle.flush()
        self.marker.touch()
        time.sleep(DELAY)
        self.handle.write(data[half:])
        self.marker.unlink(missing_ok=True)

    def __getattr__(self, name):
        return getattr(self.handle, name)


def _slow_atomic_write(path, write):
    path = Path(path)
    if DELAY > 0 and path.suffix == ".safetensors":
        return _real_atomic_write(path, lambda handle: write(_SlowHandle(handle, path.parent / ".writing")))
    return _real_atomic_write(path, write)


snapshot_module.atomic_write = _slow_atomic_write

if __name__ == "__main__":
    from get3d.cli import main

    main()
