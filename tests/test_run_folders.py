"""Issue 24, point 3: a long command never mixes two runs in one folder. Without --resume a folder
holding another run is refused before anything is written; with --resume the run continues only
under the settings it was started with. refine and distill-2d run on the analytic prior, the
fine-tune on the constructed colour encoder (tests/text/stand_ins.py)."""
import json

import pytest
import torch

from get3d import Get3dError
from get3d.distill import AnalyticPrior
from get3d.distill.asset import asset_from_checkpoint
from get3d.distill.options import Distill2dOptions
from get3d.distill.playground import distill_2d
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import refine
from get3d.checkpoint import load_generator
from get3d.runs import check_same_settings
from get3d.text.finetune import finetune_text
from tests.text.stand_ins import ColourEncoder


def _prior():
    return AnalyticPrior(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16).clone())


def _files(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _refine(outdir, prompt="a red chair", resume=None, **kwargs):
    asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
    options = RefineOptions(**{"rule": "sds", "steps": 1, "texture_only": True, "export": False, **kwargs})
    return refine(_prior(), asset, prompt, options, outdir, resume=resume)


def test_refine_refuses_a_folder_holding_another_run_and_leaves_it_untouched(tmp_path):
    _refine(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(Get3dError, match="already holds a refine run.*--resume auto"):
        _refine(tmp_path, prompt="a blue chair")
    assert _files(tmp_path) == before


def test_refine_resume_needs_the_same_settings(tmp_path):
    _refine(tmp_path)
    with pytest.raises(Get3dError, match="prompt"):
        _refine(tmp_path, prompt="a blue chair", steps=2, resume="auto")
    with pytest.raises(Get3dError, match="rule"):
        asset = asset_from_checkpoint("tiny-chair", 0, device="cpu")
        refine(_prior(), asset, "a red chair", RefineOptions(rule="ism", steps=2, texture_only=True, export=False),
               tmp_path, resume="auto")
    with pytest.raises(Get3dError, match="lr_texture"):
        _refine(tmp_path, steps=2, resume="auto", lr_texture=0.5)
    result = _refine(tmp_path, steps=2, resume="auto")  # more steps: the one change a resume is for
    assert result.start_step == 1 and result.steps == 2


def test_finetune_text_refuses_another_run_and_a_resume_with_other_options(tmp_path):
    G, config = load_generator("tiny-chair", device="cpu")
    small = dict(batch=1, views=2, resolution=32, templates="none", grid_seeds=1, grid_views=1, layers="texture")
    finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=1, outdir=tmp_path, config=config, **small)
    snaps = sorted(tmp_path.glob("snapshot-*.json"))
    with pytest.raises(Get3dError, match="already holds a finetune-text run.*--resume auto"):
        finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=2, outdir=tmp_path, config=config, **small)
    with pytest.raises(Get3dError, match="lr"):
        finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=2, outdir=tmp_path, config=config,
                      resume="auto", lr=0.5, **small)
    assert sorted(tmp_path.glob("snapshot-*.json")) == snaps  # nothing new beside the old run
    result = finetune_text(G, ColourEncoder(), "a chair", "a red chair", iters=2, outdir=tmp_path, config=config,
                           resume="auto", return_result=True, **small)
    assert result.steps == 2


def test_distill_2d_refuses_a_folder_of_another_run_but_repeats_its_own(tmp_path):
    prior = _prior()
    distill_2d(prior, "a red square", Distill2dOptions("sds", steps=2, every=1), tmp_path)
    before = _files(tmp_path)
    with pytest.raises(Get3dError, match="holds another distill-2d run.*prompt"):
        distill_2d(prior, "a blue square", Distill2dOptions("sds", steps=2, every=1), tmp_path)
    with pytest.raises(Get3dError, match="rules"):
        distill_2d(prior, "a red square", Distill2dOptions("sds,ism", steps=2, every=1), tmp_path)
    assert _files(tmp_path) == before
    distill_2d(prior, "a red square", Distill2dOptions("sds", steps=2, every=1), tmp_path)  # the same run again: fine
    assert json.loads((tmp_path / "settings.json").read_text())["prompt"] == "a red square"


def test_settings_compare_after_a_json_round_trip():
    check_same_settings({"a": [1, 2], "b": 1}, {"a": (1, 2), "b": 1, "new": 3}, (), "run")  # tuples = lists; new keys pass
    check_same_settings({"steps": 1}, {"steps": 5}, ("steps",), "run")
    with pytest.raises(Get3dError, match="b = 1, this run asks for 2"):
        check_same_settings({"b": 1}, {"b": 2}, (), "run")
