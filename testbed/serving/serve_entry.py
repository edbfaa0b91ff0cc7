"""A real Triton server (PyTriton's bundled tritonserver) serving repository entries written by tubelet-triton.

Runs under Python 3.12 in its own venv (nvidia-pytriton, onnxruntime, numpy; see testbed/serving/server.py).
For each --entry it parses the entry's config.pbtxt into Triton's ModelConfig and binds a function
that runs the entry's 1/model.onnx through ONNX Runtime under exactly the names, data types, dims,
max batch size and dynamic batcher that config declares. This is Triton's Python backend running
ONNX Runtime, not Triton's own onnxruntime backend (which the PyTriton wheel does not bundle).

SIGTERM and SIGINT exit through PyTriton's context, which stops tritonserver: nothing is orphaned.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import numpy as np

DTYPES = {"TYPE_FP32": np.float32, "TYPE_FP16": np.float16, "TYPE_INT64": np.int64, "TYPE_INT32": np.int32}


def read_config(entry: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse((entry / "config.pbtxt").read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def bind_entry(triton, entry: Path, threads: int) -> str:
    import onnxruntime as ort
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from tritonclient.grpc import model_config_pb2

    config = read_config(entry)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(entry / "1" / "model.onnx"), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in config.output]
    type_name = model_config_pb2.DataType.Name

    def tensors(items):
        return [Tensor(name=t.name, dtype=DTYPES[type_name(t.data_type)], shape=tuple(t.dims)) for t in items]

    @batch
    def infer(**inputs):
        return dict(zip(names, session.run(names, inputs)))

    batcher = DynamicBatcher(max_queue_delay_microseconds=config.dynamic_batching.max_queue_delay_microseconds,
                             preferred_batch_size=list(config.dynamic_batching.preferred_batch_size) or None)
    triton.bind(model_name=config.name, infer_func=infer, inputs=tensors(config.input), outputs=tensors(config.output),
                config=ModelConfig(max_batch_size=config.max_batch_size, batcher=batcher), strict=True)
    return config.name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--entry", action="append", required=True, type=Path, help="repository entry folder")
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per model")
    args = p.parse_args()
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = TritonConfig(grpc_address="127.0.0.1", http_address="127.0.0.1", grpc_port=args.grpc_port,
                          http_port=args.http_port, metrics_port=args.metrics_port, exit_timeout_secs=2)
    # Loopback only, so no endpoint needs PyTriton's access token: the statistics API stays readable.
    security = TritonSecurityConfig(restricted_endpoints=[])
    with Triton(config=config, workspace=args.workspace, security_config=security) as triton:
        served = [bind_entry(triton, entry, args.threads) for entry in args.entry]
        triton.run()
        print(f"serving {', '.join(served)} on grpc {args.grpc_port} http {args.http_port}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
