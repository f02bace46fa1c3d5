"""Score distillation from a 2D diffusion model: the prior protocol, the rules SDS / ISM / SDI (as
their reference implementations compute them; explicit random draws; Perp-Neg),
a diffusers-backed Stable Diffusion prior, a 2D playground and ``get3d refine`` (docs/distill.md,
docs/refine.md).

Names load lazily (PEP 562): importing this package imports neither torch nor diffusers, so
``get3d.distill.options`` (the refine command's defaults) is cheap for the CLI; ``load_diffusion``
imports diffusers.
"""
from get3d._lazy import lazy_exports

_EXPORTS = {
    "get3d.distill.analytic": ("AnalyticPrior",),
    "get3d.distill.prior": ("DiffusionPrior", "check_prior"),
    "get3d.distill.rules": ("ISM", "ISMDraws", "RULES", "SDI", "SDIDraws", "SDS", "SDSDraws", "make_rule"),
    "get3d.distill.perpneg": ("PerpNeg", "view_embeddings"),
    "get3d.distill.options": ("RefineOptions",),
    "get3d.distill.refine_run": ("RefineResult", "RefineRun", "refine", "refine_checkpoint", "refine_mesh"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS, eager=('load_diffusion',))


def load_diffusion(name_or_path, device=None, dtype=None, local_files_only=None):
    """Load a Stable Diffusion checkpoint as a DiffusionPrior (see get3d.distill.diffusion)."""
    from get3d.distill.diffusion import load_diffusion as _load

    return _load(name_or_path, device=device, dtype=dtype, local_files_only=local_files_only)

