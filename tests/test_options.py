"""get3d.options: generate's and interpolate's defaults stated once (library signature, CLI help,
settings.json), validated once with errors that name the parameter and its flag."""
import inspect
import json

import pytest
from click.testing import CliRunner

from get3d.cli import cli
from get3d.errors import Get3dError
from get3d.generate import generate_assets, interpolate
from get3d.options import GenerateOptions, InterpolateOptions


@pytest.mark.parametrize("function,options", [(generate_assets, GenerateOptions()), (interpolate, InterpolateOptions())])
def test_library_defaults_are_the_dataclass_defaults(function, options):
    params = inspect.signature(function).parameters
    for name, value in options.to_dict().items():
        assert params[name].default == value, name


@pytest.mark.parametrize("command,options", [("generate", GenerateOptions()), ("interpolate", InterpolateOptions())])
def test_cli_defaults_are_the_dataclass_defaults(command, options):
    params = {p.name: p for p in cli.commands[command].params}
    for name, value in options.to_dict().items():
        if name in ("rotation", "elevation", "preview_res"):  # library-only settings
            continue
        if params[name].is_flag:  # on/off flags default to off, as the dataclass does
            assert value is False, name
        else:
            assert params[name].default == value, name


@pytest.mark.parametrize("options,message", [
    (GenerateOptions(texture_res=4), r"texture_res \(--texture-res\) must be >= 8, got 4"),
    (GenerateOptions(turntable_frames=-1), r"turntable_frames \(--turntable-frames\) must be >= 0"),
    (GenerateOptions(truncation=float("nan")), r"truncation \(--truncation\) must be a finite number"),
    (InterpolateOptions(steps=1), r"steps \(--steps\) must be >= 2, got 1"),
    (InterpolateOptions(mode="diagonal"), r"mode \(--mode\) must be one of geometry, texture, both, grid"),
])
def test_bad_values_name_the_parameter(options, message):
    with pytest.raises(Get3dError, match=message):
        options.check()
    GenerateOptions().check()
    InterpolateOptions().check()


def test_settings_json_records_every_option(tmp_path):
    generate_assets("tiny-chair", [3], tmp_path / "g", texture_res=16, preview_views=0, formats=["obj"],
                    progress=False, device="cpu", backend="torch")
    recorded = json.loads((tmp_path / "g" / "settings.json").read_text())
    expected = GenerateOptions(texture_res=16, preview_views=0, formats="obj", backend="torch").to_dict()
    assert {k: recorded[k] for k in expected} == expected
    assert recorded["seeds"] == [3] and recorded["command"] == "generate"


def test_the_cli_refuses_out_of_range_values_before_loading_anything(tmp_path):
    result = CliRunner().invoke(cli, ["generate", "--ckpt", "no-such-model", "--outdir", str(tmp_path),
                                      "--texture-res", "4"])
    assert result.exit_code == 2 and "--texture-res" in result.output and "x>=8" in result.output


def test_metrics_defaults_are_stated_once():
    from get3d.metrics.evaluate import evaluate, evaluate_generator
    from get3d.options import MetricsOptions

    options = MetricsOptions()
    params = {p.name: p for p in cli.commands["metrics"].params}
    for function in (evaluate, evaluate_generator):
        signature = inspect.signature(function).parameters
        for name, value in options.to_dict().items():
            assert signature[name].default == value, (function.__name__, name)
    for name, value in options.to_dict().items():
        if name == "metrics":  # the CLI's default is "every metric whose inputs are present" (runnable_metrics)
            assert params[name].default is None
            continue
        assert params[name].default == value, name


def test_clip_weights_parse_in_the_library():
    from get3d.text.options import parse_weights

    assert parse_weights("1, 0.5") == (1.0, 0.5) and parse_weights([2, "3"]) == (2.0, 3.0)
    assert parse_weights(None) is None and parse_weights(" ") is None
    with pytest.raises(Get3dError, match=r"clip_weights \(--clip-weights\): not comma-separated numbers"):
        parse_weights("1,x")
