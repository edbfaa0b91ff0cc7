"""OpenVINO through the streaming runtime: StreamRunner and the stream CLI give ONNX Runtime's answers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="needs the [openvino] extra (pip install 'tubelet[openvino]')")

from runtime.api import StreamRunner  # noqa: E402
from runtime.outputs.base import Sink  # noqa: E402
from runtime.recognizer import RecognizerConfig  # noqa: E402
from runtime.sources.base import Frame  # noqa: E402
from tests.fixtures.mlp_artifact import add_int8_model, clips, make_mlp_artifact  # noqa: E402


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    folder = make_mlp_artifact(tmp_path_factory.mktemp("ovs") / "mlp")
    return add_int8_model(folder, clips(32, seed=7))


class Collect(Sink):
    def __init__(self):
        self.results = []

    def on_result(self, result):
        self.results.append(result)


def _frames(stream_id, seed, n=14):
    rng = np.random.default_rng(seed)
    return [Frame(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), i / 10, i, stream_id) for i in range(n)]


def _stream(folder, backend, precision="fp32", **options):
    from runtime.sources import IterableSource

    sink = Collect()
    sources = [IterableSource(_frames(sid, seed), sid, stream_id=sid) for sid, seed in (("a", 1), ("b", 2), ("c", 3))]
    with StreamRunner(str(folder), sources, backend=backend, threads=1, mode="offline", precision=precision,
                      config=RecognizerConfig(max_batch=4), sinks=[sink], **options) as runner:
        name = runner.backend.name
        runner.run()
    return name, sorted(sink.results, key=lambda r: (r.stream_id, r.window))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_stream_runner_on_openvino_gives_onnxruntime_results(mlp, precision):
    name, ov = _stream(mlp, "openvino", precision, device="CPU")
    _, ort = _stream(mlp, "cpu", precision)
    assert name == "openvino" and len(ov) == len(ort) == 3 * 11
    assert max(r.batch for r in ov) > 1  # windows of several streams went in one call
    for a, b in zip(ov, ort):
        assert (a.stream_id, a.window, a.raw_label) == (b.stream_id, b.window, b.raw_label)
        np.testing.assert_allclose([s for _, s in a.top_k], [s for _, s in b.top_k], atol=1e-4)


def test_stream_runner_default_backend_on_a_cpu_machine_is_openvino(mlp, monkeypatch):
    import onnxruntime

    from runtime.backends import openvino

    monkeypatch.setattr(openvino, "SMALL_MODEL_BYTES", 0)  # the test graph is tiny; treat it as a real model

    if {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers()):
        pytest.skip("this onnxruntime has an NVIDIA provider: auto stays on ONNX Runtime")
    name, results = _stream(mlp, "auto")
    assert name == "openvino" and results


def test_device_is_refused_for_a_video_text_artifact(tmp_path):
    pytest.importorskip("tokenizers", reason="the video-text runtime needs the [videotext] extra (tokenizers)")
    from runtime.model import ModelError, open_model
    from tests.fixtures.videotext_toy import make_toy_videotext

    toy = make_toy_videotext(tmp_path / "toy")
    with pytest.raises(ModelError, match="device='GPU'.* video_text artifact, which runs on ONNX Runtime"):
        open_model(str(toy), "auto", device="GPU")


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "runtime.stream", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_stream_cli_backend_openvino_same_results_as_onnxruntime(mlp, tmp_path):
    import json

    import openvino

    source = "synthetic://?realtime=false&width=64&height=48&seed=3"
    rows = {}
    bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    for name, extra in (("ort", ["--backend", "cpu"]), ("ov", ["--backend", "openvino", "--device", "CPU"]),
                        ("ov-int8", ["--backend", "openvino", "--precision", "int8"]),
                        ("ort-int8", ["--backend", "cpu", "--precision", "int8"]))\
            + ((("ov-bf16", ["--backend", "openvino", "--precision", "bf16"]),) if bf16 else ()):
        run = _cli("--artifact", mlp, "--source", source, "--max-frames", "40", "--jsonl", "-", "--threads", "1", *extra)
        assert run.returncode == 0, run.stderr
        rows[name] = [json.loads(line) for line in run.stdout.splitlines()]
        assert ("through openvino (OpenVINO" in run.stderr) == name.startswith("ov"), run.stderr
    assert len(rows["ort"]) == 37
    for a, b in [("ov", "ort"), ("ov-int8", "ort-int8")] + ([("ov-bf16", "ort")] if bf16 else []):
        assert [r["window"] for r in rows[a]] == [r["window"] for r in rows[b]]
        scores = [[s for _, s in r["top_k"]] for r in rows[a]], [[s for _, s in r["top_k"]] for r in rows[b]]
        np.testing.assert_allclose(*scores, atol=1e-4 if a != "ov-bf16" else 2e-2)


def test_stream_cli_refuses_an_absent_device_in_one_line(mlp):
    import openvino

    if "NPU" in openvino.Core().available_devices:
        pytest.skip("this machine has an NPU")
    run = _cli("--artifact", mlp, "--source", "synthetic://?realtime=false", "--backend", "openvino", "--device", "NPU")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "error: OpenVINO device NPU is not present here" in run.stderr and "--device CPU" in run.stderr
