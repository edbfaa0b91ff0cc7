"""A video file classified from the artifact alone: the runtime path, no torch involved."""

import json
import subprocess
import sys

from testbed.artifacts import make_onnx_artifact, moving_square_video


def test_classify_prints_one_json_line_per_window(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=12)
    run = subprocess.run([sys.executable, "-m", "runtime.classify", "--artifact", str(artifact), "--source", str(video),
                          "--top-k", "2"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    # 12 frames, clips of 4, a window every 2 sampled frames: windows end at frames 3, 5, 7, 9, 11.
    assert [r["newest_index"] for r in lines] == [3, 5, 7, 9, 11]
    assert [r["first_index"] for r in lines] == [0, 2, 4, 6, 8]
    for r in lines:
        assert r["label"] in ("left", "right", "still") and len(r["top_k"]) == 2
        assert r["top_k"][0][0] == r["label"] and 0 < r["score"] <= 1
        assert r["newest_timestamp"] > r["first_timestamp"]


def test_classify_runs_without_torch_importable(tmp_path):
    """Block torch in the child process: the runtime must not need it."""
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=8)
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "from runtime.classify import main; sys.exit(main(['--artifact', sys.argv[1], '--source', sys.argv[2]]))")
    run = subprocess.run([sys.executable, "-c", code, str(artifact), str(video)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 3


def test_classify_errors_are_one_line(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    (tmp_path / "notvideo.avi").write_text("hello")
    for args, message in [(["--artifact", str(tmp_path / "none"), "--source", "x.avi"], "does not exist"),
                          (["--artifact", str(artifact), "--source", str(tmp_path / "missing.avi")], "does not exist"),
                          (["--artifact", str(artifact), "--source", str(tmp_path / "notvideo.avi")], "cannot open")]:
        run = subprocess.run([sys.executable, "-m", "runtime.classify", *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


def _classify(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "runtime.classify", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_video_text_artifact_is_classified_zero_shot_over_its_prompts(tmp_path):
    """The same opening path as the stream: prompts become the labels (this ended in a numpy broadcast error)."""
    from tests.fixtures.videotext_toy import make_toy_videotext

    artifact = make_toy_videotext(tmp_path / "vt")
    video = moving_square_video(tmp_path / "clip.avi", frames=8)
    run = _classify("--artifact", artifact, "--source", video)
    assert run.returncode == 0, run.stderr
    prompts = json.loads((artifact / "manifest.json").read_text())["labels"]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines and all(r["label"] in prompts and len(r["top_k"]) == min(5, len(prompts)) for r in lines)


def test_closed_stdout_ends_quietly(tmp_path):
    """`runtime.classify ... | head -1`: no BrokenPipeError traceback, the Unix exit status for SIGPIPE."""
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "long.avi", frames=400)
    child = subprocess.Popen([sys.executable, "-m", "runtime.classify", "--artifact", str(artifact), "--source",
                              str(video)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    json.loads(child.stdout.readline())
    child.stdout.close()  # what head does after its first line
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141, stderr
    assert stderr == "", stderr


def test_shorter_than_one_clip_gives_the_numbers(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    run = _classify("--artifact", artifact, "--source", moving_square_video(tmp_path / "short.avi", frames=3, fps=10))
    assert run.returncode == 0 and run.stdout == ""
    assert ("short.avi: no windows: 3 frames were sampled and a window needs 4: the stream is shorter than one clip "
            "at the model's sampling rate; the file has 3 frame(s) over 0.20 s, one clip is 4 frames taken every "
            "1 frame(s), 4 frames of this video") in run.stderr


def test_shorter_than_one_clip_at_the_models_sampling_rate(tmp_path):
    """A manifest target fps of 2 on a 10 fps video: one 4-frame clip spans 1.5 s, 16 frames of the video."""
    artifact = make_onnx_artifact(tmp_path / "art")
    path = artifact / "manifest.json"
    data = json.loads(path.read_text())
    data["sampling"]["target_fps"] = 2.0
    path.write_text(json.dumps(data))
    run = _classify("--artifact", artifact, "--source", moving_square_video(tmp_path / "v.avi", frames=12, fps=10))
    assert run.returncode == 0 and run.stdout == ""
    assert "3 frames were sampled and a window needs 4: the stream is shorter than one clip" in run.stderr
    assert "the file has 12 frame(s) over 1.10 s, one clip is 4 frames sampled at 2 fps, 16 frames of this video" in run.stderr


def test_no_window_for_another_reason_does_not_claim_too_short(tmp_path):
    """12 frames in runs of 3, 10 s apart: long enough, but each gap restarts the clip before it fills."""
    import numpy as np

    from runtime.artifact import load_artifact
    from runtime.backends import open_backend
    from runtime.classify import _Timeline, _config, classify_frames, why_no_window
    from runtime.recognizer import Recognizer
    from runtime.sources.base import Frame

    artifact = load_artifact(make_onnx_artifact(tmp_path / "art"))
    frames = [Frame(image=np.full((32, 32, 3), 90, np.uint8), timestamp=10.0 * (i // 3) + 0.1 * (i % 3), index=i,
                    stream_id="gaps") for i in range(12)]
    with open_backend(artifact, "cpu") as backend:
        recognizer = Recognizer(artifact, backend, _config(3, None))
        timeline = _Timeline(frames)
        assert list(classify_frames(artifact, backend, timeline, recognizer=recognizer)) == []
        reason = why_no_window("gaps", recognizer, timeline)
    assert "shorter than one clip" not in reason
    assert "the clip restarted 3 times (3 x gap)" in reason and "the file has 12 frame(s) over 30.20 s" in reason


def test_cli_hints_use_cli_syntax(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=8)
    run = _classify("--artifact", artifact, "--source", video, "--backend", "tensorrt")
    assert run.returncode == 1 and "use --backend onnxruntime" in run.stderr and "backend=" not in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr
