"""refine() takes one RefineOptions (issue 22, point 2): check() refuses each bad value naming the
parameter and its flag; the CLI builds the very options object a Python call would (the same
settings.json, the same tensors); the run seed is run_seed (refine(seed=) is gone); a run folder
written before RefineOptions (run seed recorded as "seed", fewer keys) still resumes."""
import json
import math

import pytest
import torch

from get3d import Get3dError
from get3d.distill import AnalyticPrior
from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.options import RefineOptions, ViewRanges
from get3d.distill.refine_run import refine

RED = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16).clone()


@pytest.mark.parametrize("changes,message", [
    (dict(rule="xds"), "rule (--rule): unknown rule 'xds'; choose from sds, ism, sdi"),
    (dict(steps=-1), "steps (--steps) must be >= 0, got -1"),
    (dict(geometry_only=True, texture_only=True),
     "geometry_only (--geometry-only) and texture_only (--texture-only) exclude each other"),
    (dict(batch=0), "batch (--batch) must be >= 1, got 0"),
    (dict(snapshot_every=0), "snapshot_every (--snapshot-every) must be >= 1, got 0"),
    (dict(export_every=-2), "export_every (--export-every) must be >= 0, got -2"),
    (dict(render_res=4), "render_res (--render-res) must be >= 8, got 4"),
    (dict(lr_sdf=-1), "lr_sdf (--lr-sdf) must be a number >= 0, got -1"),
    (dict(lr_deformation=math.nan), "lr_deformation (--lr-deformation) must be a number >= 0, got nan"),
    (dict(lr_texture=math.inf), "lr_texture (--lr-texture) must be a number >= 0, got inf"),
    (dict(sdf_reg_weight=-0.5), "sdf_reg_weight (--sdf-reg-weight) must be a number >= 0, got -0.5"),
    (dict(laplacian_weight=-1e-3), "laplacian_weight (--laplacian-weight) must be a number >= 0, got -0.001"),
    (dict(background="purple"), "background (--background): 'purple' is not random, white, black, grey"),
    (dict(background=(1.0, 2.0, 0.0)), "background (--background)"),
    (dict(perp_neg=True, view_prompts=False), "perp_neg (--perp-neg) needs the view-dependent prompts"),
    (dict(views={"fov": (10, 20)}), "views must be a ViewRanges, got dict"),
    (dict(max_bad_steps=0), "max_bad_steps (--max-bad-steps) must be an integer >= 1, got 0"),
    (dict(texture_res=4), "texture_res (--texture-res) must be an integer >= 8, got 4"),
    (dict(preview_res=2.5), "preview_res (--preview-res) must be an integer >= 8, got 2.5"),
    (dict(turntable_frames=-1), "turntable_frames (--turntable-frames) must be an integer >= 0, got -1"),
    (dict(plane_res=0), "plane_res (--plane-res) must be an integer >= 1, got 0"),
    (dict(fit_steps=-3), "fit_steps (--fit-steps) must be an integer >= 0, got -3"),
    (dict(tet_res=0), "tet_res (--tet-res) must be an integer >= 1, got 0"),
    (dict(truncation=math.nan), "truncation (--truncation) must be a finite number, got nan"),
    (dict(rule="ism", rule_options={"t_min": 0.1, "delta": 3}), "rule_options: rule 'ism' has no option 'delta' "
                                                                  "(--ism-delta); options: delta_s, delta_t"),
])
def test_check_refuses_each_bad_value_naming_the_parameter_and_its_flag(changes, message):
    assert RefineOptions().check() == RefineOptions()  # the defaults pass
    with pytest.raises(Get3dError) as err:
        RefineOptions(**changes).check()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_refine_checks_before_touching_the_asset_or_the_folder(tmp_path):
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    sdf = asset.params.sdf.detach().clone()
    with pytest.raises(Get3dError, match=r"lr_sdf \(--lr-sdf\)"):
        refine(AnalyticPrior(RED), asset, "a chair", RefineOptions(steps=1, lr_sdf=-1), tmp_path / "run")
    assert not (tmp_path / "run").exists() and torch.equal(asset.params.sdf, sdf)


