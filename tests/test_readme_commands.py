"""Issue 24: the README's commands run as written. Every `get3d ...` line of README.md (its bash
blocks and the "Which command do I want?" table) is run, in README order, from one working folder
(relative paths and default output folders as a user gets them), with only these changes:

- tiny-setting options are APPENDED (click takes the last value: fewer seeds, steps, views and
  smaller resolutions; nothing the command needs is added);
- what no test machine has is stood in for: the placeholders DATA, RUN, MESHES, SD, chair.glb,
  model.pt, data/cars, runs/cars, ShapeNetCore.v2/... exist in the folder as tiny versions; the
  Stable Diffusion hub id and the default CLIP models are a tiny random pipeline / CLIP saved on
  disk; `--ckpt ...` is the bundled tiny-chair; Inception is a tiny TorchScript net via
  $GET3D_INCEPTION;
- NOT_RUN lists, with the reason, the commands no CPU test can run (a GPU-sized preset).

A command that fails as written (a missing required option, a path that is not there, a default
that cannot run) fails this test with its command line and output.
"""
import re
import shlex
import shutil
import time
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
SD_HUB_IDS = ("stabilityai/stable-diffusion-2-1-base",)

# Appended to each command (tiny settings only).
TINY = {
    "demo": ["--quick", "--quiet"],
    "geometry-demo": ["--res", "16"],
    "tet-grid": ["--res", "16"],
    "generate": ["--seeds", "0", "--texture-res", "16", "--preview-views", "1", "--quiet"],
    "interpolate": ["--res", "32", "--steps", "2", "--texture-res", "16"],
    "render-dataset": ["--views", "1", "--res", "16", "--workers", "0"],
    "synth-data": ["--num-shapes", "2", "--views", "2", "--res", "32", "--workers", "0"],
    "check-data": ["--quiet"],
    "train": ["--max-steps", "1", "--resolution", "32", "--quiet", "--device", "cpu"],
    "metrics": ["--num-images", "4", "--num-shapes", "2", "--num-points", "64", "--batch", "2", "--clip-images", "1",
                "--clip-views", "1", "--quiet"],
    "distill-2d": ["--steps", "1", "--every", "1"],
    "refine": ["--steps", "1", "--texture-res", "16", "--preview-res", "16", "--tet-res", "16", "--fit-steps", "1",
               "--batch", "1"],
    "finetune-text": ["--iters", "1", "--batch", "1", "--views", "1", "--grid-seeds", "1", "--quiet"],
    "convert-official": [],
    "invert": ["--views", "2", "--candidates", "2", "--steps", "1", "--texture-res", "16", "--res", "32", "--quiet"],
}
NOT_RUN = {
    "--preset shapenet-car": "GET3D's full-size model (1024^2, tet_res 90): a GPU run, not a CPU test",
    "get3d view": "serves a folder until interrupted (tests/export starts and stops it)",
}
SLOW = ("distill-2d", "refine")  # the tiny Stable Diffusion's SDI costs ~8 s a step on 2 cores


def readme_commands(text: str) -> list[str]:
    """Every get3d command line of the README, in order: bash-block lines (continuations joined,
    comments dropped) and the backticked commands of the "Which command do I want?" table."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("get3d "):
                commands.append(" ".join(line.split()))
    table = text.split("### Which command do I want?", 1)[-1].split("\n#", 1)[0]
    for row in (line for line in table.splitlines() if line.startswith("|")):
        for code in re.findall(r"`(get3d [^`]+)`", row):
            commands.append(" ".join(code.split()))
    return commands


def _subcommand(command: str) -> str:
    words = [w for w in shlex.split(command)[1:] if not w.startswith("-")]
    return words[0] if words else ""


def test_the_readme_has_commands_and_every_subcommand_has_tiny_settings():
    commands = readme_commands(README.read_text())
    assert len(commands) >= 20
    for command in commands:
        sub = _subcommand(command)
        assert sub in TINY or command == "get3d --help" or any(k in command for k in NOT_RUN), command


class _PooledColours(torch.nn.Module):
    """A tiny stand-in with Inception's call convention: uint8 images [B,3,H,W] -> features [B,12]."""

    def forward(self, x, return_features: bool = True):
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 2).flatten(1)


