import pytest

from get3d import Get3dError
from get3d.config import PRESETS, Config, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name, tmp_path):
    config = preset(name)
    assert Config.from_json(config.to_json()) == config
    (tmp_path / "c.json").write_text(config.to_json())
    assert Config.from_json(tmp_path / "c.json") == config


def test_get3d_category_settings():
    assert (preset("shapenet-car").train.r1_gamma, preset("shapenet-car").model.grid_scale) == (40.0, 1.0)
    assert (preset("shapenet-chair").train.r1_gamma, preset("shapenet-chair").model.grid_scale) == (400.0, 0.8)
    assert preset("shapenet-motorbike").train.r1_gamma == 80.0
    assert preset("shapenet-car").data.resolution == 1024 and preset("shapenet-car").model.tet_res == 90


def test_presets_are_independent_copies():
    a = preset("tiny")
    a.train.batch = 99
    assert preset("tiny").train.batch != 99


def test_errors():
    with pytest.raises(Get3dError, match="unknown preset 'cat'"):
        preset("cat")
    with pytest.raises(Get3dError, match="unknown key 'lr'"):
        Config.from_dict({"train": {"lr": 1}})
    with pytest.raises(Get3dError, match="not valid JSON"):
        Config.from_json("{nope")
