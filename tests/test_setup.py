"""`make` picks an interpreter that can install: a venv when the given one is externally managed."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pick_python.sh"
SYSTEM = Path("/usr/bin/python3")


def _pick(python, venv, cwd):
    env = {k: v for k, v in os.environ.items() if k != "CONDA_PREFIX"}
    return subprocess.run(["sh", str(SCRIPT), str(python), str(venv)], capture_output=True, text=True, cwd=cwd,
                          env=env, check=True)


def test_an_interpreter_inside_a_venv_is_used_as_it_is(tmp_path):
    proc = _pick(sys.executable, tmp_path / ".venv", tmp_path)
    in_env = sys.prefix != sys.base_prefix
    marker = Path(sysconfig.get_paths()["stdlib"]) / "EXTERNALLY-MANAGED"
    if in_env or not marker.exists():
        assert proc.stdout.strip() == sys.executable
        assert not (tmp_path / ".venv").exists()


def _externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    code = "import sysconfig, os; print(os.path.exists(os.path.join(sysconfig.get_paths()['stdlib'], 'EXTERNALLY-MANAGED')))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip() == "True"


@pytest.mark.skipif(not _externally_managed(SYSTEM), reason="no externally managed /usr/bin/python3 here")
def test_the_distribution_python_gets_a_venv_once(tmp_path):
    proc = _pick(SYSTEM, ".venv", tmp_path)
    assert proc.stdout.strip() == ".venv/bin/python"
    assert "externally managed" in proc.stderr and "creating .venv" in proc.stderr
    venv_python = tmp_path / ".venv" / "bin" / "python"
    assert venv_python.exists()
    # It can install (pip works there) and still sees the system's site-packages.
    out = subprocess.run([str(venv_python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True"
    again = _pick(SYSTEM, ".venv", tmp_path)
    assert again.stdout.strip() == ".venv/bin/python" and "creating" not in again.stderr
