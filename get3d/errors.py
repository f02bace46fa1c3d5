"""The single error type for user mistakes (bad files, bad options, bad input tensors).

The CLI prints its message on one line and exits non-zero; library users catch it.
"""


class Get3dError(Exception):
    """A user-facing error whose message names the offending file, option or argument."""
