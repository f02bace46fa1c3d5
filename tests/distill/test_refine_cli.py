"""`get3d refine` end to end on the bundled tiny-chair and a tiny random Stable Diffusion loaded
from disk through load_diffusion (offline)."""
import json

import pytest
import torch
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


def _assert_same_run(straight, resumed, step=2):
    """The step-`step` snapshots (asset tensors and Adam state) and the exported meshes of two run
    folders are equal: a resumed run is the uninterrupted one."""
    from get3d.snapshot import read_snapshot

    name = f"snapshot-{step:09d}.json"
    a, _ = read_snapshot(straight / "snapshots" / name)
    b, _ = read_snapshot(resumed / "snapshots" / name)
    assert sorted(a) == sorted(b) and any(k.startswith("optim.") for k in a)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=0), key
    ma, mb = Mesh.load(straight / "refined.obj"), Mesh.load(resumed / "refined.obj")
    assert torch.equal(ma.faces, mb.faces) and torch.allclose(ma.verts, mb.verts, atol=1e-6, rtol=0)
    assert torch.allclose(ma.texture, mb.texture, atol=1 / 255, rtol=0)


# Resume restores the asset and the optimizer: 2 steps straight == 1 step + 1 resumed, tensor for
# tensor (skipping restore_modules or restore_optimizers in refine() fails here). Geometry and
# texture both train, so the SDF, deformation and texture planes are all compared.
def test_resume_auto_continues_the_step_count_and_gives_the_uninterrupted_run(tiny_sd, offline, tmp_path):
    assert _run(tiny_sd, tmp_path / "a", "--steps", "2").exit_code == 0
    assert _run(tiny_sd, tmp_path / "b", "--steps", "1").exit_code == 0
    result = _run(tiny_sd, tmp_path / "b", "--steps", "2", "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert "refined steps 1-2" in result.output
    settings = json.loads((tmp_path / "b" / "settings.json").read_text())
    assert settings["resumed_from_step"] == 1 and settings["finite_steps"] == 1
    _assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("extra,message", [
    (["--seed", ""], "seed (--seed) is empty"),
    (["--prompt", " "], "prompt (--prompt) is empty"),
    (["--rule", "xds"], "unknown rule 'xds'"),
    (["--model", "/no/such/model"], "/no/such/model"),
])
def test_bad_input_is_one_line(tiny_sd, offline, tmp_path, extra, message):
    result = _run(tiny_sd, tmp_path, "--steps", "1", *extra)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("get3d: error")]
    assert len(lines) == 1 and message in lines[0], result.output
