import json
import subprocess
import sys

from click.testing import CliRunner

from get3d import __version__
from get3d.cli import cli
from get3d.geometry import Mesh


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output.strip().endswith(__version__)
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "geometry-demo" in result.output



def test_commands_are_listed_in_the_order_of_the_readme_table():
    """cli.py defines (and --help lists) its commands as README.md's "Which command do I want?"
    table names them, the commands the table does not name last."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Which command do I want?", 1)[1].split("\n\n", 2)[1]
    order = []
    for name in re.findall(r"get3d ([a-z][a-z0-9-]+)", table):
        if name in cli.commands and name not in order:
            order.append(name)
    assert len(order) >= 12
    listed = cli.list_commands(None)
    assert listed[:len(order)] == order
    help_text = CliRunner().invoke(cli, ["--help"]).output
    positions = [help_text.index(f"\n  {name} ") for name in listed]
    assert positions == sorted(positions)

def test_geometry_demo_writes_closed_meshes(tmp_path):
    result = CliRunner().invoke(cli, ["geometry-demo", "--outdir", str(tmp_path), "--res", "20", "--format", "glb,obj"])
    assert result.exit_code == 0, result.output
    for name in ("sphere", "torus", "box", "blob"):
        for ext in (".glb", ".obj"):
            mesh = Mesh.load(tmp_path / f"{name}{ext}")
            assert mesh.boundary_and_nonmanifold_edges() == (0, 0)
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()[1:5]}
    assert lines["torus"][3] == "True" and lines["torus"][4] == "0"


def test_tet_grid_command_prints_json():
    result = CliRunner().invoke(cli, ["tet-grid", "--res", "10"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["bcc_cells"] == 4 and info["verts"] == 5**3 + 4**3 and info["tets"] == 12 * 4**3


def test_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "get3d", "geometry-demo", "--outdir", str(tmp_path), "--format", "fbx"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "--format" in proc.stderr and "fbx" in proc.stderr
