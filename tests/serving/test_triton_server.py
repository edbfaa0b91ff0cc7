"""The triton backend against a real Triton server on loopback (PyTriton's tritonserver, Python backend running
ONNX Runtime under the names and shapes of the config.pbtxt that tubelet-triton wrote).

Client side in this venv (tritonclient); the server in its own Python 3.12 venv (testbed/serving/server.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from runtime.artifact import load_artifact
from runtime.backends import BackendError, open_backend, open_remote
from runtime.triton_repo import RepositoryOptions, write_repository
from testbed.artifacts import make_onnx_artifact
from testbed.serving.server import TritonServer

pytest.importorskip("tritonclient.grpc", reason="the triton backend needs tritonclient: pip install 'tubelet[triton]'")
pytestmark = pytest.mark.triton
SYNTHETIC = "synthetic://?realtime=false&width=128&height=96&seed=5"


@pytest.fixture(scope="module")
def repository(bundled_artifact_dir, tmp_path_factory):
    """The bundled model's entry, plus two that differ from it only in shape or label count."""
    root = tmp_path_factory.mktemp("triton")
    repo = root / "repo"
    write_repository(bundled_artifact_dir, repo, log=lambda _: None)
    m = load_artifact(bundled_artifact_dir).manifest
    wrong_labels = make_onnx_artifact(root / "labels", frames=m.input.frames, height=m.input.height, width=m.input.width,
                                      labels=m.labels[:-1])
    write_repository(wrong_labels, repo, RepositoryOptions(name="wrong-labels"), log=lambda _: None)
    wrong_shape = make_onnx_artifact(root / "shape", frames=m.input.frames // 2, height=m.input.height, width=m.input.width,
                                     labels=m.labels)
    write_repository(wrong_shape, repo, RepositoryOptions(name="wrong-shape"), log=lambda _: None)
    return repo


@pytest.fixture(scope="module")
def server(repository, tmp_path_factory):
    entries = [repository / name for name in ("videomae-motion", "wrong-labels", "wrong-shape")]
    running = TritonServer(entries, tmp_path_factory.mktemp("server")).start()
    yield running
    running.stop()


def _clips(artifact, count, seed):
    from runtime.preprocess import Preprocessor
    from runtime.world import make_clips

    m = artifact.manifest
    clips, _ = make_clips(count, num_frames=m.input.frames, height=96, width=128, seed=seed, fps=m.sampling.target_fps)
    pre = Preprocessor(m.preprocessing)
    return np.stack([np.stack([pre(frame) for frame in clip]) for clip in clips]).astype(np.float32)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_results_through_triton_equal_in_process_onnx_runtime(server, bundled_artifact_dir, protocol):
    art = load_artifact(bundled_artifact_dir)
    clips = _clips(art, 1, seed=77)  # one clip per class: 11, more than the server's max batch of 8
    with open_backend(art, "cpu", threads=1) as local:
        expected = local.infer({"pixel_values": clips})["logits"]
    url = server.grpc_url if protocol == "grpc" else server.http_url
    with open_remote(art, url) as remote:
        assert remote.server_max_batch == 8
        got = remote.infer({"pixel_values": clips})["logits"]
        single = remote.infer({"pixel_values": clips[:1]})["logits"]
    assert got.shape == expected.shape == (11, len(art.manifest.labels))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(single, expected[:1], rtol=0, atol=1e-5)
    assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.parametrize("model, message", [
    ("nope", "has no ready model 'nope'; pass --server-model NAME"),
    ("wrong-shape", "input 'pixel_values' shape [-1, {half}, 3, {h}, {w}], the artifact needs [-1, {frames}, 3, {h}, {w}]"),
    ("wrong-labels", "output 'logits' shape [-1, 10]: 10 scores for the artifact's 11 labels"),
])
def test_a_model_other_than_the_artifact_is_refused_at_open(server, bundled_artifact_dir, model, message):
    art = load_artifact(bundled_artifact_dir)
    shape = art.manifest.input  # the bundled model's own input, whatever it is trained at
    message = message.format(half=shape.frames // 2, frames=shape.frames, h=shape.height, w=shape.width)
    for url in (server.grpc_url, server.http_url):
        with pytest.raises(BackendError) as caught:
            open_remote(art, url, model)
        assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreachable_server_is_one_line_at_open(bundled_artifact_dir):
    from testbed.serving.server import free_ports

    [port] = free_ports(1)
    with pytest.raises(BackendError, match=f"cannot reach the Triton server at grpc://127.0.0.1:{port}"):
        open_remote(load_artifact(bundled_artifact_dir), f"grpc://127.0.0.1:{port}", timeout_s=1.0)


def _stream_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "runtime.stream", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_stream_cli_through_triton_and_its_one_line_refusal(server, bundled_artifact_dir, tmp_path):
    summary = tmp_path / "summary.json"
    # HTTP here (from the inference thread); the other streaming tests use gRPC.
    run = _stream_cli("--artifact", bundled_artifact_dir, "--backend", "triton", "--server", server.http_url,
                      "--source", SYNTHETIC, "--source", SYNTHETIC, "--max-frames", "40", "--quiet",
                      "--summary-json", summary)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(summary.read_text())
    assert all(s["published"] == s["windows"] > 0 and s["failed_windows"] == 0 for s in data["streams"])
    assert data["triton"]["failed_calls"] == 0 and data["triton"]["calls"] > 0
    wrong = _stream_cli("--artifact", bundled_artifact_dir, "--backend", "triton", "--server", server.grpc_url,
                        "--server-model", "wrong-labels", "--source", SYNTHETIC, "--max-frames", "10")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1].startswith("error: the Triton server at grpc://")