def test_the_rule_is_stored_stripped_and_lower_case():
    assert RefineOptions(rule=" SDI ").rule == "sdi"


def test_refine_takes_run_seed_not_seed_and_no_loose_keywords():
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    with pytest.raises(TypeError, match="seed"):
        refine(AnalyticPrior(RED), asset, "a chair", RefineOptions(steps=0), seed=3)
    with pytest.raises(TypeError, match="lr_texture"):
        refine(AnalyticPrior(RED), asset, "a chair", lr_texture=0.1)
    with pytest.raises(Get3dError, match="must be a get3d.distill.options.RefineOptions, got 'sds'"):
        refine(AnalyticPrior(RED), asset, "a chair", "sds")  # the former positional rule
    # run_seed draws the cameras: two seeds, two different results; the same seed, the same result
    def run(run_seed):
        asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
        refine(AnalyticPrior(RED), asset, "a chair", RefineOptions(steps=2, texture_only=True, run_seed=run_seed))
        return asset.params.tex_planes.detach()

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_the_cli_builds_the_options_a_python_call_would(monkeypatch, tmp_path):
    """Every refine flag lands in its RefineOptions field (the options object is compared whole)."""
    from click.testing import CliRunner

    import get3d.distill.refine_run as module
    from get3d.cli import cli

    seen = {}

    def capture(ckpt, seed, prompt, model, outdir, options, **where):
        seen.update(ckpt=ckpt, seed=seed, prompt=prompt, options=options, where=where)
        raise Get3dError("captured")

    monkeypatch.setattr(module, "refine_checkpoint", capture)
    args = ["refine", "--ckpt", "tiny-chair", "--seed", "4", "--prompt", "a red chair", "--model", "m",
            "--outdir", str(tmp_path), "--rule", "ISM", "--steps", "7", "--negative-prompt", "blurry",
            "--guidance", "5", "--ism-delta-t", "40", "--lr-sdf", "0.2", "--lr-deformation", "0.3",
            "--lr-texture", "0.4", "--sdf-reg-weight", "0.5", "--laplacian-weight", "0.6", "--texture-only",
            "--batch", "3", "--render-res", "12", "--background", "black", "--tet-res", "24", "--category", "car",
            "--plane-res", "9", "--fit-steps", "11", "--snapshot-every", "13", "--max-bad-steps", "2",
            "--export-every", "5", "--texture-res", "64", "--preview-res", "48", "--truncation", "0.5",
            "--run-seed", "17", "--tensorboard", "--perp-neg", "--offline", "--device", "cpu", "--resume", "auto"]
    result = CliRunner().invoke(cli, args)
    assert "captured" in result.output, result.output
    assert seen["options"] == RefineOptions(
        rule="ism", steps=7, negative_prompt="blurry", rule_options={"delta_t": 40, "guidance_scale": 5.0},
        lr_sdf=0.2, lr_deformation=0.3, lr_texture=0.4, sdf_reg_weight=0.5, laplacian_weight=0.6, texture_only=True,
        batch=3, render_res=12, background="black", tet_res=24, category="car", plane_res=9, fit_steps=11,
        snapshot_every=13, max_bad_steps=2, export_every=5, texture_res=64, preview_res=48, truncation=0.5,
        run_seed=17, tensorboard=True, perp_neg=True)
    assert (seen["ckpt"], seen["seed"], seen["prompt"]) == ("tiny-chair", "4", "a red chair")
    assert seen["where"] == dict(device="cpu", latents=None, local_files_only=True, resume="auto", progress=True)


