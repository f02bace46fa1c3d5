"""Configs from presets, JSON files and CLI overrides, and their validation."""
import json
import re

import pytest

from get3d.errors import Get3dError
from get3d.training.options import build_config, validate_config


def test_overrides_and_resolution_set_both_sizes():
    cfg = build_config("shapenet-chair", kimg=5, batch=8, seed=3, gamma=10.0, snapshot_kimg=1, resolution=256)
    assert (cfg.train.kimg, cfg.train.batch, cfg.train.seed, cfg.train.r1_gamma, cfg.train.snapshot_kimg) == \
        (5, 8, 3, 10.0, 1)
    assert cfg.data.resolution == cfg.model.img_resolution == 256
    assert cfg.model.grid_scale == 0.8  # the rest of the preset is kept
    validate_config(cfg, world_size=4)


def test_config_file_merges_over_the_preset_and_overrides_win(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"train": {"batch": 6, "r1_interval": 8}, "data": {"workers": 0}}))
    cfg = build_config("tiny", path, batch=4)
    assert cfg.train.batch == 4 and cfg.train.r1_interval == 8 and cfg.data.workers == 0
    assert cfg.model.z_dim == 64


def test_resume_base_config_is_used_without_preset():
    base = build_config("tiny", resolution=32).to_dict()
    assert build_config(base=base, kimg=1).data.resolution == 32


@pytest.mark.parametrize("kwargs, world, message", [
    (dict(batch=6), 4, "train.batch (--batch) 6 is not divisible by the 4 processes"),
    (dict(resolution=48), 1, "data.resolution (--resolution) must be a power of two >= 16, got 48"),
    (dict(resolution=8), 1, "data.resolution (--resolution) must be a power of two >= 16, got 8"),
    (dict(kimg=0), 1, "train.kimg (--kimg) must be > 0"),
    (dict(gamma=-1.0), 1, "train.r1_gamma (--gamma) must be >= 0"),
])
def test_validation_names_the_option(kwargs, world, message):
    with pytest.raises(Get3dError, match=re.escape(message)):
        validate_config(build_config("tiny", **kwargs), world)


def test_mismatched_sizes_and_bad_files_are_one_line_errors(tmp_path):
    cfg = build_config("tiny")
    cfg.model.img_resolution = 32
    with pytest.raises(Get3dError, match=re.escape("data.resolution 64 != model.img_resolution 32; set both with resolution (--resolution)")):
        validate_config(cfg)
    with pytest.raises(Get3dError, match=re.escape("give preset_name (--preset NAME) or config_file (--config FILE)")):
        build_config()
    with pytest.raises(Get3dError, match="unknown preset 'nope'"):
        build_config("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(Get3dError, match=re.escape(f"config_file (--config) {bad}: not valid JSON")):
        build_config("tiny", bad)
    bad.write_text(json.dumps({"train": {"batchsize": 4}}))
    with pytest.raises(Get3dError, match="unknown key 'batchsize'"):
        build_config("tiny", bad)
    bad.write_text(json.dumps({"optim": {}}))
    with pytest.raises(Get3dError, match="unknown section 'optim'"):
        build_config("tiny", bad)
    with pytest.raises(Get3dError, match="file not found"):
        build_config("tiny", tmp_path / "missing.json")
