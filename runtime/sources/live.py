"""Live sources: a capture thread that keeps only the newest frames, and repairs itself.

The thread opens a reader, reads frames as fast as the camera gives them, stamps each with
`time.monotonic()` the moment read() returns, and puts it in a small ring (default 2). A consumer
slower than the camera sees the newest frames; every frame overwritten before it was read is
counted in `stats.dropped`. When a read fails the thread reopens the reader with exponential backoff
(0.25 s doubling to 5 s, reset after a success), forever unless `max_reconnects` is given.

Stalls are measured on the consumer side too: a camera whose read() hangs (a driver that never
returns, a network stream without a read timeout) stops delivering without failing. When the
consumer has waited `stall_timeout` without a frame, a stall is counted and a gap opened; if the
read is still hung after `hang_timeout`, the hung reader is abandoned (it releases itself when its
read finally returns) and a fresh one is opened. OpenCV captures cannot be released from another
thread while they read, so abandoning is the only safe repair.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Iterator, Protocol

import numpy as np

from runtime.sources.base import Frame, Gap, Source, SourceError


LIVE_KEYS = ("stream_id", "ring", "stall_timeout", "hang_timeout", "max_reconnects", "backoff_initial",
             "backoff_max", "wait_for_first")


def split_options(spec: str, options: dict, accepted: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """(live-source options, the source's own options); unknown keys raise SourceError naming them."""
    unknown = sorted(set(options) - set(LIVE_KEYS) - set(accepted))
    if unknown:
        raise SourceError(f"unknown option(s) {unknown} for source {spec!r}; accepted: "
                          f"{sorted(set(accepted) | set(LIVE_KEYS))}")
    live = {k: v for k, v in options.items() if k in LIVE_KEYS}
    return live, {k: v for k, v in options.items() if k not in LIVE_KEYS}


class EndOfStream(Exception):
    """Raised by a reader whose stream has ended for good (a finite clip played as a camera)."""


class Reader(Protocol):
    """What the capture thread needs from a camera: read() an image or None on failure; release()."""

    def read(self) -> "np.ndarray | Frame | None": ...

    def release(self) -> None: ...


class LiveSource(Source):
    """A camera-like source: capture thread, newest-frames ring, stall watch, reconnect with backoff.

    `opener()` returns a Reader or raises SourceError. The first open happens in the constructor, so
    a wrong address fails at once with SourceError; pass `wait_for_first=True` to keep retrying
    instead (a camera that powers up after the robot's software).
    """

    live = True

    def __init__(self, opener: Callable[[], Reader], name: str, stream_id: str | None = None, ring: int = 2,
                 stall_timeout: float = 1.0, hang_timeout: float | None = None, max_reconnects: int | None = None,
                 backoff_initial: float = 0.25, backoff_max: float = 5.0, wait_for_first: bool = False):
        super().__init__(name, stream_id)
        if not isinstance(ring, int) or ring < 1:
            raise SourceError(f"ring must hold at least 1 frame, got {ring}")
        if not stall_timeout > 0:
            raise SourceError(f"stall_timeout must be > 0 seconds, got {stall_timeout}")
        if max_reconnects is not None and max_reconnects < 0:
            raise SourceError(f"max_reconnects must be >= 0 or None (forever), got {max_reconnects}")
        if not 0 < backoff_initial <= backoff_max:
            raise SourceError(f"need 0 < backoff_initial <= backoff_max, got {backoff_initial}, {backoff_max}")
        self._opener = opener
        self.stall_timeout = float(stall_timeout)
        self.hang_timeout = float(hang_timeout) if hang_timeout is not None else max(3.0 * stall_timeout, 5.0)
        self.max_reconnects = max_reconnects
        self.backoff_initial = float(backoff_initial)
        self.backoff_max = float(backoff_max)
        self._ring: collections.deque[Frame] = collections.deque(maxlen=ring)
        self._cond = threading.Condition(self._stats_lock)  # one lock guards ring, stats and state
        self._stop = threading.Event()
        self._generation = 0  # bumped to abandon a hung capture thread
        self._index = 0
        self._last_frame = time.monotonic()  # capture time of the newest frame (or the start)
        self._open_gap: Gap | None = None
        self._in_read_since: float | None = None
        self._failure: str | None = None  # set when the thread gave up: the iterator raises it
        first = None
        if not wait_for_first:
            first = opener()  # raises SourceError: a bad address fails here, in the caller's thread
        self._thread = self._start_thread(first, after_loss=False)

    @property
    def ring_size(self) -> int:
        return self._ring.maxlen

    def pending(self) -> int:
        """Frames waiting in the ring (never more than its size)."""
        with self._cond:
            return len(self._ring)

    # -- the consumer side --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.next_frame()
            if frame is None:
                return
            yield frame

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        """The oldest frame in the ring, waiting for one if needed; None once closed or on `timeout`.

        Raises SourceError when the capture thread gave up (max_reconnects reached).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._stop.is_set():
                return None
            while not self._ring:
                if self._closed:
                    return None
                if self._failure is not None:
                    raise SourceError(self._failure)
                now = time.monotonic()
                self._watch(now)
                wake = self._next_watch_time(now)
                if deadline is not None:
                    if now >= deadline:
                        return None
                    wake = min(wake, deadline)
                self._cond.wait(max(wake - now, 0.001))
            frame = self._ring.popleft()
            self._stats.delivered += 1
            return frame

    def _next_watch_time(self, now: float) -> float:
        if self._open_gap is None:
            return self._last_frame + self.stall_timeout
        if self._in_read_since is not None:
            return max(self._in_read_since + self.hang_timeout, now + 0.05)
        return now + self.stall_timeout

    def _watch(self, now: float) -> None:
        """Notice a stall (no frame for stall_timeout) and abandon a read hung past hang_timeout."""
        if self._open_gap is None and now - self._last_frame >= self.stall_timeout:
            self._stats.stalls += 1
            self._begin_gap("stall")
        started = self._in_read_since
        if started is not None and now - started >= self.hang_timeout and not self._stop.is_set():
            self._stats.last_error = f"{self.name}: read() hung for {now - started:.1f} s; opening a fresh reader"
            self._generation += 1
            self._in_read_since = None
            self._thread = self._start_thread(None, after_loss=True)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the capture thread and wait (up to `timeout`) for it to release the camera."""
        with self._cond:
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        thread = self._thread
        if thread is not threading.current_thread():
            thread.join(timeout)

    def __del__(self):
        stop = getattr(self, "_stop", None)  # absent when __init__ failed early
        if stop is not None:
            stop.set()

    # -- the capture thread -------------------------------------------------------------------------

    def _start_thread(self, reader: Reader | None, after_loss: bool) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(self._generation, reader, after_loss),
                                  name=f"capture:{self.name}", daemon=True)
        thread.start()
        return thread

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _run(self, generation: int, reader: Reader | None, after_loss: bool) -> None:
        delay = self.backoff_initial
        failures = 0  # consecutive attempts in this outage that yielded no frame
        while self._current(generation):
            if reader is None:
                reader = self._reopen(delay, after_loss)
            produced = reader is not None and self._pump(generation, reader)
            after_loss = True  # every later open is a reconnect: waited for, counted
            if produced == "end":
                return
            if produced:  # frames flowed before the loss: the backoff starts over
                delay, failures = self.backoff_initial, 0
            else:
                failures += 1
                if self.max_reconnects is not None and failures > self.max_reconnects:
                    self._give_up(failures)
                    return
                delay = min(delay * 2.0, self.backoff_max)
            reader = None

    def _reopen(self, delay: float, after_loss: bool) -> Reader | None:
        if after_loss and self._stop.wait(delay):
            return None
        if after_loss:
            with self._cond:
                self._stats.reconnect_attempts += 1
        try:
            reader = self._opener()
        except SourceError as exc:
            with self._cond:
                self._stats.last_error = str(exc)
            return None
        if after_loss:
            with self._cond:
                self._stats.reconnects += 1
        return reader

    def _pump(self, generation: int, reader: Reader) -> "str | bool":
        """Read until failure or stop; "end" at end of stream, else whether any frame came."""
        got_any = False
        try:
            while self._current(generation):
                with self._cond:
                    self._in_read_since = time.monotonic()
                try:
                    item = reader.read()
                except EndOfStream:
                    self._finish(f"{self.name}: end of stream")
                    return "end"
                except Exception as exc:  # a driver error is a failed read, not a dead thread
                    item = None
                    with self._cond:
                        self._stats.last_error = f"{self.name}: read failed: {exc}"
                stamp = time.monotonic()  # capture time: right after read() returns
                if not self._current(generation):
                    return got_any
                if item is None:
                    self._lost()
                    return got_any
                self._push(item, stamp)
                got_any = True
            return got_any
        finally:
            with self._cond:
                if generation == self._generation:
                    self._in_read_since = None
            reader.release()

    def _push(self, item, stamp: float) -> None:
        if isinstance(item, Frame):  # e.g. the synthetic world: keep its index for ground truth
            image, index = item.image, item.index
        else:
            image, index = item, self._index
        frame = Frame(image, stamp, index, self.stream_id)
        with self._cond:
            self._index = index + 1
            if len(self._ring) == self._ring.maxlen:
                self._stats.dropped += 1  # the oldest frame is overwritten unread
            self._ring.append(frame)
            self._stats.frames += 1
            if self._open_gap is None and stamp - self._last_frame >= self.stall_timeout:
                # A stall nobody waited through (the consumer was busy): still counted and recorded.
                self._stats.stalls += 1
                self._begin_gap("stall")
            if self._open_gap is not None:
                self._open_gap.end = stamp
                self._open_gap = None
            self._last_frame = stamp
            self._cond.notify_all()

    def _begin_gap(self, reason: str) -> None:
        """Open a gap starting at the newest frame (caller holds the lock)."""
        if self._open_gap is None:
            self._open_gap = Gap(self._last_frame, None, reason)
            self._add_gap(self._open_gap)
        elif reason == "disconnected":
            self._open_gap.reason = reason

    def _lost(self) -> None:
        with self._cond:
            self._begin_gap("disconnected")
            if self._stats.last_error is None:
                self._stats.last_error = f"{self.name}: read returned no frame"
            self._cond.notify_all()

    def _give_up(self, failures: int) -> None:
        with self._cond:
            self._failure = (f"{self.name}: gave up after {failures} failed reconnect attempts "
                             f"(max_reconnects={self.max_reconnects}); last error: {self._stats.last_error}")
            self._cond.notify_all()

    def _finish(self, why: str) -> None:
        with self._cond:
            self._closed = True  # the iterator drains the ring, then stops
            self._stats.last_error = self._stats.last_error or why
            self._cond.notify_all()
