"""Video-text runtime on a torch-free toy artifact: tokenizer, prompts, zero-shot, retrieval, frame cache."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the video-text runtime needs the [videotext] extra (tokenizers)")

from runtime.artifact import HashMismatchError  # noqa: E402
from runtime.clips import ClipBuffer  # noqa: E402
from runtime.preprocess import Preprocessor  # noqa: E402
from runtime.videotext.model import VideoTextError, VideoTextModel, l2_normalize, retrieve  # noqa: E402
from runtime.videotext.tokenizer import PromptError, TextTokenizer  # noqa: E402
from runtime.videotext.zeroshot import FrameCachedEncoder, ZeroShotClassifier  # noqa: E402
from tests.fixtures.videotext_toy import colour_frames, make_toy_videotext  # noqa: E402

RED, GREEN, BLUE = (20, 20, 230), (20, 230, 20), (230, 20, 20)  # BGR
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_videotext(tmp_path_factory.mktemp("vt") / "toy")


@pytest.fixture
def model(toy):
    with VideoTextModel(toy) as m:
        yield m


def _clip(model, colour, seed=0):
    pre = Preprocessor(model.artifact.manifest.preprocessing)
    return np.stack([pre(f) for f in colour_frames(colour, model.artifact.manifest.input.frames, seed=seed)])


def test_tokenizer_pads_right_and_masks(toy):
    tok = TextTokenizer(toy / "tokenizer.json", max_length=8, pad_id=0)
    ids, mask = tok.encode(["a red shape", "Red"])
    assert ids.dtype == np.int64 and ids.shape == (2, 5)
    assert ids[0].tolist() == [2, 7, 4, 9, 3]  # [CLS] a red shape [SEP]
    assert ids[1].tolist() == [2, 4, 3, 0, 0] and mask[1].tolist() == [1, 1, 1, 0, 0]  # lowercased, padded right
    assert tok.decode(ids[0]) == "a red shape"


@pytest.mark.parametrize("prompts, fragment", [
    ([], "empty"), ([""], "prompt 0 is empty"), (["a red shape", "   "], "prompt 1 is empty"),
    ("a red shape", "one string"), ([3], "not text"),
    (["red " * 7], "at most 8"),
])
def test_bad_prompts_get_clear_errors(toy, prompts, fragment):
    tok = TextTokenizer(toy / "tokenizer.json", max_length=8, pad_id=0)
    with pytest.raises(PromptError, match=fragment):
        tok.encode(prompts)


def test_zero_shot_uses_shipped_embeddings_and_new_prompts_agree(model):
    zs = ZeroShotClassifier(model)
    assert zs.labels == ["a red shape", "a green shape", "a blue shape"]
    np.testing.assert_allclose(model.label_embeddings(), model.encode_text(zs.labels), atol=1e-6)
    clips = np.stack([_clip(model, c) for c in (RED, GREEN, BLUE)])
    logits = zs.infer({"pixel_values": clips})["logits"]
    assert logits.shape == (3, 3) and logits.argmax(1).tolist() == [0, 1, 2]
    top = zs.classify(clips, k=2)
    assert [row[0][0] for row in top] == zs.labels and all(row[0][1] > 0.9 for row in top)


def test_bad_prompt_swap_keeps_the_old_set(model):
    zs = ZeroShotClassifier(model)
    with pytest.raises(PromptError, match="at most 8"):
        zs.set_prompts(["blue", "red " * 9])
    with pytest.raises(PromptError, match="empty"):
        zs.set_prompts([])
    assert zs.labels == ["a red shape", "a green shape", "a blue shape"] and zs.prompt_set.version == 0


def test_prompt_swap_while_streaming(model):
    """A second thread swaps prompts mid-stream; every window is scored over exactly one whole set."""
    zs = ZeroShotClassifier(model)
    spec = model.artifact.manifest.input
    pre = Preprocessor(model.artifact.manifest.preprocessing)
    buffer = ClipBuffer(spec.frames, window_stride=1, layout=spec.layout)
    frames = colour_frames(RED, 30, seed=1) + colour_frames(BLUE, 30, seed=2)
    swapped = threading.Event()
    results = []
    new = ["the blue square", "a red square", "green", "bright moving shape"]

    def swap():
        zs.set_prompts(new)
        swapped.set()

    for index, image in enumerate(frames):
        clip = buffer.add(pre(image), index / 15.0, index)
        if index == 20:
            threading.Thread(target=swap).start()
            assert swapped.wait(10)
        if clip is not None:
            logits, used = zs.logits(model.encode_video(clip.array[None]))
            results.append((index, used.version, used.prompts[int(logits[0].argmax())], logits.shape[1]))
    before = [r for r in results if r[1] == 0]
    after = [r for r in results if r[1] == 1]
    assert before and after and max(r[0] for r in before) < min(r[0] for r in after)
    assert all(r[3] == 3 for r in before) and all(r[3] == 4 for r in after)
    assert {r[2] for r in before} == {"a red shape"}
    late = [r[2] for r in after if r[0] >= 34]  # windows made only of blue frames
    assert late and set(late) == {"the blue square"}
    assert [r[2] for r in after if r[0] < 30] == ["a red square"] * len([r for r in after if r[0] < 30])


def test_frame_cache_equals_recomputation(model):
    spec = model.artifact.manifest.input
    pre = Preprocessor(model.artifact.manifest.preprocessing)
    frames = [pre(f) for f in colour_frames(GREEN, 6, seed=3) + colour_frames(RED, 7, seed=4)]
    cache = FrameCachedEncoder(model, window_stride=2)
    buffer = ClipBuffer(spec.frames, window_stride=2, layout=spec.layout)
    compared = 0
    for index, frame in enumerate(frames):
        cached = cache.push(frame)
        clip = buffer.add(frame, float(index), index)
        assert (cached is None) == (clip is None)
        if clip is not None:
            full = model.encode_video(clip.array[None]).embeds[0]
            np.testing.assert_allclose(cached, full, atol=1e-6)
            compared += 1
    assert compared == 5


def test_retrieval_matrix_is_cosine_of_both_embeddings(model):
    clips = np.stack([_clip(model, c, seed=i) for i, c in enumerate((BLUE, RED))])
    texts = ["a red shape", "blue", "green", "the square"]
    result = retrieve(model, clips, texts)
    expected = l2_normalize(model.encode_video(clips).embeds) @ l2_normalize(model.encode_text(texts)).T
    np.testing.assert_allclose(result.similarity, expected, atol=1e-6)
    assert result.similarity.shape == (2, 4) and result.best_text.tolist() == [1, 0]
    assert np.all(np.abs(result.similarity) <= 1 + 1e-5)


def test_classification_artifact_and_tampered_embeddings_are_refused(tmp_path, onnx_artifact):
    with pytest.raises(VideoTextError, match="video_text"):
        VideoTextModel(onnx_artifact)
    folder = make_toy_videotext(tmp_path / "toy")
    np.save(folder / "text_embeddings.npy", np.zeros((3, 8), np.float32), allow_pickle=False)
    with pytest.raises(HashMismatchError):
        VideoTextModel(folder)


def test_runtime_runs_without_torch_or_transformers(toy):
    code = f"""
