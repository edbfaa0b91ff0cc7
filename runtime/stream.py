"""Recognize actions on live cameras, streams, files or the synthetic world, with bounded latency.

Each --source is one stream; all streams share one model, and their due windows are batched.
Live sources (cameras, rtsp/http, GStreamer, realtime synthetic) run latest-wins: a window that
cannot be served because inference is busy is replaced by a newer one and counted as dropped.
Offline sources (files, image folders, rosbags) have every window processed. A summary (latency
p50/p95/p99, windows, drops) is printed at exit, also after Ctrl-C; with --source synthetic the
accuracy against the world's ground truth follows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time

from runtime.cli.args import (
    BACKENDS_HELP,
    add_backend,
    add_precision,
    add_seconds,
    add_source,
    add_threads,
    add_verbosity,
)
from runtime.cli.main import run_main

MAX_TARGET_FPS = 1000.0

EXAMPLES = """examples:
  python -m runtime.stream --artifact build/videomae-motion --source synthetic --seconds 20
  python -m runtime.stream --artifact build/videomae-motion --source 0                     # camera 0
  python -m runtime.stream --artifact build/videomae-motion --source csi://0 --source /dev/video1
  python -m runtime.stream --artifact build/videomae-motion --source rtsp://192.168.1.20/live --jsonl -
  python -m runtime.stream --artifact build/videomae-motion --source clip.mp4 --overlay out.mp4 --quiet
  python -m runtime.stream --artifact build/videomae-motion --source 0 --smoothing ema --on-threshold 0.6 \\
      --off-threshold 0.4 --unknown-below 0.3 --metrics-port 9100 --show
  python -m runtime.stream --artifact build/videomae-motion --source 0 --backend triton \\
      --server grpc://gpu-server:8001 --server-model videomae-motion      # a Triton server (docs/SCALE.md)
  python -m runtime.stream --artifact build/videomae-motion --source 0 --backend openvino --precision bf16 \
      --threads 4                                  # an x86 CPU with AVX-512 BF16 or AMX (docs/CPU.md)
  python -m runtime.stream --artifact build/videotext-motion --source synthetic --seconds 20 \\
      --prompts prompts.txt --background "a shape staying still"     # zero-shot over your own prompts

