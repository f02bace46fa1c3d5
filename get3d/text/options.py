"""Settings of a text fine-tune, torch-free so the CLI can read its defaults without importing torch.

Every default's source is in docs/text.md ("Defaults and where they come from").
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

from get3d.categories import TRUNCATION
from get3d.errors import Get3dError

__all__ = ["BACKGROUNDS", "GROUPS", "FinetuneOptions", "check_prompts", "parse_background", "parse_weights"]

GROUPS = ("texture", "geometry", "all", "auto")  # --layers (get3d.text.layers says what each holds)
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5), "gray": (0.5, 0.5, 0.5)}


@dataclass
class FinetuneOptions:
    """Every setting of a text fine-tune (docs/text.md gives each default's source)."""

    iters: int = 1000  # StyleGAN-NADA's --iter default
    batch: int = 4  # latents per step
    views: int = 8  # cameras per latent
    lr: float = 0.002 * 0.8  # StyleGAN-NADA: lr x g_reg_ratio (4/5)
    betas: tuple = (0.0, 0.99 ** 0.8)  # StyleGAN-NADA: (0^0.8, 0.99^0.8)
    layers: str = "all"
    top_k: int = 1  # StyleGAN-NADA's --auto_layer_k default
    auto_iters: int = 1  # StyleGAN-NADA's --auto_layer_iters default
    auto_batch: int = 8  # StyleGAN-NADA's --auto_layer_batch default (one view each)
    auto_lr: float = 0.01  # StyleGAN-NADA's SGD lr on the W+ codes
    truncation: float = 1.0  # StyleGAN-NADA trains on untruncated latents
    resolution: Optional[int] = None  # None: the largest encoder input size
    background: tuple = (1.0, 1.0, 1.0)
    clip_weights: Optional[tuple] = None  # None: 1 per encoder
    seed: int = 0
    snapshot_every: int = 100  # iterations (0: only the final snapshot)
    keep_snapshots: int = 3  # newest snapshots kept (0: all)
    log_every: int = 10  # iterations between TensorBoard scalars
    grid_seeds: int = 4  # fixed seeds 0..n-1 of the before/after grids
    grid_views: int = 4
    grid_truncation: float = TRUNCATION  # as get3d generate (and StyleGAN-NADA's --sample_truncation)
    max_bad_steps: int = 10  # non-finite steps in a row before stopping
    templates: str = "imagenet"  # "imagenet" (StyleGAN-NADA's 79) or "none" (the raw prompts)

    def validate(self, n_encoders: int) -> None:
        for name in ("iters", "batch", "views", "auto_batch", "grid_seeds", "grid_views", "max_bad_steps",
                     "log_every"):
            if int(getattr(self, name)) < 1:
                flag = f" (--{name.replace('_', '-')})" if name in ("iters", "batch", "views", "grid_seeds") else ""
                raise Get3dError(f"{name}{flag} must be >= 1, got {getattr(self, name)}")
        if self.snapshot_every < 0:
            raise Get3dError(f"snapshot_every (--snapshot-every) must be >= 0, got {self.snapshot_every}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise Get3dError(f"lr (--lr) must be a positive number, got {self.lr}")
        if self.layers not in GROUPS:
            raise Get3dError(f"layers (--layers): unknown layer group {self.layers!r}; choose from {', '.join(GROUPS)}")
        if self.templates not in ("imagenet", "none"):
            raise Get3dError(f"templates (--templates) must be 'imagenet' or 'none', got {self.templates!r}")
        if not 0 <= self.truncation <= 1 or not 0 <= self.grid_truncation <= 1:
            raise Get3dError(f"truncation (--truncation) and grid_truncation must be in [0, 1], got "
                             f"{self.truncation} and {self.grid_truncation}")
        if self.resolution is not None and int(self.resolution) < 8:
            raise Get3dError(f"resolution (--res) must be >= 8, got {self.resolution}")
        if len(tuple(self.background)) != 3:
            raise Get3dError(f"background (--background) must be three numbers, got {self.background!r}")
        if self.clip_weights is not None and len(tuple(self.clip_weights)) != n_encoders:
            raise Get3dError(f"clip_weights (--clip-weights) has {len(tuple(self.clip_weights))} values for {n_encoders} CLIP models")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def check_prompts(source: str, target: str) -> tuple[str, str]:
    source, target = str(source or "").strip(), str(target or "").strip()
    if not source:
        raise Get3dError("source (--source): empty prompt; describe what the generator makes now, e.g. 'a chair'")
    if not target:
        raise Get3dError("target (--target): empty prompt; describe what it should make, e.g. 'a golden throne'")
    if source.casefold() == target.casefold():
        raise Get3dError(f"source (--source) and target (--target) are the same text ({source!r}): there is no direction to follow")
    return source, target


def parse_weights(text) -> Optional[tuple]:
    """'1,0.5' | a sequence | None/'' -> (1.0, 0.5) or None (one weight per CLIP model, default 1 each)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        return tuple(float(w) for w in items if str(w).strip())
    except ValueError:
        raise Get3dError(f"clip_weights (--clip-weights): not comma-separated numbers: {text!r}") from None


def parse_background(text) -> tuple:
    """'white' | 'black' | 'grey' | 'R,G,B' (each in [0, 1]) | a 3-sequence -> (r, g, b)."""
    if isinstance(text, (tuple, list)):
        values = tuple(float(v) for v in text)
    else:
        key = str(text).strip().lower()
        if key in BACKGROUNDS:
            return BACKGROUNDS[key]
        try:
            values = tuple(float(v) for v in key.split(","))
        except ValueError:
            values = ()
    if len(values) != 3 or not all(math.isfinite(v) and 0 <= v <= 1 for v in values):
        raise Get3dError(f"background (--background): {text!r} is not white, black, grey or three numbers R,G,B in [0, 1]")
    return values
