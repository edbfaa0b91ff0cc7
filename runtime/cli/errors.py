"""The one base of every error a Tubelet tool reports to its user as one line and exit status 1.

Every layer derives its own user-facing errors from TubeletError (ArtifactError, SourceError,
BackendError, ModelError, ExportInputError, CalibrationError, the ROS bridge's and the Triton
repository's), keeping their names, so each command line catches this one class
(runtime.cli.main.run_main) instead of its own list; an error that is also a ValueError or
RuntimeError keeps that as a second base, so `except ValueError` callers still work.

This module imports nothing, not even runtime.cli's other modules (runtime/cli/__init__.py is
empty): the artifact, backend and source modules at the bottom of the import graph derive from it,
so it must sit below all of them, and no import cycle can pass through it.
"""


class TubeletError(Exception):
    """An error the user can act on: the message says what failed, the value, and the fix.

    `exit_code` is what a command line exits with when this error ends it.
    """

    exit_code = 1


class UsageError(TubeletError):
    """Bad command-line input found after argparse parsed it (a combination of options, a value only
    checkable later): exit status 2, like argparse's own usage errors."""

    exit_code = 2


class OptionValueError(TubeletError, ValueError):
    """An option's or argument's value that cannot be used, found when it is first used: on the command
    line a value that parsed (a prompts file with no prompts, an output path that is not writable),
    through the Python API a setting out of range (a clip of 0 frames, an unknown world action):
    exit status 1."""
