"""One source for refine's defaults: RefineOptions feeds refine()'s signature and the CLI's options;
importing it (and the CLI) pulls in neither torch nor diffusers."""
import dataclasses
import inspect
import subprocess
import sys

import click

from get3d.cli import cli
from get3d.distill.options import RefineOptions
from get3d.distill.refine import refine, refine_mesh

# RefineOptions field -> (refine() parameter, CLI option)
NAMES = {"rule": ("rule", "rule"), "steps": ("steps", "steps"), "run_seed": ("seed", "run_seed"),
         "mesh_tet_res": (None, None), "plane_res": (None, "plane_res"), "fit_steps": (None, "fit_steps"),
         "truncation": (None, "truncation")}


def test_refine_and_the_cli_take_their_defaults_from_refine_options():
    defaults = RefineOptions()
    signature = inspect.signature(refine).parameters
    options = {p.name: p.default for p in cli.commands["refine"].params if isinstance(p, click.Option)}
    for field in dataclasses.fields(RefineOptions):
        value = getattr(defaults, field.name)
        in_refine, in_cli = NAMES.get(field.name, (field.name, field.name))
        if in_refine is not None:
            assert signature[in_refine].default == value, field.name
        if in_cli is not None:
            assert options[in_cli] == value, field.name
    mesh_signature = inspect.signature(refine_mesh).parameters
    assert mesh_signature["plane_res"].default == defaults.plane_res
    assert mesh_signature["fit_steps"].default == defaults.fit_steps


def test_the_options_and_the_cli_import_without_torch():
    code = ("import sys, get3d.cli, get3d.distill, get3d.distill.options; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
