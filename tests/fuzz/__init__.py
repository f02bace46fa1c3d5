"""Property-based fuzzing (hypothesis) of everything that reads a user's file.

The property everywhere: a file either loads into a valid object, or raises a Get3dError whose
message is one line naming the file (or the reader counts and skips it). Another exception type, a
multi-line message, a hang (``time_limit``) or a crash fails the test. Budgets: ``budget(n)``
examples in the default suite; the ``slow`` twins run ``GET3D_FUZZ_EXAMPLES`` (default 10 n)."""
import contextlib
import os
import signal

from get3d.errors import Get3dError


def budget(n: int, slow: bool = False) -> int:
    if slow:
        return int(os.environ.get("GET3D_FUZZ_EXAMPLES", 10 * n))
    return n


def check_one_line(err: BaseException, path) -> None:
    """The failure must be a Get3dError: one line, naming the file."""
    assert isinstance(err, Get3dError), f"{path}: {type(err).__name__}: {err}"
    message = str(err)
    assert "\n" not in message, f"multi-line error: {message!r}"
    names = {str(path), os.path.basename(str(path))}
    assert any(name in message for name in names), f"error does not name {path}: {message!r}"


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int, what):
    """Fail (not hang) when the block runs longer than `seconds` (SIGALRM, main thread)."""
    def on_alarm(signum, frame):
        raise Hang(f"{what}: still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
