"""Output sinks write real files (read back with json / OpenCV) and serve real HTTP."""

import json
import socket
import urllib.request
from collections import deque

import numpy as np
import pytest

from runtime.outputs import JsonLinesSink, OverlayWriter, Sinks, WindowSink, draw_result, format_summary, summarize
from runtime.outputs.accuracy import GroundTruthRecorder, format_accuracy
from runtime.postprocess import Event
from runtime.recognizer import Result, StreamStats
from runtime.sources.base import Frame


def _result(stream="cam", window=0, label="wave", score=0.8, latency=42.0, index=15, events=()):
    return Result(stream, window, label, score, [(label, score), ("push", 1 - score)], label, None, list(events),
                  index - 15, index, 1.0, 2.0, 2.05, latency, 7.5, 1, "capture")


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    sink = JsonLinesSink(str(path))
    sink.on_result(_result(window=0))
    sink.on_result(_result(window=1, events=[Event("onset", "wave", 1, 2.0, 0.8)]))
    sink.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["window"] for r in rows] == [0, 1]
    assert rows[1]["events"] == [{"kind": "onset", "label": "wave", "window": 1, "timestamp": 2.0}]
    assert rows[0]["latency_ms"] == 42.0 and rows[0]["inference_ms"] == 7.5
    assert rows[0]["top_k"] == [["wave", 0.8], ["push", 0.2]]
    assert rows[0]["first_timestamp"] == 1.0 and rows[0]["newest_timestamp"] == 2.0 and rows[0]["emitted_at"] == 2.05
    with pytest.raises(OSError, match="cannot write JSON lines"):
        JsonLinesSink(str(tmp_path / "no" / "such" / "dir.jsonl"))


def test_overlay_video_has_every_frame_and_draws_the_result(tmp_path):
    import cv2

    path = tmp_path / "overlay.avi"
    writer = OverlayWriter(str(path), fps=10)
    gray = np.full((60, 80), 100, np.uint8)
    for i in range(12):
        image = gray if i % 3 == 0 else np.full((60, 80, 3), 100, np.uint8)
        if i == 5:
            image = np.full((30, 40, 4), 100, np.uint8)  # another size and BGRA: still written
        if i == 6:
            writer.on_result(_result())
        writer.on_frame("cam", Frame(image, i * 0.1, i))
    writer.close()
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 12 and frames[0].shape == (60, 80, 3)
    # The banner is drawn: the top rows differ from the flat grey input, the bottom rows do not.
    assert np.abs(frames[8][:10].astype(int) - 100).mean() > 20
    assert np.abs(frames[8][-10:].astype(int) - 100).mean() < 3
    with pytest.raises(OSError, match="extension"):
        OverlayWriter(str(tmp_path / "x.gif"))


