"""Settings of ``get3d refine``, of the rules SDS / ISM / SDI and of ``get3d distill-2d``
(:class:`Distill2dOptions`, at the end) in one torch-free place.

:class:`RefineOptions` holds every setting of a refine run, its defaults stated once: get3d.distill.refine_run
(``refine(prior, asset, prompt, options)``, ``refine_checkpoint``, ``refine_mesh``) and the CLI's
flags both read them, so they cannot drift apart. :meth:`RefineOptions.check` validates them once;
its errors name the parameter as Python spells it and the CLI flag beside it
(``lr_sdf (--lr-sdf) must be a number >= 0, got -1``), the convention of get3d.options.
:meth:`RefineOptions.to_dict` is what a run's ``settings.json`` records (but the asset-loading
settings, which the asset's record states; with the values the run resolves: the rule's full
options, the render size, the parsed background). Sources of the defaults in docs/refine.md.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Optional

from get3d.categories import GET3D_TET_RES, TRUNCATION
from get3d.errors import Get3dError
from get3d.options import param_name

__all__ = ["ASSET_FIELDS", "RefineOptions", "ViewRanges", "parse_refine_background", "SDSOptions", "ISMOptions",
           "SDIOptions", "RULE_OPTIONS", "Distill2dOptions"]


@dataclass
class ViewRanges:
    """Camera sampling ranges of a refine step (degrees except distance, in world units); the
    defaults' sources are in get3d.distill.views' docstring, which samples them."""

    elevation: tuple = (-10.0, 45.0)
    distance: tuple = (1.2, 1.6)
    fov: tuple = (40.0, 60.0)
    front_azimuth: float = 0.0
    overhead: float = 60.0

    def __post_init__(self):
        for name in ("elevation", "distance", "fov"):
            lo, hi = (float(v) for v in getattr(self, name))
            if hi < lo:
                raise Get3dError(f"{name} range must have low <= high, got ({lo}, {hi})")
            setattr(self, name, (lo, hi))
        if not -90 <= self.elevation[0] <= self.elevation[1] <= 90:
            raise Get3dError(f"elevation range must lie in [-90, 90] degrees, got {self.elevation}")
        if self.distance[0] <= 0:
            raise Get3dError(f"distance range must be positive, got {self.distance}")
        if not 0 < self.fov[0] <= self.fov[1] < 180:
            raise Get3dError(f"fov range must lie in (0, 180) degrees, got {self.fov}")


def parse_refine_background(value):
    """'random' (a uniform random solid colour per view and step) or anything
    get3d.text.options.parse_background takes ('white', 'black', 'grey', 'R,G,B', a 3-sequence)."""
    from get3d.text.options import parse_background  # torch-free

    if isinstance(value, str) and value.strip().lower() == "random":
        return "random"
    try:
        return parse_background(value)
    except Get3dError as err:
        raise Get3dError(str(err).replace("is not white,", "is not random, white,")) from None


# RefineOptions fields read only where an asset is loaded (refine_checkpoint, refine_mesh)
ASSET_FIELDS = ("truncation", "tet_res", "mesh_tet_res", "plane_res", "fit_steps", "category")


@dataclass(frozen=True)
class RefineOptions:
    """Every setting of a refine run but its prompt (docs/refine.md). ``rule`` is stored stripped
    and lower-case. The asset-loading settings (``truncation`` .. ``category``) are read by
    refine_checkpoint / refine_mesh only; ``refine()`` takes an asset already made."""

    rule: str = "sds"  # sds, ism or sdi (get3d.distill.rules)
    steps: int = 500  # a texture-and-detail pass from a plausible GET3D sample (docs/refine.md)
    negative_prompt: str = ""  # the unconditional / negative prompt
    rule_options: dict = field(default_factory=dict)  # the rule's own options (SDSOptions etc. below)
    lr_sdf: float = 1e-2  # SDF values near the surface are O(0.1-1) in the bundled models (ours)
    lr_deformation: float = 1e-4  # offsets are bounded by 1/tet_res (ours)
    lr_texture: float = 1e-2  # triplane features are O(1) (ours)
    sdf_reg_weight: float = 0.01  # GET3D's SDF regulariser weight
    laplacian_weight: float = 0.1  # ours
    geometry_only: bool = False  # freeze the texture
    texture_only: bool = False  # freeze the geometry
    batch: int = 1  # views per step
    render_res: Optional[int] = None  # None: the prior's image_size (lower values are upsampled)
    background: object = "white"  # a name, 'R,G,B', a 3-sequence in [0, 1], or 'random'
    views: ViewRanges = field(default_factory=ViewRanges)
    view_prompts: bool = True  # DreamFusion's view-dependent prompt suffixes
    perp_neg: bool = False  # Perp-Neg with the other views' prompts as negatives (threestudio's default: off)
    snapshot_every: int = 100
    export_every: int = 0  # also export the mesh every K steps to outdir/progress (0: only at the end)
    max_bad_steps: int = 10  # non-finite steps in a row before stopping
    run_seed: int = 0  # seed of the cameras, backgrounds and the rule's noise (not the asset's seed)
    texture_res: int = 1024
    formats: str = "glb,obj"
    preview_res: int = 256
    turntable_frames: int = 24
    export: bool = True  # refined.*, before.glb, previews and the gallery (with an outdir)
    backend: str = "auto"  # rasterizer
    tensorboard: bool = False
    profile: bool = False  # synchronise CUDA between phases (RefineResult.timings)
    # Loading the asset (ASSET_FIELDS: refine_checkpoint, refine_mesh)
    truncation: float = TRUNCATION  # as get3d generate
    tet_res: Optional[int] = None  # None: the checkpoint's grid, mesh_tet_res for a mesh
    mesh_tet_res: int = GET3D_TET_RES  # --mesh: GET3D's ShapeNet grid
    plane_res: int = 128  # --mesh: colour triplane resolution
    fit_steps: int = 300  # --mesh: colour fit steps
    category: Optional[str] = None  # category of a GET3D .pt checkpoint

    def __post_init__(self):
        object.__setattr__(self, "rule", str(self.rule).strip().lower())

    def check(self) -> "RefineOptions":
        """Raise a Get3dError naming the first bad setting; -> self."""
        if self.rule not in RULE_OPTIONS:
            raise Get3dError(f"{param_name('rule')}: unknown rule {self.rule!r}; choose from {', '.join(RULE_OPTIONS)}")
        if self.steps < 0:
            raise Get3dError(f"{param_name('steps')} must be >= 0, got {self.steps}")
        if self.geometry_only and self.texture_only:
            raise Get3dError(f"{param_name('geometry_only')} and {param_name('texture_only')} exclude each other "
                             "(nothing would train)")
        if self.batch < 1:
            raise Get3dError(f"{param_name('batch')} must be >= 1, got {self.batch}")
        if self.snapshot_every < 1:
            raise Get3dError(f"{param_name('snapshot_every')} must be >= 1, got {self.snapshot_every}")
        if self.export_every < 0:
            raise Get3dError(f"{param_name('export_every')} must be >= 0, got {self.export_every}")
        if self.render_res is not None and self.render_res < 8:
            raise Get3dError(f"{param_name('render_res')} must be >= 8, got {self.render_res}")
        # Output and asset-loading sizes (formats, backend and category are checked where they are used).
        for name, low in (("max_bad_steps", 1), ("texture_res", 8), ("preview_res", 8), ("turntable_frames", 0),
                          ("mesh_tet_res", 1), ("plane_res", 1), ("fit_steps", 0)):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= low):
                raise Get3dError(f"{param_name(name)} must be an integer >= {low}, got {value!r}")
        if self.tet_res is not None and not (isinstance(self.tet_res, int) and self.tet_res >= 1):
            raise Get3dError(f"{param_name('tet_res')} must be an integer >= 1, got {self.tet_res!r}")
        if not (isinstance(self.truncation, (int, float)) and math.isfinite(self.truncation)):
            raise Get3dError(f"{param_name('truncation')} must be a finite number, got {self.truncation!r}")
        # Learning rates and loss weights: finite and >= 0 (0 freezes / switches off; < 0 would climb).
        for name in ("lr_sdf", "lr_deformation", "lr_texture", "sdf_reg_weight", "laplacian_weight"):
            value = getattr(self, name)
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise Get3dError(f"{param_name(name)} must be a number >= 0, got {value}")
        known = {f.name for f in dataclasses.fields(RULE_OPTIONS[self.rule])}
        unknown = sorted(set(self.rule_options or {}) - known)
        if unknown:  # their values are checked where the rule is made (get3d.distill.rules.make_rule)
            raise Get3dError(f"rule_options: rule {self.rule!r} has no option {unknown[0]!r} (--{self.rule}-"
                             f"{unknown[0].replace('_', '-')}); options: {', '.join(sorted(known))}")
        parse_refine_background(self.background)
        if self.perp_neg and not self.view_prompts:
            raise Get3dError(f"{param_name('perp_neg')} needs the view-dependent prompts (view_prompts; its negatives "
                             "are the other views' prompts)")
        if not isinstance(self.views, ViewRanges):
            raise Get3dError(f"views must be a ViewRanges, got {type(self.views).__name__}")
        return self

    def to_dict(self, asset: bool = True) -> dict:
        """Every setting as JSON-ready values (views as a dict). ``asset=False`` leaves out the
        asset-loading settings (ASSET_FIELDS): what a refine run's settings.json records, since
        ``refine()`` receives a made asset whose own record (``asset``: tet_res, plane_res, the
        colour fit; refine_checkpoint adds truncation and category) states what was used."""
        out = asdict(self)
        return out if asset else {k: v for k, v in out.items() if k not in ASSET_FIELDS}


# --------------------------------------------------------------------------------------------------
# The rules' options (torch-free, so the CLI can show their defaults without importing torch).
# get3d.distill.rules' classes inherit these fields; docs/distill.md lists each default's source and
# each option that departs from the reference ("get3d option" column of its table).
def _opt(default, help: str, choices: tuple = ()):
    return field(default=default, metadata={"help": help, "choices": choices})


GUIDANCE_FORMS = ("cond", "uncond")
LOSS_SCALES = ("reference", "batch")
WEIGHTINGS = ("sds", "uniform", "sqrt")


@dataclass
class SDSOptions:
    """SDS as threestudio's StableDiffusionGuidance computes it (DreamFusion's rule)."""

    guidance_scale: float = _opt(100.0, "guidance scale s (threestudio's parameter)")
    t_min: float = _opt(0.02, "lowest timestep, fraction of T (int(T*t_min))")
    t_max: float = _opt(0.98, "highest timestep, fraction of T (int(T*t_max), inclusive)")
    t_max_end: Optional[float] = _opt(None, "anneal t_max linearly to this over the run (none: fixed)")
    weighting: str = _opt("sds", "w(t): sds = 1-abar, uniform = 1, sqrt = sqrt(1-abar) (ours)", WEIGHTINGS)
    guidance_form: str = _opt("cond", "cond: eps_c + s(eps_c-eps_u) (threestudio); uncond: eps_u + s(eps_c-eps_u)",
                              GUIDANCE_FORMS)
    loss_scale: str = _opt("reference", "reference: grad = g/B (threestudio); batch: g/B, the same for SDS", LOSS_SCALES)


@dataclass
class ISMOptions:
    """ISM as LucidDreamer's StableDiffusion.train_step computes it (perpneg false path)."""

    guidance_scale: float = _opt(7.5, "guidance scale s")
    lambda_ism: float = _opt(0.1, "LucidDreamer lambda_guidance: the update's factor")
    t_min: float = _opt(0.02, "lowest timestep index, fraction of T")
    t_max: float = _opt(0.5, "highest timestep index after the warm-up, fraction of T")
    t_max_warmup: float = _opt(0.98, "highest index at the start of the warm-up (LucidDreamer max_t_range)")
    warmup: float = _opt(0.3, "warm-up length, fraction of the run (LucidDreamer: 1500 of 5000)")
    warmup_mode: str = _opt("narrow", "narrow: t range shrinks from t_max_warmup to t_max (LucidDreamer); "
                                      "widen: grows from t_max to t_max_warmup (get3d before issue 21)",
                            ("narrow", "widen"))
    delta_t: int = _opt(80, "interval t - s after the warm-up")
    delta_t_start: int = _opt(100, "interval t - s at the start of the warm-up")
    delta_s: int = _opt(200, "inversion stride 0 -> s (LucidDreamer xs_delta_t)")
    inversion_max_steps: int = _opt(5, "at most this many inversion steps 0 -> s (xs_inv_steps)")
    inversion: str = _opt("stride", "stride: from the latents noised to timestep 1 in strides of delta_s "
                                    "(LucidDreamer); even: from the clean latents, evenly spaced (get3d before)",
                          ("stride", "even"))
    inversion_prompt: str = _opt("empty", "prompt of the inversion and target: empty (LucidDreamer) or negative",
                                 ("empty", "negative"))
    noise_offset: float = _opt(0.1, "noise = N(0,I) + noise_offset * N(0,I) per channel (LucidDreamer)")
    steps_offset: int = _opt(1, "index -> timestep offset (the scheduler's steps_offset)")
    guidance_form: str = _opt("uncond", "uncond: eps_u + s(eps_c-eps_u) (LucidDreamer); cond: eps_c + s(...)",
                              GUIDANCE_FORMS)
    loss_scale: str = _opt("reference", "reference: grad = g (LucidDreamer); batch: g/B", LOSS_SCALES)


