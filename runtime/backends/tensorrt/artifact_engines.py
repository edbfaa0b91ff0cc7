"""Engines for an existing artifact, built where they run: one engine per graph, added atomically.

A VideoMAE artifact has one graph; a video-text artifact has a video graph, a text graph and (X-CLIP)
a head or (CLIP mean-pool) a per-frame graph. Each gets its own engine, with a profile over every
dynamic axis: the batch axis of video, frame and head inputs, and the texts and tokens axes of the
text graph (tokens up to the tokenizer's maximum length). The strategy (strongly or weakly typed)
follows the installed TensorRT and decides which ONNX each engine is built from.

Engines and timing caches are written under temporary names and renamed into place, the manifest
last (atomically): a failure or Ctrl-C during the build leaves the artifact exactly as it was.
Needs the runtime and TensorRT only (no torch, no onnx): this is what `tubelet-engine` runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from runtime.artifact import describe_file, load_artifact, write_manifest
from runtime.backends.tensorrt.build import (STRONGLY_TYPED, WEAKLY_TYPED, BuildOptions, BuildPlan, EngineBuildError,
                                        NoGpuError, TensorRTMissingError, build_engine, import_tensorrt,
                                        source_precision, strategy_for)

# Which dynamic axes each graph input has, by name, when the manifest does not say (axis → range name).
INPUT_AXES = {"pixel_values": {0: "batch"}, "video_embeds": {0: "batch"}, "img_features": {0: "batch"},
              "input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"},
              "text_embeds": {0: "texts"}}
ROLE_KINDS = {"video": "onnx", "text": "onnx_text", "head": "onnx_head", "frame": "onnx_frame"}


@dataclass
class GraphBuild:
    role: str
    onnx: str  # the file the engine is built from
    engine: str  # model.fp16.engine, text.fp16.engine, ...
    engine_kind: str  # engine (the video graph) | engine_text | engine_head | engine_frame


def engine_name(role: str, precision: str) -> str:
    return f"{'model' if role == 'video' else role}.{precision}.engine"


def graph_builds(manifest, strategy: str, precision: str, calibrated: bool = False) -> list[GraphBuild]:
    """The engines this artifact gets, each with the ONNX the strategy builds it from."""
    wanted = source_precision(strategy, precision, calibrated)
    roles = ["video"]
    if manifest.task == "video_text":
        roles += [r for r in ("text", "head", "frame") if manifest.file_of_kind(ROLE_KINDS[r], "fp32")]
    builds = []
    for role in roles:
        kind = ROLE_KINDS[role]
        source = source_graph(manifest, kind, wanted, strategy)
        if source is None:
            raise EngineBuildError(_missing_source(role, kind, wanted, strategy, manifest))
        builds.append(GraphBuild(role, source, engine_name(role, precision),
                                 "engine" if role == "video" else f"engine_{role}"))
    return builds


def source_graph(manifest, kind: str, wanted: str, strategy: str) -> str | None:
    """The ONNX one graph's engine is built from. Strongly typed INT8 takes the Q/DQ graph whose unquantized
    compute is FP16 (model.int8.fp16.onnx); 8.6 takes model.int8.onnx and runs those layers in FP16 by flag."""
    if wanted == "int8" and strategy == STRONGLY_TYPED:
        return manifest.file_of_kind(kind, "int8", compute="fp16")
    return manifest.file_of_kind(kind, wanted)


def _missing_source(role: str, kind: str, wanted: str, strategy: str, manifest=None) -> str:
    if wanted == "int8" and strategy == STRONGLY_TYPED and manifest is not None \
            and manifest.file_of_kind(kind, "int8") is not None:
        gate = manifest.validation.get("int8_fp16") if isinstance(manifest.validation, dict) else None
        why = ("it failed its gate against FP32 (" + "; ".join(gate.get("problems") or []) + ")"
               if isinstance(gate, dict) and gate.get("passed") is False else "this artifact was calibrated before it existed")
        return ("a strongly typed INT8 engine is built from model.int8.fp16.onnx (Q/DQ with FP16 compute where not "
                f"quantized; model.int8.onnx would run those layers in FP32), which this artifact lacks: {why}; "
                "re-run python -m calibration int8 --artifact DIR, or build --precision fp16")
    if wanted == "int8":
        return ("an int8 engine is built from model.int8.onnx (explicit Q/DQ), which this artifact lacks: run the "
                "calibration step first (python -m calibration, or export/build_engine.py --calib-data DIR)")
    if wanted == "fp16":
        return (f"a strongly typed engine is built from the FP16 ONNX of the {role} graph ({kind}, precision fp16), "
                "which this artifact lacks (exported before FP16 graphs existed): re-export it with "
                "export/build_engine.py")
    return f"the artifact has no {wanted} ONNX for its {role} graph ({kind}); re-export it"


def axis_ranges(manifest, entry, opts: BuildOptions) -> dict[str, dict[int, tuple[int, int, int]]]:
    """input name → axis → (min, opt, max), from the graph's recorded axis names (or INPUT_AXES)."""
    section = manifest.video_text
    max_tokens = int((section.get("max_length") if isinstance(section, dict) else getattr(section, "max_length", None))
                     or 77)
    named = {"batch": tuple(opts.batch), "texts": tuple(opts.texts),
             "tokens": (1, min(16, max_tokens), max_tokens)}
    axes = entry.details.get("dynamic_axes") or {n: INPUT_AXES[n] for n in entry.details.get("inputs", INPUT_AXES)
                                                 if n in INPUT_AXES}
    ranges = {}
    for name, by_axis in axes.items():
        ranges[name] = {}
        for axis, label in by_axis.items():
            if label not in named:
                raise EngineBuildError(f"input {name!r} axis {axis} is dynamic as {label!r}, which has no profile "
                                       f"range (known: {sorted(named)})")
            ranges[name][int(axis)] = named[label]
    return ranges