output: one line per result on stdout (or JSON lines with --jsonl -); the summary goes to stderr.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runtime.stream", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    add_source(p, help="camera index, /dev/videoN, file, folder, rtsp/http URL, GStreamer pipeline, csi://N, "
                        "synthetic, rosbag://...; repeat for several streams")
    g = p.add_argument_group("model")
    add_backend(g, help=f"{BACKENDS_HELP} (default auto: a TensorRT engine or ORT's NVIDIA providers; without them "
                        "OpenVINO when installed, else ORT)")
    g.add_argument("--server", metavar="URL", default=None,
                   help="--backend triton: the Triton server, grpc://HOST:PORT or http://HOST:PORT (docs/SCALE.md)")
    g.add_argument("--server-model", metavar="NAME", default=None,
                   help="--backend triton: the model's name on the server (default: the artifact folder's name)")
    g.add_argument("--server-timeout", type=float, default=5.0, metavar="S",
                   help="--backend triton: seconds any call to the server may take (default 5)")
    add_precision(g, ("fp32", "fp16", "bf16", "int8"), "fp32",
                  help="which model of the artifact (bf16: OpenVINO, on CPUs that report BF16)")
    g.add_argument("--build-engine", action="store_true",
                   help="build the TensorRT engine(s) for this machine on the first launch (minutes; needs TensorRT "
                        "and a GPU) and reuse them on the next ones; without TensorRT it says why and goes on")
    add_threads(g, type=int)  # checked in _check, whose message names the flag
    g.add_argument("--device", default=None, metavar="NAME",
                   help="OpenVINO device: CPU (default), GPU, GPU.1, NPU (with --backend openvino or auto)")
    g.add_argument("--max-batch", type=int, default=None, help="most windows per call (default: the artifact's profile)")
    g.add_argument("--prompts", metavar="FILE", default=None,
                   help="video-text artifacts: zero-shot prompts, one per line (blank lines and lines starting with "
                        "# are skipped); they become the labels. Default: the prompts the artifact was exported with")
    g.add_argument("--prompt", action="append", default=None, metavar="TEXT",
                   help="one zero-shot prompt; repeat for several (added after --prompts)")
    g = p.add_argument_group("sampling and scheduling")
    g.add_argument("--mode", default="auto", choices=("auto", "live", "offline"),
                   help="live: latest-wins; offline: every window; auto: by source (default)")
    g.add_argument("--frame-stride", type=int, default=None, help="take every n-th frame (default: the manifest's)")
    g.add_argument("--target-fps", type=float, default=None, help="sample frames at this rate by timestamp")
    g.add_argument("--window-stride", type=int, default=None, help="a window every n sampled frames (default: manifest)")
    g = p.add_argument_group("post-processing")
    g.add_argument("--top-k", type=int, default=3)
    g.add_argument("--temperature", type=float, default=None, help="softmax temperature (default: the manifest's)")
    g.add_argument("--smoothing", default="none", choices=("none", "ema", "mean"), help="over the last windows")
    g.add_argument("--ema-alpha", type=float, default=0.5, help="weight of the newest window for --smoothing ema")
    g.add_argument("--mean-windows", type=int, default=3, help="windows averaged by --smoothing mean")
    g.add_argument("--on-threshold", type=float, default=0.5, help="an action starts at this smoothed score")
    g.add_argument("--off-threshold", type=float, default=0.4, help="... and ends below this one")
    g.add_argument("--unknown-below", type=float, default=0.0, help="report 'unknown' below this score")
    g.add_argument("--background", action="append", default=None, metavar="LABEL",
                   help="a label that is not an action (no events), repeatable; default: those the artifact "
                        "declares (the bundled video-text model's 'nothing is moving') and 'no action', "
                        "each where it is among the labels or prompts")
    g = p.add_argument_group("outputs and limits")
    g.add_argument("--jsonl", metavar="PATH", help="write results as JSON lines to PATH ('-' for stdout)")
    g.add_argument("--overlay", metavar="OUT.mp4", help="write a video with label, score, latency and fps drawn on")
    g.add_argument("--overlay-fps", type=float, default=None, help="frame rate of the overlay file (default 30)")
    g.add_argument("--show", action="store_true", help="show the annotated frames in a window (q or Esc quits)")
    g.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    add_seconds(g, type=float)  # checked in _check
    g.add_argument("--max-frames", type=int, default=None, help="stop each stream after this many frames")
    g.add_argument("--summary-json", metavar="PATH", help="also write the summary (and accuracy) as JSON")
    add_verbosity(g, quiet="no per-result lines (the summary is still printed)",
                  verbose="also show OpenCV's and FFmpeg's own log lines")
    return p