@dataclass
class SDIOptions:
    """SDI as threestudio's StableDiffusionSDIGuidance (the SDI authors' code) computes it."""

    guidance_scale: float = _opt(7.5, "guidance scale s")
    t_start: float = _opt(0.98, "t at the start of the run, fraction of T (max_step_percent)")
    t_end: float = _opt(0.25, "t at the end of the run, fraction of T (min_step_percent)")
    inversion_steps: int = _opt(10, "inversion grid size n (stride T // n)")
    inversion_guidance: float = _opt(-7.5, "guidance scale of the inversion")
    inversion_eta: float = _opt(0.3, "noise added at each inversion step, times its DDIM sigma")
    inversion: str = _opt("leading", "leading: the stride-T/n grid below t (the authors'); uniform: n evenly "
                                     "spaced steps from the clean latents (get3d before issue 21)",
                          ("leading", "uniform"))
    inversion_end: str = _opt("overshoot", "overshoot: invert to t + delta, delta ~ U[0, T/n) (the authors'); "
                                           "t: invert to t", ("overshoot", "t"))
    eta_mode: str = _opt("added", "added: eta noise on top of the DDIM step (the authors'); nominal: variance "
                                  "kept at its nominal level", ("added", "nominal"))
    negative_timestep: str = _opt("pass", "first inversion call at timestep offset - T/n (< 0): pass it to the "
                                          "UNet (the authors') or clamp it to 0", ("pass", "clamp"))
    steps_offset: int = _opt(1, "grid offset (the scheduler's steps_offset)")
    guidance_form: str = _opt("cond", "cond: eps_c + s(eps_c-eps_u) (threestudio); uncond: eps_u + s(...)",
                              GUIDANCE_FORMS)
    loss_scale: str = _opt("reference", "reference: 0.5 mean((x-x0)^2)/B (the authors'); batch: grad (x-x0)/B",
                           LOSS_SCALES)


