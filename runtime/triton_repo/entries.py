"""Artifact → repository entries: what each `config.pbtxt` says, taken from the manifest.

Names, data types and dims come from the manifest and are checked against the ONNX graph itself
(read with ONNX Runtime, a core dependency), so a repository never declares what the model does
not have. The TensorRT plan's I/O types are those of the ONNX it was built from (the engine's
provenance names that file's sha256).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from runtime.artifact import MANIFEST_NAME, Artifact
from runtime.cli.errors import TubeletError
from runtime.triton_repo.config import KINDS, LABELS_FILE, MANIFEST_PARAMETER, ModelEntry, TensorSpec, triton_type

DEFAULT_MAX_BATCH = 8  # as the recognizer: an artifact without a batch profile


class RepositoryError(TubeletError):
    """The artifact cannot become a repository entry, or the entry cannot be written."""


@dataclass
class RepositoryOptions:
    name: str | None = None  # default: the artifact folder's name
    preferred_batch_sizes: tuple[int, ...] | None = None  # default: half the max batch and the max
    queue_delay_us: int = 1000
    instance_count: int = 1
    instance_kind: str = "auto"  # auto | gpu | cpu, for the ONNX entry; a TensorRT plan runs on a GPU
    engines: bool = True  # also write a tensorrt_plan entry per engine in the artifact

    def check(self) -> None:
        if self.instance_kind not in KINDS:
            raise RepositoryError(f"instance kind {self.instance_kind!r} unknown; choose one of {sorted(KINDS)}")
        if self.instance_count < 1:
            raise RepositoryError(f"instance count must be >= 1, got {self.instance_count}")
        if self.queue_delay_us < 0:
            raise RepositoryError(f"queue delay must be >= 0 microseconds, got {self.queue_delay_us}")
        if self.name is not None:
            check_model_name(self.name)


def check_model_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        raise RepositoryError(f"model name {name!r} is not a plain folder name; pick e.g. 'videomae-motion'")
    return name


def entries_for(artifact: Artifact, options: RepositoryOptions) -> list[ModelEntry]:
    """The ONNX entry, then one tensorrt_plan entry per engine (when options.engines)."""
    options.check()
    m = artifact.manifest
    if m.task != "classification":
        raise RepositoryError(
            f"{artifact.folder} is a {m.task} artifact; tubelet-triton writes classification artifacts only "
            "(a video-text model is several graphs plus prompt embeddings that the runtime combines: run it "
            "with python -m runtime.stream on the robot, or export a classification artifact)")
    if len(m.outputs) != 1:
        raise RepositoryError(f"{artifact.folder} declares outputs {m.outputs}; one logits output is expected")
    for label in m.labels:
        if "\n" in label or "\r" in label:
            raise RepositoryError(f"label {label!r} holds a line break; Triton's labels file is one label per line")
    name = check_model_name(options.name or artifact.folder.resolve().name)
    onnx_name = m.file_of_kind("onnx", "fp32")
    if onnx_name is None:
        raise RepositoryError(f"{artifact.folder} holds no fp32 ONNX model; re-export it with export/build_engine.py")
    io = _onnx_io(artifact, onnx_name)
    max_batch = _profile_max(m.files[onnx_name].details.get("batch_profile"))
    data = tuple(n for n, e in m.files.items() if e.kind == "onnx_data")
    parameters = {MANIFEST_PARAMETER: manifest_sha256(artifact)}
    entries = [_entry(name, "onnxruntime_onnx", onnx_name, max_batch, io, options, options.instance_kind,
                      parameters, data)]
    if options.engines:
        for engine in sorted(n for n, e in m.files.items() if e.kind == "engine"):
            entry = m.files[engine]
            source = _engine_source(artifact, entry.details.get("onnx_sha256")) or onnx_name
            profile = (entry.details.get("profile") or {}).get(m.input.name)
            limit = int(profile[2][0]) if profile else max_batch
            suffix = entry.precision or "plan"
            entries.append(_entry(f"{name}_trt_{suffix}", "tensorrt_plan", engine, limit, _onnx_io(artifact, source),
                                  options, "gpu", parameters, ()))
    return entries


def manifest_sha256(artifact: Artifact) -> str:
    return hashlib.sha256((artifact.folder / MANIFEST_NAME).read_bytes()).hexdigest()


def _entry(name, platform, source, max_batch, io, options, kind, parameters, data) -> ModelEntry:
    inputs, outputs = io
    preferred = options.preferred_batch_sizes
    if preferred is None:
        preferred = tuple(sorted({b for b in (max_batch // 2, max_batch) if b > 1}))
    bad = [b for b in preferred if not 1 <= b <= max_batch]
    if bad:
        raise RepositoryError(f"preferred batch sizes {bad} lie outside 1..{max_batch} (the artifact's batch profile "
                              f"for {source}); choose sizes up to {max_batch}")
    return ModelEntry(name, platform, source, max_batch, inputs, outputs, tuple(sorted(set(preferred))),
                      options.queue_delay_us, options.instance_count, kind, dict(parameters), data)


def _profile_max(profile) -> int:
    if isinstance(profile, (list, tuple)) and len(profile) == 3:
        return int(profile[2])
    return DEFAULT_MAX_BATCH


def _engine_source(artifact: Artifact, sha256) -> str | None:
    for name, entry in artifact.manifest.files.items():
        if entry.kind == "onnx" and sha256 and entry.sha256 == sha256:
            return name
    return None


def _onnx_io(artifact: Artifact, onnx_name: str) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The manifest's input and output, checked against the graph (names, dims, a dynamic batch axis)."""
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    m = artifact.manifest
    path = artifact.path(onnx_name)  # verifies the hash (and external data)
    with OnnxRuntimeBackend(path, device="cpu", threads=1) as graph:
        ins = {t.name: t for t in graph.inputs}
        outs = {t.name: t for t in graph.outputs}
    spec = m.input
    if set(ins) != {spec.name}:
        raise RepositoryError(f"{onnx_name} has inputs {sorted(ins)}, the manifest says [{spec.name!r}]; re-export")
    graph_in = ins[spec.name]
    want = tuple(spec.shape(1)[1:])
    if isinstance(graph_in.shape[0], int) or tuple(graph_in.shape[1:]) != want:
        raise RepositoryError(f"{onnx_name} input {spec.name!r} has shape {graph_in.shape}, the manifest says "
                              f"(batch, {', '.join(map(str, want))}) with a dynamic batch axis; re-export")
    if graph_in.dtype.name != spec.dtype:
        raise RepositoryError(f"{onnx_name} input {spec.name!r} is {graph_in.dtype.name}, the manifest says {spec.dtype}")
    out_name = m.outputs[0]
    if out_name not in outs:
        raise RepositoryError(f"{onnx_name} has outputs {sorted(outs)}, the manifest names {out_name!r}; re-export")
    out = outs[out_name]
    if len(out.shape) != 2 or out.shape[1] not in (None, len(m.labels)):
        raise RepositoryError(f"{onnx_name} output {out_name!r} has shape {out.shape}; (batch, {len(m.labels)}) "
                              f"is expected for {len(m.labels)} labels")
    triton_type(spec.dtype)  # refuse a type Triton has no name for, before anything is written
    return ((TensorSpec(spec.name, graph_in.dtype.name, want),),
            (TensorSpec(out_name, out.dtype.name, (len(m.labels),), LABELS_FILE),))
