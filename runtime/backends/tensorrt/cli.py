"""tubelet-engine: build TensorRT engines for an existing artifact, on the machine that will run them.

    tubelet-engine --artifact build/videomae-motion --precision fp16
    python -m runtime.backends.tensorrt.cli --artifact DIR --precision int8 --batch 1,2,4 --workspace 2048

Needs the runtime and TensorRT only (no torch, no onnx). TensorRT >= 10 builds strongly typed from
the artifact's FP16 (or Q/DQ INT8) ONNX; TensorRT 8.6 (JetPack 6.0) builds weakly typed from the
FP32 ONNX with the norm layers pinned to FP32. Without TensorRT (or without a GPU) it exits 1 with
one line saying why, then prints the equivalent trtexec commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime.cli.args import add_precision, min_opt_max
from runtime.cli.errors import TubeletError
from runtime.cli.main import one_line, run_main

EXAMPLES = """examples:
  tubelet-engine --artifact build/videomae-motion                       # fp16, batch 1,1,8
  tubelet-engine --artifact build/videomae-motion --precision int8      # Q/DQ: model.int8.fp16.onnx (8.6: model.int8.onnx)
  tubelet-engine --artifact build/videotext-motion --texts 1,8,32       # video-text: one engine per graph
  tubelet-engine --artifact DIR --dla-core 0                            # Orin DLA, GPU fallback
"""


KEEP_FP32_HELP = ("TensorRT 8.6 builds: also pin layers whose name matches this glob to FP32 (repeatable); "
                  "strongly typed builds take it from the FP16 ONNX (set at export)")


def add_builder_arguments(parser: argparse.ArgumentParser, batch: bool = True, title: str = "TensorRT engine (see docs/TENSORRT.md)",
                          keep_fp32_help: str = KEEP_FP32_HELP) -> None:
    """The builder options, shared by tubelet-engine and export/build_engine.py (which has its own --batch,
    the profile it exports for, and whose --keep-fp32 also shapes the FP16 ONNX it writes)."""
    group = parser.add_argument_group(title)
    if batch:
        group.add_argument("--batch", default=None, type=min_opt_max, metavar="MIN,OPT,MAX",
                           help="batch sizes the engine serves (default: the batch profile the artifact was "
                                "exported with, else 1,1,8)")
    group.add_argument("--texts", default=(1, 8, 64), type=min_opt_max, metavar="MIN,OPT,MAX",
                       help="video-text: prompts per text/head call (default 1,8,64)")
    group.add_argument("--workspace", type=int, metavar="MIB", help="builder workspace limit in MiB (default: TensorRT's)")
    group.add_argument("--opt-level", type=int, choices=range(6), metavar="0-5",
                       help="builder optimization level (TensorRT default 3; higher builds longer, may run faster)")
    group.add_argument("--keep-fp32", action="append", default=[], metavar="LAYER/PATTERN", help=keep_fp32_help)
    group.add_argument("--version-compatible", action="store_true",
                       help="engine loads on later TensorRT versions of the same major (TensorRT >= 8.6)")
    group.add_argument("--hardware-compat", choices=("none", "ampere+"), default="none",
                       help="ampere+: engine loads on any GPU of compute capability >= 8.0 (not on JetPack)")
    group.add_argument("--dla-core", type=int, metavar="N", help="build for DLA core N (Orin), GPU fallback for the rest")
    group.add_argument("--no-gpu-fallback", action="store_true", help="with --dla-core: fail if a layer cannot run on DLA")
    group.add_argument("--timing-cache", type=Path, metavar="FILE",
                       help="timing cache to read and update (default: <engine>.timing.cache beside the engine)")


def builder_options(args, precision: str):
    from runtime.backends.tensorrt.build import BuildOptions

    batch = tuple(args.batch) if args.batch else _exported_batch(getattr(args, "artifact", None))
    opts = BuildOptions(precision=precision, batch=batch, texts=tuple(args.texts),
                        workspace_mib=args.workspace, opt_level=args.opt_level, keep_fp32=list(args.keep_fp32),
                        version_compatible=args.version_compatible, hardware_compat=args.hardware_compat,
                        dla_core=args.dla_core, gpu_fallback=not args.no_gpu_fallback, timing_cache=args.timing_cache)
    opts.check()
    return opts


def _exported_batch(folder) -> tuple[int, int, int]:
    """The batch profile the artifact's FP32 graph was exported for (its manifest says), else 1,1,8."""
    from runtime.artifact import ArtifactError, read_manifest

    try:
        manifest = read_manifest(folder)
        entry = manifest.files[manifest.file_of_kind("onnx", "fp32")]
    except (ArtifactError, KeyError, TypeError):
        return (1, 1, 8)  # the build reports an unreadable artifact itself
    return tuple(entry.batch_profile or (1, 1, 8))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tubelet-engine", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, required=True, help="an artifact folder written by export/build_engine.py")
    add_precision(parser, ("fp16", "int8"), "fp16", help="engine precision (default fp16)")
    add_builder_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_main(build, args, interrupted="interrupted: the artifact is unchanged",
                    error_note="(the artifact is unchanged)")


def build(args) -> int:
    """Build and record the engines; without TensorRT or a GPU say why, then print the trtexec commands."""
    from runtime.backends.tensorrt.artifact_engines import add_engines, trtexec_lines
    from runtime.backends.tensorrt.build import NoGpuError, TensorRTMissingError

    opts = builder_options(args, args.precision)  # BuildOptionsError: a usage error, exit 2
    try:
        names = add_engines(args.artifact, opts)
    except (TensorRTMissingError, NoGpuError) as exc:  # not a dead end: the same engines with trtexec
        print(f"error: {one_line(exc)}", file=sys.stderr)
        try:
            lines = trtexec_lines(args.artifact, opts)
        except TubeletError as detail:
            lines = [f"# no trtexec command: {one_line(detail)}"]
        print("the same engines with trtexec, on the target:\n  " + "\n  ".join(lines))
        return 1
    print(f"added {', '.join(names)} to {args.artifact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
