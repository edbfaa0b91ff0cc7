"""One way for every Tubelet command line to end: its exit status and its last line on stderr.

    0    done
    1    an error the user can act on: a TubeletError (or an error it derives from), a file, device
         or port the system refused (OSError), a missing optional package (ImportError); printed
         as one line, `error: ...`, never a traceback
    2    a usage error: argparse's own (raised while parsing, before run_main), or a UsageError
         found later
    130  Ctrl-C outside the tool's own handling (each tool says what it left behind)
    141  stdout closed by its reader (`... | head -1`): quiet, as Unix tools are

Anything else escaping is a bug in Tubelet and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from runtime.cli.errors import TubeletError

EXIT_INTERRUPTED = 130


def one_line(error: BaseException | str, limit: int = 2000) -> str:
    """The message on one line, whatever a library put into it (newlines, pages of context), with the
    notes a layer added on the way up (add_note)."""
    text = " ".join(" ".join([str(error), *getattr(error, "__notes__", ())]).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit] + " ..."


def add_note(error: BaseException, note: str) -> None:
    """Append `note` (what the failure left behind, e.g. "the FP32 artifact is complete") to the line
    run_main prints; BaseException.add_note where Python has it (3.11), the same attribute on 3.10."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        error.__notes__ = [*getattr(error, "__notes__", ()), note]


def run_main(fn: Callable[[Any], int], args: Any, *, interrupted: str | Callable[[], str] | None = "interrupted",
             error_note: str = "") -> int:
    """`fn(args)` as a command line's body, inside runtime.common.hints.command_line() (messages name settings as
    options, `--backend x`); returns the exit status (see the module docstring).

    interrupted: the line printed when Ctrl-C ends the run (or a function giving it), exit 130; None
    lets KeyboardInterrupt through, for a tool that handles it itself. error_note: appended to every
    error line, e.g. "(the artifact is unchanged)".
    """
    from runtime.common.hints import command_line

    note = f" {error_note}" if error_note else ""
    try:
        with command_line():
            return fn(args)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        print(interrupted() if callable(interrupted) else interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed while the main thread wrote to it
        from runtime.outputs.pipes import EXIT_BROKEN_PIPE, silence_stdout

        silence_stdout()
        return EXIT_BROKEN_PIPE
    except TubeletError as exc:
        print(f"error: {one_line(exc)}{note}", file=sys.stderr)
        return exc.exit_code
    except (OSError, ImportError) as exc:
        print(f"error: {one_line(exc)}{note}", file=sys.stderr)
        return 1
