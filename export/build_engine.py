"""Export a trained video model to a Tubelet artifact: ONNX (+ TensorRT engines) + manifest.

Run as `python export/build_engine.py ...` (or `python -m export.build_engine`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_TARGET_FPS = 1000.0  # the manifest's bound (runtime/artifact/bounds.py)
BUNDLED_MODEL = REPO / "models" / "videomae-motion"

EXAMPLES = """examples:
  python export/build_engine.py                                  # the bundled model -> build/videomae-motion
  python export/build_engine.py --model path/to/save_pretrained_dir --output build/mine
  python export/build_engine.py --model MCG-NJU/videomae-base-finetuned-kinetics --output build/k400 --batch 1,2,4
  python export/build_engine.py --model DIR --output OUT --overwrite --atol 5e-4
  python export/build_engine.py --model DIR --output OUT --precision fp16 --workspace 2048 --opset 17
  python export/build_engine.py --model DIR --output OUT --precision fp16 --keep-fp32 '/videomae/encoder/layer.0/*'
  python export/build_engine.py --model DIR --output OUT --precision fp16 --dla-core 0   # Orin DLA, GPU fallback
  python export/build_engine.py --precision int8 --calib-data 'synthetic://?clips'   # + Q/DQ INT8 graphs (gated); see docs/CALIBRATION.md
  python export/build_engine.py --model models/videotext-motion --output build/videotext-motion   # video-text; docs/VIDEO_TEXT.md
  python export/build_engine.py --model XCLIP_DIR --output build/xclip --prompts prompts.txt       # family from config.json
"""


def parse_args(argv=None) -> argparse.Namespace:
    from calibration.options import OneLineParser, add_int8_arguments
    from export.models.registry import names
    from runtime.backends.tensorrt.cli import add_builder_arguments
    from runtime.cli.args import min_opt_max

    parser = OneLineParser(
        prog="build_engine.py", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a transformers save_pretrained folder (safetensors) or a hub id "
                        f"(default: the bundled model {BUNDLED_MODEL.relative_to(REPO)})")
    parser.add_argument("--output", help="artifact folder to write (default: build/<model name>)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17: the newest TensorRT 8.6 on JetPack 6.0 parses)")
    parser.add_argument("--batch", default="1,1,8", type=min_opt_max, metavar="MIN,OPT,MAX",
                        help="batch sizes the graph and engines serve (default 1,1,8); only batch is dynamic")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"),
                        help="fp32: ONNX artifact; fp16/int8: also a TensorRT engine (needs TensorRT)")
    parser.add_argument("--labels", type=Path, help="text file with one class label per line, for configs without id2label")
    parser.add_argument("--atol", type=_tolerance, default=1e-4, help="max abs error allowed between PyTorch and ONNX Runtime")
    parser.add_argument("--allow-parity-failure", action="store_true",
                        help="write the artifact even if the parity gate fails (the failure is recorded in the manifest)")
    parser.add_argument("--frame-stride", type=int, default=None,
                        help="runtime sampling: take every n-th camera frame (default: the checkpoint's sampling.json, else 1)")
    parser.add_argument("--target-fps", type=float, default=None,
                        help="runtime sampling: sample frames at this rate by timestamp (default: sampling.json, else off)")
    parser.add_argument("--window-stride", type=int, default=None,
                        help="runtime: a window every n sampled frames (default: sampling.json, else frames/4)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder (atomically)")
    parser.add_argument("--family", default="auto", choices=("auto", *names()),
                        help="model family (default: from config.json's model_type); video-text families: docs/VIDEO_TEXT.md")
    parser.add_argument("--prompts", type=Path, help="video-text: label prompts, one per line, encoded into text_embeddings.npy")
    parser.add_argument("--frames", type=int, help="clip-meanpool: frames per window (CLIP has no clip length; default 8)")
    parser.add_argument("--verbose", action="store_true",
                        help="also show the libraries' own warnings and progress bars (torch, transformers)")
    add_builder_arguments(parser, batch=False, title="TensorRT engine (--precision fp16|int8; see docs/TENSORRT.md)", keep_fp32_help=(
        "also keep layers whose name matches this glob in FP32 (repeatable); norms, softmax and their "
        "reductions/pow are always kept"))
    add_int8_arguments(parser, required=False)  # --calib-data SPEC and the gate's options
    args = parser.parse_args(argv)
    if (args.precision == "int8") != (args.calib_data is not None):
        parser.error("--precision int8 and --calib-data SPEC go together: INT8 is calibrated on clips "
                     "(e.g. --calib-data 'synthetic://?clips', or a folder of videos); see docs/CALIBRATION.md")
    if args.opset < 17:
        parser.error(f"--opset {args.opset}: use 17 or newer, so LayerNorm exports as one op that TensorRT keeps in FP32")
    newest = _newest_opset()
    if newest is not None and args.opset > newest:
        parser.error(f"--opset {args.opset}: the installed onnx knows opsets up to {newest} (default 17, what TensorRT 8.6 parses)")
    if args.model is None:
        if not (BUNDLED_MODEL / "config.json").is_file():
            parser.error(f"--model is required: the bundled model {BUNDLED_MODEL} is not present in this checkout")
        args.model = str(BUNDLED_MODEL)
    if args.output is None:
        args.output = str(REPO / "build" / Path(args.model.rstrip("/")).name)
    if any(v is not None and v < 1 for v in (args.frame_stride, args.window_stride)):
        parser.error("--frame-stride and --window-stride must be >= 1")
    if args.target_fps is not None and not (math.isfinite(args.target_fps) and 0 < args.target_fps <= MAX_TARGET_FPS):
        parser.error(f"--target-fps {args.target_fps:g}: expected a rate in (0, {MAX_TARGET_FPS:g}] frames per second")
    if args.frames is not None and args.frames < 1:
        parser.error(f"--frames {args.frames}: expected a number of frames >= 1")
    return args


def engine_options(args):
    """The builder's options from the command line, or None for an ONNX-only (fp32) export."""
    if args.precision == "fp32":
        return None
    from runtime.backends.tensorrt.cli import builder_options

    return builder_options(args, args.precision)  # args.batch: the profile this export writes