import sys
for name in ("torch", "transformers"):
    sys.modules[name] = None  # any import of them now fails
import numpy as np
from runtime.videotext.model import VideoTextModel
from runtime.videotext.zeroshot import ZeroShotClassifier
m = VideoTextModel({str(toy)!r})
zs = ZeroShotClassifier(m)
zs.set_prompts(["blue", "red"])
print(zs.infer({{"pixel_values": np.zeros((1, 4, 3, 16, 16), np.float32)}})["logits"].shape)
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(1, 2)"


def test_zero_shot_stream_same_results_with_and_without_frame_cache(model):
    from runtime.sources.base import Frame
    from runtime.videotext.zeroshot import zero_shot_frames

    images = colour_frames(RED, 9, seed=5) + colour_frames(GREEN, 9, seed=6)
    frames = [Frame(image, i / 15.0, i) for i, image in enumerate(images)]
    zs = ZeroShotClassifier(model)
    cached = list(zero_shot_frames(zs, frames, k=3, window_stride=2))
    direct = list(zero_shot_frames(zs, frames, k=3, window_stride=2, use_cache=False))
    assert len(cached) == len(direct) == 8
    for a, b in zip(cached, direct):
        assert (a.window, a.first_index, a.newest_index) == (b.window, b.first_index, b.newest_index)
        assert [p for p, _ in a.top_k] == [p for p, _ in b.top_k]
        np.testing.assert_allclose([s for _, s in a.top_k], [s for _, s in b.top_k], atol=1e-5)
    assert cached[0].top_k[0][0] == "a red shape" and cached[-1].top_k[0][0] == "a green shape"


def _green_frames(seed):
    from runtime.sources.base import Frame

    return [Frame(image, i / 10, i, "cam") for i, image in enumerate(colour_frames(GREEN, 12, seed=seed))]