def test_windows_of_several_streams_go_out_in_one_request(server, bundled_artifact_dir):
    from runtime.api import StreamRunner
    from runtime.world import SyntheticStream

    art = load_artifact(bundled_artifact_dir)
    with open_remote(art, server.grpc_url) as remote:
        before = _model_stats(remote)
        sources = [SyntheticStream(seed=i, height=96, width=128, num_frames=30, stream_id=f"cam{i}") for i in range(4)]
        with StreamRunner(art, sources, mode="offline", backend_object=remote) as runner:
            report = runner.run()
        after = _model_stats(remote)
    windows = sum(s.windows for s in report.summaries)
    assert windows == sum(s.published for s in report.summaries) > 0
    assert after["items"] - before["items"] == windows  # every window reached the server once
    requests = after["requests"] - before["requests"]
    assert requests < windows and remote.stats.calls == requests  # several windows per request


def _model_stats(remote) -> dict:
    [stats] = remote.statistics()["model_stats"]
    return {"items": int(stats.get("inference_count", 0)),
            "requests": int(stats["inference_stats"]["success"].get("count", 0))}


class _KillableFeed:
    """Synthetic frames; at frame `kill_at` the server is killed and restarted in the background. Frames keep
    coming while it is down, and until results have resumed for `after_resume` more frames."""

    def __init__(self, server, kill_at=24, after_resume=24, deadline_s=150.0):
        from runtime.world import SyntheticStream

        self.world = SyntheticStream(seed=9, height=96, width=128, stream_id="cam")
        self.server, self.kill_at, self.after_resume, self.deadline_s = server, kill_at, after_resume, deadline_s
        self.resumed = threading.Event()
        self.killed_at_window: int | None = None
        self.restart_error: BaseException | None = None
        self.stream_id, self.live = "cam", False

    def _restart(self):
        try:
            time.sleep(1.0)
            self.server.start()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.restart_error = exc
            self.resumed.set()

    def __iter__(self):
        deadline = time.monotonic() + self.deadline_s
        left = None
        for frame in self.world:
            if frame.index == self.kill_at:
                self.server.kill()
                threading.Thread(target=self._restart, daemon=True).start()
            if frame.index >= self.kill_at:
                time.sleep(0.02)  # frames keep arriving while the server is gone
            if left is None and self.resumed.is_set():
                left = self.after_resume
            if left is not None:
                left -= 1
                if left < 0:
                    return
            if time.monotonic() > deadline:
                return
            yield frame


