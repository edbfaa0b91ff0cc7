"""The node core on a real ONNX Runtime session: stamps carried back, events, diagnostics, bad input survived."""

import json
import time

import pytest

from ros_bridge.convert import ImageLimits
from runtime.model import ModelError, open_model
from ros_bridge.messages import OK, STALE, WARN
from ros_bridge.node import BridgeCore, BridgeSettings, Camera
from ros_bridge.stamps import Stamp, StampClock
from runtime.postprocess import PostprocessConfig
from runtime.recognizer import RecognizerConfig
from tests.fixtures.bridge_helpers import RecordingOutputs, color_frame, image_msg

COLOURS = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (128, 128, 128)]


def _core(artifact, cameras=("/cam/image_raw",), config=None, **settings):
    outputs = RecordingOutputs()
    core = BridgeCore(open_model(str(artifact), "cpu"), outputs,
                      BridgeSettings([Camera(t) for t in cameras], diagnostics_period_s=0, **settings), config)
    return core, outputs


def test_classification_carries_the_newest_frames_stamp_and_frame_id(onnx_artifact):
    core, out = _core(onnx_artifact)
    try:
        for i in range(9):
            msg = image_msg(color_frame(COLOURS[i % 4]), "rgb8", sec=1_700_000_000 + i, nanosec=1000 * i,
                            frame_id="front_optical")
            assert core.on_image("/cam/image_raw", msg)
            assert core.wait_idle()
        # 4-frame clips, a window every 2 frames: windows end at frames 3, 5, 7.
        stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in out.classifications]
        assert stamps == [(1_700_000_000 + i, 1000 * i) for i in (3, 5, 7)]
        for _, msg in out.classifications:
            assert msg.header.frame_id == "front_optical"
            scores = [h.score for h in msg.results]
            assert [h.class_id for h in msg.results][:1] and sorted(scores, reverse=True) == scores
            assert abs(sum(scores) - 1.0) < 1e-4  # top-k over 3 labels is the whole distribution
    finally:
        core.close()


def test_onset_event_is_json_with_the_frame_stamp(onnx_artifact):
    config = RecognizerConfig(postprocess=PostprocessConfig(on_threshold=0.0, off_threshold=0.0))
    core, out = _core(onnx_artifact, config=config)
    try:
        for i in range(4):
            core.on_image("/cam/image_raw", image_msg(color_frame(COLOURS[0]), "bgr8", sec=10 + i, frame_id="f"))
        assert out.wait(1)
        time.sleep(0.05)
        assert len(out.events) == 1
        record = json.loads(out.events[0][1].data)
        assert record["events"][0]["kind"] == "onset"
        assert record["events"][0]["label"] == out.classifications[0][1].results[0].class_id
        assert record["stamp"] == {"sec": 13, "nanosec": 0} and record["frame_id"] == "f"
        assert record["stream"] == "/cam/image_raw" and record["schema"] == 1
    finally:
        core.close()



def test_the_background_parameter_names_the_labels_that_raise_no_events(onnx_artifact):
    from ros_bridge.params import merged, recognizer_config

    assert recognizer_config(merged({})).postprocess.background is None  # the artifact's own

    def onsets(**values):
        core, out = _core(onnx_artifact, config=recognizer_config(merged({"on_threshold": 0.0, "off_threshold": 0.0,
                                                                            **values})))
        try:
            for i in range(4):
                core.on_image("/cam/image_raw", image_msg(color_frame(COLOURS[0]), "bgr8", sec=10 + i, frame_id="f"))
            assert out.wait(1) and core.wait_idle()
            time.sleep(0.05)
            return [e["label"] for _, msg in out.events for e in json.loads(msg.data)["events"] if e["kind"] == "onset"]
        finally:
            core.close()

    first = onsets()
    assert len(first) == 1
    assert first[0] not in onsets(background=first)


