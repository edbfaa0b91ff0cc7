"""TensorRT readiness: will TensorRT's ONNX parser take this graph, without TensorRT at hand?

Checked on every export, with no GPU: every op is in the ONNX parser's supported-operator list for
each target TensorRT version (export/data/tensorrt_onnx_ops.json: 8.6 for JetPack 6.0, 10.3 for JetPack
6.1/6.2 (opset <= 20), 10.15 for desktop 10.x, 11.4 for 11.x; each with its source and derivation), the
opset is in the parser's range, only the batch axis of the inputs is dynamic, and no construct that
is known to break parsing is present (custom-domain ops, Q/DQ with a non-zero zero point, Einsum
with an ellipsis on 8.x, LayerNormalization's extra outputs). The verdict goes into the manifest.
A pass here is necessary, not sufficient: only a real build on the target proves an engine.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from runtime.cli.errors import TubeletError

OPS_FILE = Path(__file__).resolve().parent / "data" / "tensorrt_onnx_ops.json"
DEFAULT_TARGET = "8.6"  # JetPack 6.0: the oldest TensorRT a Jetson user of this project runs
_DEFAULT_DOMAINS = ("", "ai.onnx")


class ReadinessError(TubeletError, RuntimeError):
    """The graph is not ready for TensorRT (raised only when a caller asks for a strict check)."""


@dataclass
class VersionVerdict:
    tensorrt: str
    passed: bool
    opset: int
    opset_range: list[int]
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class ReadinessReport:
    passed: bool  # the verdict for the default target
    target: str
    ops: dict[str, int]
    dynamic_axes: dict[str, list[int]]
    versions: dict[str, VersionVerdict]
    warnings: list[str] = field(default_factory=list)
    op_list: str = OPS_FILE.name

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = []
        for name, verdict in self.versions.items():
            state = "ready" if verdict.passed else "NOT ready: " + "; ".join(verdict.problems)
            parts.append(f"TensorRT {name}: {state}")
        return " | ".join(parts)


@lru_cache(maxsize=1)
def supported_ops() -> dict:
    """The parser support data, keyed by TensorRT version."""
    data = json.loads(OPS_FILE.read_text(encoding="utf-8"))
    return data["versions"]


def check_readiness(model_path: str | Path, versions: tuple[str, ...] | None = None,
                    target: str = DEFAULT_TARGET, strict: bool = False) -> ReadinessReport:
    """Inspect an ONNX file (external data is not loaded) and give a verdict per TensorRT version."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    table = supported_ops()
    versions = tuple(versions or table)
    unknown = [v for v in versions + (target,) if v not in table]
    if unknown:
        raise ValueError(f"no parser op list for TensorRT {unknown}; known versions: {sorted(table)}")
    opset = next((o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS), 0)
    nodes = list(_walk(model.graph))
    ops = Counter(n.op_type if n.domain in _DEFAULT_DOMAINS else f"{n.domain}::{n.op_type}" for n in nodes)
    dynamic = _dynamic_axes(model.graph)
    common = _dynamic_problems(dynamic) + _construct_problems(model, nodes, Path(model_path).parent)
    verdicts = {}
    for version in versions:
        spec = table[version]
        problems = list(common)
        bad = {op: n for op, n in sorted(ops.items()) if op not in set(spec["supported"])}
        if bad:
            problems.append(f"ops the TensorRT {version} ONNX parser does not import: {sorted(bad)}")
        if not spec["opset_min"] <= opset <= spec["opset_max"]:
            problems.append(f"opset {opset} outside the parser's range {spec['opset_min']}..{spec['opset_max']}; "
                            f"re-export with --opset {min(max(opset, 17), spec['opset_max'])}")
        if version.startswith("8.") and any(n.op_type == "Einsum" and "..." in _attr(n, "equation", b"").decode()
                                            for n in nodes):
            problems.append("Einsum with an ellipsis ('...') is not imported by TensorRT 8.x; spell the axes out")
        verdicts[version] = VersionVerdict(version, not problems, opset, [spec["opset_min"], spec["opset_max"]],
                                           bad, problems)
    if target not in verdicts:
        verdicts[target] = check_readiness(model_path, (target,), target).versions[target]
    report = ReadinessReport(verdicts[target].passed, target, dict(sorted(ops.items())), dynamic, verdicts,
                             _precision_warnings(nodes))
    if strict and not report.passed:
        raise ReadinessError(f"{model_path} is not ready for TensorRT {target}: " + "; ".join(verdicts[target].problems))
    return report


