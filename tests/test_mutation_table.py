"""scripts/mutate.py's table stays applicable: each mutation's text occurs exactly once in its file
(a refactor that moves the text makes the entry stale, and the mutation run would skip it)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mutations():
    spec = importlib.util.spec_from_file_location("mutate_script", ROOT / "scripts" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module.MUTATIONS


def test_every_mutation_targets_text_that_occurs_once():
    stale = []
    for m in _mutations():
        path = ROOT / m.file
        count = path.read_text().count(m.old) if path.is_file() else 0
        if count != 1 or "\n" in m.old:
            stale.append(f"{m.id}: {m.file} holds its text {count} times")
    assert stale == []
