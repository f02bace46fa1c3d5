"""Mutation check: break one line of a core function, run the tests aimed at it, expect a failure.

    OMP_NUM_THREADS=1 python3 scripts/mutate.py            # every mutation, JSON table on stdout
    python3 scripts/mutate.py --only dmtet-zero-inside      # one (or several, comma-separated)
    python3 scripts/mutate.py --list                        # ids and targets, runs nothing
    python3 scripts/mutate.py --baseline                    # also run each target unmutated first
    python3 scripts/mutate.py --markdown table.json         # a saved run as a Markdown table

Each mutation replaces one exact substring that must occur exactly once in its file (a stale
entry is reported as an error row, never silently skipped). The tree you run from is never
modified: the tracked and untracked (not ignored) files are copied once into a temporary folder
(`<tmp>/repo`, with `<tmp>/shared` linked to this tree's `../shared` so tests that read reference
fixtures behave as here), each mutation is written into the copy, its tests run there with
`PYTHONPATH=<tmp>/repo`, and the file is restored from the original text before the next one.
The table (one JSON object per mutation: id, file, line, from, to, caught, by = the first failing
test, tests = the targets) goes to stdout; progress to stderr. Exit status 1 when a mutation
survives (or a baseline fails, or an entry is stale), else 0.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to the repository root
    old: str  # exact text, found exactly once in the file, on one line
    new: str
    tests: tuple[str, ...]  # pytest node ids or paths
    why: str = ""  # what a right test asserts that the mutation breaks


M = Mutation
MUTATIONS: list[Mutation] = [
    # --- distill: refine resume (issue 23 point 1) ---
    M("resume-skip-asset", "get3d/distill/refine_run.py",
      'restore_modules(tensors, {"asset": params}, source=str(path))', "pass",
      ("tests/distill/test_refine_cli.py::test_resume_auto_continues_the_step_count_and_gives_the_uninterrupted_run",),
      "resume must restore the asset's tensors"),
    M("resume-skip-asset-mesh", "get3d/distill/refine_run.py",
      'restore_modules(tensors, {"asset": params}, source=str(path))', "pass",
      ("tests/distill/test_refine_mesh.py::test_mesh_refine_resumes_without_refitting_and_gives_the_uninterrupted_run",),
      "a resumed mesh refine must restore the asset (not refit or restart it)"),
    M("resume-skip-adam", "get3d/distill/refine_run.py",
      'restore_optimizers(tensors, meta, {"adam": optimizer}, source=str(path))', "pass",
      ("tests/distill/test_refine_cli.py::test_resume_auto_continues_the_step_count_and_gives_the_uninterrupted_run",),
      "resume must restore Adam's moments"),
    # --- CLIP loss and preprocessing (point 3) ---
    M("clip-first-template-only", "get3d/text/finetune.py",
      'templates = IMAGENET_TEMPLATES if options.templates', 'templates = IMAGENET_TEMPLATES[:1] if options.templates',
      ("tests/text/test_clip_inputs.py",), "the fine-tune averages over all 79 templates"),
    M("clip-direction-drops-a-template", "get3d/text/loss.py",
      'templates = list(templates) or ["{}"]', 'templates = list(templates)[1:] or ["{}"]',
      ("tests/text/test_clip_inputs.py",), "text_direction averages over every template given"),
    M("clip-direction-not-normalised", "get3d/text/loss.py",
      'src = F.normalize(encoder.encode_text([t.format(source) for t in templates]).float(), dim=-1)',
      'src = encoder.encode_text([t.format(source) for t in templates]).float()',
      ("tests/text/test_clip_inputs.py", "tests/text/test_finetune.py"), "embeddings are normalised per template"),
    M("clip-no-normalisation", "get3d/text/encoder.py",
      "return (images - mean_t) / std_t", "return images",
      ("tests/text/test_clip_inputs.py",), "CLIP's pixel normalisation"),
    M("clip-no-antialias", "get3d/text/encoder.py",
      "antialias=scale < 1)", "antialias=False)",
      ("tests/text/test_clip_inputs.py",), "shrinking is antialiased as PIL does"),
    M("clip-corner-crop", "get3d/text/encoder.py",
      "top, left = (new_h - crop) // 2, (new_w - crop) // 2", "top, left = 0, 0",
      ("tests/text/test_clip_inputs.py",), "a centre crop"),
    M("clip-encoder-mean-std-swapped", "get3d/text/encoder.py",
      "self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)",
      "self.mean, self.std = tuple(float(s) for s in std), tuple(float(m) for m in mean)",
      ("tests/text/test_clip_inputs.py",), "the encoder normalises with CLIP's mean and std"),
    # --- UV bake (point 6 and own) ---
    M("uv-general-no-row-flip", "get3d/export/uv_bake.py",
      "return torch.flip(points[0], dims=[0]), torch.flip(covered, dims=[0])", "return points[0], covered",
      ("tests/export/test_uv_bake.py",), "the general (GPU) UV path returns image rows, v = 1 on top"),
    M("uv-scan-no-row-flip", "get3d/export/uv_bake.py",
      "points = points.view(res, res, 3).flip(0)", "points = points.view(res, res, 3)",
      ("tests/export/test_uv_bake.py",), "the scan path's points are in image rows"),
    M("uv-scan-texel-corner", "get3d/export/uv_bake.py",
      "corners = (uvs.double()[faces] * res - 0.5).float()", "corners = (uvs.double()[faces] * res).float()",
      ("tests/export/test_uv_bake.py",), "texel centres at (i + 0.5) / R"),
    M("uv-dilate-sum-not-mean", "get3d/export/uv_bake.py",
      "colour = torch.where(grow, colour_sum / weight_sum.clamp_min(1e-8), colour)",
      "colour = torch.where(grow, colour_sum, colour)",
      ("tests/export/test_uv_bake.py",), "dilation gives the mean of filled neighbours"),
    M("uv-bake-unfilled-black", "get3d/export/uv_bake.py",
      "texture[~filled] = colours.mean(0).clamp(0, 1)", "pass",
      ("tests/export/test_uv_bake.py",), "no background texel anywhere"),
    M("uv-sample-v-not-flipped", "get3d/export/uv_bake.py",
      "grid = torch.stack([uvs[:, 0] * 2 - 1, (1 - uvs[:, 1]) * 2 - 1], -1)[None, None]",
      "grid = torch.stack([uvs[:, 0] * 2 - 1, uvs[:, 1] * 2 - 1], -1)[None, None]",
      ("tests/export/test_uv_bake.py",), "sample_texture reads v up"),
    # --- torch rasterizer (point 7 and own) ---
    M("raster-db-width-height-swapped", "get3d/render/raster_torch.py",
      "kx, ky = (2.0 / w) / sd, (2.0 / h) / sd", "kx, ky = (2.0 / h) / sd, (2.0 / w) / sd",
      ("tests/render/test_raster_torch.py",), "rast_db in pixel units on non-square images"),
    M("raster-pixel-centre-corner", "get3d/render/raster_torch.py",
      "xs, xo = 2.0 / w, 1.0 / w - 1.0", "xs, xo = 2.0 / w, -1.0",
      ("tests/render/test_raster_torch.py",), "samples at pixel centres"),
    M("raster-depth-far-wins", "get3d/render/raster_torch.py",
      'zbuf.scatter_reduce_(0, pix[covered], key, reduce="amin")',
      'zbuf.scatter_reduce_(0, pix[covered], key, reduce="amax")',
      ("tests/render/test_raster_torch.py",), "the nearest triangle wins"),
    M("raster-no-near-far-clip", "get3d/render/raster_torch.py",
      "covered &= (zw >= -1.0) & (zw <= 1.0)", "covered &= zw == zw",
      ("tests/render/test_raster_torch.py",), "per-pixel near/far clipping"),
    M("raster-affine-barycentrics", "get3d/render/raster_torch.py",
      "b0, b1 = a[:, 0] / s, a[:, 1] / s", "b0, b1 = a[:, 0] / s * v[:, 0, 3], a[:, 1] / s * v[:, 1, 3]",
      ("tests/render/test_raster_torch.py",), "perspective-correct barycentrics"),
    # --- training losses, lazy R1 (point 8 and own) ---
    M("r1-every-step", "get3d/training/step.py",
      "if ok and step % t.r1_interval == 0:", "if ok:",
      ("tests/training/test_loop.py::test_lazy_r1_runs_every_r1_interval_steps_scaled_by_the_interval",),
      "R1 runs only every r1_interval steps"),
    M("r1-interval-not-passed", "get3d/training/step.py",
      "loss, more = loss_fn.r1_loss(real_rgb, real_mask, real_labels, t.r1_interval)",
      "loss, more = loss_fn.r1_loss(real_rgb, real_mask, real_labels, 1)",
      ("tests/training/test_loop.py::test_lazy_r1_runs_every_r1_interval_steps_scaled_by_the_interval",),
      "lazy R1 is scaled by the interval"),
    M("r1-loss-not-scaled", "get3d/training/loss.py",
      "loss = (self.gamma_rgb / 2 * r1_rgb + self.gamma_mask / 2 * r1_mask) * interval",
      "loss = (self.gamma_rgb / 2 * r1_rgb + self.gamma_mask / 2 * r1_mask)",
      ("tests/training/test_loss.py",), "R1 loss = gamma/2 * R1 * interval"),
    M("r1-gamma-mask-ignored", "get3d/training/loss.py",
      "self.gamma_mask = float(train.r1_gamma if train.r1_gamma_mask is None else train.r1_gamma_mask)",
      "self.gamma_mask = float(train.r1_gamma)",
      ("tests/training/test_loss.py",), "D_mask has its own gamma"),
    M("r1-sum-over-batch", "get3d/training/loss.py",
      "return grad.square().sum(dim=[1, 2, 3]).mean()", "return grad.square().sum()",
      ("tests/training/test_loss.py",), "R1 is the batch mean of per-sample squared gradient norms"),
    M("lazy-adam-not-rescaled", "get3d/training/loss.py",
      "return lr * c, (betas[0] ** c, betas[1] ** c)", "return lr, tuple(betas)",
      ("tests/training/test_loss.py",), "StyleGAN2's lazy Adam rescaling"),
    M("d-adam-not-lazy", "get3d/training/step.py",
      "d_lr, d_betas = lazy_adam_params(t.lr_d, tuple(t.betas), t.r1_interval)", "d_lr, d_betas = t.lr_d, tuple(t.betas)",
      ("tests/training/test_variants.py", "tests/training/test_loss.py"), "the discriminators' Adam is rescaled for lazy R1"),
    M("g-loss-saturating", "get3d/training/loss.py",
      "return F.softplus(-fake_logits).flatten()", "return -F.softplus(fake_logits).flatten()",
      ("tests/training/test_loss.py",), "the non-saturating generator loss"),
    M("d-loss-real-sign", "get3d/training/loss.py",
      "return F.softplus(fake_logits).flatten() + F.softplus(-real_logits).flatten()",
      "return F.softplus(fake_logits).flatten() + F.softplus(real_logits).flatten()",
      ("tests/training/test_loss.py",), "reals are pushed up"),
    M("d-input-range", "get3d/training/loss.py",
      "return img * 2 - 1", "return img",
      ("tests/training/test_loss.py",), "D sees [-1, 1]"),
    # --- GET3D converter (point 9 and own) ---
    M("official-motorbike-grid-scale", "get3d/categories.py",
      '"shapenet_motorbike", r1_gamma=80.0),', '"shapenet_motorbike", grid_scale=0.8, r1_gamma=80.0),',
      ("tests/official/test_official.py",), "motorbike's dmtet_scale is 1.0"),
    M("official-synset-alias", "get3d/categories.py",
      'Category("motorbike", "03790512"', 'Category("motorbike", "03790513"',
      ("tests/official/test_official.py",), "synset 03790512 is motorbike"),
    M("official-w-avg-beta", "get3d/official.py",
      "w_avg_beta=0.998,", "w_avg_beta=0.995,",
      ("tests/official/test_official.py",), "GET3D tracks w_avg with decay 0.998"),
    M("official-deformation-multiplier", "get3d/official.py",
      "deformation_multiplier=1.0, conv_clamp=None", "deformation_multiplier=2.0, conv_clamp=None",
      ("tests/official/test_official.py",), "converted deformation scale 1 / tet_res"),
    M("generator-deformation-halved", "get3d/networks/generator.py",
      "deformation = torch.tanh(deformation.float()) / (self.tet_res * self.deformation_multiplier)",
      "deformation = torch.tanh(deformation.float()) / (2 * self.tet_res * self.deformation_multiplier)",
      ("tests/official/test_official.py",), "deformation = tanh(raw) / (tet_res * multiplier)"),
    M("generator-sdf-sign", "get3d/networks/generator.py",
      "sdf = -sdf_get3d[..., 0].float()", "sdf = sdf_get3d[..., 0].float()",
      ("tests/official/test_official.py",), "get3d's SDF is GET3D's negated"),
    M("official-texture-mapping-name", "get3d/official.py",
      'key = "mapping_tex." + key[len("mapping."):]', 'key = "mapping_geo." + key[len("mapping."):]',
      ("tests/official/test_official.py",), "GET3D's mapping.* is the texture mapping"),
    M("official-mask-d-prefix", "get3d/official.py",
      'if key.startswith("mask_"):', 'if key.startswith("mask_b"):',
      ("tests/official/test_official.py",), "mask_mapping.* belongs to the mask discriminator"),
    # --- DMTet (point 11 and own) ---
    M("dmtet-zero-inside", "get3d/geometry/dmtet.py",
      "inside = sdf < 0  # [B,N]", "inside = sdf <= 0  # [B,N]",
      ("tests/geometry/test_dmtet.py",), "an SDF of exactly 0 is outside"),
    M("dmtet-crossing-midpoint", "get3d/geometry/dmtet.py",
      "mesh_verts = (p_a * s_b - p_b * s_a) / denom", "mesh_verts = (p_a + p_b) / 2",
      ("tests/geometry/test_dmtet.py",), "vertices at the linear zero crossing"),
    M("dmtet-drop-second-triangle", "get3d/geometry/dmtet.py",
      "face_local = torch.cat([local[:, 0], local[two, 1]])  # [F,3]",
      "face_local = torch.cat([local[:, 0], local[two, 0]])  # [F,3]",
      ("tests/geometry/test_dmtet.py",), "two-inside tets give two triangles"),
    M("dmtet-winding-flipped", "get3d/geometry/dmtet.py",
      "if np.dot(np.cross(p[1] - p[0], p[2] - p[0]), outward) < 0:",
      "if np.dot(np.cross(p[1] - p[0], p[2] - p[0]), outward) > 0:",
      ("tests/geometry/test_dmtet.py",), "faces wind counter-clockwise seen from outside"),
    M("dmtet-reg-zero-inside", "get3d/geometry/dmtet.py",
      "mixed = (s_a < 0) != (s_b < 0)", "mixed = (s_a <= 0) != (s_b <= 0)",
      ("tests/geometry/test_dmtet.py",), "the SDF regulariser uses the same rule for 0"),
    M("dmtet-reg-targets", "get3d/geometry/dmtet.py",
      "bce = F.binary_cross_entropy_with_logits(s_a, (s_b >= 0).to(sdf.dtype), reduction=\"none\") + \\",
      "bce = F.binary_cross_entropy_with_logits(s_a, (s_a >= 0).to(sdf.dtype), reduction=\"none\") + \\",
      ("tests/geometry/test_dmtet.py",), "each end is pushed toward its neighbour's sign"),
    M("dmtet-empty-zero-inside", "get3d/geometry/dmtet.py",
      "any_outside = (checked >= 0).any(-1)", "any_outside = (checked > 0).any(-1)",
      ("tests/geometry/test_dmtet.py",), "a shape of zeros and positives is empty"),
    M("dmtet-empty-template-detached", "get3d/geometry/dmtet.py",
      "template = sdf.detach().clone()", "template = sdf.clone()",
      ("tests/geometry/test_dmtet.py",), "only the empty loss sends gradient to empty shapes"),
    # --- training speed options (point 12) ---
    M("speed-d-not-channels-last", "get3d/training/step.py",
      "d.to(memory_format=torch.channels_last)", "d.to(memory_format=torch.contiguous_format)",
      ("tests/training/test_speed_options.py",), "channels_last converts the discriminators"),
    M("speed-inputs-not-channels-last", "get3d/training/loss.py",
      "return img.contiguous(memory_format=torch.channels_last) if self.channels_last else img", "return img",
      ("tests/training/test_speed_options.py",), "channels_last feeds D channels-last images"),
    M("speed-amp-on-cpu", "get3d/training/step.py",
      'if t.mixed_precision and device.type == "cuda":', "if t.mixed_precision:",
      ("tests/training/test_speed_options.py",), "mixed precision is ignored on the CPU"),
    M("speed-amp-never-enabled", "get3d/training/loss.py",
      "enabled=self.autocast is not None)", "enabled=False)",
      ("tests/training/test_speed_options.py",), "the autocast dtype is used"),
    M("speed-logits-left-bf16", "get3d/training/loss.py",
      "return D(self._prep_mask(img) if mask else self._prep(img), labels).float()",
      "return D(self._prep_mask(img) if mask else self._prep(img), labels)",
      ("tests/training/test_speed_options.py",), "logits go back to float32 before the loss"),
    M("speed-compile-skips-d", "get3d/training/step.py",
      "            d.compile()", "            pass",
      ("tests/training/test_speed_options.py",), "compile compiles the discriminators"),
    M("bench-error-as-row", "bench/train.py",
      "except torch.cuda.OutOfMemoryError as err:", "except Exception as err:",
      ("tests/training/test_speed_options.py",), "the GPU bench fails loudly on anything but out-of-memory"),
    M("speed-r1-through-compiled", "get3d/training/step.py",
      'kwargs["D_rgb_reg"] = state.D_rgb.forward', "pass",
      ("tests/training/test_speed_options.py",), "R1 uses the plain forward (no double backward through compile)"),
    # --- distillation rules (code landed on main; the rules helper owns get3d/distill/rules.py) ---
    M("sds-weight-abar", "get3d/distill/rules.py",
      'weight = {"sds": 1 - abar,', 'weight = {"sds": abar,',
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "SDS weights by w(t) = 1 - abar_t"),
    M("sds-noise-scale", "get3d/distill/rules.py",
      "x_t = abar.sqrt() * x + (1 - abar).sqrt() * noise", "x_t = abar.sqrt() * x + (1 - abar) * noise",
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "forward diffusion x_t = sqrt(abar) x + sqrt(1 - abar) noise"),
    M("sds-sqrt-weighting", "get3d/distill/rules.py",
      '"sqrt": (1 - abar).sqrt()}', '"sqrt": 1 - abar}',
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "weighting='sqrt' is sqrt(1 - abar_t)"),
    M("ism-scale", "get3d/distill/rules.py",
      "update = self.lambda_ism * ((1 - abar_t) / abar_t).sqrt() * (eps_hat - target)",
      "update = self.lambda_ism * (eps_hat - target)",
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "ISM's sqrt((1 - abar_t) / abar_t) factor"),
    M("sdi-eta-noise-dropped", "get3d/distill/rules.py",
      "x = x + self.inversion_eta * noise[k].to(x) * sigma", "x = x",
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "SDI's stochastic inversion adds eta sigma noise"),
    M("sdi-eta-variance", "get3d/distill/rules.py",
      "sigma = ((1 - a) / (1 - b) * (1 - b / a)).sqrt()", "sigma = ((1 - a) / (1 - b)).sqrt()",
      ("tests/distill/test_rules.py", "tests/distill/test_reference.py"), "the DDIM sigma of each inversion step"),
    # --- Stable Diffusion prior (tests by the rules helper, point 5) ---
    M("sd-encode-no-range-map", "get3d/distill/diffusion.py",
      "posterior = self.vae.encode((images * 2 - 1).to(self.dtype)).latent_dist",
      "posterior = self.vae.encode(images.to(self.dtype)).latent_dist",
      ("tests/distill/test_diffusion.py",), "encode maps [0,1] to the VAE's [-1,1]"),
    M("sd-encode-no-scaling", "get3d/distill/diffusion.py",
      "return posterior.mean * self.scaling_factor", "return posterior.mean",
      ("tests/distill/test_diffusion.py",), "latents are scaled by the VAE's scaling_factor"),
    M("sd-decode-no-range-map", "get3d/distill/diffusion.py",
      "return ((images.float() + 1) / 2).clamp(0, 1)", "return images.float().clamp(0, 1)",
      ("tests/distill/test_diffusion.py",), "decode maps [-1,1] back to [0,1]"),
    # --- dtypes (issue 22 point 7: each path in each dtype it claims, against a float64 reference) ---
    M("dtype-dmtet-float32-inside", "get3d/geometry/dmtet.py",
      "mesh_verts = (p_a * s_b - p_b * s_a) / denom",
      "mesh_verts = ((p_a * s_b - p_b * s_a) / denom).float().to(p_a.dtype)",
      ("tests/geometry/test_dmtet.py",), "float64 extraction keeps float64 precision"),
    M("dtype-dmtet-sdf-promotes", "get3d/geometry/dmtet.py",
      "s_a = sdf[cross_b, end_a].unsqueeze(-1).to(verts.dtype)", "s_a = sdf[cross_b, end_a].unsqueeze(-1)",
      ("tests/geometry/test_dmtet.py",), "mesh vertices come out in verts' dtype"),
    M("dtype-flexicubes-s-not-converted", "get3d/geometry/flexicubes.py",
      "s = s.reshape(-1).to(x.dtype)", "s = s.reshape(-1)",
      ("tests/geometry/test_flexicubes.py",), "s in another float dtype is computed in x's"),
    M("dtype-chamfer-float32-inside", "get3d/metrics/chamfer.py",
      "q = q.to(p.device, p.dtype)", "q = q.to(p.device, torch.float32)",
      ("tests/metrics/test_chamfer.py",), "both clouds in the first one's dtype"),
    M("dtype-triplane-float64-demoted", "get3d/networks/generator.py",
      "dtype = torch.promote_types(planes.dtype, torch.float32)", "dtype = torch.float32",
      ("tests/networks/test_triplane.py",), "float64 planes sample in float64"),
    M("dtype-raster-centres-float32", "get3d/render/raster_torch.py",
      "return px.to(dtype) * xs + xo, py.to(dtype) * ys + yo",
      "return px.to(torch.float32) * xs + xo, py.to(torch.float32) * ys + yo",
      ("tests/render/test_raster_torch.py",), "float64 rasterization samples float64 pixel centres"),
    M("dtype-rule-loss-in-half", "get3d/distill/rules.py",
      'diff = F.mse_loss(latents.float(), target.float().detach(), reduction="sum")',
      'diff = F.mse_loss(latents, target.to(latents.dtype).detach(), reduction="sum")',
      ("tests/distill/test_rules.py",), "the rule's loss is computed in float32 for half latents"),
]


def _copy_tree(dest: Path) -> None:
    """Tracked + untracked-not-ignored files of ROOT -> dest (no .git, no build outputs)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():  # deleted but still in the index
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out)


