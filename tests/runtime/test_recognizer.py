"""The recognizer with real ONNX Runtime sessions on tiny graphs: batching, latest-wins, faults."""

import time

import numpy as np
import pytest

from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest
from runtime.backends import open_backend
from runtime.recognizer import Recognizer, RecognizerConfig, RecognizerError
from runtime.scheduler import Scheduler
from runtime.sources.base import Frame
from testbed.artifacts import make_onnx_artifact


def _frames(n, seed, stream_id, size=(48, 64), period=0.1, start=0.0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        yield Frame(image, start + i * period, i, stream_id)


def _open(folder, **config):
    artifact = load_artifact(folder)
    backend = open_backend(artifact, "cpu", threads=1)
    return Recognizer(artifact, backend, RecognizerConfig(**config)), backend


def _scores(result):
    return dict(result.top_k)


def test_batched_results_equal_unbatched(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    batched, _ = _open(folder, mode="offline")
    single, _ = _open(folder, mode="offline", max_batch=1)
    assert batched.max_batch == 8  # the default when the manifest names no batch profile
    pending_b, pending_s = [], []
    for stream, seed in (("cam0", 1), ("cam1", 2), ("cam2", 3)):
        for frame in _frames(12, seed, stream):
            pending_b.append(batched.prepare(frame))
            pending_s.append(single.prepare(frame))
    out_b = batched.run([p for p in pending_b if p is not None])
    out_s = single.run([p for p in pending_s if p is not None])
    assert len(out_b) == len(out_s) == 15  # 3 streams x 5 windows
    assert {r.batch for r in out_b} == {8, 7} and {r.batch for r in out_s} == {1}
    labels = {r.label for r in out_b}
    assert len(labels) >= 2  # the inputs are different enough to disagree, so equality means something
    for b, s in zip(out_b, out_s):
        assert (b.stream_id, b.window, b.newest_index, b.label) == (s.stream_id, s.window, s.newest_index, s.label)
        for label, score in _scores(s).items():
            assert _scores(b)[label] == pytest.approx(score, abs=1e-5)


class RecordingBackend:
    """A real backend that keeps each input it was given."""

    def __init__(self, backend):
        self.backend, self.fed = backend, []
        self.inputs, self.outputs = backend.inputs, backend.outputs

    def infer(self, feeds):
        self.fed.append(next(iter(feeds.values())))
        return self.backend.infer(feeds)


def test_a_window_alone_reaches_the_backend_without_a_copy(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)
    backend = RecordingBackend(open_backend(artifact, "cpu", threads=1))
    recognizer = Recognizer(artifact, backend, RecognizerConfig(mode="offline"))
    pending = [p for p in map(recognizer.prepare, _frames(12, 1, "cam")) if p is not None]
    single = recognizer.run(pending[:1])
    assert np.shares_memory(backend.fed[0], pending[0].clip.array) and backend.fed[0].shape[0] == 1
    batched = recognizer.run(pending[1:3])  # a batch of two is stacked into one new array
    assert backend.fed[1].shape[0] == 2 and not np.shares_memory(backend.fed[1], pending[1].clip.array)
    reference, _ = _open(folder, mode="offline", max_batch=1)
    again = [p for p in map(reference.prepare, _frames(12, 1, "cam")) if p is not None]
    want = reference.run(again[:3])
    for got, expected in zip(single + batched, want):
        for label, score in _scores(expected).items():
            assert _scores(got)[label] == pytest.approx(score, abs=1e-5)


def test_scheduler_batches_windows_of_several_streams(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    recognizer, _ = _open(folder, mode="offline")
    reference, _ = _open(folder, mode="offline", max_batch=1)
    published = []
    scheduler = Scheduler(recognizer, published.append)
    streams = [list(_frames(20, seed, f"s{seed}")) for seed in range(4)]
    # Each inference here takes microseconds, so whether windows meet in a batch would depend on
    # thread timing; pausing the worker (holding its lock) while a round of frames arrives makes
    # the due windows of all four streams wait together, as they do behind a busy inference.
    for step in range(20):  # interleaved, as cameras deliver them
        with scheduler._cond:
            for frames in streams:
                pending = recognizer.prepare(frames[step])
                if pending is not None:
                    scheduler.submit(pending)
    scheduler.close()
    expected = reference.run([p for frames in streams for f in frames if (p := reference.prepare(f)) is not None])
    assert len(published) == len(expected) == 4 * 9
    assert max(r.batch for r in published) > 1
    by_key = {(r.stream_id, r.window): r for r in published}
    for e in expected:
        got = by_key[(e.stream_id, e.window)]
        for label, score in _scores(e).items():
            assert _scores(got)[label] == pytest.approx(score, abs=1e-5)
    for sid in ("s0", "s1", "s2", "s3"):  # each stream's windows published in order
        windows = [r.window for r in published if r.stream_id == sid]
        assert windows == sorted(windows)


class SlowBackend:
    """A real backend whose every call takes at least `delay` seconds (a consumer slower than the camera)."""

    def __init__(self, backend, delay):
        self.backend, self.delay = backend, delay
        self.inputs, self.outputs = backend.inputs, backend.outputs

    def infer(self, feeds):
        start = time.perf_counter()
        out = self.backend.infer(feeds)
        time.sleep(max(0.0, self.delay - (time.perf_counter() - start)))
        return out

    def close(self):
        self.backend.close()


def _camera(recognizer, scheduler, seconds, period, stream_id="cam"):
    """Frames stamped with time.monotonic() at `period`, like a live camera thread."""
    depths = []
    index = 0
    end = time.monotonic() + seconds
    image = np.full((48, 64, 3), 120, np.uint8)
    while time.monotonic() < end:
        frame = Frame(image, time.monotonic(), index, stream_id)
        pending = recognizer.prepare(frame, live=recognizer.config.mode == "live")
        if pending is not None:
            scheduler.submit(pending)
        depths.append(scheduler.depth())
        index += 1
        time.sleep(period)
    return depths


def test_live_mode_with_a_consumer_ten_times_slower_drops_and_bounds_age(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)
    inference = 0.1
    backend = SlowBackend(open_backend(artifact, "cpu", threads=1), inference)
    recognizer = Recognizer(artifact, backend, RecognizerConfig(mode="live", window_stride=1))
    published = []
    scheduler = Scheduler(recognizer, published.append)
    depths = _camera(recognizer, scheduler, seconds=1.5, period=inference / 10)
    scheduler.close()
    stats = recognizer.streams["cam"].stats
    assert max(depths) <= 1 and scheduler.peak_depth == 1  # one waiting window per stream, never more
    assert stats.dropped_windows >= 0.6 * stats.windows  # most windows replaced, each counted
    assert stats.published + stats.dropped_windows == stats.windows  # nothing lost uncounted
    assert 5 <= stats.published <= 1.5 / inference + 1
    ages = [r.latency_ms for r in published]
    assert all(r.clock == "capture" for r in published)
    # A window waits at most for the inference in progress, then for its own: about 2 periods.
    assert max(ages) < 3 * inference * 1000, ages
    assert min(ages) >= inference * 1000 * 0.9
    # Windows are the newest available: consecutive published windows skip the dropped ones.
    assert published[-1].window - published[0].window > len(published)


def test_offline_mode_processes_every_window_with_a_slow_consumer(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)
    backend = SlowBackend(open_backend(artifact, "cpu", threads=1), 0.02)
    recognizer = Recognizer(artifact, backend, RecognizerConfig(mode="offline", window_stride=1, offline_queue=4))
    published = []
    scheduler = Scheduler(recognizer, published.append)
    for frame in _frames(60, 0, "file", period=0.001):
        pending = recognizer.prepare(frame)
        if pending is not None:
            scheduler.submit(pending)
        assert scheduler.depth() <= 4  # the producer waits instead of queueing without bound
    scheduler.close()
    stats = recognizer.streams["file"].stats
    assert stats.dropped_windows == 0 and stats.windows == stats.published == 57
    assert [r.window for r in published] == list(range(57))


def _nan_artifact(folder):
    """Like the fixture graph, with Sqrt before the linear layer: a dark clip (negative mean) gives NaN."""
    import onnx
    from onnx import helper

    make_onnx_artifact(folder)
    model = onnx.load(str(folder / "model.onnx"))
    graph = model.graph
    matmul = next(n for n in graph.node if n.op_type == "MatMul")
    matmul.input[0] = "rooted"
    graph.node.insert(1, helper.make_node("Sqrt", ["pooled"], ["rooted"]))
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    manifest = read_manifest(folder)
    manifest.files["model.onnx"] = describe_file(folder / "model.onnx", "onnx", precision="fp32", opset=18)
    write_manifest(folder, manifest)
    return folder


def test_nonfinite_outputs_publish_nothing_and_the_stream_recovers(tmp_path):
    recognizer, _ = _open(_nan_artifact(tmp_path / "art"), mode="offline")
    bright, dark = np.full((32, 32, 3), 230, np.uint8), np.full((32, 32, 3), 10, np.uint8)
    images = [bright] * 6 + [dark] * 6 + [bright] * 6
    results = []
    for i, image in enumerate(images):
        pending = recognizer.prepare(Frame(image, i * 0.1, i, "cam"))
        if pending is not None:
            results += recognizer.run([pending])
    stats = recognizer.streams["cam"].stats
    # Windows end at frames 3, 5, ..., 17 (clips of 4, stride 2). Clips whose mean is negative give NaN.
    assert stats.windows == 8
    # Clips ending at 7..13 hold at least half dark frames: NaN. Those ending at 15 and 17 are clean again.
    assert (stats.nonfinite, stats.published) == (4, 4)
    assert [r.newest_index for r in results] == [3, 5, 15, 17]
    assert all(np.isfinite(r.score) and np.isfinite(list(dict(r.top_k).values())).all() for r in results)


def test_gap_restarts_the_clip_and_bad_frames_are_counted(tmp_path):
    recognizer, _ = _open(make_onnx_artifact(tmp_path / "art"), mode="offline")
    frames = list(_frames(6, 0, "cam", period=0.1)) + list(_frames(6, 1, "cam", period=0.1, start=30.0))
    clips = [p.clip for f in frames if (p := recognizer.prepare(f)) is not None]
    # No clip mixes frames from before and after the 30 s silence.
    assert all(c.newest_timestamp - c.first_timestamp < 1.0 for c in clips)
    assert recognizer.streams["cam"].stats.restarts == 1
    assert recognizer.prepare(Frame(np.zeros((4, 4, 2), np.uint8), 30.7, 99, "cam")) is None
    assert recognizer.streams["cam"].stats.bad_frames == 1


def test_batch_limit_comes_from_the_manifest_profile(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    manifest = read_manifest(folder)
    manifest.files["model.onnx"].details["batch_profile"] = [1, 1, 4]
    write_manifest(folder, manifest)
    recognizer, _ = _open(folder)
    assert recognizer.max_batch == 4
    with pytest.raises(RecognizerError, match="exceeds the artifact's batch profile maximum 4"):
        _open(folder, max_batch=16)
    with pytest.raises(RecognizerError, match="mode"):
        _open(folder, mode="sometimes")


def test_worker_failure_reaches_the_caller(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)

    class Broken(SlowBackend):
        def infer(self, feeds):
            raise RuntimeError("device lost")

    recognizer = Recognizer(artifact, Broken(open_backend(artifact, "cpu"), 0), RecognizerConfig(mode="offline"))
    scheduler = Scheduler(recognizer, lambda r: None)
    with pytest.raises(RecognizerError, match="device lost"):
        for frame in _frames(40, 0, "cam"):
            pending = recognizer.prepare(frame)
            if pending is not None:
                scheduler.submit(pending)
        scheduler.close()
    scheduler._thread.join(2.0)
    assert not scheduler._thread.is_alive()  # the worker ended instead of hanging on


@pytest.mark.parametrize("profile", [[0, 0, 0], [1, 1, 0], [1, 1, -4], [1, 1, 10**9], [1, 1, 2.5]])
def test_a_batch_profile_that_allows_no_batch_is_refused_at_start(tmp_path, profile):
    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)
    artifact.manifest.files["model.onnx"].details["batch_profile"] = profile  # as read, whatever the reader checks
    with pytest.raises(RecognizerError, match="batch_profile"):
        Recognizer(artifact, open_backend(artifact, "cpu", threads=1), RecognizerConfig())


@pytest.mark.parametrize("fps", [1e20, 1e300])
def test_an_extreme_manifest_target_fps_samples_every_frame(tmp_path, fps):
    import threading

    folder = make_onnx_artifact(tmp_path / "art")
    artifact = load_artifact(folder)
    artifact.manifest.sampling.target_fps = fps  # as read, whatever the reader checks
    recognizer = Recognizer(artifact, open_backend(artifact, "cpu", threads=1), RecognizerConfig(mode="offline"))
    clips = []
    worker = threading.Thread(target=lambda: clips.extend(
        p.clip for f in _frames(40, 0, "cam", start=1e6) if (p := recognizer.prepare(f)) is not None), daemon=True)
    worker.start()
    worker.join(10.0)
    assert not worker.is_alive(), "the sampler spun"
    assert [c.newest_index for c in clips] == list(range(3, 40, 2))


@pytest.mark.parametrize("config, message", [
    ({"target_fps": 1e20}, "at most 1000"), ({"target_fps": float("inf")}, "at most 1000"),
    ({"target_fps": 0.0}, "finite number > 0"), ({"target_fps": float("nan")}, "at most 1000"),
    ({"frame_stride": 0}, "frame_stride must be >= 1"), ({"window_stride": 0}, "window_stride"),
])
def test_sampling_overrides_are_checked_at_start(tmp_path, config, message):
    folder = make_onnx_artifact(tmp_path / "art")
    with pytest.raises(RecognizerError, match=message):
        _open(folder, **config)


def _manifest_at_10_fps(tmp_path):
    folder = make_onnx_artifact(tmp_path / "art")
    manifest = read_manifest(folder)
    manifest.sampling.target_fps = 10.0  # as the bundled model's manifest does
    write_manifest(folder, manifest)
    return folder


def _sampled_indices(recognizer, n=40, period=1 / 30):
    clips = [p.clip for f in _frames(n, 0, "cam", period=period) if (p := recognizer.prepare(f)) is not None]
    return [(c.first_index, c.newest_index) for c in clips]


def test_an_explicit_frame_stride_wins_over_the_manifests_target_fps(tmp_path):
    folder = _manifest_at_10_fps(tmp_path)
    by_manifest, _ = _open(folder)
    assert _sampled_indices(by_manifest)[0] == (0, 9)  # 30 fps into 10: every third frame
    by_stride, _ = _open(folder, frame_stride=2)
    assert (by_stride.frame_stride, by_stride.target_fps) == (2, None)
    assert _sampled_indices(by_stride)[:2] == [(0, 6), (4, 10)]  # every second frame, a window every 2 sampled
    by_fps, _ = _open(folder, target_fps=5.0)
    assert by_fps.target_fps == 5.0 and _sampled_indices(by_fps)[0][1] in (17, 18)  # about every sixth frame


def test_a_frame_stride_and_a_target_fps_together_are_refused(tmp_path):
    with pytest.raises(RecognizerError, match="frame_stride 2 and target_fps 15.0 both given"):
        _open(_manifest_at_10_fps(tmp_path), frame_stride=2, target_fps=15.0)
