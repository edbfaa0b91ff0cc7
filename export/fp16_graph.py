"""The FP16 mixed-precision ONNX beside each FP32 graph: what strongly typed TensorRT builds from.

TensorRT 11 has no FP16 builder flag (and 10.x deprecates it): a strongly typed engine computes in
the types its ONNX carries. So every export writes `model.fp16.onnx` (and `text.fp16.onnx`,
`head.fp16.onnx`, `frame.fp16.onnx` for video-text graphs): FP16 weights and activations, with
LayerNormalization, Softmax, the reductions and Pow/Sqrt (and any --keep-fp32 node) computing in
FP32 behind explicit Casts, FP32 inputs and outputs. The conversion is onnxruntime's bundled
`onnxruntime.transformers.float16` (the converter onnxconverter-common ships and ModelOpt's
AutoCast builds on), so it needs no dependency beyond ONNX Runtime and onnx.

The FP16 graph is gated on the CPU against the FP32 graph on the parity inputs with the one
comparator (runtime/common/comparator.py): no non-finite output, cosine >= 0.999, and the same top-1
where the output is a score (classification logits, the X-CLIP head). What a CPU can measure:
ONNX Runtime's CPU provider lacks FP16 kernels for most ops on x86, runs those in FP32 between casts
it inserts (the report counts them: `ort_cpu_fp32_nodes`) and then drops the FP32→FP16→FP32 cast
pairs between such ops, so running model.fp16.onnx there exercises the FP16 weights but keeps most
activations in FP32: an FP16 overflow between two ops would pass unseen. The gate therefore also
runs the FP32 graph with every tensor between FP16 ops rounded through FP16 (export/fp16_check.py's
emulation, which ORT does not rewrite), and both must pass. Neither is FP16 arithmetic: inside
MatMul/Add/Mul it is FP32 here, FP16 accumulating in FP32 in TensorRT.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from export.fp16_check import KEEP_FP32_OPS, MIN_COSINE, emulated_outputs
from export.validate import ParityError

MAX_PROTO = 2**31 - 2**26  # under protobuf's 2 GB cap, with room for the graph itself


class Fp16GraphError(ParityError):
    """The FP16 graph could not be written, or it differs from the FP32 graph beyond the gate (a parity
    failure like any other: the export CLIs report it in one line)."""


def fp16_name(fp32_name: str) -> str:
    """model.onnx → model.fp16.onnx, text.onnx → text.fp16.onnx."""
    stem = fp32_name[:-len(".onnx")] if fp32_name.endswith(".onnx") else fp32_name
    return f"{stem}.fp16.onnx"


def write_fp16_graph(fp32_path: str | Path, out_path: str | Path, keep_fp32=()) -> dict:
    """Convert one FP32 graph; return the details the manifest records for it."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    model = onnx.load(str(fp32_path), load_external_data=True)
    kept_by_name = [n.name for n in model.graph.node if n.name and any(fnmatch.fnmatchcase(n.name, p) for p in keep_fp32)]
    fp32_nodes = [n.name for n in model.graph.node if n.name and (n.op_type in KEEP_FP32_OPS or n.name in kept_by_name)]
    details = {"converter": "onnxruntime.transformers.float16", "keep_fp32_ops": list(KEEP_FP32_OPS),
               "keep_fp32": list(keep_fp32), "fp32_nodes": fp32_nodes, "source": fp32_path.name,
               "input_shapes": _input_shapes(model.graph)}
    try:
        converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=list(KEEP_FP32_OPS),
                                             node_block_list=kept_by_name)
    except Exception as exc:  # the converter raises plain Exceptions and onnx's own errors
        raise Fp16GraphError(f"cannot convert {fp32_path.name} to FP16: {exc}") from exc
    from runtime.common.onnx_order import GraphOrderError, topological_sort

    try:
        topological_sort(converted.graph)  # the converter appends the Casts it inserts after their consumers
    except GraphOrderError as exc:
        raise Fp16GraphError(f"the FP16 graph of {fp32_path.name} cannot be ordered: {exc}") from exc
    if converted.ByteSize() < MAX_PROTO:
        onnx.save(converted, str(out_path))
    else:
        onnx.save_model(converted, str(out_path), save_as_external_data=True, location=out_path.name + ".data")
    return details


def _input_shapes(graph) -> dict[str, list]:
    """Input name → dims, a name (str) where the axis is dynamic: what trtexec lines are made from."""
    initializers = {t.name for t in graph.initializer}
    shapes = {}
    for value in graph.input:
        if value.name in initializers:
            continue
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "dynamic")
                              for d in value.type.tensor_type.shape.dim]
    return shapes


