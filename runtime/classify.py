"""Classify a video file with sliding windows, from an artifact alone (no torch).

`python -m runtime.classify --artifact build/videomae-motion --video clip.mp4` prints one JSON line
per window: the seed's `classify_video`, but through the exported artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from runtime.artifact import Artifact, ArtifactError, load_artifact
from runtime.backends import Backend, BackendError, open_backend
from runtime.clips import Clip, ClipBuffer
from runtime.postprocess import softmax, top_k
from runtime.preprocess import Preprocessor
from runtime.sources.base import Frame


@dataclass
class WindowResult:
    stream_id: str
    window: int
    label: str
    score: float
    top_k: list[tuple[str, float]]
    first_index: int
    newest_index: int
    first_timestamp: float
    newest_timestamp: float
    inference_ms: float

    def as_json(self) -> str:
        data = dict(self.__dict__)
        data["top_k"] = [[label, round(score, 5)] for label, score in self.top_k]
        data["score"] = round(self.score, 5)
        data["inference_ms"] = round(self.inference_ms, 3)
        return json.dumps(data)


def classify_frames(artifact: Artifact, backend: Backend, frames: Iterable[Frame], k: int = 5,
                    window_stride: int | None = None) -> Iterator[WindowResult]:
    """Every window of every frame sequence is classified (offline mode: nothing dropped)."""
    m = artifact.manifest
    preprocess = Preprocessor(m.preprocessing)
    buffer = ClipBuffer(m.input.frames, window_stride or m.sampling.window_stride, m.input.layout,
                        m.sampling.frame_stride, m.sampling.target_fps)
    for frame in frames:
        clip = buffer.offer(frame.image, frame.timestamp, frame.index, preprocess)
        if clip is not None:
            yield _classify(artifact, backend, clip, frame.stream_id, k)


def _classify(artifact: Artifact, backend: Backend, clip: Clip, stream_id: str, k: int) -> WindowResult:
    m = artifact.manifest
    start = time.perf_counter()
    logits = backend.infer({m.input.name: clip.array[None]})[m.outputs[0]][0]
    elapsed = (time.perf_counter() - start) * 1000.0
    scores = softmax(logits, m.temperature)
    best = top_k(scores, m.labels, k)
    return WindowResult(stream_id, clip.window_index, best[0][0], best[0][1], best, clip.first_index,
                        clip.newest_index, clip.first_timestamp, clip.newest_timestamp, elapsed)


def main(argv=None) -> int:
    from runtime.sources.video import SourceError, read_video_file

    parser = argparse.ArgumentParser(prog="python -m runtime.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    parser.add_argument("--video", required=True, nargs="+", help="video file(s) to classify")
    parser.add_argument("--backend", default="auto", help="auto | cpu | cuda | tensorrt-ep (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--window-stride", type=int, default=None, help="override the manifest's window stride")
    args = parser.parse_args(argv)
    try:
        artifact = load_artifact(args.artifact)
        with open_backend(artifact, args.backend, threads=args.threads) as backend:
            for path in args.video:
                count = 0
                for result in classify_frames(artifact, backend, read_video_file(path), args.top_k, args.window_stride):
                    print(result.as_json(), flush=True)
                    count += 1
                if count == 0:
                    print(f"warning: {path} is shorter than one clip ({artifact.manifest.input.frames} sampled frames): "
                          "no window to classify", file=sys.stderr)
    except (ArtifactError, BackendError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
