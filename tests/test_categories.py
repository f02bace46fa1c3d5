"""get3d.categories: one row per category, read by presets, GET3D checkpoint loading, the render
job and the CLI help, so changing a row changes all of them."""
import subprocess
import sys

import pytest

from get3d import categories
from get3d.categories import CATEGORIES, GET3D_TET_RES, find_category, get_category, render_scale
from get3d.config import PRESETS, preset
from get3d.datasets.settings import RenderSettings
from get3d.errors import Get3dError
from get3d.official import _resolve_grid


def test_names_and_synsets_find_the_same_row():
    for row in CATEGORIES.values():
        assert find_category(row.name.upper()) is row
        if row.synset:
            assert find_category(row.synset) is row
    assert find_category("lamp") is None
    with pytest.raises(Get3dError, match="--category: unknown category 'boat'; choose from car, chair"):
        get_category("boat", "--category")


@pytest.mark.parametrize("name", [n for n, row in CATEGORIES.items() if row.r1_gamma is not None])
def test_each_published_category_has_a_preset_built_from_its_row(name):
    row, cfg = CATEGORIES[name], preset(f"shapenet-{name}")
    assert (cfg.model.tet_res, cfg.model.grid_scale, cfg.train.r1_gamma) == (row.tet_res, row.grid_scale, row.r1_gamma)
    assert cfg.train.variant == "reference"


def test_a_changed_row_reaches_presets_loading_rendering_and_help(monkeypatch):
    chair = CATEGORIES["chair"]
    monkeypatch.setitem(CATEGORIES, "chair", type(chair)(**{**chair.__dict__, "grid_scale": 0.5, "render_scale": 0.6,
                                                           "r1_gamma": 7.0, "tet_res": 64}))
    cfg = PRESETS["shapenet-chair"]()
    assert (cfg.model.grid_scale, cfg.train.r1_gamma, cfg.model.tet_res) == (0.5, 7.0, 64)
    assert _resolve_grid("03001627", None, None) == (64, 0.5)
    assert render_scale("chair") == 0.6 and RenderSettings(scale=None).scale_for("03001627") == 0.6
    assert RenderSettings(scale=None).scale_for("lamp") == categories.DEFAULT_RENDER_SCALE
    assert "chair 0.6" in categories.render_scale_help()


def test_get3d_values_as_published():
    # GET3D's README commands and Blender script; the bundled default grid.
    assert GET3D_TET_RES == 90
    assert {n: (r.grid_scale, r.r1_gamma, r.render_scale) for n, r in CATEGORIES.items() if r.r1_gamma} == {
        "car": (1.0, 40.0, 0.9), "chair": (0.8, 400.0, 0.7), "motorbike": (1.0, 80.0, 0.9)}
    assert CATEGORIES["chair"].split == "shapenet_chair" and CATEGORIES["car"].camera_mode == "shapenet_car"


def test_the_table_and_config_import_no_torch():
    code = "import sys, get3d.categories, get3d.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
