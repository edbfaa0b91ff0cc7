"""Classify a video file with sliding windows, from an artifact alone (no torch).

`python -m runtime.classify --artifact build/videomae-motion --video clip.mp4` prints one JSON line
per window: the seed's `classify_video`, but through the exported artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, Iterator

from runtime.artifact import Artifact, ArtifactError, load_artifact
from runtime.backends import Backend, BackendError, open_backend
from runtime.postprocess import PostprocessConfig
from runtime.recognizer import Recognizer, RecognizerConfig, Result
from runtime.sources.base import Frame

def classify_frames(artifact: Artifact, backend: Backend, frames: Iterable[Frame], k: int = 5,
                    window_stride: int | None = None) -> Iterator[Result]:
    """Every window of every frame sequence is classified (offline mode: nothing dropped).

    The streaming recognizer's own path (same preprocessing, sampling and post-processing), run
    synchronously: each window is inferred as soon as it falls due.
    """
    config = RecognizerConfig(mode="offline", window_stride=window_stride, max_batch=1,
                              postprocess=PostprocessConfig(top_k=k))
    recognizer = Recognizer(artifact, backend, config)
    for frame in frames:
        pending = recognizer.prepare(frame)
        if pending is not None:
            yield from recognizer.run([pending])


def main(argv=None) -> int:
    from runtime.sources.video import SourceError, read_video_file

    parser = argparse.ArgumentParser(prog="python -m runtime.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    parser.add_argument("--video", required=True, nargs="+", help="video file(s) to classify")
    parser.add_argument("--backend", default="auto", help="auto | tensorrt | onnxruntime | cpu | cuda | tensorrt-ep (default auto)")
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
                    print(json.dumps(result.as_dict()), flush=True)
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