def _malformed(i: int, good):
    """One of many ways to be wrong, cycling through them."""
    kind = i % 10
    msg = image_msg(good, "bgr8", sec=100 + i)
    if kind == 0:
        msg.step -= 1
    elif kind == 1:
        msg.data = msg.data[:-1]
    elif kind == 2:
        msg.encoding = ["yuv422", "", "rgb16", "\x00" * 5000][i % 4]
    elif kind == 3:
        msg.data, msg.height = b"", 0
    elif kind == 4:
        msg.height, msg.width, msg.step = 1 << 30, 1 << 30, 3 << 30  # huge, claimed
    elif kind == 5:
        msg.data = b"\x00" * (9 * 1024 * 1024)  # huge, real, over the configured limit
        msg.height, msg.step = 3 * 1024, 3 * 1024
    elif kind == 6:
        msg.is_bigendian = 7
    elif kind == 7:
        msg.width = "64"
    elif kind == 8:
        msg.data = None
    else:
        msg.header.stamp.nanosec = -1
    return msg


def test_ten_thousand_malformed_images_are_dropped_counted_and_good_ones_still_flow(onnx_artifact):
    core, out = _core(onnx_artifact, limits=ImageLimits(max_bytes=8 * 1024 * 1024))
    good = color_frame(COLOURS[1])
    start = time.perf_counter()
    try:
        accepted = 0
        for i in range(10_000):
            assert core.on_image("/cam/image_raw", _malformed(i, good)) is False
            if i % 500 == 0:  # good images keep arriving in between
                accepted += core.on_image("/cam/image_raw", image_msg(good, "bgr8", sec=1000 + i // 500))
        stats = core.streams["/cam/image_raw"].stats
        assert stats.dropped_total == 10_000 and stats.received == 10_020 and accepted == stats.accepted == 20
        assert set(stats.dropped) == {"step", "size", "encoding", "empty", "limit", "endian", "type", "stamp"}
        assert core.wait_idle()
        assert len(out.classifications) >= 5  # 20 good frames, 4-frame clips: windows kept coming
        # Still alive and still correct afterwards.
        before = len(out.classifications)
        for i in range(4):
            core.on_image("/cam/image_raw", image_msg(good, "bgr8", sec=5000 + i))
        assert out.wait(before + 1)
    finally:
        core.close()
    assert time.perf_counter() - start < 30


def test_diagnostics_report_drops_latency_and_staleness(onnx_artifact):
    core, out = _core(onnx_artifact, cameras=("/a/image", "/b/image"))
    try:
        for i in range(6):
            core.on_image("/a/image", image_msg(color_frame(COLOURS[2]), "bgr8", sec=1 + i))
            core.wait_idle()  # live mode would otherwise replace a window still waiting (latest wins)
        core.on_image("/a/image", image_msg(color_frame(COLOURS[2]), "yuv422", sec=99))
        core.publish_diagnostics()
        array = out.diagnostics_msgs[-1]
        by_name = {s.name: s for s in array.status}
        a, b = by_name["tubelet: /a/image"], by_name["tubelet: /b/image"]
        values = {kv.key: kv.value for kv in a.values}
        assert a.level == WARN and "1 bad message" in a.message
        assert values["dropped"] == "1" and values["dropped_encoding"] == "1" and values["published"] == "2"
        assert float(values["latency_p50_ms"]) > 0 and float(values["ingest_p95_ms"]) > 0
        assert b.level == STALE and b.hardware_id == "/b/image"
        core.publish_diagnostics()  # the drop was reported once; now the stream is healthy
        assert {s.name: s for s in out.diagnostics_msgs[-1].status}["tubelet: /a/image"].level == OK
    finally:
        core.close()


def test_reconfigure_changes_window_stride_at_run_time(onnx_artifact):
    core, out = _core(onnx_artifact)
    try:
        core.reconfigure(RecognizerConfig(window_stride=1))
        for i in range(6):
            core.on_image("/cam/image_raw", image_msg(color_frame(COLOURS[3]), "bgr8", sec=1 + i))
            core.wait_idle()
        assert [m.header.stamp.sec for _, m in out.classifications] == [4, 5, 6]
        with pytest.raises(ModelError, match="video_text"):
            core.reconfigure(prompts=["a person waving"])
        with pytest.raises(Exception, match="on_threshold"):
            core.reconfigure(RecognizerConfig(postprocess=PostprocessConfig(on_threshold=0.1, off_threshold=0.5)))
        core.on_image("/cam/image_raw", image_msg(color_frame(COLOURS[3]), "bgr8", sec=7))
        assert out.wait(4)  # the failed change left the running recognizer in place
    finally:
        core.close()


def test_stamp_clock_follows_camera_spacing_and_resyncs_on_jumps():
    clock = StampClock(history=3, resync_s=1.0)
    first = clock.map(0, Stamp(100, 0, "f"), arrival=5000.0)
    second = clock.map(1, Stamp(100, 500_000_000, "f"), arrival=5000.52)  # 20 ms of network jitter
    assert first == 5000.0 and second == pytest.approx(5000.5)
    jumped = clock.map(2, Stamp(7, 0, "f"), arrival=5001.0)  # a bag looped
    assert jumped == 5001.0 and clock.resyncs == 1
    clock.map(3, Stamp(0, 0, "f"), arrival=5002.0)
    assert clock.unstamped == 1 and clock.stamp_of(0) is None and clock.stamp_of(1).nanosec == 500_000_000


def test_zero_shot_prompts_change_at_run_time(tmp_path):
    from tests.fixtures.videotext_toy import colour_frames, make_toy_videotext

    artifact = make_toy_videotext(tmp_path / "vt")
    outputs = RecordingOutputs()
    core = BridgeCore(open_model(str(artifact), "cpu"), outputs,
                      BridgeSettings([Camera("/cam")], diagnostics_period_s=0))
    red = colour_frames((20, 20, 230), 8)  # BGR

    def best_labels(frames, sec0):
        start = len(outputs.classifications)
        for i, frame in enumerate(frames):
            core.on_image("/cam", image_msg(frame, "bgr8", sec=sec0 + i))
            core.wait_idle()
        return [m.results[0].class_id for _, m in outputs.classifications[start:]]

    try:
        assert set(best_labels(red, 1)) == {"a red shape"}
        core.reconfigure(prompts=["a blue square", "a red square"])
        labels = best_labels(red, 100)
        assert labels and set(labels) == {"a red square"}
        assert {h.class_id for h in outputs.classifications[-1][1].results} == {"a blue square", "a red square"}
        with pytest.raises(Exception):
            core.reconfigure(prompts=[])  # refused: the running prompt set stays
        assert set(best_labels(red, 200)) == {"a red square"}
    finally:
        core.close()


def test_a_refused_reconfigure_leaves_prompts_and_recognizer_as_they_were(tmp_path):
    """New prompts with a config that cannot run on them (a background label not among them) are refused
    before anything changes: the running recognizer keeps its own prompts, not new embeddings under old labels."""
    from tests.fixtures.videotext_toy import colour_frames, make_toy_videotext

    artifact = make_toy_videotext(tmp_path / "vt")
    outputs = RecordingOutputs()
    model = open_model(str(artifact), "cpu")
    core = BridgeCore(model, outputs, BridgeSettings([Camera("/cam")], diagnostics_period_s=0))
    red = colour_frames((20, 20, 230), 8)  # BGR
    labels_before = model.labels
    try:
        bad = RecognizerConfig(mode="offline", postprocess=PostprocessConfig(background=("a red shape",)))
        with pytest.raises(Exception, match="a red shape"):
            core.reconfigure(bad, prompts=["a blue square", "a green square"])
        assert model.labels == labels_before
        assert model.zeroshot.labels == labels_before
        for i, frame in enumerate(red):
            core.on_image("/cam", image_msg(frame, "bgr8", sec=300 + i))
            core.wait_idle()
        assert outputs.classifications
        assert {h.class_id for h in outputs.classifications[-1][1].results} == set(labels_before)
        assert outputs.classifications[-1][1].results[0].class_id == "a red shape"
        assert bad.mode == "offline"  # the caller's config is not changed
    finally:
        core.close()
