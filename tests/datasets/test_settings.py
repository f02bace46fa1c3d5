"""render-dataset / synth-data take their option defaults from get3d.datasets.settings, the
dataclasses the renderer reads, and that module imports without torch."""
import subprocess
import sys

import click

from get3d.cli import cli
from get3d.datasets.settings import RenderSettings


def test_render_option_defaults_come_from_render_settings():
    rs = RenderSettings()
    for command in ("render-dataset", "synth-data"):
        options = {p.name: p.default for p in cli.commands[command].params if isinstance(p, click.Option)}
        assert options["views"] == rs.views and options["seed"] == rs.seed and options["backend"] == rs.backend
        assert options["ambient"] == rs.lighting.ambient and options["diffuse"] == rs.lighting.diffuse
        assert tuple(float(v) for v in options["light_dir"].split(",")) == rs.lighting.direction


def test_settings_import_without_torch():
    code = "import sys, get3d.datasets.settings; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
