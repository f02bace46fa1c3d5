"""The `get3d` command line. Each command is a thin wrapper over a library call."""
from __future__ import annotations

import sys

import click

from get3d import __version__
from get3d.errors import Get3dError


class _Group(click.Group):
    """Turns a Get3dError anywhere below into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Get3dError as err:
            click.echo(f"get3d: error: {err}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="get3d")
def cli():
    """get3d: generate textured 3D meshes with GET3D, and steer them with text."""


def main():
    cli(prog_name="get3d")
