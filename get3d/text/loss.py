"""CLIP losses of StyleGAN-NADA (Gal et al. 2022): the directional loss and the global loss.

Conventions (all embeddings are L2-normalised before use, as StyleGAN-NADA does):

* Text direction for one encoder: ``t = mean_k( n(E_T(tpl_k(target))) - n(E_T(tpl_k(source))) )``,
  then ``t / |t|``, where ``tpl_k`` are StyleGAN-NADA's ImageNet templates ("a photo of a {}.",
  79 of them) and ``n`` normalises: a [D] unit vector.
* Image direction per rendered view ``i``: ``d_i = n(E_I(tuned_i)) - n(E_I(frozen_i))`` (same
  latent, same camera).
* Directional loss: ``mean_i (1 - cos(d_i, t))`` with ``cos(a, b) = a.b / max(|a| |b|, eps)``; the
  eps keeps the very first step (tuned == frozen, so ``d_i = 0``) finite: its gradient still
  points along ``t``. Several encoders: ``sum_m weight_m * loss_m``.
* Global loss (used by adaptive layer selection): ``mean_i (1 - cos(E_I(image_i), E_T(target)))``
  with the raw target text (no templates), as StyleGAN-NADA's ``global_clip_loss``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from get3d.errors import Get3dError

__all__ = ["IMAGENET_TEMPLATES", "EPS", "cosine", "directional_loss", "global_loss", "image_direction",
           "text_direction"]

EPS = 1e-8

# StyleGAN-NADA's `imagenet_templates` (ZSSGAN/utils/text_templates.py), from CLIP's ImageNet
# prompt-engineering list.
IMAGENET_TEMPLATES = (
    "a bad photo of a {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)


def cosine(a: torch.Tensor, b: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """a [N,D], b [N,D] or [D] -> [N]: ``a.b / max(|a| |b|, eps)``."""
    b = b.expand_as(a)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)


@torch.no_grad()
def text_direction(encoder, source: str, target: str, templates: Sequence[str] = IMAGENET_TEMPLATES) -> torch.Tensor:
    """The unit text direction [D] from ``source`` to ``target`` (see the module docstring)."""
    templates = list(templates) or ["{}"]
    src = F.normalize(encoder.encode_text([t.format(source) for t in templates]).float(), dim=-1)
    tgt = F.normalize(encoder.encode_text([t.format(target) for t in templates]).float(), dim=-1)
    direction = (tgt - src).mean(0)
    norm = direction.norm()
    if not torch.isfinite(norm) or norm <= EPS:
        raise Get3dError(f"the encoder gives the same text embedding for {source!r} and {target!r}: "
                         f"no direction to follow (pick a target that differs in meaning)")
    return direction / norm


def image_direction(emb_tuned: torch.Tensor, emb_frozen: torch.Tensor) -> torch.Tensor:
    """[N,D] x 2 -> [N,D]: normalised tuned embeddings minus normalised frozen ones."""
    return F.normalize(emb_tuned.float(), dim=-1) - F.normalize(emb_frozen.float(), dim=-1)


def directional_loss(encoder, tuned: torch.Tensor, frozen_emb: torch.Tensor, text_dir: torch.Tensor) -> torch.Tensor:
    """tuned renders [N,3,H,W] in [0,1], the frozen renders' embeddings [N,D], the text direction
    [D] -> scalar ``mean_i (1 - cos(d_i, t))``."""
    direction = image_direction(encoder.encode_image(tuned), frozen_emb)
    return (1 - cosine(direction, text_dir.to(direction.device))).mean()


def global_loss(encoder, images: torch.Tensor, target_emb: torch.Tensor) -> torch.Tensor:
    """images [N,3,H,W] in [0,1], target text embedding [D] -> scalar ``mean_i (1 - cos)``."""
    emb = encoder.encode_image(images).float()
    return (1 - cosine(emb, target_emb.to(emb.device).float())).mean()