def _stream(toy, frames, **options):
    """StreamRunner over `frames` offline: (the labels its artifact ended up with, every result)."""
    from runtime.api import StreamRunner
    from runtime.outputs.base import Sink
    from runtime.sources import IterableSource

    results = []

    class Collect(Sink):
        def on_result(self, result):
            results.append(result)

    source = IterableSource(frames, "green frames", stream_id="cam")
    with StreamRunner(str(toy), [source], mode="offline", sinks=[Collect()], **options) as runner:
        labels = list(runner.artifact.manifest.labels)
        runner.run()
    return labels, results


def test_stream_runner_runs_a_video_text_artifact_zero_shot(toy):
    """The streaming path: a video_text artifact through StreamRunner, its prompts as labels."""
    labels, results = _stream(toy, _green_frames(seed=3))
    assert labels == ["a red shape", "a green shape", "a blue shape"]
    assert results and all(r.label == "a green shape" for r in results)


def test_stream_runner_takes_prompts_and_they_become_the_labels(toy):
    from runtime.api import StreamRunner
    from runtime.sources import IterableSource

    frames = _green_frames(seed=4)
    labels, results = _stream(toy, frames, prompts=["a blue shape", "a green shape"])
    assert labels == ["a blue shape", "a green shape"]
    assert results and all(r.label == "a green shape" for r in results)
    with pytest.raises(PromptError, match="empty"):
        StreamRunner(str(toy), [IterableSource(frames, "x", stream_id="cam")], prompts=[])