def test_cli_and_python_write_the_same_settings_and_tensors(tiny_sd, offline, tmp_path):
    from click.testing import CliRunner

    from get3d.cli import cli
    from get3d.distill.refine_run import refine_checkpoint
    from get3d.snapshot import read_snapshot

    flags = ["--steps", "2", "--batch", "2", "--texture-only", "--run-seed", "3", "--background", "0.2,0.4,0.6",
             "--sds-t-min", "0.1", "--guidance", "20", "--lr-texture", "0.05", "--texture-res", "32",
             "--preview-res", "32"]
    result = CliRunner().invoke(cli, ["refine", "--ckpt", "tiny-chair", "--seed", "0", "--prompt", "a red chair",
                                      "--model", str(tiny_sd), "--outdir", str(tmp_path / "cli"), *flags])
    assert result.exit_code == 0, result.output
    options = RefineOptions(steps=2, batch=2, texture_only=True, run_seed=3, background="0.2,0.4,0.6",
                            rule_options={"t_min": 0.1, "guidance_scale": 20.0}, lr_texture=0.05, texture_res=32,
                            preview_res=32)
    refine_checkpoint("tiny-chair", 0, "a red chair", tiny_sd, tmp_path / "py", options)
    cli_record, py_record = (json.loads((tmp_path / name / "settings.json").read_text()) for name in ("cli", "py"))
    assert [f.replace("/cli/", "/") for f in cli_record.pop("files")] == \
        [f.replace("/py/", "/") for f in py_record.pop("files")]
    assert cli_record == py_record
    assert cli_record["run_seed"] == 3 and cli_record["seed_of_asset"] == 0 and "seed" not in cli_record
    a, _ = read_snapshot(tmp_path / "cli" / "snapshots" / "snapshot-000000002.json")
    b, _ = read_snapshot(tmp_path / "py" / "snapshots" / "snapshot-000000002.json")
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


# The keys of a refine run's settings.json (a resume compares them, so renaming one breaks
# resuming the runs written before; adding one is safe: keys absent from a record are not compared).
RECORD_KEYS = {
    "prompt", "rule", "steps", "negative_prompt", "rule_options", "lr_sdf", "lr_deformation", "lr_texture",
    "sdf_reg_weight", "laplacian_weight", "geometry_only", "texture_only", "batch", "render_res", "background",
    "views", "view_prompts", "perp_neg", "snapshot_every", "export_every", "max_bad_steps", "run_seed",
    "texture_res", "formats", "preview_res", "turntable_frames", "export", "backend", "tensorboard", "profile",
    "seed_of_asset", "image_size", "asset", "resumed_from_step", "skipped_steps", "finite_steps", "final_loss",
    "files"}
# What settings.json lacked before RefineOptions (and "seed" was the run seed's name)
NEW_KEYS = ("run_seed", "preview_res", "turntable_frames", "export", "backend", "tensorboard", "profile")


def _old_format(path):
    """Rewrite a settings record (settings.json or a snapshot's "refine") as written before RefineOptions."""
    data = json.loads(path.read_text())
    record = data.get("refine", data)
    record["seed"] = record["run_seed"]
    for key in NEW_KEYS:
        record.pop(key)
    path.write_text(json.dumps(data, indent=2))


def test_a_run_folder_written_before_refine_options_resumes(tmp_path):
    options = RefineOptions(steps=1, texture_only=True, export=False, run_seed=2)

    def run(outdir, options, resume=None):
        asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
        return refine(AnalyticPrior(RED), asset, "a red chair", options, outdir, resume=resume)

    for name in ("new", "old"):
        run(tmp_path / name, options)
    assert set(json.loads((tmp_path / "new" / "settings.json").read_text())) == RECORD_KEYS
    for path in [tmp_path / "old" / "settings.json", *(tmp_path / "old" / "snapshots").glob("*.json")]:
        _old_format(path)
    # The old record's "seed" is read as run_seed: another run seed is refused, naming it
    with pytest.raises(Get3dError, match="run_seed = 2, this run asks for 5"):
        run(tmp_path / "old", RefineOptions(steps=2, texture_only=True, export=False, run_seed=5), "auto")
    results = {name: run(tmp_path / name, RefineOptions(steps=2, texture_only=True, export=False, run_seed=2),
                         "auto") for name in ("new", "old")}
    assert results["old"].start_step == 1 and results["old"].losses == results["new"].losses
    assert torch.equal(results["old"].asset.params.tex_planes, results["new"].asset.params.tex_planes)


