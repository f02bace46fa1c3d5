"""Issue 24, points 4, 5, 7 and 8: README commands that run without the options they omit, progress
and "where are my outputs" for every long command, bad input stopped at the edge before anything is
written, and help texts that say what the code does."""
import json
import re

import pytest
from click.testing import CliRunner

from get3d.cli import cli


def _run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def _one_error_line(result, *culprits):
    assert result.exit_code != 0, result.output
    errors = [line for line in result.output.splitlines() if line.startswith(("get3d: error", "Error:"))]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for culprit in culprits:
        assert culprit in errors[0], errors[0]


# ------------------------------------------------------------------ point 4: defaults that run
def test_generate_and_interpolate_default_to_out_command_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("generate", "--ckpt", "tiny-chair", "--seeds", "0", "--texture-res", "16", "--preview-views", "0",
                  "--format", "glb", "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "generate-tiny-chair" / "seed0000.glb").is_file()
    assert "out/generate-tiny-chair" in result.stdout
    result = _run("interpolate", "--ckpt", "tiny-chair", "--seeds", "0,1", "--steps", "2", "--res", "32")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "interpolate-tiny-chair" / "interp_both.gif").is_file()
    assert "outputs in out/interpolate-tiny-chair" in result.stdout


def test_train_with_fid_checks_inception_before_writing_anything(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-hub"))
    monkeypatch.delenv("GET3D_INCEPTION", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    run = tmp_path / "run"
    result = _run("train", "--data", tiny_data, "--outdir", run, "--preset", "tiny", "--metrics", "fid",
                  "--max-steps", "1", "--quiet", "--device", "cpu")
    _one_error_line(result, "Inception")
    assert not run.exists()


# ------------------------------------------------------------------ point 7: validated at the edge
@pytest.mark.parametrize("args,culprit", [
    (["distill-2d", "--prompt", "p", "--model", "m", "--lr", "-1"], "--lr"),
    (["refine", "--ckpt", "tiny-chair", "--seed", "0", "--prompt", "p", "--model", "m", "--lr-sdf", "-1"], "--lr-sdf"),
    (["convert-official", "x.pt", "OUT", "--category", "car", "--tet-res", "0"], "--tet-res"),
    (["metrics", "--ckpt", "tiny-chair", "--data", "D", "--num-shapes", "0"], "--num-shapes"),
    (["train", "--data", "missing", "--outdir", "RUN", "--preset", "tiny", "--kimg", "0"], "--kimg"),
])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, monkeypatch, args, culprit):
    monkeypatch.chdir(tmp_path)
    result = _run(*args)
    _one_error_line(result, culprit)
    assert list(tmp_path.iterdir()) == []


def test_train_with_a_missing_dataset_leaves_no_run_folder(tmp_path):
    result = _run("train", "--data", tmp_path / "missing", "--outdir", tmp_path / "run", "--preset", "tiny",
                  "--device", "cpu", "--quiet")
    _one_error_line(result, "missing/img: not found", "no such folder")
    assert not (tmp_path / "run").exists()


def test_library_calls_check_the_same_numbers():
    from get3d import Get3dError
    from get3d.official import _resolve_grid

    with pytest.raises(Get3dError, match="--tet-res"):
        _resolve_grid("car", 0, None)
    with pytest.raises(Get3dError, match="--grid-scale"):
        _resolve_grid("car", None, -1.0)


def test_convert_official_says_which_grid_it_uses():
    from get3d.official import describe_grid

    assert "GET3D's dmtet_scale for chair" in describe_grid("chair", None, None)
    line = describe_grid("table", None, None)
    assert "grid_scale 1.0" in line and "not a documented GET3D value" in line and "--grid-scale" in line
    assert "(--grid-scale)" in describe_grid("table", None, 0.8)


# ------------------------------------------------------------------ point 8: help and labels
def _help(command):
    result = _run(command, "--help")
    assert result.exit_code == 0
    return re.sub(r"\s+", " ", result.output)


def _option_help(text, option):
    match = re.search(re.escape(option) + r" [A-Z ]*(?:RANGE)?\s*(.*?)(?= --[a-z]|$)", text)
    return match.group(1) if match else ""


def test_refine_options_are_described():
    text = _help("refine")
    for option in ("--lr-sdf", "--lr-deformation", "--lr-texture", "--snapshot-every", "--preview-res",
                   "--truncation"):
        described = _option_help(text, option)
        assert re.search(r"[a-z]{4,}", described.split("[default")[0]), (option, described)


def test_train_help_shows_the_presets_defaults():
    from get3d.config import preset

    text = _help("train")
    tiny = preset("tiny")
    for option, value in (("--kimg", tiny.train.kimg), ("--batch", tiny.train.batch),
                          ("--resolution", tiny.data.resolution), ("--gamma", tiny.train.r1_gamma),
                          ("--snapshot-kimg", tiny.train.snapshot_kimg)):
        assert f"tiny {value:g}" in _option_help(text, option), option


def test_demo_help_states_the_kimg_it_trains():
    from get3d.demo import DemoSchedule

    text = _help("demo")
    assert f"{DemoSchedule().kimg:g} on a CPU" in text
    assert f"{DemoSchedule.for_device('cuda').kimg:g} from scratch on a GPU" in text


def test_finetune_tensorboard_labels_drop_the_model_path():
    from get3d.text.finetune import encoder_labels

    class Enc:
        def __init__(self, name):
            self.name = name

    assert encoder_labels([Enc("/home/me/models/openai/clip-vit-base-patch32"),
                           Enc("openai/clip-vit-base-patch16")]) == ["clip-vit-base-patch32", "clip-vit-base-patch16"]
    assert encoder_labels([Enc("/a/clip"), Enc("/b/clip")]) == ["0-clip", "1-clip"]


def test_threads_option_is_on_every_command_and_checked():
    for name, command in cli.commands.items():
        assert any(p.name == "threads" for p in command.params), name
    _one_error_line(_run("--threads", "0", "tet-grid", "--res", "8"), "--threads")
    _one_error_line(_run("tet-grid", "--res", "8", "--threads", "many"), "--threads")
