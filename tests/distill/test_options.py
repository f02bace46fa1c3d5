"""One source for refine's defaults: RefineOptions is refine()'s default and feeds the CLI's options;
importing it (and the CLI) pulls in neither torch nor diffusers."""
import dataclasses
import inspect
import subprocess
import sys

import click

from get3d.cli import cli
from get3d.distill.options import RefineOptions
from get3d.distill.refine_run import refine, refine_checkpoint, refine_mesh

# RefineOptions fields without a CLI flag of the same name (None: none at all)
CLI_NAMES = {"rule_options": None, "views": None, "view_prompts": None, "formats": None, "turntable_frames": None,
             "export": None, "backend": None, "profile": None, "mesh_tet_res": None}


def test_refine_and_the_cli_take_their_defaults_from_refine_options():
    defaults = RefineOptions()
    for fn in (refine, refine_checkpoint, refine_mesh):
        assert inspect.signature(fn).parameters["options"].default == defaults, fn.__name__
    options = {p.name: p.default for p in cli.commands["refine"].params if isinstance(p, click.Option)}
    for field in dataclasses.fields(RefineOptions):
        in_cli = CLI_NAMES.get(field.name, field.name)
        if in_cli is not None:
            assert options[in_cli] == getattr(defaults, field.name), field.name


def test_the_options_and_the_cli_import_without_torch():
    code = ("import sys, get3d.cli, get3d.distill, get3d.distill.options; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
