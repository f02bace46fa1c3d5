"""The `get3d` command line. Each command is a thin wrapper over a library call."""
from __future__ import annotations

import json
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


@cli.command("geometry-demo")
@click.option("--outdir", default="out/geometry-demo", show_default=True, help="Folder for the meshes.")
@click.option("--res", default=64, show_default=True, help="Tet grid, named like GET3D's tet_res (64, 90, 128...).")
@click.option("--format", "formats", default="glb,obj,ply", show_default=True, help="Comma-separated mesh formats.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
def geometry_demo(outdir, res, formats, device):
    """Extract analytic shapes with marching tetrahedra and write them as mesh files."""
    from get3d.geometry.demo import run_geometry_demo

    records = run_geometry_demo(outdir, res=res, formats=formats, device=device)
    click.echo(f"{'shape':<8} {'verts':>7} {'faces':>7} {'closed':>6} {'euler':>5} {'vol err':>8} {'ms':>6}")
    for r in records:
        err = "-" if r["volume_error"] is None else f"{100 * r['volume_error']:+.2f}%"
        click.echo(f"{r['name']:<8} {r['verts']:>7} {r['faces']:>7} {str(r['closed']):>6} {r['euler']:>5} "
                   f"{err:>8} {1000 * r['seconds']:>6.1f}")
    click.echo(f"meshes written to {outdir}/ (open them in Blender or any glTF viewer)")


@cli.command("tet-grid")
@click.option("--res", default=90, show_default=True, help="Grid resolution, named like GET3D's tet_res.")
def tet_grid_cmd(res):
    """Build (or load) the tet grid for --res, cache it on disk and print its size as JSON."""
    from get3d.geometry.tets import grid_cache_file, cells_for_resolution, edge_table, tet_grid

    verts, tets = tet_grid(res)
    cells = cells_for_resolution(res)
    click.echo(json.dumps({
        "tet_res": res, "bcc_cells": cells, "verts": len(verts), "tets": len(tets),
        "edges": len(edge_table(tets).edges), "cache": str(grid_cache_file(cells)),
    }))


def main():
    cli(prog_name="get3d")