def add_engines(folder: str | os.PathLike, opts: BuildOptions, log: Callable[[str], None] = print,
                calibrator=None, strategy: str | None = None) -> list[str]:
    """Build every graph's engine into the artifact folder and record them in its manifest.

    Raises TensorRTMissingError / NoGpuError where no engine can be built here, EngineBuildError
    for everything else; in every failure (and on Ctrl-C) the artifact is left as it was.
    """
    opts.check()
    folder = Path(folder)
    artifact = load_artifact(folder)  # hash-checks every file the engines are built from
    manifest = artifact.manifest
    trt = import_tensorrt()
    strategy = strategy or strategy_for(trt.__version__)
    if calibrator is not None and strategy != WEAKLY_TYPED:
        raise EngineBuildError(f"the legacy INT8 calibrator needs weak typing, which this builder uses on TensorRT 8.6 "
                               f"only; TensorRT {trt.__version__} builds strongly typed: build from model.int8.onnx "
                               "(explicit Q/DQ, python -m calibration)")
    builds = graph_builds(manifest, strategy, opts.precision, calibrated=calibrator is not None)
    from runtime.backends.tensorrt.build import new_builder

    new_builder(trt, trt.Logger(trt.Logger.ERROR))  # no GPU: one line now, before any file is touched
    staged: list[tuple[Path, Path]] = []
    entries = {}
    try:
        for build in builds:
            entries.update(_build_one(artifact, build, strategy, opts, log, calibrator, staged))
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    manifest.files.update(entries)
    manifest.validation["tensorrt_engine"] = {"built": True, "files": [b.engine for b in builds],
                                              "strategy": strategy, "tensorrt": str(trt.__version__)}
    write_manifest(folder, manifest)
    return [b.engine for b in builds]


def _build_one(artifact, build: GraphBuild, strategy: str, opts: BuildOptions, log, calibrator, staged) -> dict:
    from dataclasses import replace

    folder = artifact.folder
    source = artifact.path(build.onnx)
    entry = artifact.manifest.files[build.onnx]
    fp32_entry = artifact.manifest.files[artifact.manifest.file_of_kind(ROLE_KINDS[build.role], "fp32")]
    ranges = axis_ranges(artifact.manifest, entry if entry.details.get("dynamic_axes") else fp32_entry, opts)
    suffix = f".tmp-{os.getpid()}"
    final = folder / build.engine
    cache_final = Path(opts.timing_cache) if opts.timing_cache else final.with_name(final.stem + ".timing.cache")
    tmp_engine, tmp_cache = final.with_name(final.name + suffix), cache_final.with_name(cache_final.name + suffix)
    if cache_final.is_file():
        tmp_cache.write_bytes(cache_final.read_bytes())  # read, updated, and renamed back into place
    staged += [(tmp_engine, final), (tmp_cache, cache_final)]
    plan = BuildPlan(strategy, source, tmp_engine, ranges, calibrator if build.role == "video" else None)
    log(f"[{build.role}] {build.onnx} → {build.engine}")
    details = build_engine(plan, replace(opts, timing_cache=tmp_cache), log)
    details.update(role=build.role, onnx=build.onnx, timing_cache=cache_final.name)
    entries = {build.engine: _describe(tmp_engine, build.engine_kind, opts.precision, details)}
    if cache_final.parent.resolve() == folder.resolve():
        entries[cache_final.name] = _describe(tmp_cache, "timing_cache", None, {"tensorrt": details["tensorrt"]})
    return entries


def _describe(path: Path, kind: str, precision, details: dict):
    return describe_file(path, kind, precision=precision, details=details)


def no_engine_reason(opts: BuildOptions) -> str | None:
    """None where TensorRT can build here; else the one-line reason (no TensorRT, no GPU)."""
    try:
        trt = import_tensorrt()
    except TensorRTMissingError as exc:
        return str(exc)
    from runtime.backends.tensorrt.build import new_builder

    try:
        new_builder(trt, trt.Logger(trt.Logger.ERROR))
    except NoGpuError as exc:
        return str(exc)
    return None


