"""A reader that closes our stdout early (`... --jsonl - | head -1`) ends the run quietly, as Unix tools do."""

from __future__ import annotations

import errno
import os
import sys

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell reports for `yes` in `yes | head -1`


def is_broken_pipe(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, is a write to a pipe nobody reads any more."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, BrokenPipeError) or (isinstance(error, OSError) and error.errno == errno.EPIPE):
            return True
        error = error.__cause__ or error.__context__
    return False


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again at exit
    (which prints "Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (embedded, already closed)
        pass
