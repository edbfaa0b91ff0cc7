"""The high-level API: sources in, results out, in a few lines.

    from runtime.api import recognize

    for result in recognize("build/videomae-motion", "0"):      # camera 0
        print(result.stream_id, result.label, f"{result.score:.2f}", f"{result.latency_ms:.0f} ms")

`StreamRunner` is the machinery behind it and behind `python -m runtime.stream`: one thread per
source reads frames and preprocesses them into clips, one inference thread batches the due windows
of all streams, sinks receive frames, results and counters.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from runtime.artifact import Artifact, load_artifact
from runtime.cli.errors import OptionValueError
from runtime.common.malloc import keep_frames_mapped
from runtime.model import open_model
from runtime.outputs.base import Sink, Sinks
from runtime.outputs.summary import StreamSummary, summarize, why_no_windows
from runtime.postprocess import PostprocessConfig
from runtime.recognizer import Recognizer, RecognizerConfig, RecognizerError, Result, inference_failed
from runtime.scheduler import Scheduler
from runtime.sources import IterableSource, Source

MODES = ("auto", "live", "offline")
SWITCH_INTERVAL_S = 0.0005


@dataclass
class RunLimits:
    seconds: float | None = None  # stop after this much wall time
    max_frames: int | None = None  # stop each stream after this many frames


@dataclass
class _Feed:
    stream_id: str
    source: object
    live: bool
    thread: threading.Thread | None = None
    error: BaseException | None = None
    done: bool = False
    frames: int = 0


@dataclass
class RunReport:
    summaries: list[StreamSummary]
    elapsed_s: float
    interrupted: bool = False
    errors: dict = field(default_factory=dict)  # stream id → the error that ended its source early
    failure: BaseException | None = None  # what stopped inference (a backend or sink error), if anything
    failure_stage: str = ""  # where it happened: "inference" or "publishing a result"


class StreamRunner:
    """Runs sources through one recognizer into sinks until the sources end, a limit, or `stop()`.

    The recognizer is built once, here: over a video-text model it scores the prompts current at that
    moment for the whole run, whatever is set on the model later (swap prompts mid-run as the ROS
    bridge does, with a new recognizer from `Model.recognizer_with_prompts`)."""

    def __init__(self, artifact: Artifact | str, sources: Sequence, backend: str = "auto", threads: int | None = None,
                 mode: str = "auto", config: RecognizerConfig | None = None, sinks: Sequence[Sink] = (),
                 limits: RunLimits | None = None, source_options: dict | None = None, backend_object=None,
                 precision: str = "fp32", prompts: Sequence[str] | None = None, device: str | None = None,
                 build_engine: bool = False):
        if mode not in MODES:
            raise OptionValueError(f"mode {mode!r} unknown; choose auto, live or offline")
        keep_frames_mapped()  # a run of hours: frames must not fragment glibc's heap (runtime/common/malloc.py)
        self.artifact = load_artifact(artifact) if isinstance(artifact, (str, bytes)) or hasattr(artifact, "__fspath__") else artifact
        self.mode, self.limits = mode, limits or RunLimits()
        self.config = config or RecognizerConfig()
        # The recognizer's default is decided per stream from the source (auto) or forced here.
        self.config.mode = "offline" if mode == "offline" else "live"
        self._own_backend = backend_object is None
        if prompts is not None and backend_object is not None:
            raise OptionValueError("prompts apply when the runner opens the artifact itself; with backend_object, "
                             "set them on that backend (runtime.model.Model.set_prompts) before building "
                             "the runner: it keeps the prompts it was built on")
        if build_engine and backend_object is None:
            # Engines are built where they run: on the first launch here, reused on the next ones.
            from runtime.backends.tensorrt.artifact_engines import build_on_first_launch

            self.artifact = build_on_first_launch(self.artifact, precision, log=lambda line: print(line, file=sys.stderr))
        if backend_object is None:
            # Video-text artifacts run zero-shot over their prompts (the prompts become the labels).
            model = open_model(self.artifact, backend, threads=threads, precision=precision, prompts=prompts,
                               device=device)
            self.artifact, backend_object = model.artifact, model.backend
        self.backend = backend_object
        self.recognizer = Recognizer(self.artifact, self.backend, self.config)
        self.sinks = Sinks(sinks)
        self._stop = threading.Event()
        self.feeds: list[_Feed] = []
        try:
            self._open_sources(sources, source_options or {})
        except BaseException:
            self.close()
            raise

    def _open_sources(self, sources: Sequence, options: dict) -> None:
        names = [s if isinstance(s, str) else os.fspath(s) if hasattr(s, "__fspath__") else
                 getattr(s, "stream_id", None) or f"stream{i}" for i, s in enumerate(sources)]
        if not names:
            raise OptionValueError("no source given; pass at least one, e.g. '0' or 'clip.mp4'")
        for i, (spec, name) in enumerate(zip(sources, names)):
            stream_id = name if names.count(name) == 1 else f"{name}#{i}"  # the same camera twice stays apart
            if isinstance(spec, str) or hasattr(spec, "__fspath__"):
                from runtime.sources import open_source

                source = open_source(spec, stream_id=stream_id, **options)
            elif isinstance(spec, Source) or not _iterable(spec):
                source = spec
            else:  # frames in memory: a list or generator of images or Frames, a (T, H, W, 3) array
                source = IterableSource(spec, stream_id, stream_id, **{k: v for k, v in options.items() if k == "fps"})
            live = bool(getattr(source, "live", False)) if self.mode == "auto" else self.mode == "live"
            self.feeds.append(_Feed(stream_id, source, live))

    @property
    def sources(self) -> dict:
        return {feed.stream_id: feed.source for feed in self.feeds}

    def stop(self) -> None:
        self._stop.set()

    def run(self, tick=None) -> RunReport:
        """Block until done; Ctrl-C ends the run cleanly (the report says it was interrupted).

        tick: called about every 50 ms from this thread (the window's event pump); returning False stops.
        """
        start = time.monotonic()
        interrupted = False
        # Capture, feeder and inference threads hand the GIL to each other several times per window;
        # at CPython's default 5 ms switch interval each handoff can cost up to 5 ms of latency.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL_S))
        scheduler = Scheduler(self.recognizer, self.sinks.on_result)
        ctrl_c, previous = self._catch_ctrl_c()
        try:
            for feed in self.feeds:
                feed.thread = threading.Thread(target=self._feed, args=(feed, scheduler), name=f"source-{feed.stream_id}",
                                               daemon=True)
                feed.thread.start()
            interrupted = self._wait(start, tick, scheduler)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            try:
                interrupted = self._finish(scheduler, interrupted or ctrl_c.is_set(), ctrl_c)
            finally:
                sys.setswitchinterval(switch)
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
        summaries = summarize(self._stream_stats(), self._source_stats())
        errors = {f.stream_id: f.error for f in self.feeds if f.error is not None}
        return RunReport(summaries, time.monotonic() - start, interrupted, errors, scheduler.error,
                         scheduler.error_stage)

    def _finish(self, scheduler: Scheduler, interrupted: bool, ctrl_c: threading.Event) -> bool:
        """Stop the sources, then publish what is queued unless the run was interrupted or inference failed.

        Returns whether the run counts as interrupted (a Ctrl-C during the drain ends it too)."""
        self._stop.set()
        if interrupted:
            scheduler.cancel()  # wakes producers waiting for queue room, so the sources can end at once
        self._close_sources()
        deadline = time.monotonic() + 5.0
        for feed in self.feeds:
            while feed.thread is not None and feed.thread.is_alive() and time.monotonic() < deadline:
                if ctrl_c.is_set():
                    scheduler.cancel()  # a Ctrl-C while a producer waits for room
                feed.thread.join(timeout=0.05)
        interrupted = interrupted or ctrl_c.is_set()
        try:
            scheduler.close(drain=not interrupted, timeout=30.0, abort=ctrl_c.is_set)
        except RecognizerError:
            pass  # kept in scheduler.error; run() reports it as the run's failure
        self.sinks.on_stats(self._stream_stats(), self._source_stats())
        return interrupted or ctrl_c.is_set()

    def _catch_ctrl_c(self):
        """Ctrl-C sets the stop flag instead of raising KeyboardInterrupt wherever the main thread is:
        an exception thrown into the middle of a lock or a sink would make the shutdown itself hang.
        A second Ctrl-C raises as usual."""
        event = threading.Event()
        if threading.current_thread() is not threading.main_thread():
            return event, None

        def on_sigint(signum, frame):
            if event.is_set():
                raise KeyboardInterrupt
            event.set()
            self._stop.set()

        return event, signal.signal(signal.SIGINT, on_sigint)

    def _wait(self, start: float, tick, scheduler: Scheduler) -> bool:
        next_stats = time.monotonic() + 1.0
        while not self._stop.is_set() and not all(feed.done for feed in self.feeds) and not scheduler.failed:
            time.sleep(0.05)
            now = time.monotonic()
            if tick is not None and tick() is False:
                return True
            if self.limits.seconds is not None and now - start >= self.limits.seconds:
                break
            if now >= next_stats:
                self.sinks.on_stats(self._stream_stats(), self._source_stats())
                next_stats = now + 1.0
        return False

    def _feed(self, feed: _Feed, scheduler: Scheduler) -> None:
        limit = self.limits.max_frames
        try:
            for frame in feed.source:
                if self._stop.is_set():
                    break
                pending = self.recognizer.prepare(frame, feed.stream_id, feed.live)
                self.sinks.on_frame(feed.stream_id, frame)
                if pending is not None:
                    scheduler.submit(pending)
                feed.frames += 1
                if limit is not None and feed.frames >= limit:
                    break
        except BaseException as exc:  # noqa: BLE001 - reported by run(); other streams keep going
            # A failed worker is the run's failure (RunReport.failure), not this source's.
            if not self._stop.is_set() and not scheduler.failed:
                feed.error = exc
        finally:
            feed.done = True

    def _stream_stats(self) -> dict:
        return {feed.stream_id: self.recognizer.stream(feed.stream_id, feed.live).stats for feed in self.feeds}

    def _source_stats(self) -> dict:
        return {feed.stream_id: getattr(feed.source, "stats", None) for feed in self.feeds}

    def _close_sources(self) -> None:
        for feed in self.feeds:
            close = getattr(feed.source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                    pass

    def close(self) -> None:
        self._close_sources()
        if self._own_backend and getattr(self, "backend", None) is not None:
            self.backend.close()
        self.sinks.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _iterable(value) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True


class _QueueSink(Sink):
    def __init__(self):
        self.queue: queue.Queue = queue.Queue(maxsize=256)
        self.dropped = 0  # results the caller did not read in time

    def on_result(self, result) -> None:
        try:
            self.queue.put_nowait(result)
        except queue.Full:  # a consumer that stopped reading must not stall inference: count, warn once
            self.dropped += 1
            if self.dropped == 1:
                logging.getLogger("tubelet").warning(
                    "the caller of recognize() is not reading results: 256 are waiting; newer ones are dropped and counted")


def recognize(artifact: str | Artifact, *sources, backend: str = "auto", mode: str = "auto", smoothing: str = "none",
              unknown_below: float = 0.0, config: RecognizerConfig | None = None, sinks: Sequence[Sink] = (),
              seconds: float | None = None, max_frames: int | None = None, prompts: Sequence[str] | None = None,
              **source_options) -> Iterator[Result]:
    """Yield results from one or more sources (default camera 0) until they end, or the loop is left.

    smoothing/unknown_below: the common post-processing choices; `config` sets everything else.
    prompts: zero-shot prompts for a video-text artifact (default: the ones it was exported with).
    Results the caller does not read in time (256 waiting) are dropped, never inference stalled;
    their count is logged when the first is dropped and again, in all, when the loop ends.
    Other keyword arguments go to `runtime.sources.open_source` (e.g. width=, fps=, stall_timeout=).
    """
    if config is None:
        config = RecognizerConfig(postprocess=PostprocessConfig(smoothing=smoothing, unknown_below=unknown_below))
    out = _QueueSink()
    runner = StreamRunner(artifact, list(sources) or ["0"], backend=backend, mode=mode, config=config,
                          sinks=[out, *sinks], limits=RunLimits(seconds, max_frames), source_options=source_options,
                          prompts=prompts)
    done = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            report = runner.run()
            if report.failure is not None:
                failure.append(inference_failed(report.failure, report.failure_stage))
            failure.extend(report.errors.values())
            for summary in report.summaries:
                why = why_no_windows(summary)
                if why:  # the caller got no result for this stream: say why rather than end in silence
                    logging.getLogger("tubelet").warning("recognize(): stream %s: %s", summary.stream_id, why)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=work, name="tubelet-runner", daemon=True)
    thread.start()
    try:
        while not (done.is_set() and out.queue.empty()):
            try:
                yield out.queue.get(timeout=0.1)
            except queue.Empty:
                continue
        if failure:
            raise failure[0]
    finally:
        runner.stop()
        thread.join(timeout=10.0)
        runner.close()
        if out.dropped:
            logging.getLogger("tubelet").warning(
                "recognize(): %d results were dropped in all because the caller did not read them in time", out.dropped)
