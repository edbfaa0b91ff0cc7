"""TensorRT engines during an export: the runtime's engine builder, called on the staged artifact.

The builder itself lives in the runtime (runtime/backends/tensorrt/build.py and artifact_engines.py)
so that `tubelet-engine` builds engines on a robot without torch; export only decides when to call it.
Where TensorRT (or a GPU) is missing, the export records why in `validation.tensorrt_engine` and
goes on: the ONNX graphs (FP32 and FP16), the readiness verdict and the CPU FP16 gate are written
either way, and the trtexec commands are printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from runtime.backends.tensorrt.build import (PRECISIONS, BuildOptions, EngineBuildError, NoGpuError,  # noqa: F401
                                        TensorRTMissingError, import_tensorrt)


def add_engine(folder: Path, manifest, opts: BuildOptions, log: Callable[[str], None] = print, calibrator=None):
    """Build the artifact's engines (one per graph) into `folder` and record them in `manifest`.

    `folder` is the export's staging folder, whose manifest is not written yet: it is written here
    so the builder can verify what it builds from. Returns the first engine's name, or None (and the
    reason in `manifest.validation["tensorrt_engine"]`) where no engine can be built here.
    """
    from runtime.artifact import read_manifest, write_manifest
    from runtime.backends.tensorrt.artifact_engines import add_engines

    folder = Path(folder)
    write_manifest(folder, manifest)
    try:
        names = add_engines(folder, _for_installed(opts), log, calibrator=calibrator)
    except (TensorRTMissingError, NoGpuError) as exc:
        log(f"  no engine: {exc}")
        manifest.validation["tensorrt_engine"] = {"built": False, "reason": str(exc)}
        return None
    built = read_manifest(folder)
    manifest.files.update(built.files)
    manifest.validation["tensorrt_engine"] = built.validation["tensorrt_engine"]
    return names[0]


def _for_installed(opts: BuildOptions) -> BuildOptions:
    """--keep-fp32 went into the FP16 ONNX at export; a strongly typed build must not pin layers again."""
    from dataclasses import replace

    from runtime.backends.tensorrt.build import STRONGLY_TYPED, strategy_for

    trt = import_tensorrt()
    return replace(opts, keep_fp32=[]) if strategy_for(trt.__version__) == STRONGLY_TYPED else opts


def trtexec_for_artifact(folder: Path, opts: BuildOptions) -> list[str]:
    """The trtexec commands (strongly typed and TensorRT 8.6) for every graph of a written artifact."""
    from runtime.backends.tensorrt.artifact_engines import trtexec_lines

    return trtexec_lines(folder, opts)


def engines_for_artifact(folder: Path, opts: BuildOptions, log: Callable[[str], None] = print) -> list[str]:
    """After a video-text export: an FP16 engine per graph where TensorRT and a GPU are, else the
    one-line reason and the tubelet-engine / trtexec commands for the target."""
    from runtime.backends.tensorrt.artifact_engines import add_engines

    try:
        return add_engines(folder, _for_installed(opts), log)
    except (TensorRTMissingError, NoGpuError) as exc:
        log(f"no engine: {exc}")
        log(f"build the engines on the target with: tubelet-engine --artifact {folder} --precision {opts.precision}"
            "\nor with trtexec:\n  " + "\n  ".join(trtexec_for_artifact(folder, opts)))
        return []