def _line_of(text: str, old: str) -> int:
    return text[:text.index(old)].count("\n") + 1


def _run_tests(repo: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, str | None, str]:
    """-> (passed, first failing test id or None, tail of the output)."""
    report = repo / ".mutate-junit.xml"
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
    try:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "(timeout)", ""
    tail = (proc.stdout + proc.stderr)[-2000:]
    failing = None
    if report.exists():
        for case in ET.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failing = f"{case.get('classname')}::{case.get('name')}"
                break
        report.unlink()
    if proc.returncode not in (0, 1):  # 2-5: interrupted, internal error, usage error, nothing collected
        failing = failing or f"(pytest exit {proc.returncode})"
    return proc.returncode == 0, failing, tail


def _markdown(rows: list[dict]) -> str:
    why = {m.id: m.why for m in MUTATIONS}
    out = ["| mutation | file:line | breaks | caught | by (first failing test) |", "|---|---|---|---|---|"]
    for r in rows:
        by = (r.get("by") or r.get("error") or "").replace("tests.", "", 1).replace("|", "\\|")
        where = f"{r['file']}:{r.get('line', '?')}"
        out.append(f"| `{r['id']}` | {where} | {why.get(r['id'], '')} | {'yes' if r.get('caught') else '**NO**'} | "
                   f"{by} |")
    caught = sum(bool(r.get("caught")) for r in rows)
    out.append("")
    out.append(f"{caught} of {len(rows)} mutations caught.")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated mutation ids")
    ap.add_argument("--list", action="store_true", help="print the mutations and exit")
    ap.add_argument("--baseline", action="store_true", help="run each mutation's tests unmutated first")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run")
    ap.add_argument("--markdown", metavar="JSON", help="print a saved run's table as Markdown and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        print(_markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    chosen = MUTATIONS
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(wanted) - {m.id for m in MUTATIONS})
        if unknown:
            ap.error(f"unknown mutation id(s): {', '.join(unknown)}")
        chosen = [m for m in MUTATIONS if m.id in wanted]
    if args.list:
        for m in chosen:
            print(json.dumps({"id": m.id, "file": m.file, "from": m.old, "to": m.new, "tests": list(m.tests)}))
        return 0
    ids = [m.id for m in MUTATIONS]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SystemExit(f"duplicate mutation ids: {dupes}")

    rows, bad = [], False
    with tempfile.TemporaryDirectory(prefix="get3d-mutate-") as tmp:
        repo = Path(tmp) / "repo"
        _copy_tree(repo)
        shared = (ROOT / ".." / "shared").resolve()
        if shared.is_dir():
            (Path(tmp) / "shared").symlink_to(shared, target_is_directory=True)
        for i, m in enumerate(chosen, 1):
            path = repo / m.file
            original = path.read_text()
            row = {"id": m.id, "file": m.file, "from": m.old, "to": m.new, "why": m.why, "tests": list(m.tests)}
            count = original.count(m.old)
            if count != 1 or "\n" in m.old:
                row.update(caught=False, by=None, error=f"the text occurs {count} times in {m.file} (stale entry)")
                rows.append(row)
                bad = True
                print(f"[{i}/{len(chosen)}] {m.id}: STALE", file=sys.stderr)
                continue
            row["line"] = _line_of(original, m.old)
            if args.baseline:
                passed, failing, tail = _run_tests(repo, m.tests, args.timeout)
                row["baseline_passed"] = passed
                if not passed:
                    bad = True
                    print(f"[{i}/{len(chosen)}] {m.id}: baseline FAILS ({failing})\n{tail}", file=sys.stderr)
            try:
                path.write_text(original.replace(m.old, m.new, 1))
                passed, failing, tail = _run_tests(repo, m.tests, args.timeout)
            finally:
                path.write_text(original)
            row.update(caught=not passed, by=failing)
            bad |= passed
            print(f"[{i}/{len(chosen)}] {m.id}: {'caught by ' + str(failing) if not passed else 'SURVIVED'}",
                  file=sys.stderr)
            rows.append(row)
    print(json.dumps(rows, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