def export_validation(model_path: str | Path, spec, pre) -> dict:
    """The manifest's TensorRT-related `validation` entries, computed on every export (no GPU needed)."""
    from export.fp16_check import check_artifact_fp16

    readiness = check_readiness(model_path)
    return {"tensorrt_readiness": readiness.as_dict(), "fp16_cpu": check_artifact_fp16(model_path, spec, pre)}


def _walk(graph):
    """Every node, including those inside If/Loop/Scan bodies (the parser imports those too)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _walk(attr.g)
            for sub in attr.graphs:
                yield from _walk(sub)


def _dynamic_axes(graph) -> dict[str, list[int]]:
    initializers = {t.name for t in graph.initializer}
    result = {}
    for value in graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        result[value.name] = [i for i, d in enumerate(dims) if not d.HasField("dim_value") or d.dim_value <= 0]
        if not value.type.tensor_type.HasField("shape"):
            result[value.name] = [-1]  # unknown rank
    return result


def _dynamic_problems(dynamic: dict[str, list[int]]) -> list[str]:
    problems = []
    for name, axes in dynamic.items():
        if axes == [-1]:
            problems.append(f"input {name!r} has no static rank; export with a fixed input rank")
        elif any(axis != 0 for axis in axes):
            problems.append(f"input {name!r} is dynamic on axes {axes}; only the batch axis (0) may be dynamic "
                            "(frames and resolution are fixed by the position table)")
    return problems


def _construct_problems(model, nodes, base_dir: Path) -> list[str]:
    problems = []
    custom = sorted({f"{n.domain}::{n.op_type}" for n in nodes if n.domain not in _DEFAULT_DOMAINS})
    if custom:
        problems.append(f"custom-domain ops {custom} need TensorRT plugins; export with standard ONNX ops")
    values = {t.name: t for t in model.graph.initializer}
    for node in nodes:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 and node.input[2]:
            zero = _initializer_values(values.get(node.input[2]), base_dir)
            if zero is None:
                problems.append(f"{node.op_type} {node.name!r}: zero point {node.input[2]!r} is not a constant "
                                "initializer; TensorRT needs a constant zero point of 0")
            elif (zero != 0).any():
                problems.append(f"{node.op_type} {node.name!r}: zero point is non-zero; TensorRT takes symmetric "
                                "quantization only (zero point 0): re-quantize with symmetric activations and weights")
        if node.op_type == "LayerNormalization" and sum(1 for o in node.output if o) > 1:
            problems.append(f"LayerNormalization {node.name!r} uses its Mean/InvStdDev outputs, which TensorRT "
                            "does not import (only Y)")
    return problems


def _precision_warnings(nodes) -> list[str]:
    """Parses, but loses FP16 accuracy: a norm spelled out as Pow → ReduceMean (opset < 17 exports)."""
    pow_outputs = {n.output[0] for n in nodes if n.op_type == "Pow"}
    if any(n.op_type == "ReduceMean" and n.input and n.input[0] in pow_outputs for n in nodes):
        return ["a normalization is spelled out as Pow → ReduceMean: under FP16 its variance overflows and "
                "keeping single layers in FP32 does not save it; re-export at opset >= 17 (one LayerNormalization op)"]
    return []


def _initializer_values(tensor, base_dir: Path):
    if tensor is None:
        return None
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor, base_dir=str(base_dir))


def _attr(node, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            from onnx import helper

            return helper.get_attribute_value(attr)
    return default
