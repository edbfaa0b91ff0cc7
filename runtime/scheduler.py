"""The inference thread: due windows of every stream in, batched backend calls, published results out.

Producers (each source's thread, or a ROS callback) hand due windows to `Scheduler.submit`; one
worker thread takes the oldest of every stream, runs them through `Recognizer.run` in one batch and
hands each result to `on_result`. Live streams keep one waiting window (a newer one replaces it,
counted as dropped); offline streams queue theirs (bounded; the producer waits for room).

A failure in the worker (the backend, or a sink publishing a result) ends it and stays recorded in
`error` for every thread that asks: producers, a drain and close() all raise it, none waits for
results that will never come.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from runtime.recognizer import Pending, Recognizer, Result, inference_failed


class Scheduler:
    """One worker thread: takes due windows of all streams, batches them, runs, publishes."""

    def __init__(self, recognizer: Recognizer, on_result: Callable[[Result], None]):
        self.recognizer, self.on_result = recognizer, on_result
        self.live = recognizer.config.mode == "live"
        self._slots: dict[str, deque] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self.error: BaseException | None = None  # what ended the worker; never cleared
        self.error_stage = ""  # "inference" or "publishing a result"
        self.peak_depth = 0  # most windows ever waiting at once, over all streams
        self._thread = threading.Thread(target=self._work, name="tubelet-inference", daemon=True)
        self._thread.start()

    def submit(self, item: Pending) -> None:
        """Live: replace the stream's waiting window (counted as dropped). Offline: queue, waiting if full.

        Raises RecognizerError once the worker has failed, and RecognizerError (cancelled) after cancel()."""
        stream_id = item.stream.stream_id
        with self._cond:
            self._raise_if_failed()
            slot = self._slots.setdefault(stream_id, deque())
            if item.stream.live:
                if slot:
                    slot.clear()
                    item.stream.stats.dropped_windows += 1
            else:
                while len(slot) >= self.recognizer.config.offline_queue and not self._stopping:
                    self._cond.wait(0.1)
                    self._raise_if_failed()
                if self._stopping:
                    return  # closed while waiting for room: the run is ending, the window is not wanted
            slot.append(item)
            self.peak_depth = max(self.peak_depth, self.depth())
            self._cond.notify_all()

    def depth(self) -> int:
        return sum(len(slot) for slot in self._slots.values())

    def _take(self) -> list[Pending]:
        """Oldest windows first across streams; a live stream contributes its one window."""
        limit = self.recognizer.max_batch
        ready = sorted((item for slot in self._slots.values() for item in slot), key=lambda p: p.arrived_at)
        taken, seen = [], set()
        for item in ready:
            if len(taken) == limit:
                break
            sid = item.stream.stream_id
            if item.stream.live and sid in seen:
                continue
            # Per stream, `ready` keeps queue order, so the taken items are each queue's head.
            taken.append(item)
            seen.add(sid)
        for item in taken:
            self._slots[item.stream.stream_id].popleft()
        return taken

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self.depth() == 0:
                    self._cond.wait()
                if self.depth() == 0:
                    return
                batch = self._take()
                self._busy = True
                self._cond.notify_all()  # offline producers waiting for room
            stage = "inference"
            try:
                results = self.recognizer.run(batch)
                stage = "publishing a result"  # a sink: a closed pipe, a full disk
                for result in results:
                    self.on_result(result)
            except BaseException as exc:  # noqa: BLE001 - kept for every thread that asks, not lost
                with self._cond:
                    self.error, self.error_stage, self._stopping, self._busy = exc, stage, True, False
                    self._slots.clear()  # nobody will ever take them: a drain must not wait for them
                    self._cond.notify_all()
                return
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def drain(self, timeout: float | None = None, abort: Callable[[], bool] | None = None) -> bool:
        """Wait until every queued window is published; True when done in time.

        Raises RecognizerError as soon as the worker has failed (it never clears: every caller sees it);
        abort() returning True (checked every 0.1 s, e.g. a Ctrl-C flag) ends the wait early with False."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (self.depth() or self._busy) and self.error is None:
                if abort is not None and abort():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(min(left, 0.1) if left is not None else 0.1)
            self._raise_if_failed()
        return True

    def cancel(self) -> None:
        """Abandon the queued windows and stop taking new ones (the batch in flight still finishes)."""
        with self._cond:
            self._stopping = True
            self._slots.clear()
            self._cond.notify_all()

    def close(self, drain: bool = True, timeout: float | None = 30.0, abort: Callable[[], bool] | None = None) -> None:
        """Stop the worker (after publishing what is queued when drain); raises its error if it failed."""
        try:
            if drain:
                self.drain(timeout, abort)
        finally:
            self.cancel()  # undrained windows (no drain, a timeout, an abort) are abandoned
            self._thread.join(timeout)
        with self._cond:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        # The error stays set: the first thread to see it must not hide it from the others (a
        # drain waiting for results that will never come, a producer about to submit).
        if self.error is not None:
            raise inference_failed(self.error, self.error_stage) from self.error
