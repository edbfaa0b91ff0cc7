"""How an error message names a setting the user can change, in the syntax the user typed.

The same refusal reaches a user of `python -m runtime.stream` and a user of `runtime.api`: the first
needs `--backend onnxruntime`, the second `backend='onnxruntime'`. Messages name settings through
`setting()`; a command line's `main` runs inside `command_line()`, so every message built while it
runs speaks command-line syntax. Python syntax is the default (the library is the ground floor).

The style is a context variable: each thread (and each asyncio task) sees the style of the code that
set it, so an API caller in one thread never gets command-line hints from a CLI running in another.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

_STYLE: contextvars.ContextVar[str] = contextvars.ContextVar("tubelet_hint_style", default="python")


def setting(name: str, value: object = None) -> str:
    """`--name value` inside a command line, `name=value` (Python repr) elsewhere; flags without a value."""
    if _STYLE.get() == "cli":
        flag = "--" + name.replace("_", "-")
        return flag if value is None else f"{flag} {value}"
    return name if value is None else f"{name}={value!r}"


@contextmanager
def command_line() -> Iterator[None]:
    """Messages built inside this block name settings as command-line options."""
    token = _STYLE.set("cli")
    try:
        yield
    finally:
        _STYLE.reset(token)