def trtexec_lines(folder: str | os.PathLike, opts: BuildOptions) -> list[str]:
    """The trtexec commands that build this artifact's engines: strongly typed (TensorRT >= 10, from the
    FP16 or Q/DQ ONNX) and weakly typed (TensorRT 8.6, from the FP32 ONNX with norm layers pinned)."""
    from runtime.artifact import read_manifest
    from runtime.backends.tensorrt.trtexec import command_for
    from runtime.backends.tensorrt.build import profile_shapes

    folder = Path(folder)
    manifest = read_manifest(folder)
    lines = []
    for strategy, label in ((STRONGLY_TYPED, "TensorRT >= 10 (strongly typed)"), (WEAKLY_TYPED, "TensorRT 8.6")):
        try:
            builds = graph_builds(manifest, strategy, opts.precision)
        except EngineBuildError as exc:
            lines.append(f"# {label}: {exc}")
            continue
        lines.append(f"# {label}")
        for build in builds:
            entry = manifest.files[build.onnx]
            shapes = _input_shapes(manifest, build, entry)
            if shapes is None:
                lines.append(f"# {build.onnx}: the manifest records no input shapes; re-export to get this command")
                continue
            ranges = axis_ranges(manifest, entry if entry.details.get("dynamic_axes") else
                                 manifest.files[manifest.file_of_kind(ROLE_KINDS[build.role], "fp32")], opts)
            inputs = {n: profile_shapes(n, s, ranges.get(n, {})) for n, s in shapes.items()}
            fp32 = _fp32_nodes(manifest, build.role) if strategy == WEAKLY_TYPED else ()
            cmd = command_for(strategy, folder / build.onnx, folder / build.engine, inputs, opts, fp32)
            lines.append(" ".join(cmd))
    return lines


def _input_shapes(manifest, build: GraphBuild, entry) -> dict | None:
    """Input name → dims (-1 where dynamic), from the graph's recorded shapes or, for the video graph, the input spec."""
    kind = ROLE_KINDS[build.role]
    siblings = [manifest.files[n].details for n in (manifest.file_of_kind(kind, "fp32"), manifest.file_of_kind(kind, "fp16"))
                if n is not None]
    for details in [entry.details, *siblings]:  # the FP16 graph records its inputs' shapes for all of them
        if details.get("input_shapes"):
            return {n: [d if isinstance(d, int) and d > 0 else -1 for d in dims]
                    for n, dims in details["input_shapes"].items()}
    if build.role == "video":
        return {manifest.input.name: [-1, *manifest.input.shape(1)[1:]]}
    return None


def _fp32_nodes(manifest, role: str) -> list[str]:
    """The FP32 graph's node names that the FP16 graph keeps in FP32 (recorded when it was written)."""
    name = manifest.file_of_kind(ROLE_KINDS[role], "fp16")
    return list(manifest.files[name].details.get("fp32_nodes", [])) if name else []


def ensure_engines(folder: str | os.PathLike, opts: BuildOptions | None = None,
                   log: Callable[[str], None] = print) -> list[str]:
    """Engines usable on this machine: the artifact's own when they fit, else built now (first launch).

    Returns the engine names; raises EngineBuildError (TensorRTMissingError, NoGpuError) when none
    can be built here.
    """
    opts = opts or BuildOptions()
    artifact = load_artifact(folder)
    existing = usable_engines(artifact, opts.precision)
    if existing:
        log(f"reusing the engines built for this machine: {', '.join(existing)}")
        return existing
    from runtime.backends.tensorrt.build import new_builder

    trt = import_tensorrt()
    new_builder(trt, trt.Logger(trt.Logger.ERROR))  # no TensorRT or no GPU: say so before promising a build
    log(f"no {opts.precision} engine for this machine in {folder}: building it now (once; later launches reuse it)")
    return add_engines(folder, opts, log)


def usable_engines(artifact, precision: str) -> list[str]:
    """The artifact's engines of `precision` whose provenance matches this machine (all graphs), else []."""
    from runtime.backends.tensorrt.provenance import check_compatibility, this_machine

    manifest = artifact.manifest
    engines = [n for n, e in manifest.files.items() if e.kind.startswith("engine") and e.precision == precision]
    roles = {manifest.files[n].details.get("role", "video") for n in engines}
    needed = {"video"} | ({r for r in ("text", "head", "frame") if manifest.file_of_kind(ROLE_KINDS[r], "fp32")}
                          if manifest.task == "video_text" else set())
    if not engines or not needed <= roles:
        return []
    import_tensorrt()
    machine = this_machine()
    if all(check_compatibility(manifest.files[n].details, machine).ok for n in engines):
        return sorted(engines)
    return []


def build_on_first_launch(artifact, precision: str = "fp16", log: Callable[[str], None] = print):
    """The stream CLI's and StreamRunner's `build_engine` option: engines for this machine, built on the
    first launch and reused on the next ones. Where none can be built here (no TensorRT, no GPU) it
    says why in one line and returns the artifact as it was: the run goes on without an engine."""
    from runtime.backends.base import BackendError

    opts = BuildOptions(precision="int8" if precision == "int8" else "fp16")
    try:
        ensure_engines(artifact.folder, opts, log)
    except (EngineBuildError, BackendError) as exc:
        log(f"no engine built: {exc}")
        return artifact
    return load_artifact(artifact.folder)
