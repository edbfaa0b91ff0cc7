"""A video file classified from the artifact alone: the runtime path, no torch involved."""

import json
import subprocess
import sys

from tests.conftest import make_onnx_artifact, moving_square_video


def test_classify_prints_one_json_line_per_window(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=12)
    run = subprocess.run([sys.executable, "-m", "runtime.classify", "--artifact", str(artifact), "--video", str(video),
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
            "from runtime.classify import main; sys.exit(main(['--artifact', sys.argv[1], '--video', sys.argv[2]]))")
    run = subprocess.run([sys.executable, "-c", code, str(artifact), str(video)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 3


def test_classify_errors_are_one_line(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    (tmp_path / "notvideo.avi").write_text("hello")
    for args, message in [(["--artifact", str(tmp_path / "none"), "--video", "x.avi"], "does not exist"),
                          (["--artifact", str(artifact), "--video", str(tmp_path / "missing.avi")], "does not exist"),
                          (["--artifact", str(artifact), "--video", str(tmp_path / "notvideo.avi")], "cannot open")]:
        run = subprocess.run([sys.executable, "-m", "runtime.classify", *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