def gate_fp16_graph(fp32_path: str | Path, fp16_path: str | Path, feeds: list[dict], scores: bool,
                    min_cosine: float = MIN_COSINE) -> dict:
    """Both graphs on the same feeds in ONNX Runtime CPU, compared by runtime.common.comparator."""
    from runtime.common.comparator import compare

    import onnx


    fp32, fp16 = _session(fp32_path), _session(fp16_path, count_fp32=True)
    expected, got = [], []
    for feed in feeds:
        expected.append(fp32.run(None, feed)[0])
        got.append(fp16.run(None, feed)[0].astype(np.float32))
    thresholds = {"min_cosine": min_cosine, "min_agreement": 1.0 if scores else None}
    graph = compare(expected, got)
    # ORT keeps most activations of the float16 graph in FP32 on a CPU (above): the same FP32 graph
    # with every tensor between FP16 ops rounded through FP16 is what an FP16 engine stores.
    reference, stored = emulated_outputs(onnx.load(str(fp32_path), load_external_data=True), feeds)
    storage = compare(reference, stored)
    problems = ([f"model.fp16.onnx in ONNX Runtime: {p}" for p in graph.problems(**thresholds)]
                + [f"FP16 storage emulation: {p}" for p in storage.problems(**thresholds)])
    return {**graph.as_dict(), "passed": not problems, "problems": problems, "min_cosine_required": min_cosine,
            "same_top1_required": scores, "fp16_storage_emulation": storage.as_dict(),
            "ort_cpu_fp32_nodes": fp16.fp32_nodes, "nodes": fp16.nodes,
            "method": "model.fp16.onnx in ONNX Runtime CPU (FP16 weights; ops without CPU FP16 kernels, "
                      "ort_cpu_fp32_nodes of nodes, compute in FP32 and ORT drops the FP16 casts between them), "
                      "plus the FP32 graph with every tensor between FP16 ops rounded through FP16 "
                      "(fp16_storage_emulation); both must pass"}


class _Session:
    def __init__(self, session, fp32_nodes=None, nodes=None):
        self.session, self.fp32_nodes, self.nodes = session, fp32_nodes, nodes

    def run(self, names, feed):
        return self.session.run(names, feed)


def _session(path, count_fp32: bool = False) -> _Session:
    """A CPU session; for the FP16 graph also how many of its nodes ORT moved to FP32."""
    import tempfile

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not count_fp32:
        return _Session(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))
    with tempfile.TemporaryDirectory() as tmp:
        options.optimized_model_filepath = str(Path(tmp) / "placed.onnx")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        moved, nodes = _fp32_placed(Path(path), Path(options.optimized_model_filepath))
    return _Session(session, moved, nodes)


def _fp32_placed(original: Path, placed: Path) -> tuple[int | None, int]:
    """Nodes fed by a cast ONNX Runtime inserted (InsertedPrecisionFreeCast_*): they compute in FP32."""
    import onnx

    before = onnx.load(str(original), load_external_data=False)
    nodes = sum(1 for n in before.graph.node if n.op_type != "Cast")
    if not placed.is_file():
        return None, nodes
    after = onnx.load(str(placed), load_external_data=False)
    inserted = {o for n in after.graph.node if n.op_type == "Cast" and n.name.startswith("InsertedPrecisionFreeCast")
                for o in n.output}
    return sum(1 for n in after.graph.node if n.op_type != "Cast" and any(i in inserted for i in n.input)), nodes


def add_fp16_graph(folder: Path, manifest, fp32_name: str, feeds: list[dict], scores: bool, keep_fp32=(),
                   strict: bool = True, log=print) -> str:
    """Write, gate and record the FP16 graph of one FP32 graph of a staged artifact."""
    from runtime.artifact import describe_file

    folder = Path(folder)
    entry = manifest.files[fp32_name]
    name = fp16_name(fp32_name)
    details = write_fp16_graph(folder / fp32_name, folder / name, keep_fp32)
    report = gate_fp16_graph(folder / fp32_name, folder / name, feeds, scores)
    role = entry.details.get("role", "video")
    key = "onnx_fp16" if role == "video" else f"onnx_fp16_{role}"
    manifest.validation[key] = report
    line = "PASS" if report["passed"] else "FAIL: " + "; ".join(report["problems"])
    log(f"  FP16 graph {name}: {result_line(report)}: {line}")
    if not report["passed"] and strict:
        raise Fp16GraphError(f"{name} differs from {fp32_name} on the CPU: {'; '.join(report['problems'])}; keep more "
                             "nodes in FP32 with --keep-fp32 PATTERN, or pass --allow-parity-failure to record it")
    for key_name in ("role", "inputs", "outputs", "batch_profile", "dynamic_axes"):
        if key_name in entry.details:
            details[key_name] = entry.details[key_name]
    manifest.files[name] = describe_file(folder / name, entry.kind, precision="fp16", opset=entry.opset,
                                         details=details)
    data = folder / (name + ".data")
    if data.is_file():
        manifest.files[data.name] = describe_file(data, "onnx_data", details={"graph": name})
    return name


def result_line(report: dict) -> str:
    if not report["finite"]:
        return "non-finite outputs"
    return f"min cosine {report['min_cosine']:.6f}, top-1 agreement {report['top1_agreement']:.0%} over {report['rows']} rows"
