"""Run a command line's `main(argv)` in this process as a user would meet it, and judge the outcome.

A case is one invocation. It runs in the main thread (the CLIs install signal handlers) with stdout
and stderr captured and a wall-clock limit from SIGALRM; the folders it must not touch are
snapshotted (every path, its kind, size and sha256) before and after. What a user may get:

- exit status 0, 1 (an error) or 2 (a usage error); nothing escapes `main` (an escaped exception is
  a traceback on a terminal), and no "Traceback" is printed;
- on failure, the last stderr line is one message, `error: ...` (or argparse's `prog: error: ...`);
- the case ends within its limit;
- nothing changes outside the case's output folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import re
import signal
import stat
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

MAINS = {
    "classify": "runtime.classify",
    "stream": "runtime.stream",
    "calibration": "calibration.__main__",
    "export": "export.build_engine",
}
ALLOWED_EXITS = (0, 1, 2)
MESSAGE = re.compile(r"^([\w.\-/ ]+: )?error: \S")


@dataclass
class Case:
    id: str
    cli: str  # a key of MAINS
    argv: list[str]  # "{out}" is replaced by the case's output folder, "{in}" by the inputs folder
    timeout_s: float = 15.0
    exits: tuple[int, ...] = ALLOWED_EXITS  # a narrower set where the right answer is known
    message: str | None = None  # a regex the last stderr line must match (the known right message)


@dataclass
class Outcome:
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    escaped: str = ""  # the traceback of an exception that left main()
    changed: list[str] = field(default_factory=list)  # input paths added, removed or modified

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


class CaseTimeout(BaseException):
    """Raised in the main thread by SIGALRM when a case runs past its limit (BaseException: not caught
    by a CLI's `except Exception`)."""


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root with its kind, size and content hash (FIFOs and links are never opened)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISREG(info.st_mode):
                found[key] = ("file", info.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISLNK(info.st_mode):
                found[key] = ("link", os.readlink(path))
            else:
                found[key] = (stat.S_IFMT(info.st_mode),)
    return found


def changes(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def run_case(case: Case, inputs: list[Path], out: Path) -> Outcome:
    """Run one case in this process; `inputs` are the folders that must not change (the first is `{in}`)."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{out}", str(out)).replace("{in}", str(inputs[0])) for a in case.argv]
    main = importlib.import_module(MAINS[case.cli]).main
    before = [snapshot(root) for root in inputs]
    result = Outcome()
    stdout, stderr = io.StringIO(), io.StringIO()

    def on_alarm(signum, frame):
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, case.timeout_s)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                result.code = main(argv)
            except SystemExit as exc:  # argparse's usage errors and --help
                result.code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except CaseTimeout:
        result.timed_out = True
    except BaseException:  # noqa: BLE001 - what a user would see as a traceback
        result.escaped = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    result.seconds = time.monotonic() - start
    result.stdout, result.stderr = stdout.getvalue(), stderr.getvalue()
    result.changed = [c for root, old in zip(inputs, before) for c in changes(old, snapshot(root))]
    return result


def problems(case: Case, result: Outcome) -> list[str]:
    """Everything wrong with an outcome; empty when the case behaved as a careful Unix tool does."""
    found = []
    if result.timed_out:
        found.append(f"still running after {case.timeout_s} s")
    if result.escaped:
        found.append("an exception escaped main(): " + result.escaped.strip().splitlines()[-1])
    if "Traceback (most recent call last)" in result.stderr:
        found.append("a traceback on stderr")
    if not result.timed_out and not result.escaped and result.code not in case.exits:
        found.append(f"exit status {result.code}, expected one of {case.exits}")
    if result.code not in (0, None) and not MESSAGE.match(result.last_line):
        found.append(f"exit {result.code} without a one-line error message last on stderr: {result.last_line!r}")
    if case.message and not re.search(case.message, result.last_line):
        found.append(f"last stderr line {result.last_line!r} does not match {case.message!r}")
    if result.changed:
        found.append(f"changed outside its output folder: {result.changed[:5]}")
    return found


def report(case: Case, result: Outcome) -> str:
    return (f"{case.id}: {case.cli} {' '.join(case.argv)} -> exit {result.code} in {result.seconds:.2f} s; "
            + "; ".join(problems(case, result)) + f"\n  stderr: {result.stderr[-600:]!r}")
