"""Settings of a text fine-tune, torch-free so the CLI can read its defaults without importing torch.

One frozen :class:`FinetuneOptions` carries every setting: get3d.text.finetune's functions take it,
``get3d finetune-text`` builds one from its flags (whose defaults are this class's), :meth:`check`
validates it once with errors naming the parameter and its flag (``iters (--iters) must be >= 1,
got 0``), and ``to_dict()`` is what the run records (each snapshot's ``finetune_text.options`` and
the folder's settings.json). Every default's source is in docs/text.md ("Defaults and where they
come from").
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

from get3d.categories import TRUNCATION
from get3d.errors import Get3dError
from get3d.options import _at_least, param_name

__all__ = ["BACKGROUNDS", "GROUPS", "FinetuneOptions", "background_text", "check_prompts", "parse_background",
           "parse_weights"]

GROUPS = ("texture", "geometry", "all", "auto")  # --layers (get3d.text.layers says what each holds)
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5), "gray": (0.5, 0.5, 0.5)}


@dataclass(frozen=True)
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

    def __post_init__(self):
        # Spellings the CLI and JSON use, stored as the tuples the fine-tune reads: background
        # 'white' / 'R,G,B' / a list, clip_weights '1,0.5' / a list, betas a list (a JSON record).
        object.__setattr__(self, "background", parse_background(self.background))
        object.__setattr__(self, "clip_weights", parse_weights(self.clip_weights))
        object.__setattr__(self, "betas", tuple(self.betas))

    # the flags of get3d finetune-text (None: a library-only setting, named alone)
    _FLAGS = {"resolution": "--res", "betas": None, "auto_batch": None, "auto_lr": None, "grid_views": None,
              "grid_truncation": None, "max_bad_steps": None, "log_every": None}

    def check(self, n_encoders: Optional[int] = None) -> "FinetuneOptions":
        """Every setting in range (``n_encoders``: the CLIP models, for ``clip_weights``) -> self."""
        for name in ("iters", "batch", "views", "auto_batch", "grid_seeds", "grid_views", "max_bad_steps",
                     "log_every", "top_k", "auto_iters"):
            _at_least(self, name, 1)
        _at_least(self, "snapshot_every", 0)
        _at_least(self, "keep_snapshots", 0)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise Get3dError(f"{self._label('lr')} must be a positive number, got {self.lr!r}")
        if self.layers not in GROUPS:
            raise Get3dError(f"{self._label('layers')}: unknown layer group {self.layers!r}; "
                             f"choose from {', '.join(GROUPS)}")
        if self.templates not in ("imagenet", "none"):
            raise Get3dError(f"{self._label('templates')} must be 'imagenet' or 'none', got {self.templates!r}")
        for name in ("truncation", "grid_truncation"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise Get3dError(f"{self._label(name)} must be in [0, 1], got {value!r}")
        if self.resolution is not None:
            _at_least(self, "resolution", 8)
        if self.clip_weights is not None and n_encoders is not None and len(tuple(self.clip_weights)) != n_encoders:
            raise Get3dError(f"{self._label('clip_weights')} has {len(tuple(self.clip_weights))} values for "
                             f"{n_encoders} CLIP models")
        return self

    def _label(self, field: str) -> str:
        return param_name(field, self._FLAGS)

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
        raise Get3dError(f"background (--background): {text!r} is not white, black, grey or three numbers R,G,B "
                         f"in [0, 1]")
    return values


def background_text(rgb) -> str:
    """(r, g, b) -> its name in BACKGROUNDS ('white') or 'r,g,b': what --background takes."""
    rgb = tuple(float(v) for v in rgb)
    for name, value in BACKGROUNDS.items():
        if value == rgb:
            return name
    return ",".join(f"{v:g}" for v in rgb)
