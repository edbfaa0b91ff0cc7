"""One JSON object per published result, to stdout or a file."""

from __future__ import annotations

import json
import sys
import threading

from runtime.outputs.base import Sink


class JsonLinesSink(Sink):
    """`path` "-" (or None) writes to stdout; lines are flushed so a reader sees each result at once."""

    def __init__(self, path: str | None = "-"):
        self.path = path
        self._own = path not in (None, "-")
        try:
            self._file = open(path, "w", encoding="utf-8") if self._own else sys.stdout
        except OSError as exc:
            raise OSError(f"cannot write JSON lines to {path}: {exc.strerror}; choose a writable path") from None
        self._lock = threading.Lock()
        self.lines = 0

    def on_result(self, result) -> None:
        line = json.dumps(result.as_dict(), allow_nan=False)  # NaN is not JSON: fail loudly, never write it
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            self.lines += 1

    def close(self) -> None:
        if self._own and not self._file.closed:
            self._file.close()
