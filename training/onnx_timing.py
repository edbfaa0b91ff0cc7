"""Latency of a classifier in ONNX Runtime on the CPU, the budget the bundled model is sized for.

Exports with the dynamo exporter (opset 18) to a temporary folder, as export/ will, and times
`InferenceSession.run` on one clip with a fixed thread count. Used by train_bundled to record
the figure next to the weights; the real artifacts are built by export/.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch


class _LogitsOnly(torch.nn.Module):
    """Return a plain tensor so the exported graph has one named output."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Export `model` (pixel_values -> logits) to `path` with the dynamo exporter, opset 18."""
    wrapped = _LogitsOnly(model).eval()
    with torch.no_grad():
        program = torch.onnx.export(wrapped, (example,), dynamo=True, opset_version=18,
                                    input_names=["pixel_values"], output_names=["logits"],
                                    verbose=False)
    program.save(str(path))
    return path


def time_ort(model: torch.nn.Module, example: torch.Tensor, threads: int = 2,
             repeats: int = 50) -> dict:
    """Median and p90 ms per clip for a batch-1 ORT CPU session, plus max |ORT - torch|."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, example[:1], Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {"pixel_values": example[:1].numpy()}
        for _ in range(5):  # warm-up: first runs allocate and pick kernels
            out = session.run(None, feed)[0]
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - start) * 1000.0)
    with torch.no_grad():
        reference = model(pixel_values=example[:1]).logits.numpy()
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
            "threads": threads, "max_abs_diff": float(np.abs(out - reference).max())}
