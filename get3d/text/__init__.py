"""Text steering of a whole generator: CLIP-directed fine-tuning (StyleGAN-NADA style; docs/text.md).

``load_clip`` (transformers CLIP from a folder or the Hugging Face cache) gives an
``ImageTextEncoder``; ``finetune_text(G, encoders, source, target, options)`` (a FinetuneOptions) returns a
fine-tuned copy of G; ``finetune_checkpoint`` is what ``get3d finetune-text`` runs.

Names load lazily (PEP 562), so ``get3d.text.options`` (the CLI's defaults) imports without torch.
"""
from get3d._lazy import lazy_exports

_EXPORTS = {
    "get3d.text.encoder": ("CLIP_MEAN", "CLIP_STD", "CLIPEncoder", "ImageTextEncoder", "load_clip",
                           "preprocess_images"),
    "get3d.text.finetune": ("FinetuneResult", "TextFinetuner", "before_after_grid", "finetune_checkpoint",
                            "finetune_text"),
    "get3d.text.options": ("FinetuneOptions", "GROUPS", "check_prompts", "parse_background"),
    "get3d.text.layers": ("LayerUnit", "group_units", "layer_units", "select_units", "set_trainable"),
    "get3d.text.loss": ("IMAGENET_TEMPLATES", "directional_loss", "global_loss", "image_direction",
                        "text_direction"),
    "get3d.text.views": ("render_views",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
