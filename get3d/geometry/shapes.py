"""Analytic signed distance functions (negative inside) with known volumes and topology.

Used by the geometry demo, the tests and benchmarks as ground truth for marching tets.
All take points [...,3] and return SDF values [...].
"""
from __future__ import annotations

import math

import torch


def sphere_sdf(points: torch.Tensor, radius: float = 0.3, centre=(0.0, 0.0, 0.0)) -> torch.Tensor:
    return (points - points.new_tensor(centre)).norm(dim=-1) - radius


def sphere_volume(radius: float = 0.3) -> float:
    return 4.0 / 3.0 * math.pi * radius**3


def torus_sdf(points: torch.Tensor, major: float = 0.25, minor: float = 0.1) -> torch.Tensor:
    """Torus around the Y axis (GET3D's up axis), ring radius ``major``, tube radius ``minor``."""
    ring = torch.stack([points[..., [0, 2]].norm(dim=-1) - major, points[..., 1]], -1)
    return ring.norm(dim=-1) - minor


def torus_volume(major: float = 0.25, minor: float = 0.1) -> float:
    return 2.0 * math.pi**2 * major * minor**2


def box_sdf(points: torch.Tensor, half_extent=(0.3, 0.2, 0.25)) -> torch.Tensor:
    """Exact SDF of an axis-aligned box centred at the origin."""
    q = points.abs() - points.new_tensor(half_extent)
    return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0)


def box_volume(half_extent=(0.3, 0.2, 0.25)) -> float:
    return 8.0 * half_extent[0] * half_extent[1] * half_extent[2]


def noisy_sdf(points: torch.Tensor, seed: int = 0, amplitude: float = 0.05, radius: float = 0.3) -> torch.Tensor:
    """A sphere bumped by a few random low-frequency sinusoids: a blobby shape for fuzzing/benchmarks."""
    g = torch.Generator().manual_seed(seed)
    freqs = torch.randn(8, 3, generator=g) * 6.0
    phases = torch.rand(8, generator=g) * 2 * math.pi
    waves = torch.sin(points @ freqs.to(points).T + phases.to(points)).mean(-1)
    return sphere_sdf(points, radius) + amplitude * waves
