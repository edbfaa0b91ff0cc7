"""Run hostile-input cases in a child process, so a crash or a hang is a result, not a dead test run.

The parent (`run_cases`) starts `python -m testbed.faults.case_runner`, sends it the cases as
JSON on stdin, and reads one JSON line per case from its stdout. The child imports the runtime once
(signalling "ready"), then times each case from its first call to its outcome. If the child dies
(a segfault in a native library) or stays silent past `timeout_s` on a case, that case is recorded
as "crash" or "hang", the child is killed, and a fresh child carries on with the next case.

Case kinds (what the robot would do with the file):
  artifact: load_artifact(folder) → open_backend(artifact, "cpu") → one inference on zeros
  backend:  OnnxRuntimeBackend(path, device="cpu") → one inference on zeros
  manifest: read_manifest(folder)
  engine:   load_artifact(folder, verify=False), then the TensorRT backend's read-and-hash of the
            engine bytes (the gate before deserialize_cuda_engine; runs without TensorRT)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Errors the runtime promises for bad files: anything else (KeyError, struct.error, ...) is a bug.
TYPED = ("ArtifactError", "BackendError", "SourceError", "VideoTextError")


@dataclass
class Outcome:
    case: str
    outcome: str  # ok | error | crash | hang
    error: str | None = None  # exception class name
    typed: bool = False  # the error is one of the runtime's typed errors
    seconds: float | None = None  # time from the case's first call to its outcome, in the child
    message: str = ""


def run_cases(cases: list[dict], timeout_s: float = 2.0, startup_s: float = 60.0) -> list[Outcome]:
    """Run every case (dicts with id, kind, path); a fresh child after each crash or hang."""
    results: list[Outcome] = []
    todo = list(cases)
    while todo:
        results.extend(_run_child(todo, timeout_s, startup_s))
        done = {r.case for r in results}
        todo = [c for c in todo if c["id"] not in done]
    return results


def _run_child(cases: list[dict], timeout_s: float, startup_s: float) -> list[Outcome]:
    import selectors

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-m", "testbed.faults.case_runner"], cwd=REPO, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    child.stdin.write(json.dumps(cases))
    child.stdin.close()
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    results, current, deadline = [], 0, time.monotonic() + startup_s
    try:
        while current < len(cases):
            if not selector.select(timeout=max(deadline - time.monotonic(), 0.0)):
                results.append(Outcome(cases[current]["id"], "hang", message=f"no answer within {timeout_s} s"))
                return results
            line = child.stdout.readline()
            if not line:  # the child died mid-case: a crash (e.g. SIGSEGV in a native library)
                code = child.wait()
                results.append(Outcome(cases[current]["id"], "crash", message=f"child exited with {code}"))
                return results
            data = json.loads(line)
            if data.get("ready") or data.get("start"):
                deadline = time.monotonic() + timeout_s + 1.0  # a little slack for the pipe and scheduling
                continue
            results.append(Outcome(**data))
            current += 1
        return results
    finally:
        child.kill()
        child.wait()


def _zeros(backend):
    import numpy as np

    feeds = {}
    for meta in backend.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in meta.shape)
        feeds[meta.name] = np.zeros(shape, meta.dtype)
    return backend.infer(feeds)


def _run_one(case: dict) -> None:
    from runtime.artifact import load_artifact, read_manifest
    from runtime.backends import open_backend
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    kind, path = case["kind"], case["path"]
    if kind == "artifact":
        with open_backend(load_artifact(path), "cpu", threads=1) as backend:
            _zeros(backend)
    elif kind == "backend":
        with OnnxRuntimeBackend(path, device="cpu", threads=1) as backend:
            _zeros(backend)
    elif kind == "manifest":
        read_manifest(path)
    elif kind == "engine":
        from runtime.backends.tensorrt.runner import _pick_engine, _verified_bytes

        artifact = load_artifact(path, verify=False)  # the TensorRT backend's own gate must catch it
        name = _pick_engine(artifact.manifest)
        _verified_bytes(artifact, name, artifact.manifest.files[name])
    else:
        raise ValueError(f"unknown case kind {kind!r}")


def _child() -> None:
    cases = json.loads(sys.stdin.read())
    import runtime.backends.onnxruntime  # noqa: F401 - import cost is paid once, before the clock runs
    import runtime.backends.tensorrt.runner  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for case in cases:
        print(json.dumps({"start": case["id"]}), flush=True)
        start = time.perf_counter()
        try:
            _run_one(case)
            result = Outcome(case["id"], "ok")
        except Exception as exc:  # noqa: BLE001 - classifying every error is the point
            names = [cls.__name__ for cls in type(exc).__mro__]
            result = Outcome(case["id"], "error", type(exc).__name__, any(n in TYPED for n in names),
                             message=str(exc)[:300])
        result.seconds = round(time.perf_counter() - start, 4)
        print(json.dumps(result.__dict__), flush=True)


if __name__ == "__main__":
    _child()
