"""Argument helpers every Tubelet command line shares: number types, the common flags, renamed flags.

One name per concept across the tools: `--source` for frames in, `--backend`, `--precision`,
`--threads`, `--seconds`, `--verbose`/`--quiet`. A flag that was renamed stays known under its old
spelling only to say, at parse time (exit 2), which flag replaced it.
"""

from __future__ import annotations

import argparse
import math
from typing import Sequence

BACKENDS_HELP = "auto | tensorrt | openvino | onnxruntime | cpu | cuda | tensorrt-ep | triton"


def number(text: str) -> float:
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite float > 0 (NaN and inf refused)."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def fraction(text: str) -> float:
    """A float strictly between 0 and 1."""
    value = number(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (exclusive), got {value:g}")
    return value


def within(low: float, high: float):
    """A type for a finite float in [low, high]."""
    def parse(text: str) -> float:
        value = number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value:g}")
        return value

    return parse


def min_opt_max(text: str) -> tuple[int, int, int]:
    """A profile's 'MIN,OPT,MAX' (batch sizes, text counts): three integers, 1 <= MIN <= OPT <= MAX."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN,OPT,MAX integers, e.g. 1,1,8") from None
    if len(values) != 3 or not (1 <= values[0] <= values[1] <= values[2]):
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 <= MIN <= OPT <= MAX, e.g. 1,1,8")
    return values


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value



def seed_list(text: str) -> list[int]:
    """'0,1,2': distinct non-negative integer seeds separated by commas (at least one)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes integers separated by commas, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"needs distinct non-negative integers, got {text!r}")
    return seeds


def add_source(parser, help: str, required: bool = True, metavar: str = "SPEC", several: bool = False) -> None:
    """--source: frames in. Repeatable; with several=True one flag also takes several values."""
    if several:
        parser.add_argument("--source", action="extend", nargs="+", required=required, metavar=metavar, help=help)
    else:
        parser.add_argument("--source", action="append", required=required, metavar=metavar, help=help)


def add_backend(parser, default: str = "auto", help: str | None = None) -> None:
    parser.add_argument("--backend", default=default, help=help or f"{BACKENDS_HELP} (default {default})")


def add_precision(parser, choices: Sequence[str], default: str, help: str) -> None:
    parser.add_argument("--precision", default=default, choices=tuple(choices), help=help)


def add_threads(parser, help: str = "ONNX Runtime / OpenVINO inference threads", type=positive_int) -> None:
    parser.add_argument("--threads", type=type, default=None,
                        help=f"{help} (default: ONNX Runtime one per core this process may use, unpinned; "
                             "OpenVINO its own count)")


def add_seconds(parser, help: str = "stop after this many seconds", type=positive_number) -> None:
    parser.add_argument("--seconds", type=type, default=None, help=help)


def add_verbosity(parser, quiet: str | None = None, verbose: str | None = None) -> None:
    """--quiet and/or --verbose, each only where its help is given."""
    if quiet is not None:
        parser.add_argument("--quiet", action="store_true", help=quiet)
    if verbose is not None:
        parser.add_argument("--verbose", action="store_true", help=verbose)


class _Renamed(argparse.Action):
    """A flag's old spelling: refused while parsing, naming the flag that replaced it."""

    def __init__(self, option_strings, dest, new: str, example: str = "", **kwargs):
        self.new, self.example = new, example
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs="*", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        values = " ".join(values or [])
        usage = f"{self.new} {values}".rstrip() if values else (self.example or self.new)
        raise argparse.ArgumentError(self, f"{option_string} was renamed {self.new}: use {usage}")


def add_renamed(parser, old: str, new: str, example: str = "") -> None:
    """Keep `old` known only to refuse it at parse time (exit 2) with a message naming `new`.

    The old flag's values are taken in (nargs='*'), so the message is this one, not "expected one
    argument" or "unrecognized arguments"; `example` is shown when the old flag came without values.
    """
    parser.add_argument(old, action=_Renamed, new=new, example=example)
