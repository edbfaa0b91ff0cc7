"""TensorRT readiness verdicts on small graphs that pass and fail for known reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the readiness check reads ONNX graphs")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from export.readiness import OPS_FILE, ReadinessError, check_readiness, supported_ops  # noqa: E402


def _save(tmp_path, nodes, opset=17, inputs=None, initializers=(), domains=()):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def _vit_like(tmp_path, opset=17):
    weight = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
    scale = numpy_helper.from_array(np.ones(8, np.float32), "g")
    nodes = [helper.make_node("LayerNormalization", ["x", "g"], ["n"], axis=-1),
             helper.make_node("MatMul", ["n", "w"], ["m"]), helper.make_node("Softmax", ["m"], ["s"], axis=-1),
             helper.make_node("Erf", ["s"], ["y"])]
    return _save(tmp_path, nodes, opset, initializers=[weight, scale])


def test_data_file_names_its_sources_and_versions():
    data = json.loads(OPS_FILE.read_text())
    for version, spec in data["versions"].items():
        assert spec["source"].startswith("https://") and spec["derivation"]
        assert "LayerNormalization" in spec["supported"] and "MatMul" in spec["supported"]
        assert not set(spec["supported"]) & set(spec["unsupported"])
    assert supported_ops()["8.6"]["opset_max"] == 17
    assert list(data["versions"]) == ["8.6", "10.3", "10.15", "11.4"]  # JetPack 6.0, JetPack 6.1/6.2, 10.x, 11.x
    assert supported_ops()["10.3"]["opset_max"] == 20 and supported_ops()["11.4"]["opset_max"] == 24


def test_opset_21_is_too_new_for_jetpack_6_1_but_not_for_desktop_10_and_11(tmp_path):
    report = check_readiness(_vit_like(tmp_path, opset=21))
    assert "opset 21 outside the parser's range 9..20" in report.versions["10.3"].problems[0]
    assert report.versions["10.15"].passed and report.versions["11.4"].passed


def test_swish_imports_on_11_only(tmp_path):
    path = _save(tmp_path, [helper.make_node("Swish", ["x"], ["y"])], opset=24)
    report = check_readiness(path, versions=("10.15", "11.4"), target="11.4")
    assert report.versions["11.4"].passed and report.versions["10.15"].unsupported_ops == {"Swish": 1}


def test_vit_graph_at_opset_17_is_ready_for_86_and_10(tmp_path):
    report = check_readiness(_vit_like(tmp_path))
    assert report.passed and report.target == "8.6"
    assert all(v.passed for v in report.versions.values())
    assert report.ops == {"Erf": 1, "LayerNormalization": 1, "MatMul": 1, "Softmax": 1}
    assert report.dynamic_axes == {"x": [0]}


def test_opset_18_is_not_ready_for_86_but_is_for_10(tmp_path):
    report = check_readiness(_vit_like(tmp_path, opset=18))
    assert not report.passed
    assert "opset 18 outside" in report.versions["8.6"].problems[0]
    assert report.versions["10.15"].passed


def test_unsupported_and_custom_ops_are_named(tmp_path):
    nodes = [helper.make_node("Unique", ["x"], ["u"]), helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")]
    report = check_readiness(_save(tmp_path, nodes, domains=["com.microsoft"]))
    verdict = report.versions["10.15"]
    assert not verdict.passed
    assert verdict.unsupported_ops == {"Unique": 1, "com.microsoft::FastGelu": 1}
    assert any("custom-domain" in p for p in verdict.problems)


def test_only_the_batch_axis_may_be_dynamic(tmp_path):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "frames", 8])]
    report = check_readiness(_save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], inputs=inputs))
    assert report.dynamic_axes == {"x": [0, 1]}
    assert not report.passed and "only the batch axis" in " ".join(report.versions["8.6"].problems)


def test_qdq_with_nonzero_zero_point_is_refused(tmp_path):
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(3, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    report = check_readiness(_save(tmp_path, nodes, initializers=inits))
    assert not report.passed and "zero point is non-zero" in " ".join(report.versions["8.6"].problems)
    inits[1] = numpy_helper.from_array(np.array(0, np.int8), "z")
    assert check_readiness(_save(tmp_path, nodes, initializers=inits)).passed


def test_spelled_out_norm_parses_but_is_flagged(tmp_path):
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [helper.make_node("Pow", ["x", "two"], ["p"]), helper.make_node("ReduceMean", ["p"], ["y"], axes=[-1])]
    report = check_readiness(_save(tmp_path, nodes, initializers=[two]))
    assert report.passed and "opset >= 17" in report.warnings[0]


def test_strict_mode_raises_and_unknown_versions_are_rejected(tmp_path):
    path = _save(tmp_path, [helper.make_node("Unique", ["x"], ["y"])])
    with pytest.raises(ReadinessError, match="Unique"):
        check_readiness(path, strict=True)
    with pytest.raises(ValueError, match="known versions"):
        check_readiness(path, versions=("7.0",))


@pytest.mark.export
def test_every_export_records_the_verdict(tiny_artifact_session):
    from runtime.artifact import load_artifact

    verdict = load_artifact(tiny_artifact_session).manifest.validation["tensorrt_readiness"]
    assert verdict["versions"]["10.15"]["passed"] is True
    assert "LayerNormalization" in verdict["ops"] and verdict["dynamic_axes"] == {"pixel_values": [0]}
