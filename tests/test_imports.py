"""Imports run downhill (ARCHITECTURE.md): every import statement in get3d, module-level or inside
a function, checked against the layering rules the snapshot/loader tidy established."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "get3d"
COMMANDS = {"get3d.cli", "get3d.demo", "get3d.generate", "get3d.invert.command", "get3d.__main__"}  # the top layer


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("get3d")}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, _imports(path)


def _violations(rule):
    return sorted(f"{name} imports {target}" for name, targets in _modules() for target in targets
                  if rule(name, target))


def test_nothing_below_the_commands_imports_a_command_module():
    assert _violations(lambda name, target: name not in COMMANDS and
                       any(target == c or target.startswith(c + ".") for c in COMMANDS)) == []


def test_only_commands_and_training_itself_import_training():
    assert _violations(lambda name, target: target.startswith("get3d.training") and
                       not name.startswith("get3d.training") and name not in COMMANDS) == []


def test_the_snapshot_module_imports_nothing_above_networks():
    above = ("get3d.training", "get3d.metrics", "get3d.text", "get3d.distill", "get3d.export")
    assert _violations(lambda name, target: name == "get3d.snapshot" and target.startswith(above)) == []


def test_the_io_and_error_modules_import_nothing_from_get3d():
    assert _violations(lambda name, target: name == "get3d._io") == []
    assert _violations(lambda name, target: name == "get3d.errors") == []
