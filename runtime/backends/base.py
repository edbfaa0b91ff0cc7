"""One small backend interface: the public `infer` checks, the hook does the work."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.artifact.errors import ModelMismatchError
from runtime.cli.errors import TubeletError


class BackendError(TubeletError):
    """A backend could not be created or could not run.

    Its message is one line: the multi-line reports native libraries raise (OpenVINO's nested
    "Exception from src/...", ONNX Runtime's) are joined, so a command line prints one error line.
    """

    def __str__(self) -> str:
        return " ".join(line.strip() for line in super().__str__().splitlines() if line.strip())


class InputError(BackendError, ValueError):
    """The arrays given to `infer` do not match the model's inputs."""


class MissingDependencyError(BackendError, ImportError):
    """An optional heavy dependency is not installed; the message names the pip extra."""


class TransientBackendError(BackendError):
    """One call failed for a reason that may pass (a remote server down or slow): the recognizer counts the
    batch's windows as failed and the stream goes on; the backend itself retries on later calls."""


# Extras whose install differs by machine: TensorRT has one extra per CUDA major, and on JetPack it is
# the system's (pip has no TensorRT for JetPack 6).
INSTALL_HINTS = {"trt": "pip install 'tubelet[trt-cu12]' (CUDA 12) or 'tubelet[trt-cu13]' (CUDA 13); on JetPack the "
                        "system's TensorRT (sudo apt install python3-libnvinfer) and pip install 'cuda-python>=12.6,<13'",
                 # pip's OpenCV has no GStreamer; a Jetson's camera pipelines need JetPack's own build.
                 "opencv": "pip install 'tubelet[opencv]', or on a Jetson keep JetPack's system OpenCV (it has "
                           "GStreamer) and make it visible to this Python"}


def require(module: str, extra: str | None, purpose: str):
    """Import an optional module or raise an error that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} requires the '{module}' module, which is not importable ({exc}); "
            + f"install it with: {install_hint(extra)}"
        ) from exc


def install_hint(extra: str | None) -> str:
    """The pip command (or the machine's own route) that installs an extra."""
    if extra in INSTALL_HINTS:
        return INSTALL_HINTS[extra]
    return f"pip install 'tubelet[{extra}]'" if extra else "pip install tubelet"


@dataclass(frozen=True)
class TensorMeta:
    name: str
    shape: tuple  # ints, or None / a string for dynamic axes
    dtype: np.dtype


class Backend:
    """Subclasses fill `inputs`/`outputs` and implement `_infer`."""

    name = "base"
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = {meta.name: meta for meta in self.inputs}
        missing = sorted(set(expected) - set(feeds))
        extra = sorted(set(feeds) - set(expected))
        if missing or extra:
            raise InputError(f"{self.name}: inputs {sorted(expected)} expected; missing {missing}, unexpected {extra}")
        checked = {}
        for name, array in feeds.items():
            checked[name] = _check_array(self.name, expected[name], array)
        return self._infer(checked)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError  # the hook every backend provides

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_array(backend: str, meta: TensorMeta, array) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise InputError(f"{backend}: input {meta.name!r} must be a numpy array, got {type(array).__name__}")
    if array.dtype != meta.dtype:
        raise InputError(f"{backend}: input {meta.name!r} must be {meta.dtype}, got {array.dtype}")
    if array.ndim != len(meta.shape):
        raise InputError(
            f"{backend}: input {meta.name!r} must have {len(meta.shape)} dims {_fmt(meta.shape)}, got shape {array.shape}"
        )
    for axis, (want, got) in enumerate(zip(meta.shape, array.shape)):
        if isinstance(want, int) and want != got:
            raise InputError(
                f"{backend}: input {meta.name!r} axis {axis} must be {want} (shape {_fmt(meta.shape)}), "
                f"got shape {array.shape}; frames and resolution are fixed at export, only batch may vary"
            )
    if array.shape and array.shape[0] == 0:
        raise InputError(f"{backend}: input {meta.name!r} has an empty batch")
    return np.ascontiguousarray(array)


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) else "N" for d in shape) + ")"


def check_against_manifest(backend: "Backend", manifest, model: str | None = None, classifier: bool | None = None) -> None:
    """The model a backend opened must be the one the manifest describes, checked once at load time.

    A label count that differs from the model's output width, or another valid model with a matching
    hash, would otherwise fail with a numpy broadcast error at the first window. Checked: the input's
    name, rank and fixed dims against `manifest.input`; every manifest output is a model output; for a
    classifier, the first output is (batch, len(labels)). Dynamic dims (None) pass.
    """
    where = model or getattr(backend, "name", "the model")
    problems = _input_problems(backend.inputs, manifest.input)
    outputs = {meta.name: meta for meta in backend.outputs}
    missing = [name for name in manifest.outputs if name not in outputs]
    if missing:
        problems.append(f"outputs {missing} named in the manifest are not outputs of the model (it has {sorted(outputs)})")
    elif classifier if classifier is not None else manifest.task == "classification":
        logits = outputs[manifest.outputs[0]].shape
        width = logits[1] if len(logits) == 2 else None
        if len(logits) != 2:
            problems.append(f"output {manifest.outputs[0]!r} has shape {_fmt(logits)}; a classifier's is (N, labels)")
        elif isinstance(width, int) and width != len(manifest.labels):
            problems.append(f"output {manifest.outputs[0]!r} gives {width} scores per window but the manifest has "
                            f"{len(manifest.labels)} labels")
    if problems:
        raise ModelMismatchError(f"{where} does not match its manifest: " + "; ".join(problems)
                                 + "; the model or the manifest was replaced after export: re-export the artifact")


def _input_problems(inputs: list[TensorMeta], spec) -> list[str]:
    found = {meta.name: meta for meta in inputs}
    if spec.name not in found:
        return [f"input {spec.name!r} named in the manifest is not an input of the model (it has {sorted(found)})"]
    problems = []
    if len(found) > 1:
        problems.append(f"the model has inputs {sorted(found)}, the manifest describes only {spec.name!r}")
    want, got = spec.shape(1), found[spec.name].shape
    if len(got) != len(want):
        return problems + [f"input {spec.name!r} has {len(got)} dims {_fmt(got)}, the manifest's "
                           f"{spec.layout} clip has {len(want)}"]
    for axis in range(1, len(want)):  # axis 0 is the batch
        if isinstance(got[axis], int) and got[axis] != want[axis]:
            problems.append(f"input {spec.name!r} is {_fmt(got)}, the manifest's {spec.layout} clip is "
                            f"(N, {', '.join(map(str, want[1:]))})")
            break
    return problems
