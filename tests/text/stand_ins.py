"""Stand-ins whose right answer is known: a colour encoder and a tiny random CLIP on disk."""
from __future__ import annotations

import json
from pathlib import Path

import torch

RED = (1.0, 0.1, 0.1)
GREY = (0.5, 0.5, 0.5)


class ColourEncoder:
    """Image embedding = mean colour of the non-white (foreground) pixels [B,3]; text embedding
    from a fixed table: any text naming "red" -> RED, anything else -> GREY. So the text direction
    from "a chair" to "a red chair" points toward redder, and the only way renders can follow it
    is by changing colour."""

    image_size = 32
    name = "colour"

    def __init__(self, nan_calls: int = 0):
        self.nan_calls = nan_calls  # the first n encode_image calls with grad return NaN

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        fg = (images < 0.98).any(dim=1, keepdim=True).float()
        emb = (images * fg).sum((2, 3)) / fg.sum((2, 3)).clamp_min(1.0)
        if self.nan_calls and torch.is_grad_enabled():
            self.nan_calls -= 1
            emb = emb * float("nan")
        return emb

    def encode_text(self, texts):
        return torch.tensor([RED if "red" in t else GREY for t in texts])


def redness(images: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean of R - (G + B) / 2 over foreground pixels: images [N,3,H,W], mask [N,1,H,W]."""
    fg = (mask > 0.5).float()
    diff = images[:, 0:1] - 0.5 * (images[:, 1:2] + images[:, 2:3])
    return float((diff * fg).sum() / fg.sum().clamp_min(1))


def _byte_alphabet() -> list[str]:
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    codes, extra = keep[:], 0
    for b in range(256):
        if b not in keep:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def save_tiny_clip(folder: Path, image_size: int = 32, with_preprocessor: bool = True, seed: int = 0) -> Path:
    """A random CLIPModel (2 layers, width 32) + a byte-level CLIP tokenizer, saved with
    save_pretrained exactly as a downloaded model folder is laid out."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    chars = _byte_alphabet()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         vocab_size=len(vocab) + 2, max_position_embeddings=77,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if with_preprocessor:
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": image_size},
            "crop_size": {"height": image_size, "width": image_size},
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        }))
    return folder
