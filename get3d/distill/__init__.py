"""Score distillation from a 2D diffusion model: the prior protocol, the rules SDS / ISM / SDI,
a diffusers-backed Stable Diffusion prior and a 2D playground (docs/distill.md).

Importing this package does not import diffusers or transformers: ``load_diffusion`` does.
"""
from get3d.distill.analytic import AnalyticPrior
from get3d.distill.prior import DiffusionPrior
from get3d.distill.rules import ISM, RULES, SDI, SDS, make_rule

__all__ = ["AnalyticPrior", "DiffusionPrior", "ISM", "RULES", "SDI", "SDS", "load_diffusion", "make_rule", "refine"]


def load_diffusion(name_or_path, device=None, dtype=None, local_files_only=None):
    """Load a Stable Diffusion checkpoint as a DiffusionPrior (see get3d.distill.diffusion)."""
    from get3d.distill.diffusion import load_diffusion as _load

    return _load(name_or_path, device=device, dtype=dtype, local_files_only=local_files_only)


def refine(prior, asset, prompt, rule="sds", steps=500, outdir=None, **options):
    """Refine an explicit asset toward ``prompt`` under any DiffusionPrior (see get3d.distill.refine)."""
    from get3d.distill.refine import refine as _refine

    return _refine(prior, asset, prompt, rule, steps, outdir, **options)
