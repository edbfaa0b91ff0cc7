"""The streaming recognizer's per-frame embedding cache (CLIP mean-pool family) on a toy artifact.

Real ONNX Runtime sessions on the toy graphs of tests/fixtures/videotext_toy.py: the video graph is the frame
graph's embeddings averaged over time, so the cached path must give the uncached path's answers
(to 1e-5) while encoding each sampled frame once, frames of several streams in one call.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the video-text runtime needs the [videotext] extra (tokenizers)")

from runtime.model import open_model  # noqa: E402
from runtime.recognizer import Recognizer, RecognizerConfig  # noqa: E402
from runtime.sources.base import Frame  # noqa: E402
from tests.fixtures.videotext_toy import colour_frames, make_toy_videotext  # noqa: E402

RED, GREEN, BLUE = (20, 20, 230), (20, 230, 20), (230, 20, 20)  # BGR


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_videotext(tmp_path_factory.mktemp("fc") / "toy")


@pytest.fixture
def engine(toy):
    opened = open_model(str(toy), "cpu", threads=1)
    yield opened
    opened.close()


def _frames(stream_id, colours, per_colour=7, seed=0):
    images = [image for i, c in enumerate(colours) for image in colour_frames(c, per_colour, seed=seed + i)]
    return [Frame(image, i / 15.0, i, stream_id) for i, image in enumerate(images)]


def _spy_on(encoder):
    """Record the batch size of every call of a real backend's infer."""
    calls, real = [], encoder.infer

    def infer(feeds):
        calls.append(len(next(iter(feeds.values()))))
        return real(feeds)

    encoder.infer = infer
    return calls


def _run(engine, streams, frame_cache, window_stride=1, max_batch=8):
    """Offline recognizer over interleaved streams; every due window of a round in one batch."""
    rec = Recognizer(engine.artifact, engine.backend, RecognizerConfig(mode="offline", window_stride=window_stride,
                                                                      max_batch=max_batch, frame_cache=frame_cache))
    results = []
    for round_frames in zip(*streams):
        pending = [p for p in (rec.prepare(f) for f in round_frames) if p is not None]
        results += rec.run(pending)
    return rec, results


def test_cached_results_equal_the_uncached_path_and_each_frame_is_encoded_once(engine):
    streams = [_frames("cam0", [RED, GREEN], seed=1), _frames("cam1", [BLUE, RED], seed=5),
               _frames("cam2", [GREEN, BLUE], seed=9)]
    calls = _spy_on(engine.backend.frame_encoder)
    cached_rec, cached = _run(engine, streams, frame_cache=True, window_stride=2)
    assert cached_rec.frame_cache is not None
    frame_calls = list(calls)
    calls.clear()
    uncached_rec, direct = _run(engine, streams, frame_cache=False, window_stride=2)
    assert uncached_rec.frame_cache is None and calls == []  # the uncached path runs the video graph only
    assert len(cached) == len(direct) == 3 * 6
    for a, b in zip(cached, direct):
        assert (a.stream_id, a.window, a.first_index, a.newest_index) == (b.stream_id, b.window, b.first_index,
                                                                         b.newest_index)
        assert a.raw_label == b.raw_label
        assert [label for label, _ in a.top_k] == [label for label, _ in b.top_k]
        np.testing.assert_allclose([s for _, s in a.top_k], [s for _, s in b.top_k], atol=1e-5)
    frames = engine.artifact.manifest.input.frames
    # Every frame that is part of a window is encoded once: the 14 frames of each stream, 3 streams.
    assert cached_rec.frame_cache.encoded == sum(frame_calls) == 3 * 14
    assert cached_rec.frame_cache.reused == len(cached) * frames - 3 * 14
    # Cross-stream batching: the first round encodes the first window of all three streams at once,
    # later rounds the two new frames of each stream, together.
    assert frame_calls[0] == 3 * frames and set(frame_calls[1:]) == {3 * 2}
    assert cached[0].label == "a red shape" and [r.label for r in cached if r.stream_id == "cam1"][-1] == "a red shape"