def test_overlay_writes_one_file_per_stream(tmp_path):
    import cv2

    writer = OverlayWriter(str(tmp_path / "out.avi"), fps=5, streams=["a", "rtsp://x/y"])
    for i in range(3):
        writer.on_frame("a", Frame(np.zeros((32, 32, 3), np.uint8), i, i))
        writer.on_frame("rtsp://x/y", Frame(np.zeros((32, 32, 3), np.uint8), i, i))
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.a.avi", "out.rtsp___x_y.avi"]
    assert int(cv2.VideoCapture(str(tmp_path / "out.a.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_draw_result_keeps_the_input_untouched():
    image = np.full((40, 60, 3), 50, np.uint8)
    out = draw_result(image, _result(), fps=29.7)
    assert out.shape == image.shape and (image == 50).all() and not (out == 50).all()


def test_summary_percentiles_per_stream():
    stats = StreamStats(frames=100, windows=20, published=15, dropped_windows=5)
    stats.latencies_ms = deque(float(v) for v in range(1, 101))
    stats.inference_ms = deque([10.0, 12.0, 14.0])
    empty = StreamStats(frames=3)
    summaries = summarize({"cam": stats, "idle": empty}, {"cam": {"dropped": 2, "gaps": [1, 2], "reconnects": 1}})
    cam, idle = summaries
    assert cam.latency_p50_ms == pytest.approx(50.5) and cam.latency_p95_ms == pytest.approx(95.05)
    assert cam.latency_p99_ms == pytest.approx(99.01) and cam.inference_p50_ms == 12.0
    assert cam.source == {"dropped": 2, "gaps": 2, "reconnects": 1}
    assert idle.latency_p50_ms is None  # no result: no made-up latency
    text = format_summary(summaries, 12.0)
    assert "cam: 100 frames, 20 windows, 15 published, 5 dropped" in text and "50.5/95.0/99.0 ms" in text and "(inference p50 12.0 ms)" in text
    assert "idle: 3 frames" in text and "-/-/- ms" in text


def test_window_on_a_headless_opencv_fails_with_advice():
    sink = WindowSink()
    sink.on_frame("cam", Frame(np.zeros((20, 20, 3), np.uint8), 0.0, 0))
    from runtime.outputs.window import WindowError

    try:
        sink.pump()
    except WindowError as exc:
        assert "--overlay" in str(exc)
    else:
        pytest.skip("a window could be opened here (OpenCV with a GUI and a display)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prometheus_endpoint_serves_counters_and_latency():
    pytest.importorskip("prometheus_client", reason="the [metrics] extra (prometheus-client) is not installed")
    from runtime.outputs import MetricsSink

    port = _free_port()
    sink = MetricsSink(port, addr="127.0.0.1")
    try:
        for i in range(5):
            sink.on_frame("cam", Frame(np.zeros((2, 2, 3), np.uint8), i * 0.1, i))
        sink.on_result(_result(latency=30.0))
        sink.on_result(_result(latency=300.0))
        stats = StreamStats(frames=5, windows=4, dropped_windows=2, nonfinite=1)
        sink.on_stats({"cam": stats}, {"cam": {"reconnects": 3}})
        stats.frames = 9
        sink.on_stats({"cam": stats}, {"cam": {"reconnects": 3}})
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        sink.close()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in body.splitlines() if line and line[0] != "#"}
    assert values['tubelet_frames_total{stream="cam"}'] == 9
    assert values['tubelet_dropped_windows_total{stream="cam"}'] == 2
    assert values['tubelet_nonfinite_windows_total{stream="cam"}'] == 1
    assert values['tubelet_reconnects_total{stream="cam"}'] == 3
    assert values['tubelet_latency_seconds_count{stream="cam"}'] == 2
    assert values['tubelet_latency_seconds_bucket{le="0.05",stream="cam"}'] == 1
    assert values['tubelet_fps{stream="cam"}'] == pytest.approx(10.0)


class _World:
    """A ground-truth timeline: frames [0, 20) no action, [20, 50) wave, [50, 80) push; 10 fps."""

    fps = 10.0
    background = ()  # scored as the model's background says

    def __init__(self):
        from types import SimpleNamespace as S

        self.timeline = [S(start=0, end=20, label="no action"), S(start=20, end=50, label="wave"),
                         S(start=50, end=80, label="push")]

    def label_at(self, index):
        return next(s.label for s in self.timeline if s.start <= index < s.end)

    def action_of(self, label):
        return None  # its labels are the model's own


def test_accuracy_and_detection_delay_against_a_timeline():
    recorder = GroundTruthRecorder()
    sinks = Sinks([recorder])
    # Windows every 5 frames from frame 15; the model lags the truth by 10 frames.
    for index in range(15, 80, 5):
        truth_lagged = _World().label_at(max(0, index - 10))
        sinks.on_result(_result(label=truth_lagged, index=index, latency=100.0))
    score = recorder.score("cam", _World(), background=("no action",))
    # Published at 15..75 (13 windows); wrong at 20, 25 (still "no action") and 50, 55 (still "wave").
    assert (score.windows, score.correct) == (13, 9)
    assert score.accuracy == pytest.approx(9 / 13)
    # wave: onset 20, first correct at 30 → 1.0 s + 0.1 s latency; push: onset 50, correct at 60.
    assert (score.segments, score.detected) == (2, 2)
    assert score.mean_delay_s == pytest.approx(1.1)
    # Windows span 16 frames: those ending at 15, 35, 40, 45, 65, 70, 75 lie inside one segment, and
    # the lag only hurts windows that straddle a change.
    assert (score.settled_windows, score.settled_correct) == (7, 7)
    # A window spans 16 frames (index - 15 .. index): the action filling most of it is the truth at its
    # newest frame except at 20, 25 (wave fills 1 and 6 of their 16 frames) and 50, 55 (push: 1 and 6).
    assert score.majority_correct == 13 - 4 and score.majority_ceiling == pytest.approx(9 / 13)
    # The first window each action mostly fills ends 10 frames after its onset (30 and 60: 11 of 16
    # frames), so a model naming the majority would detect both at 1.0 s plus the same 0.1 s latency.
    assert score.majority_delays_s == pytest.approx([1.1, 1.1])
    wrong_inside = GroundTruthRecorder()
    for index in range(15, 80, 5):
        label = "push" if index == 40 else _World().label_at(max(0, index - 10))
        wrong_inside.on_result(_result(label=label, index=index))
    score = wrong_inside.score("cam", _World(), background=("no action",))
    assert (score.settled_windows, score.settled_correct) == (7, 6)
    assert score.settled_accuracy == pytest.approx(6 / 7)
    assert "85.7% of the 7 inside one action" in format_accuracy([score])


def test_zero_shot_prompt_labels_are_scored_as_the_actions_they_name():
    """The synthetic world reads prompts ("a shape moving left") as its actions when scoring."""
    from runtime.world import SyntheticStream, action_of

    assert action_of("a shape rotating anticlockwise") == "rotating anticlockwise"
    assert action_of("a shape rotating clockwise") == "rotating clockwise"
    assert action_of("  Moving   LEFT ") == "moving left"
    assert action_of("a shape staying still") == "no action"
    assert action_of("nothing is moving") == "no action"
    assert action_of("a shape moving left or moving right") is None  # two actions: no guess
    assert action_of("unknown") is None and action_of("someone waving") is None
    world = SyntheticStream(seed=3, height=48, width=64, fps=10.0, num_frames=300)
    by_name, by_prompt = GroundTruthRecorder(), GroundTruthRecorder()
    for index in range(15, 300, 3):
        truth = world.label_at(index)
        wrong = index % 4 == 0  # a quarter wrong, the same ones for both recorders
        label = "moving up" if wrong and truth != "moving up" else truth
        by_name.on_result(_result(label=label, index=index))
        prompt = "a shape staying still" if label == "no action" else f"a shape {label}"
        by_prompt.on_result(_result(label=prompt, index=index))
    name_score = by_name.score("cam", world, background=("no action",))
    prompt_score = by_prompt.score("cam", world, background=("a shape staying still",))
    assert 0 < name_score.correct < name_score.windows
    assert prompt_score.as_dict() == {**name_score.as_dict()}


def test_the_worlds_pauses_are_no_onsets_whatever_the_models_labels():
    """A zero-shot model whose no-action prompt is not literally "no action" once had the world's
    pauses counted as onsets to detect (319 onsets on the sweep's seeds against the classifier's 214)."""
    from runtime.world import SyntheticStream

    world = SyntheticStream(seed=3, height=48, width=64, fps=10.0, num_frames=300)
    by_name, by_prompt = GroundTruthRecorder(), GroundTruthRecorder()
    for index in range(15, 300, 3):
        label = world.label_at(index)
        by_name.on_result(_result(label=label, index=index))
        by_prompt.on_result(_result(label="nothing is moving" if label == "no action" else f"a shape {label}",
                                    index=index))
    actions = [s for s in world.timeline if s.label != "no action" and 15 < s.start <= 297]
    named = by_name.score("cam", world)  # no background given: the world's own
    assert named.segments == len(actions) > 0
    assert by_prompt.score("cam", world).as_dict() == named.as_dict()
    assert by_prompt.score("cam", world, background=("nothing is moving",)).as_dict() == named.as_dict()


def test_the_bundled_video_text_prompts_name_every_action_in_order():
    """The scorer and the docs' --background read the shipped prompts as the world's actions: one
    prompt per action, in ACTIONS order (training writes them so: tests/training)."""
    from pathlib import Path

    from runtime.world import ACTIONS, action_of

    shipped = (Path(__file__).parents[2] / "models" / "videotext-motion" / "prompts.txt").read_text().splitlines()
    assert [action_of(prompt) for prompt in shipped] == list(ACTIONS)


def test_majority_ceiling_counts_the_frames_the_model_saw():
    """At frame stride 2 a window of frames 12, 14, ..., 26 holds 4 "no action" frames and 4 "wave"
    frames (the tie goes to the newest, "wave", the truth at frame 26), while every frame from 12
    to 26 would give "no action" 8 against 7: the ceiling follows the sampled frames, as training's
    labels do."""
    from dataclasses import replace

    from runtime.sources.window_truth import window_label

    sampled = tuple(range(12, 27, 2))
    recorder = GroundTruthRecorder()
    recorder.on_result(replace(_result(label="wave", index=26), first_index=12, frame_indices=sampled))
    score = recorder.score("cam", _World())
    assert score.majority_correct == 1 and score.correct == 1
    assert window_label(_World().timeline, sampled) == "wave"
    assert window_label(_World().timeline, range(12, 27)) == "no action"
    # A result that does not say which frames it saw spans every frame from first to newest.
    every = GroundTruthRecorder()
    every.on_result(replace(_result(label="wave", index=26), first_index=12))
    assert every.score("cam", _World()).majority_correct == 0


def test_onsets_are_scored_from_their_own_segments_results_on_a_long_run():
    """Many onsets, each searched from its own segment's first result: the same detections and delays
    as reading every result for every onset, the first matching result inside the segment winning."""
    from types import SimpleNamespace as S

    class _Long(_World):
        def __init__(self):
            self.timeline = [S(start=start, end=start + 40, label=("wave", "push", "no action")[k % 3])
                             for k, start in enumerate(range(0, 40 * 300, 40))]

        def label_at(self, index):
            return self.timeline[min(index // 40, len(self.timeline) - 1)].label

    world, recorder = _Long(), GroundTruthRecorder()
    rng = np.random.default_rng(5)
    results = [(index, str(rng.choice(["wave", "push", "no action"]))) for index in range(15, 40 * 300, 3)]
    for index, label in results:
        recorder.on_result(_result(label=label, index=index, latency=20.0))
    score = recorder.score("cam", world, background=("no action",))
    want = []
    for segment in world.timeline:
        if segment.label == "no action" or not results[0][0] < segment.start <= results[-1][0]:
            continue
        hit = next((i for i, label in results if segment.start <= i < segment.end and label == segment.label), None)
        want.append(None if hit is None else (hit - segment.start) / world.fps + 0.02)
    assert score.segments == len(want) and score.detected == sum(d is not None for d in want) > 100
    assert score.delays_s == pytest.approx([d for d in want if d is not None])