def _script_inception(path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_PooledColours()).save(str(path))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The folder the README's commands run in, with its placeholders as tiny stand-ins."""
    import trimesh

    from get3d.datasets.render_dataset import RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset
    from get3d.checkpoint import load_generator
    from get3d.snapshot import write_snapshot

    root = tmp_path_factory.mktemp("readme")
    data = root / "DATA"
    make_synthetic_dataset("chair", 2, data, RenderSettings(views=2, resolution=32, backend="torch"), workers=0,
                           progress=False)
    shutil.copytree(data, root / "data" / "cars")
    G, config = load_generator("tiny-chair", device="cpu")
    for run in ("RUN", "runs/cars"):
        write_snapshot(root / run, 0, {"G_ema": G}, config=config, save_rng=False)
    box = trimesh.creation.box((1.0, 0.6, 0.4))
    box.visual.face_colors = [200, 30, 30, 255]
    for folder in ("MESHES/chair", "ShapeNetCore.v2/02958343/box1/models"):
        (root / folder).mkdir(parents=True)
    box.export(root / "MESHES" / "chair" / "box.ply")
    box.export(root / "ShapeNetCore.v2" / "02958343" / "box1" / "models" / "model_normalized.obj")
    box.export(root / "chair.glb")
    if (FIXTURES / "get3d-official-small" / "official.pt").is_file():
        shutil.copy(FIXTURES / "get3d-official-small" / "official.pt", root / "model.pt")
    return root


def _prepare(command: str, workdir: Path, models: dict) -> list[str] | None:
    args = shlex.split(command)[1:]
    sub = _subcommand(command)
    if "model.pt" in args and not (workdir / "model.pt").is_file():
        return None
    args = [models["sd"] if a in SD_HUB_IDS or a == "SD" else a for a in args]
    args = ["tiny-chair" if a == "..." and i > 0 and args[i - 1] == "--ckpt" else a for i, a in enumerate(args)]
    extra = list(TINY.get(sub, []))
    if sub in ("finetune-text",) or (sub == "metrics" and "clip" in command):
        extra += ["--clip", models["clip"]]
    return args + extra


def _run_readme(workdir, monkeypatch, models, which):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GET3D_INCEPTION", str(_script_inception(workdir / "inception.pt")))
    failures, ran = [], 0
    for command in readme_commands(README.read_text()):
        if any(key in command for key in NOT_RUN) or not which(_subcommand(command)):
            continue
        args = _prepare(command, workdir, models)
        if args is None:
            continue
        start = time.perf_counter()
        result = CliRunner().invoke(cli, args)
        print(f"{time.perf_counter() - start:6.1f} s  {command}")  # shown with -s or on failure
        ran += 1
        if result.exit_code != 0:
            failures.append(f"{command}\n  ran as: get3d {' '.join(args)}\n  {result.output[-1500:]}")
    assert not failures, "README commands that fail as written:\n" + "\n".join(failures)
    return ran


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tests.text.stand_ins import save_tiny_clip

    found = {"clip": str(save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip"))}
    try:
        from get3d.distill.tiny import save_tiny_pipeline

        found["sd"] = str(save_tiny_pipeline(tmp_path_factory.mktemp("sd") / "sd"))
    except ImportError:  # diffusers absent: the SD commands are skipped by their test
        found["sd"] = None
    return found


def test_readme_commands_run_as_written(workdir, monkeypatch, models):
    ran = _run_readme(workdir, monkeypatch, models, lambda sub: sub not in SLOW)
    assert ran >= 15
    assert (workdir / "out" / "demo").is_dir()  # defaults land where the README says


@pytest.mark.slow
def test_readme_score_distillation_commands_run_as_written(workdir, monkeypatch, models):
    if models["sd"] is None:
        pytest.skip("diffusers is not installed (pip install -e '.[text]')")
    assert _run_readme(workdir, monkeypatch, models, lambda sub: sub in SLOW) >= 3
