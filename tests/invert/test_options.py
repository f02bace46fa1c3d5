"""InvertOptions (issue 22, point 2): torch-free, the CLI's defaults, checked once with errors that
name the parameter and its flag, and the same settings.json from the CLI and from Python."""
import dataclasses
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.invert.options import TUNE_STEPS, InvertOptions


def test_invert_options_import_without_torch():
    code = "import sys, get3d.invert.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_cli_defaults_are_the_dataclass_defaults():
    params = {p.name: p.default for p in cli.commands["invert"].params}
    options = InvertOptions()
    renamed = {"seed": "search_seed"}
    for flag in ("candidates", "truncation", "steps", "lr", "lr_camera", "w_silhouette", "w_colour", "w_chamfer",
                 "w_prior", "tune_lr", "snapshot_every", "seed"):
        assert params[flag] == getattr(options, renamed.get(flag, flag)), flag
    assert params["tune_steps"] == TUNE_STEPS and options.tune_steps == 0  # stage 3 off unless asked for
    import inspect

    from get3d.invert.command import invert_command

    signature = inspect.signature(invert_command).parameters
    for flag, name in (("key_tolerance", "key_tolerance"), ("views", "views"), ("mesh_scale", "mesh_scale"),
                       ("formats", "formats"), ("texture_res", "texture_res")):
        assert params[flag] == signature[name].default, flag  # both read get3d.invert.options


@pytest.mark.parametrize("fields,message", [
    (dict(candidates=0), r"candidates \(--candidates\) must be >= 1, got 0"),
    (dict(steps=-1), r"steps \(--steps\) must be >= 0, got -1"),
    (dict(tune_steps=-2), r"tune_steps \(--tune-steps\) must be >= 0, got -2"),
    (dict(lr=0.0), r"lr \(--lr\) must be > 0, got 0.0"),
    (dict(tune_lr=float("nan")), r"tune_lr \(--tune-lr\) must be > 0, got nan"),
    (dict(w_chamfer=-1.0), r"w_chamfer \(--w-chamfer\) must be >= 0, got -1.0"),
    (dict(w_locality=-1.0), r"^w_locality must be >= 0"),  # library only: no flag
    (dict(snapshot_every=0), r"snapshot_every \(--snapshot-every\) must be >= 1, got 0"),
    (dict(truncation=float("inf")), r"truncation \(--truncation\) must be a finite number"),
])
def test_check_names_the_parameter(fields, message):
    InvertOptions().check()
    with pytest.raises(Get3dError, match=message):
        InvertOptions(**fields).check()
    with pytest.raises(dataclasses.FrozenInstanceError):
        InvertOptions().steps = 3


def test_cli_and_python_record_the_same_settings(tmp_path, sample, sample_pngs):
    from get3d.invert.command import invert_command

    rot = [round(v, 3) for v in sample["cameras"].rotation[:1].tolist()]
    elev = [round(v, 3) for v in sample["cameras"].elevation[:1].tolist()]
    result = CliRunner().invoke(cli, ["invert", "--ckpt", "tiny-chair", "--image", str(sample_pngs[0]),
                                      "--rotation", ",".join(map(str, rot)), "--elevation", ",".join(map(str, elev)),
                                      "--outdir", str(tmp_path / "cli"), "--steps", "2", "--candidates", "2",
                                      "--texture-res", "32", "--snapshot-every", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    invert_command("tiny-chair", tmp_path / "python", [sample_pngs[0]], rotation=rot, elevation=elev,
                   options=InvertOptions(steps=2, candidates=2, snapshot_every=5), texture_res=32, log=lambda line: None)
    from_cli, from_python = (json.loads((tmp_path / k / "settings.json").read_text()) for k in ("cli", "python"))
    for record in (from_cli, from_python):
        record.pop("seconds")
        record["target"].pop("files", None)  # the same image, named by its path
    assert from_cli == from_python
    assert from_cli["options"]["steps"] == 2 and from_cli["options"]["candidates"] == 2
