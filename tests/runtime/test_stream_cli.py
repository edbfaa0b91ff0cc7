"""`python -m runtime.stream` end to end, in real processes, on real video files and the synthetic world."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from testbed.artifacts import make_onnx_artifact, moving_square_video

SYNTHETIC_FAST = "synthetic://?realtime=false&width=64&height=48&seed=3"


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "runtime.stream", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_help_shows_examples():
    run = _run("--help")
    assert run.returncode == 0
    assert "examples:" in run.stdout and "--source synthetic" in run.stdout and "--overlay" in run.stdout


def test_help_and_a_missing_opencv_name_the_fix_without_a_traceback():
    # A fresh Jetson image may lack OpenCV for this Python: --help must still work, and a run must
    # say which package to install rather than crash with a traceback.
    code = ("import runpy, sys; sys.modules['cv2'] = None; sys.argv = ['stream'] + sys.argv[1:]; "
            "runpy.run_module('runtime.stream', run_name='__main__')")
    shown = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "examples:" in shown.stdout
    run = subprocess.run([sys.executable, "-c", code, "--artifact", "nowhere", "--source", "synthetic"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "tubelet[opencv]" in run.stderr and "Traceback" not in run.stderr


def test_video_file_to_jsonl_overlay_and_summary(tmp_path):
    import cv2

    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=20)
    out, overlay, summary = tmp_path / "r.jsonl", tmp_path / "overlay.avi", tmp_path / "summary.json"
    run = _run("--artifact", artifact, "--source", video, "--jsonl", out, "--overlay", overlay, "--summary-json", summary,
               "--top-k", "2")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # Offline (a file): every window, clips of 4 frames, a window every 2: ends at frames 3, 5, ..., 19.
    assert [r["newest_index"] for r in rows] == list(range(3, 20, 2))
    assert all(r["clock"] == "arrival" and r["latency_ms"] >= r["inference_ms"] > 0 for r in rows)
    assert all(len(r["top_k"]) == 2 and r["label"] in ("left", "right", "still") for r in rows)
    assert len(run.stdout.splitlines()) == len(rows)  # one human line per result too
    assert int(cv2.VideoCapture(str(overlay)).get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    data = json.loads(summary.read_text())
    stream = data["streams"][0]
    assert (stream["frames"], stream["windows"], stream["published"], stream["dropped_windows"]) == (20, 9, 9, 0)
    assert stream["latency_p50_ms"] > 0 and data["accuracy"] == []  # a file has no ground truth
    assert "summary after" in run.stderr and "9 published, 0 dropped" in run.stderr


def test_two_streams_share_the_model(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=12)
    run = _run("--artifact", artifact, "--source", video, "--source", video, "--jsonl", "-")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    ids = sorted({r["stream_id"] for r in rows})
    assert len(ids) == 2 and ids[0] != ids[1]  # the same file twice is two streams
    assert sorted(r["newest_index"] for r in rows if r["stream_id"] == ids[0]) == [3, 5, 7, 9, 11]
    assert len(rows) == 10


def test_synthetic_source_prints_accuracy_against_ground_truth(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    summary = tmp_path / "s.json"
    run = _run("--artifact", artifact, "--source", SYNTHETIC_FAST, "--max-frames", "120", "--quiet",
               "--summary-json", summary)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # --quiet
    assert "accuracy against the ground truth" in run.stderr and "mean detection delay" in run.stderr
    data = json.loads(summary.read_text())
    acc = data["accuracy"][0]
    assert acc["windows"] == data["streams"][0]["published"] == 59  # 120 frames: windows at 3, 5, ..., 119
    assert 0 <= acc["correct"] <= acc["windows"] and acc["segments"] >= 1
    assert data["delay_goal_s"] > 0


def test_live_synthetic_stops_on_time_and_ctrl_c_prints_the_summary(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    proc = subprocess.Popen([sys.executable, "-m", "runtime.stream", "--artifact", str(artifact), "--source",
                             "synthetic://?width=64&height=48", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # Ctrl-C once streaming has started (a loaded machine may take seconds to import and open).
    first = proc.stderr.readline()
    assert "Ctrl-C stops" in first, first
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    err = first + err
    assert proc.returncode == 0, err
    assert "interrupted; summary after" in err and "Traceback" not in err
    assert "latency p50/p95/p99" in err and "accuracy against the ground truth" in err
    line = next(line for line in err.splitlines() if line.strip().startswith("synthetic"))
    frames = int(line.split(":", 2)[-1].split(" frames")[0].strip().split()[-1])
    assert frames >= 15  # the live world ran at its 15 fps for a couple of seconds


@pytest.mark.parametrize("args, message", [
    (["--source", "synthetic", "--artifact", "{tmp}/none"], "does not exist"),
    (["--source", "{tmp}/missing.mp4", "--artifact", "{art}"], "does not exist"),
    (["--source", "synthetic", "--artifact", "{art}", "--on-threshold", "0.3", "--off-threshold", "0.5"],
     "off_threshold <= on_threshold"),
    (["--source", "synthetic", "--artifact", "{art}", "--overlay", "{tmp}/x.gif"], "extension"),
    (["--source", "synthetic", "--artifact", "{art}", "--max-batch", "64"], "batch profile"),
    (["--source", "synthetic", "--artifact", "{art}", "--background", "stil"],
     "background label(s) ['stil'] not among the labels: 'left', 'right', 'still'"),
    (["--source", "synthetic://?width=100000&height=100000", "--artifact", "{art}"], "must be at most 8192, got 100000"),
    (["--source", "{tmp}/fifo.mp4", "--artifact", "{art}"], "fifo.mp4 is not a regular file"),
    (["--source", "synthetic://?fps=1e20&realtime=false", "--artifact", "{art}"], "fps must be a number from 0.01 to 1000"),
    (["--source", "synthetic://?fps=1e-300", "--artifact", "{art}"], "fps must be a number from 0.01 to 1000"),
    (["--source", "synthetic", "--artifact", "{art}", "--summary-json", "{tmp}/no/such/folder/s.json"],
     "folder {tmp}/no/such/folder does not exist"),
    (["--source", "synthetic", "--artifact", "{art}", "--summary-json", "{tmp}"], "is a folder; give a file path"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    art = make_onnx_artifact(tmp_path / "art")
    os.mkfifo(tmp_path / "fifo.mp4")
    message = message.format(tmp=tmp_path)
    run = _run(*[a.format(tmp=tmp_path, art=art) for a in args], timeout=60)
    assert "streaming" not in run.stderr  # refused before any work
    assert run.returncode == 1, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("args, message", [
    (["--window-stride", "0"], "--window-stride must be >= 1"),
    (["--target-fps", "0"], "--target-fps must be > 0, got 0.0"),
    (["--target-fps=-5"], "--target-fps must be > 0"),
    (["--target-fps", "nan"], "--target-fps must be > 0, got nan"),
    (["--target-fps", "inf"], "--target-fps must be a finite number"),
    (["--target-fps", "1e20"], "--target-fps must be at most 1000"),
    (["--temperature", "inf"], "--temperature must be a finite number"),
    (["--frame-stride", "2", "--target-fps", "15"], "--frame-stride and --target-fps both given"),
])
def test_bad_numbers_are_rejected_by_the_parser(args, message):
    run = _run("--artifact", "x", "--source", "0", *args)
    assert run.returncode == 2 and message in run.stderr
    assert message in run.stderr.strip().splitlines()[-1] and "Traceback" not in run.stderr  # usage, then one line


def test_runs_without_torch(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=8)
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "from runtime.stream import main; sys.exit(main(['--artifact', sys.argv[1], '--source', sys.argv[2], '--quiet']))")
    run = subprocess.run([sys.executable, "-c", code, str(artifact), str(video)], capture_output=True, text=True,
                         timeout=120, env={**os.environ})
    assert run.returncode == 0, run.stderr
    assert "3 published" in run.stderr


def test_python_api_and_the_example_script(tmp_path):
    from pathlib import Path

    from runtime.api import recognize

    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=12)
    results = list(recognize(str(artifact), str(video), smoothing="ema"))
    assert [r.newest_index for r in results] == [3, 5, 7, 9, 11]
    assert all(r.label in ("left", "right", "still") and r.latency_ms > 0 for r in results)
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, str(root / "examples" / "camera_actions.py"), str(artifact), str(video)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 5 and run.stdout.startswith(f"{video}: ")


def test_prompts_for_a_classification_artifact_are_refused(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    run = _run("--artifact", artifact, "--source", SYNTHETIC_FAST, "--max-frames", "10", "--prompt", "a shape moving left")
    assert run.returncode == 1
    assert "zero-shot prompts need a video_text artifact" in run.stderr and "Traceback" not in run.stderr


def test_recognize_counts_the_results_a_slow_caller_never_read(tmp_path):
    """Offline synthetic: 299 windows; the caller reads one, then waits; 256 wait in the queue, the rest
    are dropped, and the total is logged when the loop ends."""
    import logging

    from runtime.api import recognize

    artifact = make_onnx_artifact(tmp_path / "art")
    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logging.getLogger("tubelet").addHandler(handler)
    results = recognize(str(artifact), SYNTHETIC_FAST, mode="offline", max_frames=600)
    first = next(results)
    time.sleep(8.0)  # the runner finishes 600 tiny frames well within this
    rest = list(results)
    logging.getLogger("tubelet").removeHandler(handler)
    total = 1 + len(rest)
    windows = 299  # 600 frames: windows at 3, 5, ..., 599
    dropped = windows - total
    assert first.newest_index == 3 and 256 <= total < windows
    assert any("not reading results" in m for m in messages)
    assert any(f"{dropped} results were dropped in all" in m for m in messages), messages


def test_extreme_temperatures_write_valid_json_with_finite_scores(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = moving_square_video(tmp_path / "clip.avi", frames=12)

    def strict(text):  # NaN/Infinity are not JSON
        raise ValueError(f"{text} in the JSON lines")

    for temperature in ("5e-324", "1e-300", "1e300"):
        run = _run("--artifact", artifact, "--source", video, "--jsonl", "-", "--temperature", temperature)
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line, parse_constant=strict) for line in run.stdout.splitlines()]
        assert len(rows) == 5 and all(0.0 <= r["score"] <= 1.0 for r in rows)
        assert all(0.0 <= s <= 1.0 for r in rows for _, s in r["top_k"])


def test_library_noise_stays_out_of_the_way_unless_verbose(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    args = ("--artifact", artifact, "--source", "rtsp://127.0.0.1:9/none", "--quiet")  # port 9: refused at once
    run = _run(*args, timeout=60)
    assert run.returncode == 1 and run.stderr.strip().splitlines() == [
        "error: OpenCV cannot open rtsp://127.0.0.1:9/none (no such device, unreachable host, or no backend for "
        "it; waited at most 5 s)"], run.stderr
    verbose = _run(*args, "--verbose", timeout=60)
    assert verbose.returncode == 1 and len(verbose.stderr.strip().splitlines()) > 1  # FFmpeg's and OpenCV's own


def test_a_folder_given_as_a_video_file_says_so(tmp_path):
    from runtime.sources import SourceError
    from runtime.sources.video import read_video_file

    with pytest.raises(SourceError, match="is a folder, not a video file"):
        list(read_video_file(tmp_path))
    with pytest.raises(SourceError, match="does not exist"):
        list(read_video_file(tmp_path / "missing.mp4"))

