"""Text steering of a whole generator: CLIP-directed fine-tuning (StyleGAN-NADA style; docs/text.md).

``load_clip`` (transformers CLIP from a folder or the Hugging Face cache) gives an
``ImageTextEncoder``; ``finetune_text(G, encoders, source, target, **options)`` returns a
fine-tuned copy of G; ``finetune_checkpoint`` is what ``get3d finetune-text`` runs.
"""
from get3d.text.encoder import CLIP_MEAN, CLIP_STD, CLIPEncoder, ImageTextEncoder, load_clip, preprocess_images
from get3d.text.finetune import (
    FinetuneOptions,
    FinetuneResult,
    TextFinetuner,
    before_after_grid,
    finetune_checkpoint,
    finetune_text,
)
from get3d.text.layers import GROUPS, LayerUnit, group_units, layer_units, select_units, set_trainable
from get3d.text.loss import IMAGENET_TEMPLATES, directional_loss, global_loss, image_direction, text_direction
from get3d.text.views import render_views

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "CLIPEncoder",
    "FinetuneOptions",
    "FinetuneResult",
    "GROUPS",
    "IMAGENET_TEMPLATES",
    "ImageTextEncoder",
    "LayerUnit",
    "TextFinetuner",
    "before_after_grid",
    "directional_loss",
    "finetune_checkpoint",
    "finetune_text",
    "global_loss",
    "group_units",
    "image_direction",
    "layer_units",
    "load_clip",
    "preprocess_images",
    "render_views",
    "select_units",
    "set_trainable",
    "text_direction",
]
