"""The machine description every benchmark report starts with."""
from __future__ import annotations

import datetime
import os
import platform

import torch


def environment(benchmark: str) -> dict:
    """{benchmark, date, torch, cpu, cores, threads, gpu} for the JSON reports in bench/."""
    return {
        "benchmark": benchmark,
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
