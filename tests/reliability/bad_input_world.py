"""The inputs the bad-input cases point at, built once per test module, and the manifest mutations.

`{in}` in a case's argv is this folder: tiny artifacts (a torch-free ONNX classifier, a toy
video-text artifact), real video files (OpenCV-written MJPG), odd paths (an empty folder, a text file
named .avi, a FIFO), prompt and label files, a tiny VideoMAE checkpoint and broken copies of it
(only with torch), and folder-per-label clips for temperature calibration.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path

from testbed.artifacts import make_onnx_artifact, moving_square_video
from tests.runtime.videotext_toy import make_toy_videotext

# Values a hostile or careless manifest edit puts in a field (the fuzzer's list, plus near misses).
ODD_VALUES = [None, True, 0, -1, 1, 2 ** 63, 1.5, 1e300, float("nan"), "", "x", "..", "/etc/passwd", "a\x00b",
              [], [1], ["a"], [0, 0, 0], [1, 8], {}, {"k": 1}, 100000, "logits", "abc"]


def build_inputs(root: Path, with_torch: bool) -> Path:
    inputs = root / "in"
    inputs.mkdir(parents=True)
    make_onnx_artifact(inputs / "art")
    make_toy_videotext(inputs / "vt")
    moving_square_video(inputs / "clip.avi", frames=16, size=(48, 64))
    moving_square_video(inputs / "short.avi", frames=3)
    moving_square_video(inputs / "slow.avi", frames=6, fps=0.5)
    (inputs / "text.avi").write_text("hello, not a video\n")
    (inputs / "empty-folder").mkdir()
    os.mkfifo(inputs / "fifo")
    (inputs / "prompts.txt").write_text("a red shape\na green shape\n")
    (inputs / "blank.txt").write_text("\n  \n\n")
    (inputs / "labels.txt").write_text("wave\npush\npull\n")
    for label in ("left", "right", "still"):  # temperature calibration: DIR/<label>/*.avi
        (inputs / "labelled" / label).mkdir(parents=True)
        shutil.copy(inputs / "clip.avi", inputs / "labelled" / label / "a.avi")
    (inputs / "cwd").mkdir()  # the working directory while cases run: must stay empty
    if with_torch:
        _checkpoints(inputs)
    return inputs


def _checkpoints(inputs: Path) -> None:
    from tests.conftest import save_tiny_videomae

    ckpt = save_tiny_videomae(inputs / "ckpt")
    bad_json = shutil.copytree(ckpt, inputs / "ckpt-bad-config")
    (bad_json / "config.json").write_text("{not json")
    truncated = shutil.copytree(ckpt, inputs / "ckpt-truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    no_processor = shutil.copytree(ckpt, inputs / "ckpt-no-processor")
    (no_processor / "preprocessor_config.json").unlink()


def mutated_manifest(source: Path, target: Path, seed: str) -> str:
    """Copy the artifact at source to target with 1-2 manifest values replaced; returns what changed."""
    shutil.copytree(source, target)
    path = target / "manifest.json"
    data = json.loads(path.read_text())
    rng = random.Random(seed)
    done = []
    for _ in range(rng.randint(1, 2)):
        node, where = data, []
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = rng.choice(keys)
            where.append(str(key))
            if isinstance(node[key], (dict, list)) and node[key] and rng.random() < 0.75:
                node = node[key]
                continue
            node[key] = copy.deepcopy(rng.choice(ODD_VALUES))
            done.append(f"{'.'.join(where)} = {node[key]!r}")
            break
    path.write_text(json.dumps(data))
    return "; ".join(done)


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