def test_stream_cli_prompts_from_file_and_flags(toy, tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(colour_frames(BLUE, 10, seed=5)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# colours\na red shape\n\na blue shape\n")
    run = subprocess.run([sys.executable, "-m", "runtime.stream", "--artifact", str(toy), "--source", str(folder),
                          "--prompts", str(prompts), "--prompt", "a yellow shape", "--jsonl", "-"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    import json

    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert rows and all(row["label"] == "a blue shape" for row in rows)
    assert {name for row in rows for name, _ in row["top_k"]} <= {"a red shape", "a blue shape", "a yellow shape"}
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    run = subprocess.run([sys.executable, "-m", "runtime.stream", "--artifact", str(toy), "--source", str(folder),
                          "--prompts", str(empty)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 1 and "no prompts in the file" in run.stderr


@pytest.mark.parametrize("change, message", [
    (lambda vt: vt.pop("max_length"), "missing 1 required positional argument: 'max_length'"),
    (lambda vt: vt.update(text_graph="gone.onnx"), "video_text.text_graph must name a file listed in files"),
    (lambda vt: vt.update(max_length=0), "video_text.max_length must be an integer in 1..4096"),
    (lambda vt: vt.update(logit_scale=float("inf")), "video_text.logit_scale must be a finite number"),
    (lambda vt: vt.update(bogus=1), r"unknown keys \['bogus'\]"),
])
def test_video_text_section_is_typed_at_read_time(toy, tmp_path, change, message):
    import json
    import shutil

    from runtime.artifact import ManifestError, read_manifest

    copy = shutil.copytree(toy, tmp_path / "toy")
    data = json.loads((copy / "manifest.json").read_text())
    change(data["video_text"])
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=message):
        read_manifest(copy)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_video_text_refuses_a_precision_it_would_not_run(toy, precision):
    from runtime.model import ModelError, open_model

    with pytest.raises(ModelError, match=rf"precision='{precision}'.* run in FP32 only; use precision='fp32'"):
        open_model(toy, "cpu", precision=precision)


def test_stream_cli_raises_no_events_for_the_background_the_artifact_declares(toy, tmp_path):
    """A video-text artifact's manifest names its prompts of nothing happening (the bundled model's
    "nothing is moving"); the stream CLI takes them as background by default: no onset for them."""
    import json
    import shutil

    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(colour_frames(BLUE, 10, seed=5)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    declared = shutil.copytree(toy, tmp_path / "declared")
    data = json.loads((declared / "manifest.json").read_text())
    data["background"] = ["a blue shape"]
    (declared / "manifest.json").write_text(json.dumps(data))

    def onsets(artifact):
        run = subprocess.run([sys.executable, "-m", "runtime.stream", "--artifact", str(artifact), "--source",
                              str(folder), "--jsonl", "-"], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        assert rows and all(row["label"] == "a blue shape" for row in rows)
        return [e["label"] for row in rows for e in row["events"] if e["kind"] == "onset"]

    assert onsets(toy) == ["a blue shape"]  # no background declared: the blue shape is an action
    assert onsets(declared) == []


def test_the_python_api_and_the_recognizer_take_the_declared_background_unless_told_otherwise(toy, tmp_path):
    """The recognizer resolves the background (CLI, StreamRunner and the ROS bridge alike): the
    manifest's declared labels by default, the caller's own when given, () for none."""
    import json
    import shutil

    from runtime.postprocess import PostprocessConfig
    from runtime.recognizer import RecognizerConfig

    declared = shutil.copytree(toy, tmp_path / "declared")
    data = json.loads((declared / "manifest.json").read_text())
    data["background"] = ["a green shape"]
    (declared / "manifest.json").write_text(json.dumps(data))

    def onsets(artifact, **options):
        _, results = _stream(artifact, _green_frames(seed=3), **options)
        assert results and all(r.label.startswith("a green shape") for r in results)
        return [e.label for r in results for e in r.events if e.kind == "onset"]

    assert onsets(toy) == ["a green shape"]
    assert onsets(declared) == []
    none = RecognizerConfig(postprocess=PostprocessConfig(background=()))
    assert onsets(declared, config=none) == ["a green shape"]
    # Prompts given at run time replace the labels: the declared background no longer applies.
    assert onsets(declared, prompts=["a red shape", "a green shape!"]) == ["a green shape!"]


@pytest.mark.parametrize("frame_cache", [False, True])
def test_a_recognizer_scores_the_prompts_it_was_built_for_after_a_swap(toy, frame_cache):
    """A prompt swap is followed by a new recognizer, but windows already on their way run on the old
    one: they must be scored over the old recognizer's own prompts, not the new embeddings under the
    old labels (here the same prompts in another order, so a mix-up names the wrong colour)."""
    from runtime.model import open_model
    from runtime.recognizer import Recognizer, RecognizerConfig
    from runtime.sources.base import Frame

    opened = open_model(str(toy), "cpu", threads=1)
    try:
        config = RecognizerConfig(mode="offline", window_stride=1, frame_cache=frame_cache)
        old = opened.recognizer(config)
        labels = opened.labels
        opened.set_prompts(list(reversed(labels)))
        new = opened.recognizer(config)
        for rec in (old, new):
            frames = [Frame(f, i / 15.0, i, "cam") for i, f in enumerate(colour_frames(RED, 6))]
            results = rec.run([p for p in map(rec.prepare, frames) if p is not None])
            assert results and all(r.label == "a red shape" for r in results), (rec is new, results[-1].top_k)
        assert new.manifest.labels == list(reversed(labels)) and old.manifest.labels == labels
        with pytest.raises(Exception, match="prompts"):
            Recognizer(old.artifact, opened.backend, config)  # labels that are not the backend's prompts
    finally:
        opened.close()


def test_a_pinned_classifier_stays_on_its_set_and_repins_to_another(model):
    zs = ZeroShotClassifier(model)
    first = zs.pinned()
    other = zs.encode_prompts(["a blue shape", "a red shape"])
    assert zs.labels == first.labels  # encoded, not adopted
    assert first.pinned() is first and first.pinned(first.prompt_set) is first
    repinned = first.pinned(other)
    assert repinned.labels == ["a blue shape", "a red shape"] and first.labels == zs.labels
    clip = _clip(model, RED)[None]
    assert repinned.labels[int(repinned.infer({zs.inputs[0].name: clip})["logits"].argmax())] == "a red shape"
    assert zs.adopt(other) is other and zs.labels == repinned.labels and first.labels != zs.labels


def test_a_recognizer_built_midway_through_a_prompt_swap_runs_on_one_consistent_set(toy):
    """Model.set_prompts swaps the classifier's set, then the labels it shows; a recognizer built
    between the two steps (another thread) must pair one set's labels with that set's embeddings,
    not raise a label mismatch or pair old labels with new embeddings."""
    from runtime.model import open_model
    from runtime.recognizer import RecognizerConfig
    from runtime.sources.base import Frame

    opened = open_model(str(toy), "cpu", threads=1)
    try:
        labels = opened.labels
        opened.zeroshot.set_prompts(list(reversed(labels)))  # the first step only: as seen midway
        rec = opened.recognizer(RecognizerConfig(mode="offline", window_stride=1))
        assert rec.manifest.labels == list(reversed(labels))
        frames = [Frame(f, i / 15.0, i, "cam") for i, f in enumerate(colour_frames(RED, 6))]
        results = rec.run([p for p in map(rec.prepare, frames) if p is not None])
        assert results and all(r.label == "a red shape" for r in results)
        assert opened.labels == list(reversed(labels))  # the labels read from the same set too
    finally:
        opened.close()


def test_prompt_sets_compare_by_identity_without_raising(model):
    zs = ZeroShotClassifier(model)
    first = zs.encode_prompts(["a red shape", "a blue shape"])
    same_prompts = zs.encode_prompts(["a red shape", "a blue shape"])
    assert first == first and first != same_prompts  # two encodings are two sets (two versions)
    assert first in [same_prompts, first]
