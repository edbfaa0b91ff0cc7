"""How a stream ends: a failed inference worker, a reader that closes our stdout, a single Ctrl-C.

Each case once hung for a 30 s drain in about one run of three (the first thread to see a worker's
error cleared it, so the drain waited for results that would never come), so each runs many times.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from runtime.api import RunLimits, StreamRunner
from runtime.artifact import load_artifact
from runtime.backends import open_backend
from runtime.recognizer import Recognizer, RecognizerConfig, RecognizerError
from runtime.scheduler import Scheduler
from runtime.sources import open_source
from testbed.artifacts import make_onnx_artifact
from tests.fixtures.stream_faults import FAULT, FaultyBackend

SYNTHETIC_FAST = "synthetic://?realtime=false&width=64&height=48&seed=3"
HANG = 10.0  # far above a prompt ending (< 1 s), far below the 30 s drain a lost error used to cost


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_onnx_artifact(tmp_path_factory.mktemp("end") / "art")


@pytest.mark.parametrize("producers", [1, 3])
def test_every_thread_sees_a_worker_failure(artifact, producers):
    art = load_artifact(artifact)
    for attempt in range(20):
        backend = FaultyBackend(open_backend(art, "cpu"), fail_at=1 + attempt % 3, delay=0.0)
        recognizer = Recognizer(art, backend, RecognizerConfig(mode="offline"))
        scheduler = Scheduler(recognizer, lambda result: None)
        raised = []

        def produce(stream_id):
            try:
                for frame in open_source(SYNTHETIC_FAST, stream_id=stream_id, frames=200):
                    pending = recognizer.prepare(frame, stream_id)
                    if pending is not None:
                        scheduler.submit(pending)
            except RecognizerError as exc:
                raised.append(exc)

        threads = [threading.Thread(target=produce, args=(f"cam{i}",)) for i in range(producers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HANG)
        assert len(raised) == producers and all(FAULT in str(e) for e in raised)
        # The producers saw it first; the drain and the close must see it too, at once.
        start = time.monotonic()
        with pytest.raises(RecognizerError, match=FAULT):
            scheduler.drain(timeout=HANG)
        with pytest.raises(RecognizerError, match=f"inference failed: RuntimeError: {FAULT}"):
            scheduler.close()
        assert time.monotonic() - start < HANG


def test_the_runner_ends_with_the_cause_when_inference_fails(artifact):
    art = load_artifact(artifact)
    for attempt in range(24):
        backend = FaultyBackend(open_backend(art, "cpu"), fail_at=1 + attempt % 4, delay=0.0)
        with StreamRunner(art, [SYNTHETIC_FAST, SYNTHETIC_FAST], backend_object=backend,
                          limits=RunLimits(max_frames=400)) as runner:
            report = runner.run()
        assert isinstance(report.failure, RuntimeError) and str(report.failure) == FAULT
        assert report.failure_stage == "inference"
        assert report.errors == {}  # the sources did nothing wrong
        assert report.elapsed_s < HANG, f"attempt {attempt}: ended after {report.elapsed_s:.1f} s"
        assert backend.calls == 1 + attempt % 4  # nothing ran after the failure


def test_a_failing_sink_ends_the_run_naming_it(artifact):
    from runtime.outputs.base import Sink

    class FullDisk(Sink):
        def on_result(self, result):
            raise OSError(28, "No space left on device")

    art = load_artifact(artifact)
    for _ in range(10):
        with StreamRunner(art, [SYNTHETIC_FAST], backend="cpu", sinks=[FullDisk()],
                          limits=RunLimits(max_frames=400)) as runner:
            report = runner.run()
        assert report.failure_stage == "publishing a result" and "No space left" in str(report.failure)
        assert report.elapsed_s < HANG


def test_recognize_raises_the_inference_failure(artifact, monkeypatch):
    import runtime.api

    real_open = runtime.api.open_model

    def faulty(*args, **kwargs):
        engine = real_open(*args, **kwargs)
        engine.backend = FaultyBackend(engine.backend, fail_at=2, delay=0.0)
        return engine

    monkeypatch.setattr(runtime.api, "open_model", faulty)
    seen = []
    with pytest.raises(RecognizerError, match=f"inference failed: RuntimeError: {FAULT}"):
        for result in runtime.api.recognize(str(artifact), SYNTHETIC_FAST, backend="cpu", max_frames=400):
            seen.append(result)
    assert len(seen) >= 1  # the windows of the first, good call came through


def _faulty_stream(*args, fault=(), **popen):
    command = [sys.executable, "-m", "tests.fixtures.stream_faults", *map(str, fault), "--", *map(str, args)]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **popen)


def test_the_command_line_exits_1_with_the_cause_when_inference_fails(artifact):
    for attempt in range(6):
        proc = _faulty_stream("--artifact", artifact, "--source", SYNTHETIC_FAST, "--source", SYNTHETIC_FAST,
                              "--max-frames", 400, "--quiet", fault=("--fail-at", 1 + attempt % 3),
                              stdout=subprocess.DEVNULL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert f"error: inference failed: RuntimeError: {FAULT}" in err
        assert "Traceback" not in err and "source" not in err.split("error:", 1)[1]  # not blamed on a source
        summary = next(line for line in err.splitlines() if line.startswith("summary after"))
        assert float(summary.split()[2]) < HANG, err


def test_a_reader_that_stops_after_one_line_ends_the_stream_quietly(artifact):
    for attempt in range(10):
        output = ["--jsonl", "-"] if attempt % 2 == 0 else []  # JSON lines, or the human lines
        stream = subprocess.Popen([sys.executable, "-m", "runtime.stream", "--artifact", str(artifact),
                                   "--source", SYNTHETIC_FAST, "--max-frames", "4000", *output],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        head = subprocess.Popen(["head", "-1"], stdin=stream.stdout, stdout=subprocess.PIPE, text=True)
        stream.stdout.close()  # only head holds the read end now, as in a shell pipeline
        line, _ = head.communicate(timeout=60)
        start = time.monotonic()
        err = stream.stderr.read()
        stream.wait(timeout=60)
        assert time.monotonic() - start < HANG, err
        assert (json.loads(line)["stream_id"] if output else line.split(" #")[0]) == SYNTHETIC_FAST
        assert stream.returncode == 141, err  # 128 + SIGPIPE, as for `yes | head -1`
        for noise in ("Traceback", "Exception ignored", "error:", "Broken pipe"):
            assert noise not in err, err


def test_a_reader_of_both_streams_that_stops_after_one_line_keeps_the_summary_file(artifact, tmp_path):
    # `2>&1 | head -1`: the summary lines to stderr fail too; the --summary-json file must not.
    for attempt in range(4):
        summary = tmp_path / f"summary{attempt}.json"
        stream = subprocess.Popen([sys.executable, "-m", "runtime.stream", "--artifact", str(artifact),
                                   "--source", SYNTHETIC_FAST, "--max-frames", "4000", "--summary-json", str(summary)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        head = subprocess.Popen(["head", "-1"], stdin=stream.stdout, stdout=subprocess.PIPE, text=True)
        stream.stdout.close()
        line, _ = head.communicate(timeout=60)
        stream.wait(timeout=60)
        assert "Ctrl-C stops" in line and stream.returncode == 141
        data = json.loads(summary.read_text())
        assert data["output_closed"] and data["failure"] is None and data["streams"][0]["published"] >= 1


@pytest.mark.parametrize("frames, wait_s, windows", [
    (60, 1.0, 29),  # mid-run: the source is still waiting for queue room
    (40, 3.0, 19),  # the source has ended; the 16 queued windows are draining
])
def test_one_ctrl_c_stops_a_slow_run_at_once_and_keeps_the_summary(artifact, tmp_path, frames, wait_s, windows):
    # A slow device (0.4 s a window, one window per call): without the stop, the run would publish
    # every window, one every 0.4 s.
    for attempt in range(2):
        summary = tmp_path / f"summary{attempt}.json"
        proc = _faulty_stream("--artifact", artifact, "--source", SYNTHETIC_FAST, "--max-frames", frames,
                              "--max-batch", 1, "--quiet", "--summary-json", summary, fault=("--delay", 0.4),
                              stdout=subprocess.DEVNULL)
        first = proc.stderr.readline()
        assert "Ctrl-C stops" in first, first
        time.sleep(wait_s)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - sent < 5.0, err
        assert proc.returncode == 0 and "interrupted; summary after" in err and "Traceback" not in err, err
        data = json.loads(summary.read_text())
        stream = data["streams"][0]
        assert data["interrupted"] and stream["published"] < stream["windows"] <= windows, stream
