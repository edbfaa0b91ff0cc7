"""Classify a video file with sliding windows, from an artifact alone (no torch).

`python -m runtime.classify --artifact build/videomae-motion --source clip.mp4` prints one JSON line
per window: the seed's `classify_video`, but through the exported artifact. Video-text artifacts
classify zero-shot over their label prompts. A video that gives no window gets a warning saying
why (too short for one clip at the model's sampling rate, frames refused, or clip restarts).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Iterable, Iterator

from runtime.artifact import Artifact
from runtime.backends import Backend
from runtime.cli.args import (
    add_backend,
    add_precision,
    add_renamed,
    add_source,
    add_threads,
    positive_int,
    positive_number,
)
from runtime.cli.main import run_main
from runtime.postprocess import PostprocessConfig
from runtime.recognizer import Recognizer, RecognizerConfig, Result
from runtime.sources.base import Frame


def classify_frames(artifact: Artifact, backend: Backend, frames: Iterable[Frame], k: int = 5,
                    window_stride: int | None = None, recognizer: Recognizer | None = None) -> Iterator[Result]:
    """Every window of every frame sequence is classified (offline mode: nothing dropped).

    The streaming recognizer's own path (same preprocessing, sampling and post-processing), run
    synchronously: each window is inferred as soon as it falls due. Pass `recognizer` to read its
    per-stream counters afterwards.
    """
    if recognizer is None:
        recognizer = Recognizer(artifact, backend, _config(k, window_stride))
    for frame in frames:
        pending = recognizer.prepare(frame)
        if pending is not None:
            yield from recognizer.run([pending])


def _config(k: int, window_stride: int | None) -> RecognizerConfig:
    return RecognizerConfig(mode="offline", window_stride=window_stride, max_batch=1,
                            postprocess=PostprocessConfig(top_k=k))


class _Timeline:
    """Counts the frames a file gave and the span of their timestamps, as they pass."""

    def __init__(self, frames: Iterable[Frame]):
        self.frames, self.count, self.first, self.last = frames, 0, None, None

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.frames:
            self.count += 1
            self.first = frame.timestamp if self.first is None else self.first
            self.last = frame.timestamp
            yield frame

    @property
    def fps(self) -> float | None:
        span = (self.last or 0.0) - (self.first or 0.0)
        return (self.count - 1) / span if self.count > 1 and span > 0 else None


def why_no_window(path: str, recognizer: Recognizer, timeline: _Timeline) -> str:
    """Why a file gave no window: the stream summary's reason (frames refused, clip restarts, or too
    short for one clip at the model's sampling rate), with the file's numbers beside it."""
    from runtime.outputs.summary import summarize, why_no_windows

    summaries = summarize({sid: state.stats for sid, state in recognizer.streams.items()})
    reason = why_no_windows(summaries[0]) if summaries else None
    if reason is None:
        return f"{path}: no frame reached the model: no window to classify"
    clip = recognizer.manifest.input.frames
    if recognizer.target_fps is not None:
        rate = f"{clip} frames sampled at {recognizer.target_fps:g} fps"
        video_fps = timeline.fps
        needed = math.floor((clip - 1) * video_fps / recognizer.target_fps + 1e-9) + 1 if video_fps else None
    else:
        rate = f"{clip} frames taken every {recognizer.frame_stride} frame(s)"
        needed = (clip - 1) * recognizer.frame_stride + 1
    span = f" over {timeline.last - timeline.first:.2f} s" if timeline.count > 1 else ""
    numbers = f"one clip is {rate}" + (f", {needed} frames of this video" if needed is not None else "")
    return f"{path}: {reason}; the file has {timeline.count} frame(s){span}, {numbers}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    add_source(parser, metavar="FILE", several=True, help="video file(s) to classify (several after one --source, "
                                                          "or --source repeated)")
    add_renamed(parser, "--video", "--source", example="--source clip.mp4")
    add_backend(parser)
    add_precision(parser, ("fp32", "fp16", "int8"), "fp32", help="which model of the artifact")
    add_threads(parser, help="ONNX Runtime intra-op threads")
    parser.add_argument("--server", default=None, help="--backend triton: the Triton server, grpc://HOST:PORT or http://HOST:PORT")
    parser.add_argument("--server-model", default=None, help="--backend triton: the model's name on the server "
                                                             "(default: the artifact folder's name)")
    parser.add_argument("--server-timeout", type=positive_number, default=5.0,
                        help="--backend triton: seconds per call (default 5)")
    parser.add_argument("--top-k", type=positive_int, default=5)
    parser.add_argument("--window-stride", type=positive_int, default=None, help="override the manifest's window stride")
    return parser


def run(args) -> int:
    from runtime.model import open_model
    from runtime.sources.video import read_video_file

    model = open_model(args.artifact, args.backend, threads=args.threads, precision=args.precision,
                       server=args.server, server_model=args.server_model, server_timeout=args.server_timeout)
    try:
        for path in args.source:
            recognizer = model.recognizer(_config(args.top_k, args.window_stride))
            timeline = _Timeline(read_video_file(path))
            count = 0
            for result in classify_frames(model.artifact, model.backend, timeline, recognizer=recognizer):
                print(json.dumps(result.as_dict()), flush=True)
                count += 1
            if count == 0:
                print(f"warning: {why_no_window(path, recognizer, timeline)}", file=sys.stderr)
    finally:
        model.close()
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())
