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



def test_distill_2d_reruns_into_a_folder_written_before_the_options_object(tmp_path):
    """A folder from before Distill2dOptions (no max_bad_steps, azimuth None without Perp-Neg) takes
    the same run again; another azimuth with Perp-Neg on is still refused."""
    from get3d.distill.playground import distill_2d

    options = Distill2dOptions("sds", steps=2, every=1, seed=1)
    distill_2d(_red_prior(), "a red square", options, tmp_path / "run")
    path = tmp_path / "run" / "settings.json"
    old = json.loads(path.read_text())
    assert old["azimuth"] is None  # recorded only where it acts
    old.pop("max_bad_steps")
    path.write_text(json.dumps(old))
    distill_2d(_red_prior(), "a red square", options, tmp_path / "run")  # same settings: accepted
    distill_2d(_red_prior(), "a red square", dataclasses.replace(options, perp_neg=True, azimuth=0.0), tmp_path / "pn")
    with pytest.raises(Get3dError, match="azimuth"):
        distill_2d(_red_prior(), "a red square", dataclasses.replace(options, perp_neg=True, azimuth=90.0),
                   tmp_path / "pn")

# ------------------------------------------------------------------------------- metrics, train
def test_metrics_cli_and_library_defaults_are_the_dataclass_defaults():
    import inspect

    from get3d.metrics.evaluate import evaluate, evaluate_generator
    from get3d.options import MetricsOptions, TrainMetricsOptions

    # get3d metrics: test_options.py checks evaluate/evaluate_generator and the CLI field by field.
    assert inspect.signature(evaluate).parameters["num_images"].default == MetricsOptions().num_images
    assert inspect.signature(evaluate_generator).parameters["protocol"].default == MetricsOptions().protocol
    train = _cli_defaults("train")
    from get3d.categories import TRAIN_METRIC_IMAGES, TRAIN_METRIC_SHAPES

    assert (train["metrics_images"], train["metrics_shapes"]) == (TRAIN_METRIC_IMAGES, TRAIN_METRIC_SHAPES)
    assert (TrainMetricsOptions().num_images, TrainMetricsOptions().num_shapes) == (TRAIN_METRIC_IMAGES,
                                                                                    TRAIN_METRIC_SHAPES)
    for name in ("num_points", "truncation", "seed", "batch", "protocol"):  # the rest: get3d metrics' own
        assert getattr(TrainMetricsOptions(), name) == getattr(MetricsOptions(), name), name


def _metrics_cases():
    from get3d.options import MetricsOptions as M, TrainMetricsOptions as T

    return [
        (M(metrics="fid,is"), r"metrics \(--metrics\): unknown metric 'is'"),
        (M(metrics="fid", num_images=0), r"num_images \(--num-images\) must be >= 1, got 0"),
        (M(metrics="cov", num_shapes=-2), r"num_shapes \(--num-shapes\) must be >= 1, got -2"),
        (M(metrics="mmd", num_points=0), r"num_points \(--num-points\) must be >= 1, got 0"),
        (M(metrics="clip", clip_views=0), r"clip_views \(--clip-views\) must be >= 1, got 0"),
        (M(batch=0), r"batch \(--batch\) must be >= 1, got 0"),
        (M(protocol="mine"), r"protocol \(--protocol\) must be one of get3d, dataset, got 'mine'"),
        (M(truncation=float("nan")), r"truncation \(--truncation\) must be a finite number"),
        (M(seed=0.5), r"seed \(--seed\) must be an integer"),
        (T(metrics=""), r"metrics \(--metrics\): give at least one of fid, kid"),
        (T(metrics="fid", num_images=0), r"num_images \(--metrics-images\) must be >= 1, got 0"),
        (T(metrics="cov", num_shapes=0), r"num_shapes \(--metrics-shapes\) must be >= 1, got 0"),
        (T(metrics="cov", num_points=0), r"^num_points must be >= 1, got 0"),  # no train flag for it
        (T(metrics="fid,clip"), r"metrics \(--metrics\): clip is not a training metric"),
    ]


