"""The builder's decisions, proven without TensorRT: a fake network with TensorRT's attribute surface."""

from __future__ import annotations

import enum
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from export.tensorrt import (BuildOptions, EngineBuildError, add_engine, apply_fp32, calibrator_allowed,
                             fp32_layer_decisions, needs_explicit_batch_flag, profile_shapes,
                             supports_portability_flags, trtexec_command, trtexec_for_onnx)

REPO = Path(__file__).resolve().parents[2]


class LayerType(enum.Enum):
    NORMALIZATION = 1
    SOFTMAX = 2
    REDUCE = 3
    ELEMENTWISE = 4
    UNARY = 5
    MATRIX_MULTIPLY = 6
    SHAPE = 7
    QUANTIZE = 8
    DEQUANTIZE = 9


ElementWiseOperation = enum.Enum("ElementWiseOperation", "SUM PROD POW DIV")
UnaryOperation = enum.Enum("UnaryOperation", "EXP SQRT ABS")


class Tensor:
    def __init__(self, dtype):
        self.dtype = dtype


class FakeLayer:
    def __init__(self, name, type_, op=None, dtype="float32", outputs=1):
        self.name, self.type, self._op = name, type_, op
        self._outputs = [Tensor(dtype) for _ in range(outputs)]
        self.num_outputs = outputs
        self.precision = None
        self.output_types = {}

    def get_output(self, i):
        return self._outputs[i]

    def set_output_type(self, i, dtype):
        self.output_types[i] = dtype


class IElementWiseLayer(FakeLayer):
    @property
    def op(self):
        return self._op


class IUnaryLayer(FakeLayer):
    @property
    def op(self):
        return self._op


TRT = SimpleNamespace(LayerType=LayerType, ElementWiseOperation=ElementWiseOperation, UnaryOperation=UnaryOperation,
                      IElementWiseLayer=IElementWiseLayer, IUnaryLayer=IUnaryLayer, float32="float32",
                      float16="float16", int32="int32")


class FakeNetwork:
    def __init__(self, layers):
        self.layers = layers
        self.num_layers = len(layers)

    def get_layer(self, i):
        return self.layers[i]


def _vit_block():
    return FakeNetwork([
        FakeLayer("/blocks.0/norm1/LayerNormalization", LayerType.NORMALIZATION),
        FakeLayer("/blocks.0/attn/MatMul", LayerType.MATRIX_MULTIPLY),
        FakeLayer("/blocks.0/attn/Softmax", LayerType.SOFTMAX),
        FakeLayer("/blocks.0/attn/Add", LayerType.ELEMENTWISE, ElementWiseOperation.SUM),
        FakeLayer("/norm/Pow", LayerType.ELEMENTWISE, ElementWiseOperation.POW),
        FakeLayer("/norm/ReduceMean", LayerType.REDUCE),
        FakeLayer("/norm/Sqrt", LayerType.UNARY, UnaryOperation.SQRT),
        FakeLayer("/norm/Exp", LayerType.UNARY, UnaryOperation.EXP),
        FakeLayer("/shape/ReduceMax", LayerType.REDUCE, dtype="int32"),  # a shape computation: never pinned
        FakeLayer("/blocks.1/mlp/fc1/MatMul", LayerType.MATRIX_MULTIPLY),
    ])


def test_norms_softmax_reductions_pow_sqrt_stay_fp32_and_nothing_else():
    chosen = fp32_layer_decisions(_vit_block(), TRT)
    assert [(i, reason) for i, _, reason in chosen] == [
        (0, "NORMALIZATION"), (2, "SOFTMAX"), (4, "ELEMENTWISE.POW"), (5, "REDUCE"), (6, "UNARY.SQRT")]


def test_keep_fp32_patterns_add_layers_by_name_glob():
    chosen = fp32_layer_decisions(_vit_block(), TRT, patterns=["/blocks.1/*"])
    assert (9, "/blocks.1/mlp/fc1/MatMul", "--keep-fp32 /blocks.1/*") in chosen
    assert all(name != "/blocks.0/attn/MatMul" for _, name, _ in chosen)


def test_apply_fp32_sets_precision_and_every_output_type():
    network = FakeNetwork([FakeLayer("ln", LayerType.NORMALIZATION, outputs=2), FakeLayer("mm", LayerType.MATRIX_MULTIPLY)])
    apply_fp32(network, TRT, fp32_layer_decisions(network, TRT))
    assert network.layers[0].precision == "float32" and network.layers[0].output_types == {0: "float32", 1: "float32"}
    assert network.layers[1].precision is None and network.layers[1].output_types == {}


def test_profile_covers_only_the_batch_axis():
    assert profile_shapes("x", [-1, 16, 3, 224, 224], (1, 2, 8)) == (
        (1, 16, 3, 224, 224), (2, 16, 3, 224, 224), (8, 16, 3, 224, 224))
    with pytest.raises(EngineBuildError, match="only the batch axis"):
        profile_shapes("x", [-1, -1, 3, 224, 224], (1, 1, 8))
    with pytest.raises(EngineBuildError, match="static batch of 1"):
        profile_shapes("x", [1, 16, 3, 224, 224], (1, 1, 8))
    assert profile_shapes("x", [4, 16, 3, 224, 224], (4, 4, 4))[2] == (4, 16, 3, 224, 224)