def _sampling_overrides(args) -> dict:
    """Only what the user typed: the rest comes from the checkpoint (see export/models/videomae.py)."""
    given = {"frame_stride": args.frame_stride, "target_fps": args.target_fps, "window_stride": args.window_stride}
    return {k: v for k, v in given.items() if v is not None}


def _newest_opset() -> int | None:
    try:
        import onnx
    except ImportError:  # the export itself names the missing extra
        return None
    return int(onnx.defs.onnx_opset_version())


def _tolerance(text: str) -> float:
    from export.validate import check_atol

    try:
        return check_atol(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--atol {text!r}: expected a finite number >= 0, e.g. 1e-4") from None


def _tensorrt_status() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return ("TensorRT is not importable here: writing the ONNX artifact only (on the target: pip install "
                "'tubelet[trt-cu12]' (CUDA 12) or 'tubelet[trt-cu13]' (CUDA 13); on JetPack the system's TensorRT)")
    return None


class Terminated(BaseException):
    """SIGTERM, raised where the export is so that its staging folder is cleaned up on the way out."""


def main(argv=None) -> int:
    args = parse_args(argv)
    _library_output(args.verbose)
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # main() called from a thread other than the main one: leave signals alone
        previous = None
    try:
        from runtime.cli.main import run_main

        return run_main(_checked_main, args, interrupted=None)  # Ctrl-C and SIGTERM: what was written, below
    except (KeyboardInterrupt, Terminated) as stop:
        word, code = ("interrupted", 130) if isinstance(stop, KeyboardInterrupt) else ("terminated", 143)
        if getattr(args, "published", None):  # stopped during INT8 calibration, after the FP32 artifact
            print(f"{word}: the FP32 artifact in {args.published} is complete; no INT8 model was added", file=sys.stderr)
        else:
            print(f"{word}: nothing was written to {args.output} (an artifact already there is unchanged)",
                  file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame):
    raise Terminated()


class _LevelColonMessage(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _library_output(verbose: bool) -> None:
    """Our warnings as one `warning:` line each on stderr; the libraries' own noise only with --verbose.

    Without this an export prints four "torchvision is not installed" lines, transformers' progress
    bars (which an error line then lands in the middle of) and exporter warnings before what matters.
    Set before torch and transformers are imported: both read these at import time.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelColonMessage())
    ours = logging.getLogger("tubelet")
    if not any(getattr(h, "tubelet_cli", False) for h in ours.handlers):
        handler.tubelet_cli = True
        ours.addHandler(handler)
        ours.propagate = False
    for name in ("torch", "transformers", "onnxscript", "onnx_ir", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    if verbose:
        return
    os.environ.setdefault("TORCH_LOGS", "-onnx,-export,-dynamo")  # torch resets its loggers' levels from this
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for module in ("torch", "transformers", "onnx", "onnxscript", "onnx_ir", "onnxruntime", "huggingface_hub"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    if sys.modules.get("transformers") is not None:  # imported already (main() called from Python): switch it directly
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def _checked_main(args) -> int:
    """Refuse an unsafe output or unusable inputs before any work (no model is loaded yet), then export."""
    from export.inputs import check_model_folder, read_labels_file
    from export.models.registry import resolve_family
    from export.output import check_output
    from runtime.cli.errors import UsageError

    check_output(args.output, args.model, args.overwrite)
    check_model_folder(args.model)
    family = resolve_family(args.model, None if args.family == "auto" else args.family)
    misplaced = _misplaced_options(args, family.name)
    if misplaced:
        raise UsageError(misplaced)
    labels = read_labels_file(args.labels, "--labels") if args.labels else None
    prompts = read_labels_file(args.prompts, "--prompts", "prompts") if args.prompts else None
    if family.task == "video_text":
        return _export_videotext(args, family.name, prompts)  # X-CLIP, CLIP mean-pool, the bundled video-text model
    return _export(args, family.name, labels)


def _misplaced_options(args, family: str) -> str | None:
    """An option the model's family has no use for is refused, not ignored."""
    if family == "videomae" and args.prompts:
        return (f"--prompts is for video-text models; {args.model} is a VideoMAE classifier: give its class names "
                "with --labels FILE (or in config.json's id2label)")
    if family != "videomae" and args.labels:
        return (f"--labels is for VideoMAE classifiers; {args.model} is a {family} video-text model: give its "
                "label prompts with --prompts FILE")
    if family != "clip-meanpool" and args.frames is not None:
        return f"--frames is for clip-meanpool models (CLIP has no clip length); {args.model} is {family}, whose config fixes it"
    return None


def _options(args, family: str, **task_options):
    from export.pipeline import ExportOptions

    return ExportOptions(model=args.model, output=Path(args.output), family=family, opset=args.opset, batch=args.batch,
                         precision=args.precision, atol=args.atol, strict=not args.allow_parity_failure,
                         overwrite=args.overwrite, frames=args.frames, sampling=_sampling_overrides(args), **task_options)


def _export(args, family: str, labels: list[str] | None) -> int:
    from export.pipeline import build_artifact
    from export.summary import print_classification
    from runtime.artifact import load_artifact

    engine = engine_options(args)  # BuildOptionsError: a usage error, exit 2
    trt_note = _tensorrt_status()
    if trt_note and engine is not None:
        print(trt_note)
    # INT8: the engine is built from the Q/DQ graphs calibration writes first
    opts = _options(args, family, labels=labels, engine=None if args.precision == "int8" else engine)
    out = build_artifact(opts)
    args.published = out
    if args.precision == "int8":
        _calibrate_int8(out, args, engine)
    artifact = load_artifact(out)
    print_classification(artifact)
    if engine is not None and not artifact.manifest.file_of_kind("engine"):
        from export.trt_engines import trtexec_for_artifact

        print(f"\nbuild the engine on the target with: tubelet-engine --artifact {out} --precision {engine.precision}"
              "\nor with trtexec:\n  " + "\n  ".join(trtexec_for_artifact(out, engine)))
    return 0


def _export_videotext(args, family: str, prompts: list[str] | None) -> int:
    """Video-text models: ONNX graphs + tokenizer + prompt embeddings, then an FP16 engine per graph."""
    from export.models.contract import VideoTextExportError
    from export.pipeline import build_artifact
    from export.summary import print_videotext
    from runtime.artifact import load_artifact
    from runtime.cli.errors import TubeletError, UsageError
    from runtime.cli.main import add_note

    if args.precision == "int8":
        raise UsageError("--precision int8 is not available for video-text models (no calibration for them yet): "
                         "export with --precision fp16 for an FP16 engine per graph")
    try:
        out = build_artifact(_options(args, family, prompts=prompts))
    except ValueError as exc:  # what transformers raises for a checkpoint it cannot load, in our error type
        if isinstance(exc, TubeletError):
            raise
        raise VideoTextExportError(str(exc)) from exc
    if args.precision == "fp16":
        from export.trt_engines import engines_for_artifact

        try:
            engines_for_artifact(out, engine_options(args))
        except TubeletError as exc:
            add_note(exc, f"(the ONNX artifact in {out} is complete; no engine was added)")
            raise
    print_videotext(load_artifact(out))
    return 0


def _calibrate_int8(out: Path, args, engine) -> None:
    """model.int8.onnx and model.int8.fp16.onnx (Q/DQ, each gated against FP32) into the artifact, then the
    engine where TensorRT is (strongly typed from the FP16 one, TensorRT 8.6 from model.int8.onnx)."""
    from calibration.errors import CalibrationError
    from calibration.options import run_int8
    from runtime.artifact import read_manifest, write_manifest
    from runtime.cli.main import add_note

    print("\nINT8 calibration (see docs/CALIBRATION.md)")
    try:
        run_int8(out, args)
    except CalibrationError as exc:
        add_note(exc, f"(the FP32 artifact in {out} is complete; no INT8 model was added)")
        raise
    if engine is not None:
        from export.trt_engines import add_engine

        manifest = read_manifest(out)
        add_engine(out, manifest, engine)
        write_manifest(out, manifest)


if __name__ == "__main__":
    sys.exit(main())
