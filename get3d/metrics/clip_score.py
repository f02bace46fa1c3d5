"""CLIP score of a generator against a prompt: how far a text fine-tune moved toward the text.

``clip_score(G, encoders, prompt)`` renders ``num_images`` random latents (z ~ N(0, I) from
``torch.Generator().manual_seed(seed)``, mapped with ``truncation``), ``views`` cameras each drawn
from the model's training camera distribution, composited on white at the encoder's input size
(the same renders the fine-tune's loss sees, get3d.text.views), and returns the mean cosine
similarity between their image embeddings and the prompt's text embedding, per encoder and
averaged over encoders.

Convention: the raw cosine in [-1, 1] (no template, no 100x scale, no clipping at 0). Hessel et
al.'s CLIPScore is ``2.5 * max(cos, 0)`` per image and many papers print ``100 * cos``: both are
one multiplication away, and the raw mean is what compares across prompts without a cut-off.
Empty shapes render as pure background and are counted in ``empty_images``, not left out: a
fine-tune that empties its shapes should not score better for it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from get3d.errors import Get3dError
from get3d.render.camera import Cameras

__all__ = ["clip_score"]


@torch.no_grad()
def clip_score(generator, encoders, prompt: str, num_images: int = 100, views: int = 4, truncation: float = 1.0,
               batch: int = 4, seed: int = 0, resolution: Optional[int] = None,
               camera_ranges: Sequence = ((0.0, 360.0), (0.0, 30.0)),
               background: Sequence[float] = (1.0, 1.0, 1.0)) -> dict:
    """{"clip": mean cos over encoders, "clip_per_model": {name: cos}, "clip_prompt", ...}.

    generator: a get3d Generator; encoders: one ImageTextEncoder or a list; num_images latents x
    ``views`` renders each; camera_ranges: ((rot_min, rot_max), (elev_min, elev_max)) in degrees.
    """
    from get3d.text.views import render_views

    prompt = str(prompt or "").strip()
    if not prompt:
        raise Get3dError("prompt (--prompt): the clip metric needs a prompt to score against, e.g. 'a red chair'")
    encoders = list(encoders) if isinstance(encoders, (list, tuple)) else [encoders]
    if not encoders:
        raise Get3dError("encoders (--clip): no CLIP model given for the clip metric")
    if num_images < 1 or views < 1 or batch < 1:
        raise Get3dError(f"clip metric: num_images, views and batch must be >= 1 "
                         f"(got {num_images}, {views}, {batch})")
    device = next(generator.parameters()).device
    res = int(resolution or max(int(getattr(e, "image_size", 224)) for e in encoders))
    texts = []
    for enc in encoders:
        t = enc.encode_text([prompt]).float().to(device)
        texts.append(torch.nn.functional.normalize(t, dim=-1)[0])
    rng = torch.Generator().manual_seed(seed)
    (rot_lo, rot_hi), (elev_lo, elev_hi) = camera_ranges
    sums = [0.0] * len(encoders)
    count = empty = 0
    for start in range(0, num_images, batch):
        n = min(batch, num_images - start)
        z = torch.randn(n, 2, generator.z_dim, generator=rng).to(device)
        cams = Cameras.sample_training_cameras(n * views, rng, rot_range=(rot_lo, rot_hi),
                                               elev_range=(elev_lo, elev_hi), device=device)
        ws_geo, ws_tex = generator.mapping(z[:, 0], z[:, 1], psi=truncation)
        images, mask = render_views(generator, ws_geo, ws_tex, cams, views, res, background, return_mask=True)
        if not torch.isfinite(images).all():
            raise Get3dError("clip metric: the generator rendered non-finite colours (a diverged checkpoint?)")
        empty += int((mask.flatten(1).amax(dim=1) <= 0).sum())
        for i, (enc, text) in enumerate(zip(encoders, texts)):
            emb = torch.nn.functional.normalize(enc.encode_image(images).float(), dim=-1)
            sums[i] += float((emb @ text).sum())
        count += n * views
    names = [str(getattr(e, "name", type(e).__name__)) for e in encoders]
    per_model = {name: s / count for name, s in zip(names, sums)}
    return {"clip": sum(per_model.values()) / len(per_model), "clip_per_model": per_model, "clip_prompt": prompt,
            "clip_images": count, "clip_truncation": truncation, "clip_resolution": res, "empty_images": empty}
