"""The bundled model on OpenVINO against ONNX Runtime, at every precision, on 330 held-out clips.

Exported like tests/models/test_bundled_model.py does; INT8 calibrated by the calibration step
(model.int8.onnx, Q/DQ). Thresholds (see test_backend_openvino.py for why per precision): top-1
identical to ONNX Runtime at the same precision (BF16: to ORT FP32), cosine of the logits >=
0.99999 FP32, >= 0.999 BF16 and INT8; INT8 agrees with FP32 on >= 97% of the clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="needs the [openvino] extra (pip install 'tubelet[openvino]')")
pytest.importorskip("torch", reason="exporting the bundled model needs the [export] extra")
pytest.importorskip("onnxruntime.quantization", reason="INT8 calibration needs onnxruntime's quantization tools")
pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parents[2]
COSINE = {"fp32": 0.99999, "bf16": 0.999, "int8": 0.999}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    from calibration.int8 import quantize_artifact
    from export.pipeline import ExportOptions, build_artifact
    from runtime.artifact import load_artifact

    out = tmp_path_factory.mktemp("bundled-ov") / "videomae-motion"
    build_artifact(ExportOptions(model=str(REPO / "models" / "videomae-motion"), output=out), log=lambda _: None)
    quantize_artifact(out, "synthetic://?clips&size=96x128", clips=48)
    return load_artifact(out)


@pytest.fixture(scope="module")
def heldout(bundled):
    from runtime.preprocess import Preprocessor
    from runtime.world import make_clips

    m = bundled.manifest
    clips, labels = make_clips(30, num_frames=m.input.frames, height=96, width=128, seed=515151,
                               fps=m.sampling.target_fps)
    pre = Preprocessor(m.preprocessing)
    return np.stack([np.stack([pre(frame) for frame in clip]) for clip in clips]), np.asarray(labels)


def _logits(backend, batch):
    return np.concatenate([backend.infer({"pixel_values": batch[i:i + 32]})["logits"] for i in range(0, len(batch), 32)])


def _cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_bundled_model_same_answers_as_onnxruntime(bundled, heldout, precision):
    import openvino

    from runtime.backends import open_backend

    if precision == "bf16" and "BF16" not in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU does not report BF16 (AVX-512 BF16 / AMX)")
    clips, labels = heldout
    with open_backend(bundled, "cpu", threads=2, precision="fp32") as ort:
        fp32 = _logits(ort, clips)
    with open_backend(bundled, "openvino", threads=2, precision=precision) as ov:
        got = _logits(ov, clips)
    if precision == "int8":
        with open_backend(bundled, "cpu", threads=2, precision="int8") as ort8:
            reference = _logits(ort8, clips)
        # The Q/DQ model itself (either engine) agrees with FP32 on 98.5% of these clips (5 of 330,
        # docs/CPU.md), under the 99% goal: bounded here so a broken INT8 path fails, not tuned to it.
        assert float((got.argmax(1) == fp32.argmax(1)).mean()) >= 0.97
    else:
        reference = fp32
    np.testing.assert_array_equal(got.argmax(1), reference.argmax(1))
    assert _cosines(got, reference).min() >= COSINE[precision]
    assert float((got.argmax(1) == labels).mean()) >= 0.95  # still the bundled model's accuracy


def test_bundled_model_streams_on_openvino_like_onnxruntime(bundled):
    from runtime.api import RunLimits, StreamRunner
    from runtime.outputs.base import Sink

    def run(backend):
        results = []

        class Collect(Sink):
            def on_result(self, result):
                results.append(result)

        with StreamRunner(bundled, ["synthetic://?realtime=false&seed=11"], backend=backend, threads=2, mode="offline",
                          sinks=[Collect()], limits=RunLimits(max_frames=240)) as runner:
            runner.run()
        return results

    ov, ort = run("openvino"), run("cpu")
    assert len(ov) == len(ort) > 20
    assert [r.raw_label for r in ov] == [r.raw_label for r in ort]
    np.testing.assert_allclose([r.score for r in ov], [r.score for r in ort], atol=1e-4)
