"""``get3d distill-2d``: what each rule does to one image, in a minute.

Each rule optimises one latent image (initialised by encoding a uniform grey image) with Adam,
starting from the same point and the same random stream, so rules are compared on equal terms.
Written to ``outdir``: ``<rule>/final.png``, ``<rule>/step_NNNNN.png`` every ``every`` steps, and
``grid.png`` with one row per rule and one column per snapshot (the last column is the final
image; labelled with the prompt, the rules and the steps, tiles enlarged to at least 128 px), plus
``settings.json``. A step whose loss or gradient is not finite is skipped and
counted; ``max_bad_steps`` of them in a row stop that rule with an error.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from get3d.distill.options import Distill2dOptions
from get3d.distill.perpneg import view_embeddings
from get3d.distill.prior import check_prior
from get3d.distill.rules import NonFiniteUpdate, make_rule
from get3d.distill.views import SUFFIXES
from get3d.errors import Get3dError
from get3d.export.previews import labelled_grid, save_image

__all__ = ["Playground2dResult", "distill_2d", "parse_rules"]


@dataclass
class Playground2dResult:
    images: dict  # rule -> final image [H,W,3] in [0,1]
    losses: dict  # rule -> list of per-step losses
    skipped: dict = field(default_factory=dict)  # rule -> non-finite steps skipped
    files: list = field(default_factory=list)


def parse_rules(text) -> list[str]:
    """'sds,ism' (or a list) -> ['sds', 'ism']: known rules, in order, without repeats."""
    return Distill2dOptions(rules=text).rule_names()


def distill_2d(prior, prompt: str, options: Optional[Distill2dOptions] = None, outdir=None, *,
               progress: bool = False, settings: Optional[dict] = None) -> Playground2dResult:
    """Run the playground (see the module docstring) with ``options`` (get3d.distill.options.
    Distill2dOptions: rules, steps, lr, every, seed, negative prompt, Perp-Neg, the rules' options;
    None: its defaults). ``options.perp_neg``: Perp-Neg guidance as for a view at ``azimuth``
    degrees from the front (elevation 0): the positive prompt is the view-interpolated ``prompt +
    view suffix`` and the other views' prompts are the negatives (get3d.distill.perpneg);
    ``negative_prompt`` stays the unconditional. ``settings``: extra entries for settings.json
    (the CLI's model)."""
    from tqdm import tqdm

    options = (options if options is not None else Distill2dOptions()).check()
    check_prior(prior)
    if not str(prompt).strip():
        raise Get3dError("prompt (--prompt) is empty: give the text the image should match")
    names = options.rule_names()
    steps, lr, every, seed = options.steps, options.lr, options.every, options.seed
    negative_prompt = options.negative_prompt
    rule_options = options.rule_options or {}
    rule_objects = {name: make_rule(name, **rule_options.get(name, {})) for name in names}
    # What settings.json records (and a re-run into the same folder is compared with): every
    # option, the rules' options filled in with their defaults.
    record = dict(settings or {}, prompt=prompt, **options.to_dict())
    record["rule_options"] = {n: r.options() for n, r in rule_objects.items()}
    outdir = Path(outdir) if outdir is not None else None
    if outdir is not None and (outdir / "settings.json").is_file():
        # Another run's images would stay beside this one's (a rule it had and this one lacks):
        # only the same settings may write here again (get3d.runs).
        from get3d.runs import check_same_settings

        try:
            saved = json.loads((outdir / "settings.json").read_text())
        except (OSError, ValueError):
            saved = {}
        check_same_settings(saved, record, (), outdir / "settings.json", what=f"{outdir} holds another distill-2d run",
                            advice="choose another --outdir (or remove that one)")
    device = prior.alphas_cumprod.device
    uncond, inverse = prior.embed_text([negative_prompt]), prior.embed_text([""])
    negatives = None
    if options.perp_neg:
        views = prior.embed_text([prompt + s for s in SUFFIXES])
        cond, negatives = view_embeddings(views, torch.tensor([float(options.azimuth)]), torch.tensor([0.0]))
    else:
        cond = prior.embed_text([prompt])
    grey = torch.full((1, 3, prior.image_size, prior.image_size), 0.5, device=device)
    with torch.no_grad():
        start = prior.encode(grey).float()
    result = Playground2dResult({}, {})
    rows = []
    for name, rule in rule_objects.items():
        latents = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([latents], lr=lr)
        gen = torch.Generator(device=device).manual_seed(seed)
        snapshots, losses, bad, streak = [], [], 0, 0
        bar = tqdm(total=steps, desc=f"distill-2d {name}", disable=not progress)  # counts steps: ends at N/N
        for step in range(steps + 1):
            if step > 0:
                bar.update(1)
            if step % every == 0 or step == steps:
                with torch.no_grad():
                    image = prior.decode(latents.detach())[0].float().cpu().permute(1, 2, 0)
                snapshots.append(image)
                if outdir is not None:
                    result.files.append(str(save_image(outdir / name / f"step_{step:05d}.png", image)))
            if step == steps:
                break
            opt.zero_grad(set_to_none=True)
            try:
                loss = rule.loss(latents, prior, cond, uncond, step, steps, generator=gen, inverse=inverse,
                                 perp_neg=negatives)
                loss.backward()
                finite = math.isfinite(float(loss.detach())) and bool(torch.isfinite(latents.grad).all())
            except NonFiniteUpdate:
                finite = False
            if not finite:
                bad, streak = bad + 1, streak + 1
                if streak >= options.max_bad_steps:
                    raise Get3dError(f"distill-2d {name}: {streak} non-finite steps in a row at step {step}; stopped")
                continue
            streak = 0
            losses.append(float(loss.detach()))
            opt.step()
        bar.close()
        result.images[name] = snapshots[-1]
        result.losses[name] = losses
        result.skipped[name] = bad
        rows.append(snapshots)
        if outdir is not None:
            result.files.append(str(save_image(outdir / name / "final.png", snapshots[-1])))
    if outdir is not None:
        cols = max(len(r) for r in rows)
        tiles = [r + [r[-1]] * (cols - len(r)) for r in rows]
        shown = [s for s in range(steps + 1) if s % every == 0 or s == steps]
        result.files.append(str(save_image(outdir / "grid.png", labelled_grid(
            tiles, row_labels=names, col_labels=[f"step {s}" for s in shown],
            title=f'"{prompt}" - {", ".join(names)} - {steps} steps, lr {lr:g}, seed {seed}'))))
        record.update(image_size=prior.image_size, skipped_steps=result.skipped,
                      final_loss={n: (v[-1] if v else None) for n, v in result.losses.items()})
        path = outdir / "settings.json"
        path.write_text(json.dumps(record, indent=2, default=str))
        result.files.append(str(path))
    return result
