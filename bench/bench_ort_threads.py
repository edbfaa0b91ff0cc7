"""ONNX Runtime's default thread pool against an explicit thread count, with and without other work on the cores.

    python bench/bench_ort_threads.py --artifact build/videomae-motion --rounds 5
    python bench/bench_ort_threads.py --artifact build/videomae-motion --rounds 5 --cores 1

With intra_op_num_threads left at 0, ONNX Runtime makes one thread per physical core and pins each to
its core (onnxruntime.ai, "Thread management"), whatever cores the process was limited to: a robot
that keeps its control loop's core free with taskset or a cpuset finds an inference thread on it.
The runtime's backend (runtime/backends/onnxruntime.py) therefore always sets the count: --threads,
or the cores this process may run on. This measures what that costs. Sessions, batch 1, on the
artifact's FP32 ONNX:

- ORT default: intra_op_num_threads 0;
- explicit: intra_op_num_threads = the cores this process may use, inter_op 1 (the backend's default);

each timed with no other work, then beside `--load-threads` threads of busy work (numpy, which
releases the GIL, as a camera driver or a ROS node would use a core). Sessions alternate per round
so a shared machine's load hits both alike; medians of the per-round medians, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import median_ms  # noqa: E402


def _busy(stop: threading.Event) -> None:
    a = np.random.default_rng(0).random((256, 256), np.float32)
    while not stop.is_set():
        np.dot(a, a)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default=str(ROOT / "build" / "videomae-motion"),
                        help="artifact folder (python export/build_engine.py writes build/videomae-motion)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=30, help="timed calls per session per round")
    parser.add_argument("--load-threads", type=int, default=1, help="busy threads beside inference in the loaded runs")
    parser.add_argument("--cores", type=int, default=None,
                        help="first limit this process to its first N cores (as taskset or a container's cpuset would)")
    args = parser.parse_args(argv)
    if args.cores is not None:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.cores])

    import onnxruntime as ort

    from runtime.artifact import load_artifact
    from runtime.backends.onnxruntime import (
        OnnxRuntimeBackend,
        cpu_count,
        tensorrt_ep_model,
    )

    artifact = load_artifact(args.artifact)
    path = artifact.path(tensorrt_ep_model(artifact.manifest, "fp32")[0])  # the FP32 graph, hash checked
    options = ort.SessionOptions()
    default = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    backend = OnnxRuntimeBackend(path, device="cpu")
    meta = backend.inputs[0]
    shape = [1 if d is None else d for d in meta.shape]
    clip = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    sessions = {"ORT default (0: pinned, one per physical core)": lambda: default.run(None, {meta.name: clip}),
                f"explicit {cpu_count()} (the backend's default)": lambda: backend.infer({meta.name: clip})}
    for run in sessions.values():
        for _ in range(5):
            run()
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for load in (0, args.load_threads):
            stop = threading.Event()
            workers = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(load)]
            for worker in workers:
                worker.start()
            try:
                for name, run in sessions.items():
                    results.setdefault((name, load), []).append(median_ms(run, args.calls))
            finally:
                stop.set()
                for worker in workers:
                    worker.join()
    print(f"Artifact `{args.artifact}` ({path.name}), batch 1, {args.rounds} rounds x {args.calls} calls, "
          f"{os.cpu_count()} CPUs, {cpu_count()} this process may use; medians of per-round medians.\n")
    print("| session | no other work | beside " + f"{args.load_threads} busy thread(s) |")
    print("|---|---|---|")
    medians = {key: statistics.median(values) for key, values in results.items()}
    for name in sessions:
        print(f"| {name} | {medians[(name, 0)]:.2f} ms | {medians[(name, args.load_threads)]:.2f} ms |")
    names = list(sessions)
    for load in (0, args.load_threads):
        ratio = medians[(names[1], load)] / medians[(names[0], load)]
        print(f"\nexplicit / default, {'no other work' if load == 0 else f'{load} busy thread(s)'}: {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
