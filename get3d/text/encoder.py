"""Image-text encoders the text losses talk to: the ``ImageTextEncoder`` protocol and CLIP.

Conventions:

* ``encode_image(images [B,3,H,W] float in [0,1]) -> [B,D]`` and ``encode_text(list[str]) -> [N,D]``.
  Embeddings come back UNnormalised; the losses normalise them. ``encode_image`` must be
  differentiable with respect to the images (the fine-tune backpropagates through it).
* An encoder does its own preprocessing: the loss hands it renders of any size in [0,1].
  :class:`CLIPEncoder` resizes the shorter side to the model's input size (bicubic, antialiased
  when shrinking, as CLIP's PIL preprocessing), centre-crops to the crop size and normalises
  with the processor's mean and std, all as tensor ops so gradients flow. The sizes come from
  the model's own ``preprocessor_config.json`` when it has one, else from its vision config.
* Models load through ``transformers`` from a local folder or a hub id resolved through the
  Hugging Face cache (downloading only when online and not cached): nothing is fetched at import.
  The projections are applied explicitly,
  ``visual_projection(vision_model(pixel_values).pooler_output)`` and
  ``text_projection(text_model(input_ids, attention_mask).pooler_output)``, which means the same
  on transformers 4.x and 5.x (whose ``get_*_features`` return types differ).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F

from get3d.errors import Get3dError

__all__ = ["CLIP_MEAN", "CLIP_STD", "CLIPEncoder", "ImageTextEncoder", "load_clip", "preprocess_images",
           "split_names"]

# OpenAI CLIP's published normalisation (its preprocessor configs carry the same numbers).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@runtime_checkable
class ImageTextEncoder(Protocol):
    """What the directional loss and the CLIP score need from an encoder (see the module docstring)."""

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:  # [B,3,H,W] in [0,1] -> [B,D]
        ...

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:  # N strings -> [N,D]
        ...


def preprocess_images(images: torch.Tensor, size: int, crop: int, mean: Sequence[float],
                      std: Sequence[float]) -> torch.Tensor:
    """Differentiable CLIP preprocessing: images [B,3,H,W] in [0,1] -> [B,3,crop,crop] normalised.

    The shorter side is resized to ``size`` (bicubic, antialiased when shrinking), then the centre
    ``crop`` x ``crop`` is kept, then ``(x - mean) / std`` per channel.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise Get3dError(f"images must be [B,3,H,W], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    if (new_h, new_w) != (h, w):
        images = F.interpolate(images.float(), size=(new_h, new_w), mode="bicubic", align_corners=False,
                               antialias=scale < 1)
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    if top < 0 or left < 0:
        raise Get3dError(f"crop size {crop} is larger than the resized image {new_h}x{new_w}")
    images = images[..., top: top + crop, left: left + crop]
    mean_t = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean_t) / std_t


class CLIPEncoder(torch.nn.Module):
    """A frozen transformers ``CLIPModel`` + tokenizer as an :class:`ImageTextEncoder`.

    ``size``/``crop``: resize and crop sizes (default: the vision config's ``image_size``);
    ``mean``/``std``: normalisation (default: OpenAI CLIP's).
    """

    def __init__(self, model, tokenizer, name: str = "clip", size: Optional[int] = None,
                 crop: Optional[int] = None, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.image_size = int(crop or size or model.config.vision_config.image_size)
        self.resize_size = int(size or self.image_size)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.max_length = int(model.config.text_config.max_position_embeddings)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images [B,3,H,W] in [0,1] -> image embeddings [B,projection_dim] (differentiable)."""
        pixels = preprocess_images(images.to(self.device), self.resize_size, self.image_size, self.mean, self.std)
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return self.model.visual_projection(pooled)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """N strings -> text embeddings [N,projection_dim]."""
        if isinstance(texts, str):
            texts = [texts]
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        pooled = self.model.text_model(**tokens).pooler_output
        return self.model.text_projection(pooled)


def split_names(text: str | Sequence[str]) -> list[str]:
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (empty items dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [str(t).strip() for t in items if str(t).strip()]


def _preprocessor_settings(name_or_path: str) -> dict:
    """size / crop / mean / std from the model's preprocessor_config.json, when it has one."""
    from transformers.utils import cached_file

    try:
        path = cached_file(name_or_path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        path = None
    if not path:
        return {}
    try:
        cfg = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError:
        return {}
    except ValueError as err:  # invalid JSON or UTF-8: wrong preprocessing would be silent, so say so
        raise Get3dError(f"{path}: not a readable preprocessor config ({str(err).splitlines()[0][:160]})") from None

    def _side(value):
        if isinstance(value, dict):
            value = value.get("shortest_edge") or value.get("height")
        return int(value) if value else None

    def _triple(value):
        values = tuple(float(v) for v in value)
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"expected 3 finite numbers, got {value!r}"[:120])
        return values

    try:
        if not isinstance(cfg, dict):
            raise ValueError(f"a {type(cfg).__name__}, not an object")
        out = {"size": _side(cfg.get("size")), "crop": _side(cfg.get("crop_size"))}
        if cfg.get("image_mean") and cfg.get("image_std"):
            out["mean"], out["std"] = _triple(cfg["image_mean"]), _triple(cfg["image_std"])
    except (TypeError, ValueError, OverflowError) as err:
        raise Get3dError(f"{path}: preprocessor config has bad values ({str(err).splitlines()[0][:160]})") from None
    for key in ("size", "crop"):
        if out[key] is not None and not 1 <= out[key] <= 4096:
            raise Get3dError(f"{path}: preprocessor {key} {out[key]} is outside 1..4096")
    return {k: v for k, v in out.items() if v is not None}


def load_clip(name_or_path: str | Path, device=None) -> CLIPEncoder:
    """A CLIP model from a local folder or a hub id (e.g. ``openai/clip-vit-base-patch32``).

    Hub ids resolve through the Hugging Face cache (``HF_HOME``); when not cached and online they
    download, with ``HF_HUB_OFFLINE=1`` they must be cached. Missing or unreadable: Get3dError.
    """
    from transformers import AutoTokenizer, CLIPModel

    name = str(name_or_path)
    if not name.strip():
        raise Get3dError("clip (--clip): empty CLIP model name")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model = CLIPModel.from_pretrained(name)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, EnvironmentError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if Path(name).is_dir():
            raise Get3dError(f"clip (--clip): {name}: not a complete CLIP model folder ({first[:200]})") from None
        raise Get3dError(f"clip (--clip): cannot load CLIP model {name!r}: not a CLIP folder and not in the Hugging Face "
                         f"cache (download it once online, or pass a local folder) ({first})") from None
    except Exception as err:  # noqa: BLE001 - a damaged folder (truncated weights, bad config values)
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise Get3dError(f"clip (--clip): {name}: damaged CLIP model folder ({type(err).__name__}: {first})") from None
    return CLIPEncoder(model.to(device), tokenizer, name=name, **_preprocessor_settings(name))