@pytest.mark.parametrize("version, explicit, calibrator, portable", [
    ("8.6.1.6", True, True, True), ("8.5.2", True, True, False), ("10.0.1", False, True, True),
    ("10.1.0", False, False, True), ("10.3.0", False, False, True), ("9.2.0", True, True, True),
    ("11.2.0", False, False, True)])
def test_version_rules_compare_numerically(version, explicit, calibrator, portable):
    # "10.3" < "8.6" as strings; packaging.version gets it right.
    assert needs_explicit_batch_flag(version) is explicit
    assert calibrator_allowed(version) is calibrator
    assert supports_portability_flags(version) is portable


def test_bad_version_string_is_a_clear_error():
    with pytest.raises(ValueError, match="not a TensorRT version"):
        needs_explicit_batch_flag("ten")


def test_trtexec_command_mirrors_every_builder_option():
    opts = BuildOptions(precision="int8", workspace_mib=2048, opt_level=4, version_compatible=True,
                        hardware_compat="ampere+", timing_cache=Path("t.cache"))
    shapes = profile_shapes("pixel_values", [-1, 16, 3, 224, 224], (1, 2, 4))
    cmd = trtexec_command("m.onnx", "m.engine", {"pixel_values": shapes}, opts, ["ln0", "sm0"])
    assert cmd[:3] == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine"]
    for flag in ("--minShapes=pixel_values:1x16x3x224x224", "--optShapes=pixel_values:2x16x3x224x224",
                 "--maxShapes=pixel_values:4x16x3x224x224", "--fp16", "--int8", "--precisionConstraints=obey",
                 "--layerPrecisions=ln0:fp32,sm0:fp32", "--layerOutputTypes=ln0:fp32,sm0:fp32",
                 "--memPoolSize=workspace:2048MiB", "--builderOptimizationLevel=4", "--versionCompatible",
                 "--hardwareCompatibilityLevel=ampere+", "--timingCacheFile=t.cache"):
        assert flag in cmd
    dla = trtexec_command("m.onnx", "e", {"pixel_values": shapes}, BuildOptions(dla_core=1))
    assert "--useDLACore=1" in dla and "--allowGPUFallback" in dla and "--int8" not in dla


@pytest.mark.parametrize("kwargs, message", [
    (dict(precision="fp8"), "precision"), (dict(batch=(2, 1, 4)), "batch profile"), (dict(opt_level=7), "0..5"),
    (dict(hardware_compat="hopper+"), "hardware compatibility"), (dict(dla_core=0, hardware_compat="ampere+"), "DLA")])
def test_bad_options_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BuildOptions(**kwargs).check()


def test_trtexec_for_onnx_pins_the_norm_nodes_by_name(tmp_path):
    onnx = pytest.importorskip("onnx", reason="needs onnx to build the test graph")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("LayerNormalization", ["x", "g"], ["n"], name="ln0", axis=-1),
         helper.make_node("Softmax", ["n"], ["y"], name="sm0", axis=-1),
         helper.make_node("Relu", ["y"], ["z"], name="act")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4, 8])],
        initializer=[helper.make_tensor("g", TensorProto.FLOAT, [8], [1.0] * 8)])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    cmd = trtexec_for_onnx(path, tmp_path / "m.engine", BuildOptions(batch=(1, 2, 4), keep_fp32=["act"]))
    assert "--layerPrecisions=ln0:fp32,sm0:fp32,act:fp32" in cmd
    assert "--maxShapes=x:4x4x8" in cmd


def test_without_tensorrt_add_engine_records_why_and_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError, even where installed
    manifest = SimpleNamespace(validation={}, files={}, file_of_kind=lambda kind, precision=None: "model.onnx")
    lines = []
    assert add_engine(tmp_path, manifest, BuildOptions(), lines.append) is None
    assert manifest.validation["tensorrt_engine"]["built"] is False
    assert "pip install 'tubelet[trt]'" in manifest.validation["tensorrt_engine"]["reason"]
    assert len(lines) == 1 and not list(tmp_path.iterdir())


def test_int8_without_a_quantized_model_says_to_calibrate(tmp_path):
    manifest = SimpleNamespace(validation={}, files={}, file_of_kind=lambda kind, precision=None: None)
    with pytest.raises(EngineBuildError, match="calibration"):
        add_engine(tmp_path, manifest, BuildOptions(precision="int8"))


@pytest.mark.export
def test_cli_fp16_without_tensorrt_writes_artifact_verdicts_and_trtexec_line(tmp_path, tiny_checkpoint):
    pytest.importorskip("torch", reason="export needs the [export] extra")
    if _tensorrt_importable():
        pytest.skip("TensorRT is installed here: the no-TensorRT path is not what this machine runs")
    out = tmp_path / "art"
    proc = subprocess.run([sys.executable, str(REPO / "export" / "build_engine.py"), "--model", str(tiny_checkpoint),
                           "--output", str(out), "--precision", "fp16", "--workspace", "512"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TensorRT is not importable here" in proc.stdout
    assert "trtexec --onnx=" in proc.stdout and "--layerPrecisions=" in proc.stdout
    assert "--memPoolSize=workspace:512MiB" in proc.stdout
    from runtime.artifact import load_artifact

    m = load_artifact(out).manifest
    assert m.validation["tensorrt_engine"]["built"] is False
    assert m.validation["tensorrt_readiness"]["versions"]["10.15"]["passed"] is True
    assert m.validation["fp16_cpu"]["norms_fp32"]["passed"] is True
    assert m.file_of_kind("engine") is None


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True
