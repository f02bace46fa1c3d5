"""get3d metrics end to end: a checkpoint against a procedural dataset, tiny TorchScript features."""
import json
import math
import warnings

import pytest
import torch
from click.testing import CliRunner

from get3d.cli import cli
from tests.metrics.test_image_metrics import _TinyNet as _PooledColours  # Inception's call convention


class _PlainFeatures(torch.nn.Module):
    """Any other network: images in, features out, no keyword arguments."""

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 2).flatten(1)


def _script(module, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


def test_metrics_command_writes_every_metric(tiny_ckpt, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    net = _script(_PooledColours(), tmp_path / "tiny_inception.pt")
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(cli, ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tiny_data),
                                      "--metrics", "fid,kid,cov,mmd,1nna", "--num-images", "8", "--num-shapes", "4",
                                      "--num-points", "256", "--inception", str(net), "--out", str(out),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report == json.loads(result.stdout)
    assert report["num_fake"] == 8 and report["num_real"] == 12  # 3 shapes x 4 views
    assert report["num_ref"] == 3 and report["num_gen"] + report["empty_generated"] == 4
    for key in ("fid", "kid", "mmd"):
        assert math.isfinite(report[key]) and report[key] >= -1e-6, key
    assert report["fid"] > 0  # random weights do not look like vases
    assert 0 <= report["cov"] <= 1 and 0 <= report["1nna"] <= 1
    assert report["cd_x1000"]["mmd"] == pytest.approx(1000 * report["mmd"])


def test_other_torchscript_extractor_and_geometry_errors(tiny_ckpt, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    net = _script(_PlainFeatures(), tmp_path / "plain.pt")
    runner = CliRunner()
    result = runner.invoke(cli, ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tiny_data), "--metrics", "fid",
                                 "--num-images", "6", "--extractor", str(net)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["extractor"].startswith("torchscript:plain")
    result = runner.invoke(cli, ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tiny_data), "--metrics", "cov",
                                 "--ref-meshes", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no reference meshes" in result.output
    result = runner.invoke(cli, ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tiny_data), "--metrics", "fid,is"])
    assert result.exit_code == 1 and "unknown metric 'is'" in result.output
    result = runner.invoke(cli, ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tmp_path / "absent")])
    assert result.exit_code == 1 and "absent: no such dataset folder (data_dir, --data)" in result.output


def test_snapshot_hook_for_training(tiny_data, tmp_path, monkeypatch):
    """What `get3d train --metrics` calls at each snapshot: scalars for the EMA generator."""
    from get3d.errors import Get3dError
    from get3d.metrics.evaluate import snapshot_metrics_hook
    from get3d.snapshot import write_snapshot
    from tests.generate.conftest import tiny_generator

    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    generator, cfg = tiny_generator()
    snap = write_snapshot(tmp_path, 400, {"G_ema": generator}, config=cfg, save_rng=False)
    lines = []
    hook = snapshot_metrics_hook(tiny_data, "cov,mmd,fid", num_images=4, num_shapes=3, num_points=128, log=lines.append,
                                 extractor=_script_extractor(tmp_path))
    generator.train()
    values = hook(snap, generator, 400)
    assert set(values) == {"cov", "mmd", "fid"} and all(isinstance(v, float) for v in values.values())
    assert generator.training  # the hook puts the network back the way it found it
    # An all-empty generator early in training: geometry metrics are left out, the run goes on.
    with torch.no_grad():
        generator.generator.mlp_synthesis_sdf.layers[-1].bias.fill_(-1000.0)
    values = hook(snap, generator, 800)
    assert set(values) == {"fid"} and "generated shapes are empty" in lines[0]
    with pytest.raises(Get3dError, match="no reference meshes"):
        snapshot_metrics_hook(tmp_path, "cov")


def _script_extractor(folder):
    from get3d.metrics.features import TorchScriptExtractor

    return TorchScriptExtractor(_script(_PlainFeatures(), folder / "plain_hook.pt"))


def test_split_and_category_restrict_images_cameras_and_reference_meshes(tiny_ckpt, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    net = _script(_PlainFeatures(), tmp_path / "plain.pt")
    shapes = sorted(p.name for p in (tiny_data / "img" / "vase").iterdir())
    split = tmp_path / "test.txt"
    split.write_text("# GET3D's format: one shape id per line\n" + "\n".join(shapes[:2]) + "\n")
    base = ["metrics", "--ckpt", str(tiny_ckpt), "--data", str(tiny_data), "--category", "vase",
            "--num-images", "4", "--num-shapes", "3", "--num-points", "128", "--extractor", str(net)]
    result = CliRunner().invoke(cli, base + ["--metrics", "fid,cov", "--split", str(split)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_real"] == 8 and report["num_ref"] == 2  # 2 of 3 shapes, 4 views each
    assert report["split"] == str(split) and report["category"] == "vase"
    whole = json.loads(CliRunner().invoke(cli, base + ["--metrics", "fid,cov"]).stdout)
    assert whole["num_real"] == 12 and whole["num_ref"] == 3
    split.write_text("no-such-shape\n")
    result = CliRunner().invoke(cli, base + ["--metrics", "fid", "--split", str(split)])
    assert result.exit_code == 1 and "split" in result.output
    result = CliRunner().invoke(cli, base + ["--category", "sofa", "--metrics", "fid"])  # the last one wins
    assert result.exit_code == 1 and "sofa" in result.output
