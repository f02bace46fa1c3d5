"""`get3d check-data`: decode every image and read every camera file of a render folder.

Training opens a folder with a header-only check (fast on 100k images); this decodes all pixel
data, so truncated or corrupt PNGs are found before a run rather than during it. Images are
decoded by a thread pool (PIL releases the GIL while decoding), with a progress bar.

Checked per shape (GET3D's layout, see render_folder.py): both camera files load as finite
angle arrays of equal length, one view image per angle numbered from 000.png, and every image
decodes fully as RGBA (or LA). Optionally restricted by category and split file, like training.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from get3d.datasets.render_folder import check_image, read_shape_layout, read_split_file
from get3d.errors import Get3dError


@dataclass
class CheckReport:
    """What ``check_dataset`` found: counts and (path, reason) of every bad file."""

    root: Path
    shapes: int = 0
    images: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "all good" if self.ok else f"{len(self.problems)} bad"
        return f"{self.root}: checked {self.shapes} shapes, {self.images} images and their camera files: {verdict}"


def check_dataset(root: str | Path, category: str | list[str] | None = None, split_file: str | Path | None = None,
                  workers: int | None = None, progress: bool = True) -> CheckReport:
    """Check every file of a render folder; never raises for bad files (they are in the report).

    Raises Get3dError only when the folder itself is unusable (no ``img/``, unknown category).
    """
    from tqdm import tqdm

    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise Get3dError(f"workers (--workers) must be >= 1, got {workers!r}")
    root = Path(root)
    img_root = root / "img"
    if not img_root.is_dir():
        raise Get3dError(f"{img_root}: not found (expected GET3D's layout img/<category>/<shape>/000.png)")
    found = sorted(p.name for p in img_root.iterdir() if p.is_dir())
    wanted = found if category is None else ([category] if isinstance(category, str) else list(category))
    for cat in wanted:
        if cat not in found:
            raise Get3dError(f"{img_root}: no category folder {cat!r} (found: {', '.join(found) or 'none'})")
    split = set(read_split_file(split_file)) if split_file is not None else None
    report = CheckReport(root)
    images = []
    for cat in wanted:
        for shape_dir in sorted(p for p in (img_root / cat).iterdir() if p.is_dir()):
            if split is not None and shape_dir.name not in split:
                continue
            report.shapes += 1
            layout = read_shape_layout(root, cat, shape_dir)
            if isinstance(layout, tuple):
                report.problems.append(layout)
                # still decode whatever images the shape has: report every bad file at once
                images.extend(sorted(p for p in shape_dir.iterdir() if p.suffix.lower() == ".png"))
            else:
                images.extend(layout.images)
    report.images = len(images)
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max(1, workers)) as pool, \
            tqdm(total=len(images), desc="check-data", unit="img", disable=not progress) as bar:
        for path, reason in zip(images, pool.map(check_image, images, chunksize=16)):
            if reason is not None:
                report.problems.append((str(path), reason))
            bar.update(1)
    return report