def _check(args, parser) -> None:
    for name in ("threads", "max_batch", "frame_stride", "window_stride", "top_k", "max_frames", "mean_windows"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name in ("seconds", "target_fps", "temperature", "overlay_fps"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {value}")
        if value is not None and name != "seconds" and not math.isfinite(value):
            parser.error(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    # Mirrors runtime.clips.MAX_TARGET_FPS (not imported: argument errors must work without numpy/OpenCV).
    if args.target_fps is not None and args.target_fps > MAX_TARGET_FPS:
        parser.error(f"--target-fps must be at most {MAX_TARGET_FPS:g} (above the camera's rate every frame is "
                     f"taken anyway), got {args.target_fps:g}")
    if args.frame_stride is not None and args.target_fps is not None:
        parser.error("--frame-stride and --target-fps both given: sample by one of them (every n-th frame, "
                     "or by timestamp)")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        parser.error(f"--metrics-port must be 1..65535, got {args.metrics_port}")
    if (args.backend == "triton") != (args.server is not None):
        parser.error("--backend triton and --server URL go together, e.g. --backend triton --server grpc://HOST:8001")
    if args.server_model is not None and args.backend != "triton":
        parser.error("--server-model applies to --backend triton")
    if args.backend == "triton" and (args.prompts or args.prompt or args.precision != "fp32" or args.threads
                                     or args.device):
        parser.error("--backend triton runs the served model: --prompts/--prompt/--precision/--threads/--device "
                     "do not apply")
    if not args.server_timeout > 0:
        parser.error(f"--server-timeout must be > 0, got {args.server_timeout}")


class _Printer:
    """Human-readable lines: one per result, events marked."""

    def on_frame(self, stream_id, frame):
        pass

    def on_result(self, r):
        events = "".join(f" [{e.kind} {e.label}]" for e in r.events)
        print(f"{r.stream_id} #{r.window} frame {r.newest_index}: {r.label} {r.score:.2f}  latency {r.latency_ms:.0f} ms"
              f"{events}", flush=True)

    def on_stats(self, streams, sources):
        pass

    def close(self):
        pass


def read_prompts(path: str | None, extra: list[str] | None) -> list[str] | None:
    """Prompts from a file (one per line, # comments) and/or --prompt; None when neither is given."""
    from runtime.cli.errors import OptionValueError

    prompts = []
    if path is not None:
        with open(path, encoding="utf-8") as handle:
            prompts = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
        if not prompts:
            raise OptionValueError(f"--prompts {path}: no prompts in the file (one per line; # starts a comment)")
    prompts += list(extra or [])
    return prompts or None


def _config(args):
    from runtime.postprocess import PostprocessConfig
    from runtime.recognizer import RecognizerConfig

    # None: the recognizer takes the artifact's (runtime.postprocess.default_background).
    background = tuple(args.background) if args.background else None
    post = PostprocessConfig(temperature=args.temperature or 1.0, top_k=args.top_k, smoothing=args.smoothing,
                             ema_alpha=args.ema_alpha, mean_windows=args.mean_windows, on_threshold=args.on_threshold,
                             off_threshold=args.off_threshold, unknown_below=args.unknown_below, background=background)
    return RecognizerConfig(frame_stride=args.frame_stride, target_fps=args.target_fps, window_stride=args.window_stride,
                            max_batch=args.max_batch, postprocess=post.check())


def _sinks(args, stream_ids):
    from runtime.outputs import JsonLinesSink, OverlayWriter, WindowSink
    from runtime.outputs.accuracy import GroundTruthRecorder

    sinks, window = [], None
    if args.jsonl:
        sinks.append(JsonLinesSink(args.jsonl))
    if not args.quiet and args.jsonl != "-":
        sinks.append(_Printer())
    if args.overlay:
        sinks.append(OverlayWriter(args.overlay, args.overlay_fps, streams=stream_ids))
    if args.show:
        window = WindowSink()
        sinks.append(window)
    if args.metrics_port is not None:
        from runtime.outputs import MetricsSink

        sinks.append(MetricsSink(args.metrics_port))
    recorder = GroundTruthRecorder()
    sinks.append(recorder)
    return sinks, window, recorder


def _ground_truth(runner, recorder, rec):
    """Accuracy for every stream whose source knows its ground truth (the synthetic world), else nothing;
    the recognizer's background labels are left out of the onsets."""
    from runtime.outputs.accuracy import format_accuracy

    scores, goal = [], None
    for stream_id, source in runner.sources.items():
        truth = source.ground_truth()
        if truth is None:
            continue
        scores.append(recorder.score(stream_id, truth, rec.background))
        state = rec.streams.get(stream_id)
        times = sorted(state.stats.inference_ms) if state is not None else []
        inference = times[len(times) // 2] / 1000 if times else 0.0
        span = rec.manifest.input.frames * (1.0 / rec.target_fps if rec.target_fps else rec.frame_stride / truth.fps)
        goal = span / 2 + inference
    return scores, (format_accuracy(scores, goal) if scores else None), goal


def run(args) -> int:
    from runtime.api import RunLimits, StreamRunner
    from runtime.artifact import load_artifact
    from runtime.outputs.pipes import EXIT_BROKEN_PIPE, is_broken_pipe, silence_stdout
    from runtime.outputs.summary import format_summary
    from runtime.recognizer import inference_failed

    if args.summary_json:
        check_writable(args.summary_json, "--summary-json")  # now, not after a long run
    artifact = load_artifact(args.artifact)
    prompts = read_prompts(args.prompts, args.prompt)
    config = _config(args)
    ids = [spec if args.source.count(spec) == 1 else f"{spec}#{i}" for i, spec in enumerate(args.source)]
    sinks, window, recorder = _sinks(args, ids)
    limits = RunLimits(args.seconds, args.max_frames)
    remote = _open_remote(args, artifact)
    try:
        runner = StreamRunner(artifact, args.source, backend=args.backend, threads=args.threads, mode=args.mode,
                              config=config, sinks=sinks, limits=limits, precision=args.precision, prompts=prompts,
                              backend_object=remote, device=args.device, build_engine=args.build_engine)
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    with runner, (remote or contextlib.nullcontext()):
        _say(f"streaming {len(ids)} source(s) through {runner.backend.name} "
             f"({', '.join(getattr(runner.backend, 'providers', []) or [])}); Ctrl-C stops")
        report = runner.run(tick=window.pump if window is not None else None)
        summary = format_summary(report.summaries, report.elapsed_s)
        if report.interrupted:
            summary = "interrupted; " + summary
        _say(summary)
        if remote is not None:
            stats = remote.stats
            _say(f"triton: {stats.calls} calls answered, {stats.failed_calls} failed ({stats.failed_windows} windows), "
                 f"{stats.reconnects} reconnects")
        scores, text, goal = _ground_truth(runner, recorder, runner.recognizer)
        if text:
            _say(text)
    closed_pipe = is_broken_pipe(report.failure)
    failure = None if report.failure is None or closed_pipe else inference_failed(report.failure, report.failure_stage)
    if args.summary_json:
        data = {"elapsed_s": report.elapsed_s, "interrupted": report.interrupted,
                "streams": [s.as_dict() for s in report.summaries],
                "accuracy": [s.as_dict() for s in scores], "delay_goal_s": goal,
                "errors": {k: str(v) for k, v in report.errors.items()},
                "failure": None if failure is None else str(failure), "output_closed": closed_pipe}
        if remote is not None:
            data["triton"] = {"server": remote.url, "model": remote.model, **remote.stats.__dict__}
        with open(args.summary_json, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, default=_jsonable)
    if closed_pipe:  # the reader has what it wanted (`| head -1`): no error, as Unix tools do
        silence_stdout()
        return EXIT_BROKEN_PIPE
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
    for stream_id, error in report.errors.items():
        print(f"error: source {stream_id} failed: {error}", file=sys.stderr)
    unusable = [s for s in report.summaries if s.frames and s.bad_frames == s.frames]
    for s in unusable:  # not one frame could be used: an input error, whatever else happened
        reason = max(s.rejected, key=s.rejected.get) if s.rejected else "unusable frames"
        print(f"error: source {s.stream_id}: all {s.frames} frames were refused ({reason})", file=sys.stderr)
    return 1 if report.errors or failure is not None or unusable else 0


def _open_remote(args, artifact):
    """--backend triton: the served model, checked against the artifact; None for the in-process backends."""
    if args.backend != "triton":
        return None
    from runtime.model import open_model

    return open_model(artifact, "triton", server=args.server, server_model=args.server_model,
                      server_timeout=args.server_timeout).backend


def _say(text: str) -> None:
    """A line on stderr; a reader that closed it (`2>&1 | head -1`) must not cost the summary JSON."""
    try:
        print(text, file=sys.stderr, flush=True)
    except BrokenPipeError:
        pass


def check_writable(path: str, option: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    import os

    from runtime.cli.errors import OptionValueError

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OptionValueError(f"{option} {path} is a folder; give a file path, e.g. {os.path.join(path, 'summary.json')}")
    if not os.path.isdir(folder):
        raise OptionValueError(f"{option} {path}: folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OptionValueError(f"{option} {path} is not writable (permission denied); choose a writable path")


def _jsonable(value):
    if hasattr(value, "__dict__"):
        return value.__dict__
    return str(value)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    if not args.verbose:
        from runtime.common.quiet import quiet_third_party_logs

        quiet_third_party_logs()
    start = time.monotonic()
    # Ctrl-C before or after the run loop (which handles its own, exit 0 with the summary)
    return run_main(run, args, interrupted=lambda: f"interrupted after {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
