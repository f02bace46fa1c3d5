"""Imports run downhill (docs/architecture.md, "Layers"): every import statement in get3d,
module-level or inside a function, checked against the layering rules and for cycles."""
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


def _graph() -> dict[str, set[str]]:
    """module -> the get3d modules it imports anywhere in its file (``from get3d.a import b`` is an
    edge to get3d.a.b when that is a module, else to get3d.a). A package's implicit import of its
    parents is not an edge: front doors export lazily (get3d._lazy), so they import nothing."""
    modules = dict(_modules())

    def owner(target: str) -> str:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    return {name: {owner(t) for t in targets} - {name} for name, targets in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_even_through_function_level_imports():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_function_level_circle():
    # snapshot <-> official was such a circle (each imported the other inside a function).
    graph = _graph()
    graph["get3d.snapshot"] = graph["get3d.snapshot"] | {"get3d.official"}
    assert ["get3d.official", "get3d.snapshot"] in _cycles(graph)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_checkpoint_resolution_sits_above_snapshot_io_and_official_loading():
    assert _violations(lambda name, target: name in ("get3d.snapshot", "get3d.official")
                       and target.startswith("get3d.checkpoint")) == []


def _package_names_shadowed_by_submodules():
    """Names a package exports (lazily or eagerly) that are also one of its submodules: importing
    the submodule rebinds the package attribute, so ``from package import name`` would return the
    module instead (as ``get3d.distill.refine`` did before the module became refine_run)."""
    import importlib

    clashes = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        package = ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        exported = set(getattr(importlib.import_module(package), "__all__", ()))
        submodules = {p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"}
        submodules |= {p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()}
        for name in sorted(exported & submodules):
            importlib.import_module(f"{package}.{name}")  # what any caller's import of it does
            if type(getattr(importlib.import_module(package), name)).__name__ == "module":
                clashes.append(f"{package}.{name}")
    return clashes


def test_no_package_exports_a_name_that_is_also_its_submodule():
    assert _package_names_shadowed_by_submodules() == []