def test_killing_the_server_mid_stream_counts_failures_and_results_resume(repository, bundled_artifact_dir,
                                                                          tmp_path):
    from runtime.api import StreamRunner
    from runtime.outputs.base import Sink

    server = TritonServer([repository / "videomae-motion"], tmp_path / "server").start()
    art = load_artifact(bundled_artifact_dir)
    feed = _KillableFeed(server)
    results = []

    class Collect(Sink):
        def on_result(self, result):
            results.append(result)
            if result.newest_index > feed.kill_at and server.starts == 2 and server.process is not None:
                feed.resumed.set()

    try:
        with open_remote(art, server.grpc_url, timeout_s=2.0) as remote:
            remote.backoff_s = (0.1, 1.0)
            with StreamRunner(art, [feed], mode="offline", sinks=[Collect()], backend_object=remote) as runner:
                started = time.monotonic()
                report = runner.run()
                took = time.monotonic() - started
    finally:
        server.stop()
    assert feed.restart_error is None, feed.restart_error
    [summary] = report.summaries
    assert took < 150 and report.failure is None
    assert summary.failed_windows > 0  # windows due while the server was down
    assert summary.windows == summary.published + summary.failed_windows  # offline: each window published or failed
    resumed = [r for r in results if r.newest_index > feed.kill_at + 10]
    assert len(resumed) >= 5 and remote.stats.reconnects >= 1
    assert remote.stats.failed_windows == summary.failed_windows


# Every call it makes is bounded by a 1 s timeout and its wait for the server by 30 s, yet one run hung in
# it: a hang fails here with every thread's stack (pytest-timeout) instead of stalling the suite.
@pytest.mark.timeout(120)
def test_a_hung_server_costs_one_timeout_per_call_and_calls_resume_when_it_wakes(repository, bundled_artifact_dir,
                                                                                 tmp_path):
    import os
    import signal

    from runtime.backends.triton import ServerUnavailableError

    art = load_artifact(bundled_artifact_dir)
    clips = _clips(art, 1, seed=3)[:2]
    server = TritonServer([repository / "videomae-motion"], tmp_path / "server").start()
    try:
        backends = [open_remote(art, url, timeout_s=1.0) for url in (server.grpc_url, server.http_url)]
        for backend in backends:
            backend.backoff_s = (0.1, 0.5)
            backend.infer({"pixel_values": clips})
        os.killpg(server.process.pid, signal.SIGSTOP)  # alive but silent: only the timeouts end the calls
        try:
            for backend in backends:
                started = time.monotonic()
                with pytest.raises(ServerUnavailableError):
                    backend.infer({"pixel_values": clips})
                assert time.monotonic() - started < 5.0  # bounded by the 1 s timeout, not hung
                with pytest.raises(ServerUnavailableError, match="is down"):
                    backend.infer({"pixel_values": clips})  # inside the backoff: fails at once
        finally:
            os.killpg(server.process.pid, signal.SIGCONT)
        for backend in backends:
            deadline, answer = time.monotonic() + 30.0, None
            while answer is None and time.monotonic() < deadline:
                try:
                    answer = backend.infer({"pixel_values": clips})["logits"]
                except ServerUnavailableError:
                    time.sleep(0.1)
            assert answer is not None and answer.shape == (2, len(art.manifest.labels))
            assert backend.stats.failed_windows >= 4 and backend.stats.reconnects == 1
            backend.close()
    finally:
        server.stop()