@pytest.mark.parametrize("index", range(14))
def test_metrics_check_names_the_parameter(index):
    from get3d.options import MetricsOptions, TrainMetricsOptions

    options, message = _metrics_cases()[index]
    MetricsOptions().check()
    TrainMetricsOptions("fid,cov").check()
    with pytest.raises(Get3dError, match=message):
        options.check()


def test_metrics_library_checks_with_the_same_words(tiny_data, tmp_path):
    from get3d.metrics.evaluate import evaluate, snapshot_metrics_hook
    from get3d.options import TrainMetricsOptions

    with pytest.raises(Get3dError, match=r"num_shapes \(--num-shapes\) must be >= 1, got 0"):
        evaluate("no-such-model", tiny_data, "cov", num_shapes=0)  # before the checkpoint is looked at
    with pytest.raises(Get3dError, match=r"num_shapes \(--metrics-shapes\) must be >= 1, got 0"):
        snapshot_metrics_hook(tiny_data, TrainMetricsOptions("cov", num_shapes=0))
    with pytest.raises(Get3dError, match="takes a TrainMetricsOptions"):
        snapshot_metrics_hook(tiny_data, "cov")


def test_metrics_cli_and_python_record_the_same_options(tiny_data, tmp_path, monkeypatch):
    from get3d.metrics.evaluate import evaluate
    from get3d.options import MetricsOptions

    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["metrics", "--ckpt", "tiny-chair", "--data", str(tiny_data), "--metrics",
                                      "cov,mmd", "--num-shapes", "2", "--num-points", "64", "--seed", "3",
                                      "--out", str(out), "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    from_cli = json.loads(out.read_text())
    from_python = evaluate("tiny-chair", tiny_data, "cov,mmd", num_shapes=2, num_points=64, seed=3, device="cpu")
    assert from_cli == json.loads(json.dumps(from_python))
    assert from_cli["options"] == MetricsOptions("cov,mmd", num_shapes=2, num_points=64, seed=3).to_dict()


def test_train_metrics_options_are_recorded_the_same_from_cli_and_python(tiny_data, tmp_path):
    from get3d.metrics.evaluate import snapshot_metrics_hook
    from get3d.options import TrainMetricsOptions
    from get3d.training.loop import train
    from get3d.training.options import config_for_run

    runs = {"cli": tmp_path / "cli", "python": tmp_path / "python"}
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_data), "--outdir", str(runs["cli"]), "--preset",
                                      "tiny", "--resolution", "32", "--batch", "2", "--snapshot-kimg", "0.004",
                                      "--device", "cpu", "--max-steps", "2", "--quiet", "--metrics", "cov",
                                      "--metrics-shapes", "2"])
    assert result.exit_code == 0, result.output
    cfg = config_for_run("tiny", None, None, runs["python"], dict(resolution=32, batch=2, snapshot_kimg=0.004))
    options = TrainMetricsOptions("cov", num_shapes=2)
    train(cfg, tiny_data, runs["python"], device="cpu", max_steps=2, progress=False,
          on_snapshot=snapshot_metrics_hook(tiny_data, options))
    records = {k: [json.loads(line) for line in (v / "metrics.jsonl").read_text().splitlines()]
               for k, v in runs.items()}
    assert len(records["cli"]) == 1 and records["cli"] == records["python"]
    assert records["cli"][0]["options"] == options.to_dict() and records["cli"][0]["options"]["num_shapes"] == 2


# ---------------------------------------------------------------------------------- finetune-text
def test_finetune_cli_defaults_are_the_dataclass_defaults():
    from get3d.text.options import FinetuneOptions

    cli_defaults, options = _cli_defaults("finetune-text"), FinetuneOptions()
    assert cli_defaults["background"] == "white" and FinetuneOptions(background="white") == options
    shared = set(cli_defaults) & set(dataclasses.asdict(options))
    assert {"iters", "batch", "views", "lr", "layers", "top_k", "seed", "grid_seeds", "templates"} <= shared
    for name in shared - {"background"}:
        assert cli_defaults[name] == getattr(options, name), name


