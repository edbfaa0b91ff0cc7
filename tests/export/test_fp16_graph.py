"""The FP16 mixed-precision ONNX: norms and softmax in FP32 through casts, FP32 I/O, gated by the comparator."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx to build test graphs")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from export.fp16_graph import Fp16GraphError, add_fp16_graph, fp16_name, gate_fp16_graph, write_fp16_graph  # noqa: E402


def _block(path, scale=1.0):
    """LayerNorm → MatMul → Softmax, batch dynamic: a transformer block's precision-sensitive ops."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((8, 8)) * scale).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], name="/ln", axis=-1),
         helper.make_node("MatMul", ["n", "w"], ["h"], name="/fc"),
         helper.make_node("Mul", ["h", "k"], ["hk"], name="/scale"),
         helper.make_node("Softmax", ["hk"], ["y"], name="/softmax", axis=-1)],
        "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 8])],
        initializer=[numpy_helper.from_array(np.ones(8, np.float32), "g"),
                     numpy_helper.from_array(np.zeros(8, np.float32), "b"), numpy_helper.from_array(w, "w"),
                     numpy_helper.from_array(np.array(scale, np.float32), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _feeds(n=3):
    rng = np.random.default_rng(1)
    return [{"x": rng.standard_normal((2, 4, 8)).astype(np.float32)} for _ in range(n)]


def test_norm_and_softmax_compute_in_fp32_between_fp16_weights_and_fp32_io(tmp_path):
    src = _block(tmp_path / "model.onnx")
    details = write_fp16_graph(src, tmp_path / "model.fp16.onnx")
    model = onnx.load(str(tmp_path / "model.fp16.onnx"))
    types = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert types == {"x": TensorProto.FLOAT, "y": TensorProto.FLOAT}
    weights = {t.name: t.data_type for t in model.graph.initializer}
    assert weights["w"] == TensorProto.FLOAT16  # the MatMul runs on FP16 weights
    assert weights["g"] == TensorProto.FLOAT and weights["b"] == TensorProto.FLOAT  # LayerNorm's stay FP32
    inferred = onnx.shape_inference.infer_shapes(model)
    elem = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    elem.update({v.name: v.type.tensor_type.elem_type for v in inferred.graph.input})
    by_name = {n.name: n for n in model.graph.node}
    assert elem[by_name["/ln"].input[0]] == TensorProto.FLOAT and elem[by_name["/softmax"].input[0]] == TensorProto.FLOAT
    assert elem[by_name["/fc"].input[0]] == TensorProto.FLOAT16
    assert details["fp32_nodes"] == ["/ln", "/softmax"] and details["input_shapes"] == {"x": ["batch", 4, 8]}


def test_keep_fp32_pattern_keeps_that_node_fp32(tmp_path):
    src = _block(tmp_path / "model.onnx")
    details = write_fp16_graph(src, tmp_path / "model.fp16.onnx", keep_fp32=["/f*"])
    model = onnx.load(str(tmp_path / "model.fp16.onnx"))
    assert {t.name: t.data_type for t in model.graph.initializer}["w"] == TensorProto.FLOAT
    assert "/fc" in details["fp32_nodes"]


def test_gate_passes_a_faithful_graph_and_counts_what_ort_ran_in_fp32(tmp_path):
    src = _block(tmp_path / "model.onnx")
    write_fp16_graph(src, tmp_path / "model.fp16.onnx")
    report = gate_fp16_graph(src, tmp_path / "model.fp16.onnx", _feeds(), scores=True)
    assert report["passed"] and report["finite"] and report["min_cosine"] >= 0.999 and report["top1_agreement"] == 1.0
    assert report["rows"] == 6 and 0 <= report["ort_cpu_fp32_nodes"] <= report["nodes"] == 4


def test_gate_fails_where_fp16_overflows(tmp_path):
    # Scores of ~1e5 pass through FP16 storage (max 65504) on their way into the FP32 softmax: inf → NaN.
    # ONNX Runtime's CPU provider runs MatMul/Mul in FP32 and drops the FP16 casts between them, so
    # model.fp16.onnx itself looks fine there; the storage emulation is what catches it.
    src = _block(tmp_path / "model.onnx", scale=300.0)
    write_fp16_graph(src, tmp_path / "model.fp16.onnx")
    report = gate_fp16_graph(src, tmp_path / "model.fp16.onnx", _feeds(), scores=True)
    assert not report["passed"] and not report["fp16_storage_emulation"]["finite"]
    assert report["finite"] and report["ort_cpu_fp32_nodes"] >= 2
    assert any("FP16 storage emulation: non-finite" in p for p in report["problems"])


def test_add_fp16_graph_records_kind_onnx_precision_fp16_and_is_fatal_when_strict(onnx_artifact):
    from runtime.artifact import read_manifest

    manifest = read_manifest(onnx_artifact)
    feeds = [{"pixel_values": np.random.default_rng(2).standard_normal((2, 4, 3, 32, 32)).astype(np.float32)}]
    name = add_fp16_graph(onnx_artifact, manifest, "model.onnx", feeds, scores=True, log=lambda _: None)
    entry = manifest.files[name]
    assert name == fp16_name("model.onnx") == "model.fp16.onnx"
    assert (entry.kind, entry.precision) == ("onnx", "fp16") and manifest.validation["onnx_fp16"]["passed"]
    assert manifest.file_of_kind("onnx", "fp32") == "model.onnx"


def test_failed_gate_raises_unless_told_to_record(tmp_path):
    from types import SimpleNamespace

    from runtime.artifact import FileEntry

    _block(tmp_path / "model.onnx", scale=300.0)
    manifest = SimpleNamespace(files={"model.onnx": FileEntry("0" * 64, 1, "onnx", "fp32", 17)}, validation={})
    with pytest.raises(Fp16GraphError, match="--keep-fp32"):
        add_fp16_graph(tmp_path, manifest, "model.onnx", _feeds(), scores=True, log=lambda _: None)
    add_fp16_graph(tmp_path, manifest, "model.onnx", _feeds(), scores=True, strict=False, log=lambda _: None)
    assert manifest.validation["onnx_fp16"]["passed"] is False and "model.fp16.onnx" in manifest.files


@pytest.mark.export
def test_every_videomae_export_writes_a_gated_fp16_graph(tiny_artifact_session):
    from runtime.artifact import load_artifact

    m = load_artifact(tiny_artifact_session).manifest
    entry = m.files["model.fp16.onnx"]
    assert (entry.kind, entry.precision) == ("onnx", "fp16") and m.file_of_kind("onnx", "fp32") == "model.onnx"
    assert m.validation["onnx_fp16"]["passed"] and m.validation["onnx_fp16"]["fp16_storage_emulation"]["finite"]
    assert len(entry.details["fp32_nodes"]) >= 5  # 2 layers: 2 LayerNorms + a Softmax each, and the final norm


def test_the_fp16_graph_is_a_valid_onnx_model_in_topological_order(tmp_path):
    # The converter appends the Casts it inserts at the end of the node list; TensorRT's ONNX parser and
    # onnx.checker read nodes in order, so each must come after the producers of its inputs.
    src = _block(tmp_path / "model.onnx")
    write_fp16_graph(src, tmp_path / "model.fp16.onnx")
    model = onnx.load(str(tmp_path / "model.fp16.onnx"))
    onnx.checker.check_model(model, full_check=True)
    known = {v.name for v in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    for node in model.graph.node:
        assert all(name in known for name in node.input), node.name
        known.update(node.output)
