"""`get3d refine` end to end on the bundled tiny-chair and a tiny random Stable Diffusion loaded
from disk through load_diffusion (offline)."""
import json

import pytest
import trimesh
from click.testing import CliRunner

from get3d.cli import cli
from get3d.geometry import Mesh


def _run(tiny_sd, outdir, *extra):
    args = ["refine", "--ckpt", "tiny-chair", "--seed", "0", "--prompt", "a red chair", "--model", str(tiny_sd),
            "--outdir", str(outdir), "--texture-res", "32", "--preview-res", "32", *extra]
    return CliRunner().invoke(cli, args)


# SDI costs ~8 s a step on 2 CPU cores even with the tiny UNet (11 guided DDIM evaluations per
# step in get3d.distill.rules), so its end-to-end case runs with the slow tests.
@pytest.mark.parametrize("rule,extra", [("sds", []), ("ism", ["--texture-only"]),
                                        pytest.param("sdi", ["--texture-only"], marks=pytest.mark.slow)])
def test_each_rule_refines_end_to_end(tiny_sd, offline, tmp_path, rule, extra):
    result = _run(tiny_sd, tmp_path, "--rule", rule, "--steps", "2", *extra)
    assert result.exit_code == 0, result.output
    mesh = Mesh.load(tmp_path / "refined.obj")
    assert mesh.num_faces > 0 and mesh.texture is not None
    scene = trimesh.load(tmp_path / "refined.glb")
    assert sum(len(g.faces) for g in scene.geometry.values()) == mesh.num_faces
    assert (tmp_path / "before_after.png").is_file() and (tmp_path / "turntable.gif").is_file()
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["rule"] == rule and settings["model"] == str(tiny_sd) and settings["seed_of_asset"] == 0
    assert settings["prompt"] == "a red chair" and settings["finite_steps"] == 2


def test_resume_auto_continues_the_step_count(tiny_sd, offline, tmp_path):
    assert _run(tiny_sd, tmp_path, "--steps", "1", "--texture-only").exit_code == 0
    result = _run(tiny_sd, tmp_path, "--steps", "2", "--texture-only", "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert "refined steps 1-2" in result.output
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["resumed_from_step"] == 1 and settings["finite_steps"] == 1
    assert (tmp_path / "snapshots" / "snapshot-000000002.json").is_file()


@pytest.mark.parametrize("extra,message", [
    (["--seed", ""], "--seed is empty"),
    (["--prompt", " "], "--prompt is empty"),
    (["--rule", "xds"], "unknown rule 'xds'"),
    (["--model", "/no/such/model"], "/no/such/model"),
])
def test_bad_input_is_one_line(tiny_sd, offline, tmp_path, extra, message):
    result = _run(tiny_sd, tmp_path, "--steps", "1", *extra)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("get3d: error")]
    assert len(lines) == 1 and message in lines[0], result.output
