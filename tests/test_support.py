"""tests/_support.py: a missing test-extra library or reference fixture is a skip on a developer's
machine and a failure under CI=true; the GET3D fixture is kept in the repository."""
import pytest

from tests._support import DATA, missing, reference_fixture, require_module

Failed = pytest.fail.Exception
Skipped = pytest.skip.Exception


@pytest.mark.parametrize("ci,expected", [("true", Failed), ("1", Failed), ("", Skipped), ("false", Skipped)])
def test_a_missing_module_or_fixture_fails_only_under_ci(monkeypatch, ci, expected):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(expected, match="no_such_module_get3d"):
        require_module("no_such_module_get3d", module_level=False)
    with pytest.raises(expected, match="reference fixture /nowhere"):
        missing("reference fixture /nowhere is absent")


def test_present_modules_are_returned(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_module("pygltflib", module_level=False).__name__ == "pygltflib"  # in the test extra


def test_the_get3d_fixture_is_a_copy_inside_the_repository():
    folder = reference_fixture("get3d-official-small")
    assert folder == DATA / "get3d-official-small"
    for name in ("README.md", "config.json", "official.pt", "reference.pt", "official_keys_1024.json"):
        assert (folder / name).is_file(), name


@pytest.mark.parametrize("ci,expected", [("true", Failed), ("", Skipped)])
def test_the_reference_fixture_marker_skips_or_fails(tmp_path, monkeypatch, ci, expected):
    from tests.conftest import pytest_runtest_setup

    monkeypatch.setenv("CI", ci)

    class Item:
        @staticmethod
        def get_closest_marker(name):
            return pytest.mark.reference_fixture(tmp_path / "absent").mark if name == "reference_fixture" else None

    with pytest.raises(expected, match="absent"):
        pytest_runtest_setup(Item())
