"""Mutation check: break one line of a core function, run the tests aimed at it, expect a failure.

    OMP_NUM_THREADS=1 python3 scripts/mutate.py            # every mutation, JSON table on stdout
    python3 scripts/mutate.py --only dmtet-zero-inside      # one (or several, comma-separated)
    python3 scripts/mutate.py --list                        # ids and targets, runs nothing
    python3 scripts/mutate.py --baseline                    # also run each target unmutated first

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
    M("resume-skip-asset", "get3d/distill/refine.py",
      'restore_modules(tensors, {"asset": params}, source=str(path))', "pass",
      ("tests/distill/test_refine_cli.py::test_resume_auto_continues_the_step_count_and_gives_the_uninterrupted_run",),
      "resume must restore the asset's tensors"),
    M("resume-skip-asset-mesh", "get3d/distill/refine.py",
      'restore_modules(tensors, {"asset": params}, source=str(path))', "pass",
      ("tests/distill/test_refine_mesh.py::test_mesh_refine_resumes_without_refitting_and_gives_the_uninterrupted_run",),
      "a resumed mesh refine must restore the asset (not refit or restart it)"),
    M("resume-skip-adam", "get3d/distill/refine.py",
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated mutation ids")
    ap.add_argument("--list", action="store_true", help="print the mutations and exit")
    ap.add_argument("--baseline", action="store_true", help="run each mutation's tests unmutated first")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run")
    args = ap.parse_args(argv)
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
            row = {"id": m.id, "file": m.file, "from": m.old, "to": m.new, "tests": list(m.tests)}
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
