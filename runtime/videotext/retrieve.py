"""Video-text retrieval, the seed's exercise: embed clips and texts, print the similarity matrix.

`python -m runtime.videotext.retrieve --artifact build/videotext-motion` renders 5 clips of the synthetic world
(moving left, moving up, approaching, rotating clockwise, appearing), embeds them and 10 texts (a
description of each clip and of its time-reversed twin, worded unlike any training caption), prints
the clips × texts cosine matrix, saves it as a heatmap PNG, and says whether each clip found its
own description. Clips from video files (--source) and texts from a file (--texts) work the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from runtime.artifact import Artifact
from runtime.cli.args import add_backend, add_renamed, add_source
from runtime.cli.main import run_main
from runtime.preprocess import Preprocessor
from runtime.sources.base import SourceError

# (clip action, its description); the second half describes each clip's time-reversed twin.
SEED_CLIPS = ("moving left", "moving up", "approaching", "rotating clockwise", "appearing")
DESCRIPTIONS = {
    "moving left": "an object heading towards the left side", "moving right": "an object heading towards the right side",
    "moving up": "an object rising towards the top", "moving down": "an object sinking towards the bottom",
    "approaching": "an object drawing nearer", "receding": "an object drifting further off",
    "rotating clockwise": "an object twirling clockwise", "rotating anticlockwise": "an object twirling counter-clockwise",
    "appearing": "an object gradually becoming visible", "disappearing": "an object vanishing from view",
}
TWINS = ("moving right", "moving down", "receding", "rotating anticlockwise", "disappearing")


def synthetic_clips(artifact: Artifact, seed: int) -> tuple[np.ndarray, list[str]]:
    """One clip per SEED_CLIPS action, rendered and preprocessed exactly as the runtime would."""
    from runtime.world import render_clip

    spec = artifact.manifest.input
    pre = Preprocessor(artifact.manifest.preprocessing)
    clips = []
    for index, action in enumerate(SEED_CLIPS):
        frames = render_clip(action, spec.frames, spec.height, spec.width, seed=seed + index)
        clips.append(_layout(np.stack([pre(f) for f in frames]), spec.layout))
    return np.stack(clips), list(SEED_CLIPS)


def video_clips(artifact: Artifact, paths: list[str]) -> tuple[np.ndarray, list[str]]:
    """The first full window of each video file."""
    from runtime.clips import ClipBuffer
    from runtime.sources.video import read_video_file

    m = artifact.manifest
    pre = Preprocessor(m.preprocessing)
    clips = []
    for path in paths:
        buffer = ClipBuffer(m.input.frames, 1, m.input.layout, m.sampling.frame_stride, m.sampling.target_fps)
        clip = next((c for c in (buffer.offer(f.image, f.timestamp, f.index, pre) for f in read_video_file(path))
                     if c is not None), None)
        if clip is None:
            raise SourceError(f"{path} is shorter than one clip ({m.input.frames} sampled frames)")
        clips.append(clip.array)
    return np.stack(clips), [Path(p).name for p in paths]


def _layout(tchw: np.ndarray, layout: str) -> np.ndarray:
    return tchw if layout == "NTCHW" else np.ascontiguousarray(tchw.transpose(1, 0, 2, 3))


def format_matrix(sim: np.ndarray, rows: list[str], texts: list[str]) -> str:
    lines = ["texts:"] + [f"  T{j}: {t}" for j, t in enumerate(texts)]
    lines.append(f"{'clip':<24}" + "".join(f"{'T' + str(j):>7}" for j in range(len(texts))))
    for name, row in zip(rows, sim):
        best = int(row.argmax())
        cells = "".join(f"{v:>6.3f}{'*' if j == best else ' '}" for j, v in enumerate(row))
        lines.append(f"{name[:23]:<24}{cells}")
    return "\n".join(lines)


def save_heatmap(sim: np.ndarray, rows: list[str], texts: list[str], path: Path, cell: int = 56) -> Path:
    """The matrix as a PNG (OpenCV only): a colour per cell, its value, clip and text labels."""
    from runtime.common.cv import cv2

    left, top = 190, 40
    height, width = top + cell * len(rows) + 10 + 18 * len(texts), left + cell * len(texts) + 10
    image = np.full((height, width, 3), 255, np.uint8)
    low, high = float(sim.min()), float(sim.max())
    scaled = ((sim - low) / max(high - low, 1e-6) * 255).astype(np.uint8)
    colours = cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, name in enumerate(rows):
        y = top + i * cell
        cv2.putText(image, name[:26], (4, y + cell // 2 + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(len(texts)):
            x = left + j * cell
            image[y:y + cell - 2, x:x + cell - 2] = colours[i, j]
            shade = (0, 0, 0) if scaled[i, j] > 140 else (255, 255, 255)
            cv2.putText(image, f"{sim[i, j]:.2f}", (x + 8, y + cell // 2 + 4), font, 0.4, shade, 1, cv2.LINE_AA)
        j = int(sim[i].argmax())
        cv2.rectangle(image, (left + j * cell, y), (left + j * cell + cell - 3, y + cell - 3), (0, 0, 255), 2)
    for j, text in enumerate(texts):
        cv2.putText(image, f"T{j}", (left + j * cell + 16, top - 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, f"T{j}: {text[:70]}", (4, top + cell * len(rows) + 16 + 18 * j), font, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.videotext.retrieve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m runtime.videotext.retrieve --artifact build/videotext-motion\n"
               "  python -m runtime.videotext.retrieve --artifact build/videotext-motion --out sim.png --seed 7\n"
               "  python -m runtime.videotext.retrieve --artifact build/xclip --source a.mp4 b.mp4 --texts texts.txt")
    parser.add_argument("--artifact", required=True, help="a video_text artifact folder (export/build_engine.py)")
    add_source(parser, required=False, metavar="FILE", several=True,
               help="video files to use as clips (default: 5 synthetic clips)")
    add_renamed(parser, "--video", "--source", example="--source a.mp4 b.mp4")
    parser.add_argument("--texts", type=Path, help="file with one text per line (default: the 10 seed descriptions)")
    parser.add_argument("--seed", type=int, default=100, help="render seed of the synthetic clips (default 100)")
    parser.add_argument("--out", type=Path, default=Path("retrieval.png"), help="heatmap PNG (default retrieval.png)")
    add_backend(parser, default="cpu", help="ONNX Runtime device: cpu | cuda | tensorrt | auto (default cpu)")
    return parser


def main(argv=None) -> int:
    return run_main(run, build_parser().parse_args(argv))


def run(args) -> int:
    from runtime.videotext.model import VideoTextModel, retrieve

    with VideoTextModel(args.artifact, device=args.backend) as model:
        if args.source:
            clips, rows = video_clips(model.artifact, args.source)
        else:
            clips, rows = synthetic_clips(model.artifact, args.seed)
        texts = [DESCRIPTIONS[a] for a in SEED_CLIPS] + [DESCRIPTIONS[a] for a in TWINS]
        if args.texts:
            texts = [t.strip() for t in args.texts.read_text(encoding="utf-8").splitlines() if t.strip()]
        result = retrieve(model, clips, texts)
    print(format_matrix(result.similarity, rows, texts))
    save_heatmap(result.similarity, rows, texts, args.out)
    if not args.source and not args.texts:  # ground truth known: clip i is described by text i
        found = result.best_text == np.arange(len(rows))
        for i, name in enumerate(rows):
            print(f"{name:<24} → T{result.best_text[i]} {'found its description' if found[i] else 'MISSED (wanted T%d)' % i}")
        print(f"{int(found.sum())}/{len(rows)} clips found their description")
    print(f"heatmap written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
