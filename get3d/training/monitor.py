"""What a training run reports: TensorBoard scalars and image grids, metrics.jsonl, a tqdm bar.

Only rank 0 creates a :class:`Monitor` with files; the other ranks get a silent one, so the
training loop calls the same methods everywhere.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

import torch

from get3d.export.previews import image_grid, save_image

__all__ = ["Monitor", "StatsAccumulator", "cpu_rss_gb", "fakes_grid"]


def cpu_rss_gb() -> float:
    """Resident memory of this process in GiB (current on Linux, peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2 ** 20  # kB -> GiB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / (2 ** 30 if sys.platform == "darwin" else 2 ** 20)


class StatsAccumulator:
    """Running means of scalar statistics between two log points."""

    def __init__(self):
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, stats: dict) -> None:
        for key, value in stats.items():
            value = float(value.detach()) if torch.is_tensor(value) else float(value)
            self.sums[key] += value
            self.counts[key] += 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()


def fakes_grid(rgb: torch.Tensor, mask: torch.Tensor, cols: int) -> torch.Tensor:
    """rgb [N,3,H,W], mask [N,1,H,W] in [0,1] -> one [2*rows*H, cols*W, 3] image: the colour
    grid above the silhouette grid."""
    top = image_grid(rgb.permute(0, 2, 3, 1).float().cpu(), cols)
    bottom = image_grid(mask.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).float().cpu(), cols)
    return torch.cat([top, bottom], dim=0)


class Monitor:
    """TensorBoard writer + progress bar + metrics file for one run (inactive when ``active`` is False)."""

    def __init__(self, outdir: Path, active: bool, total_kimg: float, start_kimg: float, progress: bool):
        self.outdir = Path(outdir)
        self.active = active
        self.writer = None
        self.bar = None
        if not active:
            return
        from torch.utils.tensorboard import SummaryWriter

        # On resume, events a crashed run logged after the snapshot are dropped (purge_step), so
        # the curves do not fold back on themselves.
        start_images = int(round(start_kimg * 1000))
        self.writer = SummaryWriter(log_dir=str(self.outdir), purge_step=start_images or None)
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=round(total_kimg, 3), initial=round(start_kimg, 3), unit="kimg", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} kimg [{elapsed}<{remaining}{postfix}]")
        self._tick_time = time.perf_counter()
        self._tick_images = 0

    # ------------------------------------------------------------------ per step
    def advance(self, images: int) -> None:
        if self.bar is not None:
            # Summing 0.004s drifts past the total in floating point; tqdm warns when n > total.
            self.bar.update(max(0.0, min(images / 1000.0, self.bar.total - self.bar.n)))

    def message(self, text: str) -> None:
        """A line for the user (printed above the bar)."""
        if not self.active:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=sys.stderr)

    # ------------------------------------------------------------------ log points
    def log_scalars(self, stats: dict[str, float], images_seen: int, device: torch.device) -> dict[str, float]:
        """Write statistics plus speed and memory at ``images_seen``; returns what was written."""
        if not self.active:
            return {}
        now = time.perf_counter()
        seconds = max(now - self._tick_time, 1e-9)
        tick_images = images_seen - self._tick_images
        values = dict(stats)
        if tick_images > 0:
            values["Timing/images_per_s"] = tick_images / seconds
            values["Timing/sec_per_kimg"] = seconds / tick_images * 1000
        values["Memory/cpu_rss_gb"] = cpu_rss_gb()
        if device.type == "cuda":
            values["Memory/cuda_peak_gb"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
            torch.cuda.reset_peak_memory_stats(device)
        for key, value in values.items():
            self.writer.add_scalar(key, value, global_step=images_seen)
        self.writer.flush()
        self._tick_time, self._tick_images = now, images_seen
        if self.bar is not None:
            self.bar.set_postfix_str(" ".join(f"{k.split('/')[-2]}={values[k]:.3f}" for k in
                                              ("Loss/G/total", "Loss/D/total") if k in values))
        return values

    def start_ticks(self, images_seen: int) -> None:
        """Start the speed measurement at ``images_seen`` (after set-up, or after a snapshot)."""
        self._tick_time, self._tick_images = time.perf_counter(), images_seen

    def log_fakes(self, rgb: torch.Tensor, mask: torch.Tensor, images_seen: int, cols: int) -> Optional[Path]:
        """Image grids of the fixed latents to TensorBoard and ``fakes_<images:09d>.png``."""
        if not self.active:
            return None
        grid = fakes_grid(rgb, mask, cols)
        self.writer.add_image("Fakes/rgb", grid[: grid.shape[0] // 2], images_seen, dataformats="HWC")
        self.writer.add_image("Fakes/mask", grid[grid.shape[0] // 2:], images_seen, dataformats="HWC")
        return save_image(self.outdir / f"fakes_{images_seen:09d}.png", grid)

    def log_metrics(self, metrics: dict, images_seen: int, snapshot_name: str, options: dict | None = None) -> None:
        """Scalars from the on_snapshot hook: TensorBoard ``metrics/<name>`` and a metrics.jsonl line
        (with ``options``, the settings they were computed with, when the hook has them)."""
        if not self.active or not metrics:
            return
        record = {"images_seen": images_seen, "kimg": images_seen / 1000.0, "snapshot": snapshot_name}
        for key, value in metrics.items():
            value = float(value.detach()) if torch.is_tensor(value) else value
            record[key] = value
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"metrics/{key}", value, global_step=images_seen)
        if options is not None:
            record["options"] = options
        self.writer.flush()
        with open(self.outdir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
