"""Stable Diffusion through diffusers as a :class:`~get3d.distill.prior.DiffusionPrior`.

``load_diffusion(name_or_path)`` takes a local folder in the diffusers layout (model_index.json,
unet/, vae/, text_encoder/, tokenizer/, scheduler/) or a Hugging Face hub id
(``stabilityai/stable-diffusion-2-1-base``, ``runwayml/stable-diffusion-v1-5``, ...), resolved
through the Hugging Face cache and downloaded when the machine is online (``local_files_only``
or ``HF_HUB_OFFLINE=1`` forbid that). Components load one by one: UNet2DConditionModel,
AutoencoderKL, CLIPTextModel + CLIPTokenizer, and the scheduler config (only its alpha-bar
schedule and ``prediction_type`` are used: the rules do their own DDIM arithmetic).

Precision: fp16 on CUDA, fp32 on CPU (``dtype`` overrides). Attention: PyTorch's
scaled_dot_product_attention (diffusers' AttnProcessor2_0). Every module is frozen
(``requires_grad_(False)``); gradients still flow through ``encode`` to the input images.

Latent scaling: ``encode`` returns the VAE posterior mean times the VAE's ``scaling_factor``
(0.18215 for SD 1.x/2.x); the mean, not a sample, so a render maps to one latent
(threestudio samples; see docs/distill.md). Images are resized to ``image_size`` (bilinear,
differentiable) when they arrive at another size.

``predict_noise`` always returns epsilon: a v-prediction model's output v is converted with
``eps = sqrt(abar) v + sqrt(1 - abar) x_t``. Other prediction types are refused.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import torch
import torch.nn.functional as F

from get3d.errors import Get3dError

__all__ = ["StableDiffusionPrior", "load_diffusion"]

PREDICTION_TYPES = ("epsilon", "v_prediction")


class StableDiffusionPrior:
    """A loaded SD checkpoint implementing DiffusionPrior (see the module docstring)."""

    def __init__(self, unet, vae, text_encoder, tokenizer, alphas_cumprod: torch.Tensor, prediction_type: str,
                 device: torch.device, dtype: torch.dtype, source: str = ""):
        if prediction_type not in PREDICTION_TYPES:
            raise Get3dError(f"{source or 'diffusion model'}: prediction_type {prediction_type!r} is not supported "
                             f"(supported: {', '.join(PREDICTION_TYPES)})")
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.device, self.dtype, self.source = device, dtype, source
        self.prediction_type = prediction_type
        self.alphas_cumprod = alphas_cumprod.float().to(device)
        self.vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.scaling_factor = float(getattr(vae.config, "scaling_factor", 0.18215))
        self.image_size = int(unet.config.sample_size) * self.vae_factor
        self._text_cache: dict[str, torch.Tensor] = {}

    # -- images <-> latents
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images [B,3,H,W] in [0,1] -> latents [B,4,image_size/f,image_size/f] (differentiable)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise Get3dError(f"images must be [B,3,H,W] in [0,1], got {tuple(images.shape)}")
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = F.interpolate(images, (self.image_size, self.image_size), mode="bilinear", align_corners=False)
        posterior = self.vae.encode((images * 2 - 1).to(self.dtype)).latent_dist
        return posterior.mean * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode((latents / self.scaling_factor).to(self.dtype)).sample
        return ((images.float() + 1) / 2).clamp(0, 1)

    # -- text
    def embed_text(self, prompts: List[str]) -> torch.Tensor:
        """prompts -> [N, tokens, width] CLIP hidden states (cached per prompt)."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            if self.text_encoder is None:
                raise Get3dError(f"the text encoder was freed; cannot embed new prompt {missing[0]!r} "
                                 "(embed every prompt before free_text_encoder())")
            tokens = self.tokenizer(missing, padding="max_length", max_length=self.tokenizer.model_max_length,
                                    truncation=True, return_tensors="pt")
            with torch.no_grad():
                hidden = self.text_encoder(tokens.input_ids.to(self.device))[0]
            for prompt, row in zip(missing, hidden):
                self._text_cache[prompt] = row.to(self.dtype)
        return torch.stack([self._text_cache[p] for p in prompts])

    def free_text_encoder(self) -> None:
        """Drop the text encoder (its memory) once every prompt needed is embedded and cached."""
        self.text_encoder = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- the model
    def predict_noise(self, latents_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        out = self.unet(latents_t.to(self.dtype), t.to(self.device), encoder_hidden_states=embeddings.to(self.dtype)).sample
        if self.prediction_type == "v_prediction":
            abar = self.alphas_cumprod[t.long()].view(-1, 1, 1, 1).to(out.dtype)
            out = abar.sqrt() * out + (1 - abar).sqrt() * latents_t.to(out.dtype)
        return out


def _offline(local_files_only: Optional[bool]) -> bool:
    if local_files_only is not None:
        return bool(local_files_only)
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub always comes with diffusers
        return "~/.cache/huggingface/hub"


def load_diffusion(name_or_path, device=None, dtype=None, local_files_only: Optional[bool] = None
                   ) -> StableDiffusionPrior:
    """A Stable Diffusion folder or hub id -> StableDiffusionPrior on ``device`` (see module docstring)."""
    try:
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:
        raise Get3dError(f"score distillation needs diffusers and transformers ({err.name} is missing): "
                         "pip install 'get3d[text]'") from None
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    source = str(name_or_path)
    path = Path(source).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise Get3dError(f"diffusion model {source!r}: no such folder (a local diffusers folder or a Hugging Face "
                         "hub id like stabilityai/stable-diffusion-2-1-base)")
    where = str(path) if local else source
    offline = _offline(local_files_only)
    kwargs = dict(local_files_only=offline or local)
    try:
        return _load_parts(where, source, local, offline, kwargs, dtype, device)
    except Get3dError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged folder (truncated weights, bad config values)
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise Get3dError(f"diffusion model {source!r}: damaged Stable Diffusion folder "
                         f"({type(err).__name__}: {first})") from None


def _load_parts(where, source, local, offline, kwargs, dtype, device) -> StableDiffusionPrior:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        unet = UNet2DConditionModel.from_pretrained(where, subfolder="unet", torch_dtype=dtype, **kwargs)
        vae = AutoencoderKL.from_pretrained(where, subfolder="vae", torch_dtype=dtype, **kwargs)
        text_encoder = CLIPTextModel.from_pretrained(where, subfolder="text_encoder", dtype=dtype, **kwargs)
        tokenizer = CLIPTokenizer.from_pretrained(where, subfolder="tokenizer", **kwargs)
        scheduler = DDIMScheduler.from_pretrained(where, subfolder="scheduler", **kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        if local:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise Get3dError(f"diffusion model {source!r}: the folder is not a complete diffusers Stable Diffusion "
                             f"checkpoint ({first[:200]})") from None
        mode = "offline, so nothing was downloaded" if offline else "and it could not be downloaded"
        raise Get3dError(f"diffusion model {source!r} not found: not a local folder, not in the Hugging Face "
                         f"cache ({_hf_cache_dir()}), {mode}") from None
    try:
        from diffusers.models.attention_processor import AttnProcessor2_0

        unet.set_attn_processor(AttnProcessor2_0())
    except (ImportError, AttributeError, ValueError):  # older diffusers pick SDPA by default
        pass
    for module in (unet, vae, text_encoder):
        module.to(device).eval().requires_grad_(False)
    prediction_type = scheduler.config.get("prediction_type", "epsilon")
    return StableDiffusionPrior(unet, vae, text_encoder, tokenizer, scheduler.alphas_cumprod, prediction_type,
                                device, dtype, source=source)
