"""Options objects of distill-2d, metrics, train --metrics and finetune-text (issue 22, point 2):
the defaults stated once (the dataclass; the library and the CLI read it), validated once by
``check()`` with errors naming the parameter and its flag, and recorded with the output, the same
from the CLI as from Python."""
import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from get3d.distill import AnalyticPrior
from get3d.distill.options import Distill2dOptions
from get3d.errors import Get3dError


def _cli_defaults(command: str) -> dict:
    return {p.name: p.default for p in cli.commands[command].params}


# ------------------------------------------------------------------------------------- distill-2d
def _red_prior():
    return AnalyticPrior(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16).clone())


def test_distill_2d_cli_defaults_are_the_dataclass_defaults():
    cli_defaults, options = _cli_defaults("distill-2d"), Distill2dOptions()
    for name, value in dataclasses.asdict(options).items():
        if name in ("max_bad_steps", "rule_options"):  # library-only (rule options: one flag per field)
            continue
        assert cli_defaults[name] == value, name


@pytest.mark.parametrize("options,message", [
    (Distill2dOptions(steps=-1), r"steps \(--steps\) must be >= 0, got -1"),
    (Distill2dOptions(every=0), r"every \(--every\) must be >= 1, got 0"),
    (Distill2dOptions(lr=float("inf")), r"lr \(--lr\) must be a positive number, got inf"),
    (Distill2dOptions(lr=0.0), r"lr \(--lr\) must be a positive number"),
    (Distill2dOptions(rules="sds,vsd"), r"rules \(--rule\): unknown rule 'vsd'"),
    (Distill2dOptions(rules=" , "), r"rules \(--rule\): give at least one"),
    (Distill2dOptions(max_bad_steps=0), r"max_bad_steps must be >= 1"),
    (Distill2dOptions(azimuth=float("nan")), r"azimuth \(--azimuth\) must be a finite number"),
    (Distill2dOptions(rules="sds", rule_options={"ism": {}}), r"rule_options: options for rule 'ism'"),
])
def test_distill_2d_check_names_the_parameter(options, message):
    Distill2dOptions().check()
    with pytest.raises(Get3dError, match=message):
        options.check()
    with pytest.raises(Get3dError, match=message):  # the library checks before any work
        from get3d.distill.playground import distill_2d

        distill_2d(_red_prior(), "a red square", options)


def test_distill_2d_cli_and_python_record_the_same_settings(tmp_path, monkeypatch):
    from get3d.distill.playground import distill_2d

    monkeypatch.setattr("get3d.distill.load_diffusion", lambda *a, **k: _red_prior())
    result = CliRunner().invoke(cli, ["distill-2d", "--prompt", "a red square", "--model", "m", "--rule", "sds,ism",
                                      "--steps", "3", "--every", "2", "--lr", "0.1", "--seed", "4",
                                      "--ism-delta-t", "50", "--outdir", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    options = Distill2dOptions("sds,ism", steps=3, every=2, lr=0.1, seed=4, rule_options={"ism": {"delta_t": 50}})
    distill_2d(_red_prior(), "a red square", options, tmp_path / "py", settings={"model": "m"})
    from_cli = json.loads((tmp_path / "cli" / "settings.json").read_text())
    from_python = json.loads((tmp_path / "py" / "settings.json").read_text())
    assert from_cli == from_python
    assert from_cli["steps"] == 3 and from_cli["rules"] == ["sds", "ism"] and from_cli["max_bad_steps"] == 10
    assert from_cli["rule_options"]["ism"]["delta_t"] == 50 and from_cli["rule_options"]["sds"]["t_min"] == 0.02
    for name, value in options.to_dict().items():
        if name != "rule_options":  # recorded with every rule's defaults filled in
            assert from_cli[name] == value, name
