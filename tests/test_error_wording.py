"""Library errors name the parameter, not only the CLI flag (docs/testing.md, "Error wording").

The library is called from Python as well as from the shell, so a ``Get3dError`` raised under
``get3d/`` names the parameter as the Python function spells it, with the CLI flag beside it in
parentheses: ``steps (--steps) must be >= 0, got -1``. The rule checked here, on the source (every
``Get3dError(...)``, ``RankLost(...)`` and ``stop.interrupted(...)`` message template):

* a message never starts with a CLI flag (``--steps must be ...``) or with ``give --flag``;
* every ``--flag`` in a message sits inside parentheses (beside the name it spells for the shell).

``get3d/cli.py`` is the CLI: its own errors may name flags alone.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "get3d"
CLI = {"cli.py"}  # relative to PACKAGE
# Being reworded by other work in progress (issue 22): remove an entry once its errors follow the rule.
PENDING: set[str] = set()
RAISERS = {"Get3dError", "RankLost", "interrupted"}
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _template(node) -> str | None:
    """The message's text with each formatted value as ``{}``; None when it is not built from literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return None if left is None and right is None else (left or "{}") + (right or "{}")
    if isinstance(node, ast.IfExp):
        return " | ".join(t for t in (_template(node.body), _template(node.orelse)) if t is not None) or None
    return None


def problems(text: str) -> list[str]:
    """What is wrong with one message template (empty: it follows the rule)."""
    found = []
    head = text.lstrip(" |")
    if head.startswith("--") or head.lower().startswith("give --"):
        found.append("starts with a bare CLI flag")
    for part in text.split(" | "):  # each branch of a conditional message on its own
        depth = 0
        for i, ch in enumerate(part):
            depth += (ch == "(") - (ch == ")")
            if depth <= 0 and FLAG.match(part, i):
                found.append(f"flag {part[i:].split()[0]!r} outside parentheses")
                break
    return found


def scan(source: str) -> list[tuple[int, str, str]]:
    """(line, message template, problem) for each error message in ``source`` that breaks the rule."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in RAISERS:
            continue
        text = _template(node.args[0])
        if text is None:
            continue
        out += [(node.lineno, text, p) for p in problems(text)]
    return out


def _library_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel not in CLI and rel not in PENDING:
            yield rel, path


def test_library_errors_name_the_parameter_beside_the_flag():
    bad = [f"get3d/{rel}:{line}: {problem}: {text[:100]!r}"
           for rel, path in _library_files() for line, text, problem in scan(path.read_text())]
    assert not bad, "library errors worded as CLI flags:\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    'raise Get3dError(f"--steps must be >= 0, got {steps}")',
    'raise Get3dError("give --outdir to resume")',
    'raise Get3dError(f"{path}: pass --resume auto to continue")',
    'raise Get3dError("--" + "seed is empty")',
    'raise stop.interrupted(f"at step {step}; continue with --resume auto")',
    'raise Get3dError(f"x (--x) and --y must differ" if a else "ok")',
])
def test_the_scan_catches_flag_worded_errors(source):
    assert scan(source), source


@pytest.mark.parametrize("source", [
    'raise Get3dError(f"steps (--steps) must be >= 0, got {steps}")',
    'raise Get3dError("outdir (--outdir) is needed to resume")',
    'raise Get3dError(f"{path}: pass resume=\'auto\' (--resume auto) to continue")',
    'raise Get3dError(f"formats (--format): unknown format {x!r}")',
    'raise Get3dError("a-b--c is fine: not a flag")',
    'raise ValueError("--steps is not a Get3dError")',
])
def test_the_scan_passes_parameter_worded_errors(source):
    assert not scan(source), source


def test_the_cli_and_pending_files_exist():
    """The exclusions name real files (a rename must not silently widen them)."""
    for rel in CLI | PENDING:
        assert (PACKAGE / rel).is_file(), rel
