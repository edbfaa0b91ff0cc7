"""The bundled model, through the exported ONNX and the runtime's own preprocessing.

Figures in models/videomae-motion/TRAINING.md (97.5% on 550 held-out clips, 1.6% twin confusion).
Here 330 other held-out clips, rendered at camera size (128x96) and resized by the runtime's own
preprocessing, go through the exported ONNX: the issue's goal (>= 95%) is the bound.
"""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="exporting the bundled model needs the [export] extra")
pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "videomae-motion"


@pytest.fixture(scope="module")
def bundled_artifact(tmp_path_factory):
    from export.pipeline import ExportOptions, build_artifact
    from runtime.artifact import load_artifact

    out = tmp_path_factory.mktemp("bundled") / "videomae-motion"
    return load_artifact(build_artifact(ExportOptions(model=str(MODEL), output=out), log=lambda _: None))


def test_held_out_accuracy_and_twins_through_onnx(bundled_artifact):
    from runtime.backends import open_backend
    from runtime.preprocess import Preprocessor
    from runtime.world import ACTIONS, REVERSED, make_clips

    m = bundled_artifact.manifest
    assert m.labels == list(ACTIONS)
    assert m.sampling.target_fps == 7.5  # from the checkpoint's sampling.json
    clips, labels = make_clips(30, num_frames=m.input.frames, height=96, width=128, seed=424242,
                               fps=m.sampling.target_fps)
    pre = Preprocessor(m.preprocessing)
    batch = np.stack([np.stack([pre(frame) for frame in clip]) for clip in clips])
    with open_backend(bundled_artifact, "cpu", threads=2) as backend:
        logits = np.concatenate([backend.infer({"pixel_values": batch[i:i + 22]})["logits"]
                                 for i in range(0, len(batch), 22)])
    predicted = logits.argmax(-1)
    accuracy = float((predicted == labels).mean())
    twins = [i for i, label in enumerate(labels) if ACTIONS[label] != "no action"]
    confused = np.mean([ACTIONS[predicted[i]] == REVERSED[ACTIONS[labels[i]]] for i in twins])
    assert accuracy >= 0.95, accuracy  # chance is 1/11
    assert confused <= 0.03, confused  # a model blind to time order would confuse about half
    print(f"held-out through ONNX: accuracy {accuracy:.1%}, twin confusion {confused:.1%}")
