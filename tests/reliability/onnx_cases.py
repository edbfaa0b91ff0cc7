"""Hostile ONNX files built with onnx.helper: external data pointing out of the model's folder.

`external_model(folder, location)` writes `folder/model.onnx` whose one weight (a 3x3 float matrix,
the identity) lives in external data at `location`, exactly as onnx.external_data_helper would
write it (data_location = EXTERNAL, external_data = {location, offset, length}), so ONNX Runtime
would open `location` relative to `folder` if nothing stopped it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WEIGHT = np.eye(3, dtype=np.float32)


def external_model(folder: Path, location: str, data_file: Path | None = None, name: str = "model.onnx",
                   in_constant: bool = False) -> Path:
    """A MatMul graph whose weight is external data at `location`; write the bytes to `data_file`.

    in_constant: hide the external tensor inside a Constant node's attribute instead of the
    initializers (ONNX Runtime resolves those too), so a scan of the initializers alone misses it.
    """
    pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    if data_file is not None:
        data_file.parent.mkdir(parents=True, exist_ok=True)
        data_file.write_bytes(WEIGHT.tobytes())
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 3])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(WEIGHT.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    initializers = [tensor]
    if in_constant:
        nodes.insert(0, helper.make_node("Constant", [], ["w"], value=tensor))
        initializers = []
    graph = helper.make_graph(nodes, "external", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def nonfinite_artifact(folder: Path) -> Path:
    """make_onnx_artifact's model with Log(Relu(mean)) before the linear layer.

    With mean = std = 0.5 a clip whose average pixel is <= 127.5 has a channel mean <= 0, so its
    logits are -Inf or NaN; brighter clips give finite logits. The non-finite guard is then driven
    by nothing but the frames the camera sends.
    """
    onnx = pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")
    from onnx import helper

    from runtime.artifact import describe_file, read_manifest, write_manifest
    from testbed.artifacts import make_onnx_artifact

    make_onnx_artifact(folder)
    model = onnx.load(str(folder / "model.onnx"))
    graph = model.graph
    graph.node[1].input[0] = "logged"  # MatMul(pooled, w) → MatMul(Log(Relu(pooled)), w)
    graph.node.insert(1, helper.make_node("Relu", ["pooled"], ["clipped"]))
    graph.node.insert(2, helper.make_node("Log", ["clipped"], ["logged"]))
    onnx.save(model, str(folder / "model.onnx"))
    manifest = read_manifest(folder)
    manifest.files["model.onnx"] = describe_file(folder / "model.onnx", "onnx", precision="fp32", opset=18)
    write_manifest(folder, manifest)
    return folder
