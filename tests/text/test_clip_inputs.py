"""What CLIP is fed: the text direction averages over all 79 ImageNet templates (a stand-in
encoder whose embedding depends on the whole templated string, checked against a mean computed
here by hand), and images are resized, centre-cropped and normalised as CLIP's own preprocessor
does (checked against hand-computed crops and normalisation and against transformers'
CLIPImageProcessor, which resizes with PIL)."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from get3d.generate import load_generator
from get3d.text.encoder import CLIP_MEAN, CLIP_STD, CLIPEncoder, load_clip, preprocess_images
from get3d.text.finetune import FinetuneOptions, TextFinetuner
from get3d.text.loss import IMAGENET_TEMPLATES, text_direction
from tests.text.stand_ins import save_tiny_clip

# OpenAI CLIP's published numbers, written out here rather than imported.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


class TemplateEncoder:
    """Text embedding: a random 8-vector seeded by the CRC32 of the exact string, so every
    template gives a different embedding and the mean over templates differs from any one of
    them. Images: mean colour padded to 8 (only the text side matters here)."""

    image_size = 32
    name = "template"

    def encode_text(self, texts):
        return torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(zlib.crc32(t.encode())))
                            for t in texts])

    def encode_image(self, images):
        return F.pad(images.mean((2, 3)), (0, 5))


def _by_hand(enc, source, target, templates):
    total = torch.zeros(8)
    for tpl in templates:  # one string at a time: nothing depends on batching
        e_t = enc.encode_text([tpl.format(target)])[0]
        e_s = enc.encode_text([tpl.format(source)])[0]
        total += e_t / e_t.norm() - e_s / e_s.norm()
    mean = total / len(templates)
    return mean / mean.norm()


def test_text_direction_is_the_normalised_mean_over_all_79_templates():
    assert len(IMAGENET_TEMPLATES) == 79 and len(set(IMAGENET_TEMPLATES)) == 79
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}." and "a photo of a {}." in IMAGENET_TEMPLATES
    enc = TemplateEncoder()
    got = text_direction(enc, "a chair", "a red chair").reshape(-1)
    expected = _by_hand(enc, "a chair", "a red chair", IMAGENET_TEMPLATES)
    assert torch.allclose(got, expected, atol=1e-6)
    # The check can tell: the first template alone, or the first 78, give another direction.
    for subset in (IMAGENET_TEMPLATES[:1], IMAGENET_TEMPLATES[:-1]):
        assert (expected - _by_hand(enc, "a chair", "a red chair", subset)).norm() > 1e-3


@pytest.mark.parametrize("templates,expected_templates", [("imagenet", IMAGENET_TEMPLATES), ("none", ("{}",))])
def test_the_finetune_follows_the_direction_of_its_template_option(templates, expected_templates):
    G, _ = load_generator("tiny-chair", device="cpu")
    enc = TemplateEncoder()
    opts = FinetuneOptions(iters=1, layers="texture", batch=1, views=1, resolution=32, templates=templates,
                           grid_seeds=1, grid_views=1)
    tuner = TextFinetuner(G, [enc], "a chair", "a red chair", opts)
    expected = _by_hand(enc, "a chair", "a red chair", expected_templates)
    assert torch.allclose(tuner.text_dirs[0].reshape(-1), expected, atol=1e-6)


def _normalise_by_hand(x):
    out = torch.empty_like(x)
    for c in range(3):
        out[:, c] = (x[:, c] - MEAN[c]) / STD[c]
    return out


@pytest.mark.parametrize("h,w", [(32, 40), (40, 32)])
def test_preprocessing_without_resize_is_a_centre_crop_and_clip_normalisation(h, w):
    images = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(1))
    got = preprocess_images(images, 32, 32, CLIP_MEAN, CLIP_STD)
    # The shorter side is already 32: no resize; the longer one loses 4 pixels each side.
    crop = images[:, :, 4:36, :] if h == 40 else images[:, :, :, 4:36]
    assert torch.allclose(got, _normalise_by_hand(crop), atol=1e-6)
    # A 24-pixel crop of the same image: offsets (32-24)//2 = 4 on the short side, (40-24)//2 = 8.
    got = preprocess_images(images, 32, 24, CLIP_MEAN, CLIP_STD)
    crop = images[:, :, 8:32, 4:28] if h == 40 else images[:, :, 4:28, 8:32]
    assert torch.allclose(got, _normalise_by_hand(crop), atol=1e-6)


def _smooth_uint8(h, w, seed=0):
    small = torch.rand(1, 3, 6, 9, generator=torch.Generator().manual_seed(seed))
    img = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return (img[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


@pytest.mark.parametrize("h,w", [(64, 96), (96, 64), (20, 24)])
def test_preprocessing_with_resize_matches_clips_image_processor(h, w):
    from transformers import CLIPImageProcessor

    u8 = _smooth_uint8(h, w)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                   image_mean=list(MEAN), image_std=list(STD))
    reference = torch.from_numpy(np.asarray(processor(images=u8, return_tensors="np")["pixel_values"]))
    ours = preprocess_images(torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 255, 32, 32, CLIP_MEAN, CLIP_STD)
    assert ours.shape == reference.shape == (1, 3, 32, 32)
    diff = (ours - reference).abs()
    if min(h, w) > 32:
        # Shrinking: PIL's bicubic vs torch's antialiased bicubic agree within 0.04 (normalised
        # units, ~0.01 in [0,1]); shrinking without antialias is 0.11 away, no normalisation 1.7.
        assert diff.max() < 0.04
    else:
        # Enlarging: PIL's bicubic kernel has a = -0.5, torch's a = -0.75, so edges overshoot
        # differently (max 0.1-0.15 here); the mean stays small. (No normalisation: ~1.)
        assert diff.mean() < 0.03 and diff.max() < 0.2


def test_clip_encoder_feeds_the_vision_model_the_preprocessed_pixels(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_clip(save_tiny_clip(tmp_path / "clip"), device="cpu")
    assert isinstance(enc, CLIPEncoder) and enc.mean == pytest.approx(MEAN) and enc.std == pytest.approx(STD)
    images = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = enc.encode_image(images)
        pixels = _normalise_by_hand(images[:, :, :, 4:36])
        expected = enc.model.visual_projection(enc.model.vision_model(pixel_values=pixels).pooler_output)
    assert torch.allclose(got, expected, atol=1e-5)
