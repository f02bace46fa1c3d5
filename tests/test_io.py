"""get3d._io: the one atomic-write / sha256 / cache-folder implementation every writer uses."""
import hashlib
import os
import stat

import pytest

from get3d._io import atomic_path, atomic_write, cache_dir, sha256_file, try_atomic_write


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write(target, b"old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_path_renames_only_on_success_and_uses_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "b.txt"  # the folder is created
    with atomic_path(target, fsync=False) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_text("done")
    assert target.read_text() == "done"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_try_atomic_write_swallows_os_errors_only(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert try_atomic_write(blocker / "child.npz", b"data") is False  # parent is a file: OSError
    with pytest.raises(ValueError):
        try_atomic_write(tmp_path / "c", lambda handle: (_ for _ in ()).throw(ValueError("bug")))


def test_sha256_and_cache_dir(tmp_path, monkeypatch):
    data = os.urandom(3 << 20)
    (tmp_path / "d").write_bytes(data)
    assert sha256_file(tmp_path / "d") == hashlib.sha256(data).hexdigest()
    monkeypatch.setenv("GET3D_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir("tets") == tmp_path / "cache" / "tets"
    monkeypatch.delenv("GET3D_CACHE_DIR")
    assert cache_dir("metrics") == tmp_path.home() / ".cache" / "get3d" / "metrics"