RULE_OPTIONS = {"sds": SDSOptions, "ism": ISMOptions, "sdi": SDIOptions}


# --------------------------------------------------------------------------------------------------
# get3d distill-2d (get3d.distill.playground.distill_2d): defaults stated once here, read by the
# library function and by the CLI's options; checked once (:meth:`Distill2dOptions.check`); recorded
# in the run's settings.json (``to_dict``, rules as a list and each rule's options filled in).
@dataclass(frozen=True)
class Distill2dOptions:
    rules: str = "sds"  # comma-separated, of RULE_OPTIONS: each rule optimises its own image
    steps: int = 200  # optimisation steps per rule
    lr: float = 0.05  # Adam on the latents (ours: a grey start reaches a readable image in ~200 steps)
    every: int = 50  # an image every K steps (and the last)
    seed: int = 0  # noise stream, the same for every rule
    negative_prompt: str = ""  # the unconditional prompt
    max_bad_steps: int = 10  # non-finite steps in a row that stop a rule
    perp_neg: bool = False  # Perp-Neg: the other views' prompts as negatives, as for a view at ``azimuth``
    azimuth: float = 0.0  # degrees from the front (perp_neg)
    rule_options: Optional[dict] = None  # {rule: {field: value}} over the rule's defaults (None: defaults)

    def rule_names(self) -> list[str]:
        """``rules`` as a list of known rule names, in order, without repeats."""
        text = self.rules
        items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
        if not items:
            raise Get3dError(f"rules (--rule): give at least one of {', '.join(RULE_OPTIONS)}")
        for item in items:
            if item not in RULE_OPTIONS:
                raise Get3dError(f"rules (--rule): unknown rule {item!r}; choose from {', '.join(RULE_OPTIONS)}")
        return list(dict.fromkeys(items))

    def check(self) -> "Distill2dOptions":
        names = self.rule_names()
        if not (isinstance(self.steps, int) and self.steps >= 0):
            raise Get3dError(f"steps (--steps) must be >= 0, got {self.steps!r}")
        if not (isinstance(self.every, int) and self.every >= 1):
            raise Get3dError(f"every (--every) must be >= 1, got {self.every!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise Get3dError(f"lr (--lr) must be a positive number, got {self.lr!r}")
        if not (isinstance(self.max_bad_steps, int) and self.max_bad_steps >= 1):
            raise Get3dError(f"max_bad_steps must be >= 1, got {self.max_bad_steps!r}")
        if not (isinstance(self.azimuth, (int, float)) and math.isfinite(self.azimuth)):
            raise Get3dError(f"azimuth (--azimuth) must be a finite number, got {self.azimuth!r}")
        extra = sorted(set(self.rule_options or {}) - set(names))
        if extra:
            raise Get3dError(f"rule_options: options for rule {extra[0]!r}, which is not run (rules {','.join(names)})")
        return self

    def to_dict(self) -> dict:
        record = asdict(self)
        record["rules"] = self.rule_names()
        record["rule_options"] = {k: dict(v) for k, v in (self.rule_options or {}).items()}
        if not self.perp_neg:  # the view azimuth only acts through Perp-Neg (and older records hold None)
            record["azimuth"] = None
        return record
