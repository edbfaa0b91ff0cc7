"""torch module → ONNX file: dynamo exporter first, TorchScript exporter as the fallback.

Only the batch axis is dynamic (VideoMAE's position table fixes frames and resolution). Models
whose weights pass the external-data threshold are saved with their tensors in `model.onnx.data`
beside the graph, and checked with the path-based checker (the in-memory one stops at 2 GB).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from runtime.cli.errors import TubeletError

MIN_OPSET = 17  # LayerNormalization is one op from 17 on: TensorRT keeps it in FP32 as a unit
DEFAULT_OPSET = 17  # TensorRT 8.6 (JetPack 6.0) parses up to 17; the dynamo exporter emits 18, converted down
EXTERNAL_DATA_THRESHOLD = 2 * 1024**3 - 64 * 1024**2  # protobuf's 2 GB cap, minus room for the graph
DATA_SUFFIX = ".data"


class OnnxExportError(TubeletError, RuntimeError):
    """Neither exporter produced a valid ONNX graph."""


@dataclass
class ExportResult:
    path: Path
    data_path: Path | None
    exporter: str
    opset: int
    ops: list[str]
    notes: list[str] = field(default_factory=list)


def export_onnx(module, example, path: Path, input_name, output_names: list[str], opset: int = DEFAULT_OPSET,
                max_batch: int = 64, external_data_threshold: int = EXTERNAL_DATA_THRESHOLD,
                dynamic_axes: dict[str, dict[int, str]] | None = None) -> ExportResult:
    """One input: `example` a tensor, `input_name` a str, batch (axis 0) dynamic. Several inputs
    (text encoders, heads): `example` a tuple and `input_name` a list in forward's order, and
    `dynamic_axes` {input: {axis: name}} for each input's dynamic axes (same name = same size)."""
    import torch

    if isinstance(input_name, str):
        example, input_name = (example,), [input_name]
    example = tuple(example)
    if len(example) != len(input_name):
        raise OnnxExportError(f"{len(example)} example inputs but {len(input_name)} input names {input_name}")
    if dynamic_axes is None:
        dynamic_axes = {name: {0: "batch"} for name in input_name}

    if opset < MIN_OPSET:
        raise OnnxExportError(f"opset {opset} is too old: use >= {MIN_OPSET} so LayerNorm exports as one op")
    path = Path(path)
    weight_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    external = weight_bytes > external_data_threshold
    notes = []
    try:
        exporter = "dynamo"
        _export_dynamo(torch, module, example, path, input_name, output_names, opset, max_batch, external, dynamic_axes)
    except Exception as exc:  # the dynamo exporter fails in many ways; the fallback must still be tried
        notes.append(f"dynamo exporter failed ({type(exc).__name__}: {str(exc)[:300]}); used the TorchScript exporter")
        exporter = "torchscript"
        _clean(path)
        try:
            _export_torchscript(torch, module, example, path, input_name, output_names, opset, external, dynamic_axes)
        except Exception as exc2:
            raise OnnxExportError(f"both exporters failed; dynamo: {notes[-1]}; torchscript: {exc2}") from exc2
    return _inspect(path, exporter, notes)


def _export_dynamo(torch, module, example, path, input_names, output_names, opset, max_batch, external, dynamic_axes):
    dims = {}  # one Dim per axis name, so axes that share a name share a size
    for axes in dynamic_axes.values():
        for name in axes.values():
            dims.setdefault(name, torch.export.Dim(name, min=1, max=max_batch if name == "batch" else 4096))
    shapes = tuple({axis: dims[name] for axis, name in dynamic_axes.get(n, {}).items()} or None for n in input_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, example, input_names=list(input_names), output_names=output_names,
                                    dynamic_shapes=shapes, opset_version=max(opset, 18), dynamo=True, verbose=False)
    program.save(str(path), external_data=external)  # writes <name>.data beside the graph
    if opset < 18:
        _downgrade(path, opset)


def _downgrade(path: Path, opset: int) -> None:
    """The dynamo exporter emits opset >= 18 whatever it is asked; TensorRT 8.6 (JetPack 6.0) parses
    at most 17, so convert the graph down. Only the graph is rewritten: external weights stay put."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path), load_external_data=False)
    converted = version_converter.convert_version(model, opset)
    for node in converted.graph.node:
        if node.op_type.startswith("Reduce"):
            # ReduceX-18 gained `noop_with_empty_axes`; the converter keeps it, opset 17 rejects it.
            # Its default (0) is the only behaviour opset 17 has, so drop it when it is 0.
            for attr in list(node.attribute):
                if attr.name == "noop_with_empty_axes":
                    if attr.i != 0:
                        raise OnnxExportError(f"node {node.name} needs noop_with_empty_axes=1, which opset {opset} lacks")
                    node.attribute.remove(attr)
    onnx.save_model(converted, str(path))


def _export_torchscript(torch, module, example, path, input_names, output_names, opset, external, dynamic_axes):
    batch_out = {0: "batch"} if any("batch" in a.values() for a in dynamic_axes.values()) else {}
    axes = {**{name: batch_out for name in output_names if batch_out}, **dynamic_axes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), input_names=list(input_names), output_names=output_names,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    if external:
        _consolidate_external(path)


def _consolidate_external(path: Path) -> None:
    """Rewrite so all weights live in one `<name>.data` file next to the graph (one hash, one file).

    The TorchScript exporter scatters one file per tensor; the caller exports into an empty
    staging folder, so every other file there is one of those.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=True)
    for stale in path.parent.iterdir():
        if stale != path and stale.is_file():
            stale.unlink()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + DATA_SUFFIX, size_threshold=1024)


def _clean(path: Path) -> None:
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()


def _inspect(path: Path, exporter: str, notes: list[str]) -> ExportResult:
    import onnx

    # Path-based check: resolves external data and works past the 2 GB protobuf limit.
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise OnnxExportError(f"the exported graph {path.name} fails the ONNX checker: {exc}") from exc
    graph = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), 0)
    ops = sorted({node.op_type for node in graph.graph.node})
    data = path.with_name(path.name + DATA_SUFFIX)
    return ExportResult(path, data if data.exists() else None, exporter, opset, ops, notes)