def test_views_are_a_torch_free_dataclass_recorded_in_settings(tmp_path):
    views = ViewRanges(elevation=(0, 30), fov=(45, 45))
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    refine(AnalyticPrior(RED), asset, "a chair", RefineOptions(steps=1, texture_only=True, export=False, views=views),
           tmp_path)
    record = json.loads((tmp_path / "settings.json").read_text())
    assert record["views"] == {"elevation": [0.0, 30.0], "distance": [1.2, 1.6], "fov": [45.0, 45.0],
                               "front_azimuth": 0.0, "overhead": 60.0}


def test_resume_errors_name_the_parameter_and_its_flag(tmp_path):
    def run(options, outdir, resume):
        asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
        return refine(AnalyticPrior(RED), asset, "a chair", options, outdir, resume=resume)

    with pytest.raises(Get3dError, match=r"resume \(--resume\) needs outdir \(--outdir\)"):
        run(RefineOptions(steps=1, texture_only=True, export=False), None, "auto")
    run(RefineOptions(steps=2, texture_only=True, export=False), tmp_path, None)
    with pytest.raises(Get3dError, match=r"steps \(--steps\) 1 is below the resumed snapshot's step 2"):
        run(RefineOptions(steps=1, texture_only=True, export=False), tmp_path, "auto")


def test_refine_checkpoint_names_a_bad_asset_seed():
    from get3d.distill.refine_run import refine_checkpoint

    with pytest.raises(Get3dError, match=r"seed \(--seed\) must be a non-negative integer, got '-3'"):
        refine_checkpoint("tiny-chair", "-3", "a chair", "/no/model", None, RefineOptions(steps=1))


def test_the_rule_options_values_are_checked_before_anything_loads(tmp_path):
    from get3d.distill.refine_run import refine_checkpoint, refine_mesh

    bad = RefineOptions(steps=1, rule_options={"t_min": 0.9, "t_max": 0.5})
    with pytest.raises(Get3dError, match="sds t range"):  # not the missing model or mesh
        refine_checkpoint("tiny-chair", 0, "a chair", "/no/model", tmp_path / "a", bad)
    with pytest.raises(Get3dError, match="sds t range"):
        refine_mesh(tmp_path / "missing.glb", "a chair", "/no/model", tmp_path / "b", bad)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_runner_driven_by_hand_is_refine(tmp_path):
    """RefineRun's parts (setup, step, snapshot, finish, export) are refine() when driven in its
    order: the same parameters, losses and settings record."""
    from get3d.distill.refine_run import RefineRun

    options = RefineOptions(steps=3, batch=2, snapshot_every=2, texture_res=16, preview_res=16, turntable_frames=0)
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    expected = refine(AnalyticPrior(RED), asset, "a red chair", options, tmp_path / "a")

    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    run = RefineRun(AnalyticPrior(RED), asset, "a red chair", options, tmp_path / "b")
    assert run.setup() == 0 and json.loads((tmp_path / "b" / "settings.json").read_text())["resumed_from_step"] == 0
    for step in range(options.steps):
        assert run.step(step)
        if step + 1 == options.snapshot_every:
            run.snapshot(step + 1)
    run.finish()
    result = run.export()
    assert result.losses == expected.losses and len(result.losses) == 3
    for name in ("sdf", "deformation", "tex_planes"):
        assert torch.equal(getattr(asset.params, name), getattr(expected.asset.params, name)), name
    assert sorted(p.name for p in (tmp_path / "b" / "snapshots").iterdir()) == \
        sorted(p.name for p in (tmp_path / "a" / "snapshots").iterdir())
    records = [json.loads((tmp_path / n / "settings.json").read_text()) for n in ("a", "b")]
    assert [r.pop("files") for r in records][0] != [] and records[0] == records[1]