def _jsonl_windows(path) -> list[int]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["newest_index"] for line in lines[:-1] or []]  # the last line may be half written


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_stream_cli_survives_a_server_restart_and_still_writes_its_summary(repository, bundled_artifact_dir,
                                                                             tmp_path):
    import signal

    server = TritonServer([repository / "videomae-motion"], tmp_path / "server").start()
    results, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    proc = subprocess.Popen([sys.executable, "-m", "runtime.stream", "--artifact", str(bundled_artifact_dir),
                             "--backend", "triton", "--server", server.grpc_url, "--server-timeout", "2",
                             "--source", "synthetic://?width=128&height=96&seed=4", "--jsonl", str(results),
                             "--summary-json", str(summary), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(_jsonl_windows(results)) >= 3, 120, "first results")  # live camera, results flow
        server.kill()
        time.sleep(2.0)  # windows keep falling due while nothing answers
        killed_after = max(_jsonl_windows(results))
        server.start()
        _wait_for(lambda: max(_jsonl_windows(results)) > killed_after + 20, 120, "results after the restart")
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the summary must still be written
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "failed (backend unavailable)" in err
    data = json.loads(summary.read_text())
    [stream] = data["streams"]
    assert stream["failed_windows"] > 0 and stream["published"] > 0
    assert data["triton"]["reconnects"] >= 1 and data["triton"]["failed_windows"] == stream["failed_windows"]


def test_a_torch_free_artifact_through_triton_equals_onnx_runtime(tmp_path):
    """No torch needed (the Python 3.10 job runs this one): a small ONNX artifact, served and streamed."""
    from runtime.api import StreamRunner
    from runtime.world import SyntheticStream

    art = load_artifact(make_onnx_artifact(tmp_path / "small", frames=4, height=32, width=32))
    [entry] = write_repository(art, tmp_path / "repo", RepositoryOptions(name="small"), log=lambda _: None)
    clips = np.random.default_rng(0).standard_normal((5, *art.manifest.input.shape(1)[1:])).astype(np.float32)
    with open_backend(art, "cpu", threads=1) as local:
        expected = local.infer({"pixel_values": clips})["logits"]
    server = TritonServer([entry], tmp_path / "server").start()
    try:
        for url in (server.grpc_url, server.http_url):
            with open_remote(art, url, "small") as remote:
                np.testing.assert_allclose(remote.infer({"pixel_values": clips})["logits"], expected, rtol=0, atol=1e-5)
                source = SyntheticStream(seed=2, height=48, width=64, num_frames=30, stream_id="cam")
                with StreamRunner(art, [source], mode="offline", backend_object=remote) as runner:
                    [summary] = runner.run().summaries
                assert summary.published == summary.windows > 0 and summary.failed_windows == 0
    finally:
        server.stop()


def test_the_ros_bridge_points_at_the_server_through_its_parameters(server, bundled_artifact_dir):
    """The bridge's `server` parameter sends its windows to Triton: the classifications it publishes carry
    the scores in-process ONNX Runtime gives for the same frames."""
    from ros_bridge.node import BridgeCore, BridgeSettings, Camera
    from ros_bridge.params import ParameterError, merged, open_bridge_model, recognizer_config
    from tests.fixtures.bridge_helpers import RecordingOutputs, image_msg

    art = load_artifact(bundled_artifact_dir)
    frames = [frame for clip in _raw_clips(art, seed=91) for frame in clip][:24]

    def publish(params, backend_kind):
        outputs, model = RecordingOutputs(), open_bridge_model(params)
        assert type(model.backend).__name__ == backend_kind
        core = BridgeCore(model, outputs, BridgeSettings([Camera("/cam")], diagnostics_period_s=0),
                          recognizer_config(params))
        try:
            for i, frame in enumerate(frames):
                assert core.on_image("/cam", image_msg(frame, "bgr8", sec=1_700_000_000 + i // 15,
                                                         nanosec=(i % 15) * 66_666_666))
                assert core.wait_idle()
        finally:
            core.close()
        return [[(h.class_id, h.score) for h in msg.results] for _, msg in outputs.classifications]

    # Every frame sampled: these messages arrive faster than their stamps, which the bridge's clock
    # would clamp to arrival, and the manifest's target fps would then sample only a few of them.
    base = {"artifact": str(bundled_artifact_dir), "frame_stride": 1, "window_stride": 4}
    local = publish(merged({**base, "backend": "cpu", "threads": 1}), "OnnxRuntimeBackend")
    remote = publish(merged({**base, "server": server.grpc_url}), "TritonBackend")
    assert len(local) == len(remote) >= 3
    for mine, theirs in zip(local, remote):
        assert [c for c, _ in mine] == [c for c, _ in theirs]
        np.testing.assert_allclose([s for _, s in mine], [s for _, s in theirs], atol=1e-5)
    with pytest.raises(ParameterError, match="leave backend"):
        open_bridge_model(merged({**base, "server": server.grpc_url, "backend": "cpu"}))


def _raw_clips(artifact, seed):
    from runtime.world import make_clips

    m = artifact.manifest
    clips, _ = make_clips(3, num_frames=m.input.frames, height=96, width=128, seed=seed, fps=m.sampling.target_fps)
    return clips