def test_window_embedding_is_the_video_graph_output(engine):
    from runtime.framecache import frame_cache_for

    rec = Recognizer(engine.artifact, engine.backend, RecognizerConfig(mode="offline"))
    windows = [(p.stream.stream_id, p.clip) for p in (rec.prepare(f) for f in _frames("cam", [GREEN, RED], seed=3))
               if p is not None]
    cache = frame_cache_for(engine.backend, engine.artifact.manifest)
    embeds = np.concatenate([cache.embeddings([w]) for w in windows])
    video = engine.zeroshot.model.encode_video(np.stack([clip.array for _, clip in windows])).embeds
    np.testing.assert_allclose(embeds, video, atol=1e-5)
    # Only the frames a later window can share stay: at most one window's worth per stream.
    assert len(cache._streams["cam"]) == engine.artifact.manifest.input.frames


def test_reused_or_restarting_frame_indices_never_serve_another_frames_embedding(engine):
    """A looping source or a caller reusing indices: indices no longer identify frames."""
    looped = _frames("cam", [RED], seed=2) + [Frame(f.image, 1.0 + f.timestamp, f.index, "cam")
                                              for f in _frames("cam", [BLUE], seed=4)]
    repeated = [Frame(f.image, f.timestamp, 3, "cam") for f in _frames("cam", [GREEN, BLUE], seed=6)]
    for frames in (looped, repeated):
        _, cached = _run(engine, [frames], frame_cache=True)
        _, direct = _run(engine, [frames], frame_cache=False)
        assert len(cached) == len(direct) > 0
        for a, b in zip(cached, direct):
            np.testing.assert_allclose([s for _, s in a.top_k], [s for _, s in b.top_k], atol=1e-5)
    _, cached = _run(engine, [looped], frame_cache=True)
    assert cached[-1].label == "a blue shape"  # after the loop, the new frames, not the old ones with those indices


def test_stream_runner_uses_the_cache_and_matches_the_uncached_run(toy):
    from runtime.api import StreamRunner
    from runtime.outputs.base import Sink
    from runtime.sources import IterableSource

    def stream(frame_cache):
        results = []

        class Collect(Sink):
            def on_result(self, result):
                results.append(result)

        sources = [IterableSource(_frames(sid, colours, seed=s), sid, stream_id=sid)
                   for sid, colours, s in (("a", [RED, BLUE], 1), ("b", [GREEN, RED], 2))]
        config = RecognizerConfig(frame_cache=frame_cache)
        with StreamRunner(str(toy), sources, backend="cpu", mode="offline", config=config, sinks=[Collect()]) as runner:
            runner.run()
            cache = runner.recognizer.frame_cache
        return sorted(results, key=lambda r: (r.stream_id, r.window)), cache

    cached, cache = stream(True)
    direct, none = stream(False)
    assert none is None and cache is not None and cache.encoded == 2 * 14
    assert [(r.stream_id, r.window, r.label) for r in cached] == [(r.stream_id, r.window, r.label) for r in direct]
    for a, b in zip(cached, direct):
        np.testing.assert_allclose(a.score, b.score, atol=1e-5)


def test_classifier_backends_run_whole_clips(onnx_artifact):
    from runtime.artifact import load_artifact
    from runtime.backends import open_backend

    artifact = load_artifact(onnx_artifact)
    with open_backend(artifact, "cpu") as backend:
        assert Recognizer(artifact, backend).frame_cache is None


def test_windows_skipped_in_between_are_encoded_only_for_the_frames_they_need(engine):
    """Live mode replaces windows that inference could not take: the next window encodes only its unseen frames."""
    frames = _frames("cam", [RED, GREEN, BLUE], seed=8)  # 21 frames, window stride 1, 4 frames per window
    cached = Recognizer(engine.artifact, engine.backend, RecognizerConfig(mode="offline", window_stride=1))
    direct = Recognizer(engine.artifact, engine.backend, RecognizerConfig(mode="offline", window_stride=1,
                                                                         frame_cache=False))
    due = [(cached.prepare(f), direct.prepare(f)) for f in frames]
    taken = [pair for i, pair in enumerate(p for p in due if p[0] is not None) if i % 3 == 0]  # 2 of 3 dropped
    for a, b in taken:
        (ra,), (rb,) = cached.run([a]), direct.run([b])
        assert ra.window == rb.window and ra.raw_label == rb.raw_label
        np.testing.assert_allclose([s for _, s in ra.top_k], [s for _, s in rb.top_k], atol=1e-5)
    # Windows 0, 3, 6, ...: each shares one frame with the one before; the rest are encoded once each.
    assert cached.frame_cache.encoded == 4 + 3 * (len(taken) - 1)