@pytest.mark.parametrize("fields,message", [
    (dict(iters=0), r"iters \(--iters\) must be >= 1, got 0"),
    (dict(views=-1), r"views \(--views\) must be >= 1, got -1"),
    (dict(snapshot_every=-1), r"snapshot_every \(--snapshot-every\) must be >= 0"),
    (dict(lr=0.0), r"lr \(--lr\) must be a positive number, got 0.0"),
    (dict(layers="middle"), r"layers \(--layers\): unknown layer group 'middle'"),
    (dict(templates="mine"), r"templates \(--templates\) must be 'imagenet' or 'none'"),
    (dict(truncation=1.5), r"truncation \(--truncation\) must be in \[0, 1\], got 1.5"),
    (dict(grid_truncation=-0.1), r"^grid_truncation must be in \[0, 1\]"),  # no flag: library only
    (dict(resolution=4), r"resolution \(--res\) must be >= 8, got 4"),
    (dict(auto_batch=0), r"^auto_batch must be >= 1, got 0"),
])
def test_finetune_check_names_the_parameter(fields, message):
    from get3d.text.options import FinetuneOptions

    FinetuneOptions().check(2)
    with pytest.raises(Get3dError, match=message):
        FinetuneOptions(**fields).check()


def test_finetune_options_take_the_cli_spellings_and_check_the_weights():
    from get3d.text.options import FinetuneOptions

    options = FinetuneOptions(background="grey", clip_weights="1, 0.5")
    assert options.background == (0.5, 0.5, 0.5) and options.clip_weights == (1.0, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.iters = 3
    with pytest.raises(Get3dError, match=r"background \(--background\): 'plaid' is not white"):
        FinetuneOptions(background="plaid")
    with pytest.raises(Get3dError, match=r"clip_weights \(--clip-weights\) has 2 values for 1 CLIP models"):
        options.check(1)


def test_finetune_cli_and_python_record_the_same_settings(tmp_path, monkeypatch):
    from get3d.text.finetune import finetune_checkpoint
    from get3d.text.options import FinetuneOptions
    from tests.text.stand_ins import save_tiny_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = save_tiny_clip(tmp_path / "tiny-clip")
    result = CliRunner().invoke(cli, ["finetune-text", "--ckpt", "tiny-chair", "--source", "a chair", "--target",
                                      "a golden throne", "--outdir", str(tmp_path / "cli"), "--clip", str(clip),
                                      "--iters", "1", "--layers", "texture", "--batch", "1", "--views", "2",
                                      "--grid-seeds", "1", "--background", "black", "--quiet"])
    assert result.exit_code == 0, result.output
    options = FinetuneOptions(iters=1, layers="texture", batch=1, views=2, grid_seeds=1, background="black")
    finetune_checkpoint("tiny-chair", "a chair", "a golden throne", tmp_path / "python", options, clip=str(clip),
                        progress=False, log=lambda line: None)
    from_cli = json.loads((tmp_path / "cli" / "settings.json").read_text())
    from_python = json.loads((tmp_path / "python" / "settings.json").read_text())
    assert from_cli == from_python
    assert from_cli["options"] == options.to_dict() and from_cli["options"]["background"] == [0.0, 0.0, 0.0]
    assert from_cli["command"] == "finetune-text" and from_cli["steps"] == 1


# ------------------------------------------------------------------------ render-dataset, synth-data
@pytest.mark.parametrize("fields,message", [
    (dict(views=0), r"settings.views \(--views\) must be >= 1, got 0"),
    (dict(resolution=4), r"settings.resolution \(--res\) must be >= 8, got 4"),
    (dict(scale=float("inf")), r"settings.scale \(--scale\) must be > 0, got inf"),
    (dict(scale=0.0), r"settings.scale \(--scale\) must be > 0, got 0.0"),
    (dict(lighting="ambient=-1"), r"settings.lighting.ambient \(--ambient\) must be a number >= 0, got -1"),
    (dict(lighting="direction=0"), r"settings.lighting.direction \(--light-dir\) must be three finite numbers"),
])
def test_render_settings_check_names_the_parameter(fields, message):
    from get3d.datasets.settings import Lighting, RenderSettings

    if fields.get("lighting") == "ambient=-1":
        fields = dict(lighting=Lighting(ambient=-1))
    elif fields.get("lighting") == "direction=0":
        fields = dict(lighting=Lighting(direction=(0.0, 0.0, 0.0)))
    RenderSettings().check()
    with pytest.raises(Get3dError, match=message):
        RenderSettings(**fields).check()
    with pytest.raises(dataclasses.FrozenInstanceError):
        RenderSettings().views = 3


def test_synth_data_cli_and_python_log_the_same_settings(tmp_path):
    from get3d.datasets.settings import SYNTH_RESOLUTION, RenderSettings
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset

    assert _cli_defaults("synth-data")["res"] == SYNTH_RESOLUTION
    assert _cli_defaults("render-dataset")["res"] == RenderSettings().resolution
    result = CliRunner().invoke(cli, ["synth-data", str(tmp_path / "cli"), "--category", "vase", "--num-shapes", "1",
                                      "--views", "2", "--res", "16", "--backend", "torch", "--workers", "0"])
    assert result.exit_code == 0, result.output
    settings = RenderSettings(views=2, resolution=16, backend="torch")
    make_synthetic_dataset("vase", 1, tmp_path / "py", settings, workers=0, progress=False)
    lines = {k: [json.loads(line) for line in (tmp_path / k / "render_settings.jsonl").read_text().splitlines()]
             for k in ("cli", "py")}
    for line in lines["cli"] + lines["py"]:
        line.pop("mesh_dir")  # each under its own folder
    assert lines["cli"] == lines["py"] and len(lines["cli"]) == 1
    assert lines["cli"][0]["settings"] == settings.to_dict() and lines["cli"][0]["rendered"] == 1
    again = CliRunner().invoke(cli, ["synth-data", str(tmp_path / "cli"), "--category", "vase", "--num-shapes", "1",
                                     "--views", "2", "--res", "16", "--backend", "torch", "--workers", "0"])
    assert again.exit_code == 0  # nothing new rendered: nothing logged
    assert len((tmp_path / "cli" / "render_settings.jsonl").read_text().splitlines()) == 1


# ---------------------------------------------------------------------------------- geometry-demo
def test_geometry_demo_options_defaults_check_and_record(tmp_path):
    import inspect

    from get3d.geometry.demo import run_geometry_demo
    from get3d.options import GeometryDemoOptions

    defaults, signature = _cli_defaults("geometry-demo"), inspect.signature(run_geometry_demo).parameters
    for name, value in GeometryDemoOptions().to_dict().items():
        assert defaults[name] == value == signature[name].default, name
    for options, message in ((GeometryDemoOptions(res=2), r"res \(--res\) must be >= 3, got 2"),
                             (GeometryDemoOptions(res=8.5), r"res \(--res\) must be an integer >= 3, got 8.5")):
        with pytest.raises(Get3dError, match=message):
            options.check()
    result = CliRunner().invoke(cli, ["geometry-demo", "--outdir", str(tmp_path / "cli"), "--res", "8", "--format",
                                      "obj", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    run_geometry_demo(tmp_path / "py", res=8, formats=["obj"], device="cpu")
    from_cli, from_python = (json.loads((tmp_path / k / "settings.json").read_text()) for k in ("cli", "py"))
    assert from_cli == from_python == dict(command="geometry-demo", device="cpu", res=8, formats="obj")
