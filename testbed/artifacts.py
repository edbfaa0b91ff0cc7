"""Tiny torch-free artifacts and videos, built in a few milliseconds: what tests and benchmarks feed the runtime."""

from __future__ import annotations

import numpy as np
import pytest


def moving_square_video(path, frames=24, size=(48, 64), fps=10.0):
    """Write a real video file with OpenCV: a square moving right on a gray background."""
    import cv2

    height, width = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG video on this machine"
    for t in range(frames):
        image = np.full((height, width, 3), 90, np.uint8)
        x = 2 + t * (width - 14) // max(frames - 1, 1)
        image[height // 2 - 6:height // 2 + 6, x:x + 12] = (20, 40, 240)
        writer.write(image)
    writer.release()
    return path


def make_onnx_artifact(folder, frames=4, height=32, width=32, labels=("left", "right", "still"), layout="NTCHW"):
    """A torch-free artifact: a 3-node ONNX graph (mean over time/space → linear) plus a manifest.

    The weights make the score depend on each channel's mean, so different inputs give different labels.
    """
    onnx = pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")
    from onnx import TensorProto, helper

    from runtime.artifact import InputSpec, Manifest, Preprocessing, Sampling, describe_file, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    spec = InputSpec("pixel_values", layout, frames, height, width)
    shape = ["batch", *spec.shape(1)[1:]]
    axes = [1, 3, 4] if layout == "NTCHW" else [2, 3, 4]
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, len(labels))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values", "axes"], ["pooled"], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [3], axes),
                     onnx.numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    manifest = Manifest(
        task="classification", family="test", input=spec,
        preprocessing=Preprocessing(resize_shortest_edge=height, resize_height=None, resize_width=None,
                                    crop_height=height, crop_width=width, mean=[0.5] * 3, std=[0.5] * 3),
        sampling=Sampling(frame_stride=1, window_stride=2), labels=list(labels), outputs=["logits"])
    manifest.files["model.onnx"] = describe_file(folder / "model.onnx", "onnx", precision="fp32", opset=18)
    write_manifest(folder, manifest)
    return folder
