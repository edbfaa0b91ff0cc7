"""One model entry of a Triton repository and its `config.pbtxt`, written as protobuf text format.

The text is produced here by hand (no protobuf needed on the machine that writes it); the tests
parse it into Triton's own `ModelConfig` message (tritonclient ships it) and compare it field by
field with the manifest, so a field Triton does not know or a malformed value fails there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.cli.errors import OptionValueError, TubeletError

# numpy dtype name → (Triton config data_type, the datatype string model metadata reports)
TRITON_DTYPES = {
    "float32": ("TYPE_FP32", "FP32"),
    "float16": ("TYPE_FP16", "FP16"),
    "float64": ("TYPE_FP64", "FP64"),
    "int64": ("TYPE_INT64", "INT64"),
    "int32": ("TYPE_INT32", "INT32"),
    "int8": ("TYPE_INT8", "INT8"),
    "uint8": ("TYPE_UINT8", "UINT8"),
    "bool": ("TYPE_BOOL", "BOOL"),
}
PLATFORMS = {"onnx": "onnxruntime_onnx", "engine": "tensorrt_plan"}
MODEL_FILES = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan"}
KINDS = {"auto": "KIND_AUTO", "gpu": "KIND_GPU", "cpu": "KIND_CPU"}
LABELS_FILE = "labels.txt"
# config parameter holding the sha256 of the manifest the entry was written from; the triton
# backend compares it with the artifact it was given.
MANIFEST_PARAMETER = "tubelet_manifest_sha256"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name, e.g. "float32"
    dims: tuple[int, ...]  # without the batch axis (Triton adds it when max_batch_size > 0)
    label_filename: str | None = None

    @property
    def triton_type(self) -> str:
        return triton_type(self.dtype)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    platform: str  # onnxruntime_onnx | tensorrt_plan
    source: str  # the artifact file copied into 1/
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_delay_us: int = 0
    instance_count: int = 1
    instance_kind: str = "auto"  # auto | gpu | cpu
    parameters: dict = field(default_factory=dict)
    data_files: tuple[str, ...] = ()  # ONNX external data copied beside the model under its own name

    @property
    def model_file(self) -> str:
        return MODEL_FILES[self.platform]


class UnsupportedTypeError(TubeletError, ValueError):
    """A tensor's data type has no Triton equivalent."""


def triton_type(dtype: str) -> str:
    name = np.dtype(dtype).name
    if name not in TRITON_DTYPES:
        raise UnsupportedTypeError(f"data type {dtype!r} has no Triton equivalent here; supported: {sorted(TRITON_DTYPES)}")
    return TRITON_DTYPES[name][0]


def metadata_type(dtype: str) -> str:
    """The datatype string a server's model metadata reports for a numpy dtype (FP32, ...)."""
    name = np.dtype(dtype).name
    if name not in TRITON_DTYPES:
        raise UnsupportedTypeError(f"data type {dtype!r} has no Triton equivalent here; supported: {sorted(TRITON_DTYPES)}")
    return TRITON_DTYPES[name][1]


def _quote(text: str) -> str:
    # Protobuf text format: a double-quoted string with C escapes. Quotes, backslashes and control
    # characters are escaped (octal); everything else stays UTF-8, which protobuf reads as is.
    out = []
    for char in str(text):
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _tensor(tensor: TensorSpec, indent: str) -> list[str]:
    lines = [f"{indent}{{", f"{indent}  name: {_quote(tensor.name)}", f"{indent}  data_type: {tensor.triton_type}",
             f"{indent}  dims: [ {', '.join(str(int(d)) for d in tensor.dims)} ]"]
    if tensor.label_filename:
        lines.append(f"{indent}  label_filename: {_quote(tensor.label_filename)}")
    lines.append(f"{indent}}}")
    return lines


def _tensors(key: str, tensors) -> list[str]:
    body = []
    for i, tensor in enumerate(tensors):
        block = _tensor(tensor, "  ")
        if i < len(tensors) - 1:
            block[-1] += ","
        body += block
    return [f"{key} ["] + body + ["]"]


def model_config_text(entry: ModelEntry) -> str:
    """The `config.pbtxt` of one entry (protobuf text format of Triton's ModelConfig)."""
    if entry.platform not in MODEL_FILES:
        raise OptionValueError(f"platform {entry.platform!r} unknown; choose one of {sorted(MODEL_FILES)}")
    lines = [f"name: {_quote(entry.name)}", f"platform: {_quote(entry.platform)}",
             f"max_batch_size: {int(entry.max_batch_size)}"]
    lines += _tensors("input", entry.inputs) + _tensors("output", entry.outputs)
    lines += ["dynamic_batching {"]
    lines += [f"  preferred_batch_size: [ {', '.join(str(int(b)) for b in entry.preferred_batch_sizes)} ]"] \
        if entry.preferred_batch_sizes else []
    lines += [f"  max_queue_delay_microseconds: {int(entry.queue_delay_us)}", "}"]
    lines += ["instance_group [", "  {", f"    count: {int(entry.instance_count)}",
              f"    kind: {KINDS[entry.instance_kind]}", "  }", "]"]
    for key, value in sorted(entry.parameters.items()):
        lines += ["parameters {", f"  key: {_quote(key)}", f"  value: {{ string_value: {_quote(value)} }}", "}"]
    return "\n".join(lines) + "\n"
