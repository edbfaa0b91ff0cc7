"""python -m calibration: INT8 (Q/DQ, gated against FP32) and temperature scaling for an artifact."""

from __future__ import annotations

import argparse
import sys

from calibration.options import OneLineParser, add_int8_arguments, print_table, run_int8
from runtime.cli.args import add_renamed, add_threads, positive_int
from runtime.cli.main import run_main

EXAMPLES = """examples:
  python -m calibration int8 --artifact build/videomae-motion --calib-data 'synthetic://?clips'
  python -m calibration int8 --artifact build/mine --calib-data clips/ --method entropy --clips 128
  python -m calibration int8 --artifact build/mine --calib-data calib/ --eval-data heldout/ --max-excluded 12
  python -m calibration temperature --artifact build/videomae-motion --calib-data 'synthetic://?clips=330'
  python -m calibration temperature --artifact build/mine --calib-data labelled/   # labelled/<label>/*.mp4

--calib-data: the clips a calibration fits on (labelled ones for `temperature`); --eval-data: held-out clips.
data specs: 'synthetic://?clips[=N]&seed=S&fps=F&size=HxW' (labelled clips; bare clips: --clips) | 'synthetic://?frames=N&...' (the
  continuous stream) | a video file |
  a folder of videos | a folder per class (labels for `temperature`) | image folders and rosbags via the
  runtime's sources
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m calibration", description=__doc__, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    int8 = sub.add_parser("int8", help="write model.int8.onnx (Q/DQ) into the artifact, gated against FP32",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    int8.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    add_int8_arguments(int8, required=True)
    temp = sub.add_parser("temperature", help="fit the softmax temperature on labelled clips",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    temp.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    temp.add_argument("--calib-data", required=True, metavar="SPEC",
                      help="labelled clips to fit on: 'synthetic://?clips' or DIR/<label>/*.mp4")
    add_renamed(temp, "--data", "--calib-data", example="--calib-data 'synthetic://?clips'")
    temp.add_argument("--clips", type=positive_int, default=256, help="labelled clips to fit on (default 256)")
    temp.add_argument("--precision", default="fp32", choices=("fp32", "int8"), help="which ONNX model's logits (default fp32)")
    temp.add_argument("--diagram", default="reliability.png",
                      help="reliability diagram PNG; a bare name goes into the artifact (default reliability.png)")
    temp.add_argument("--no-diagram", action="store_true", help="skip the diagram (no matplotlib needed)")
    temp.add_argument("--window-stride", type=positive_int, default=None, help="override the manifest's window stride")
    add_threads(temp, help="ONNX Runtime intra-op threads")
    return parser


def run_temperature(args) -> int:
    from calibration.temperature import calibrate_artifact

    report = calibrate_artifact(args.artifact, args.calib_data, clips=args.clips, precision=args.precision,
                                diagram=None if args.no_diagram else args.diagram, window_stride=args.window_stride,
                                threads=args.threads, log=print, progress=True)
    print_table([("temperature", f"{report.temperature:.4f}"), ("clips", str(report.clips)),
                 ("accuracy", f"{report.accuracy:.2%}"), ("NLL before / after", f"{report.nll_before:.4f} / {report.nll_after:.4f}"),
                 ("ECE before / after", f"{report.ece_before:.4f} / {report.ece_after:.4f}  ({report.bins} bins)"),
                 ("diagram", report.diagram or "skipped")])
    return 0


def main(argv=None) -> int:
    return run_main(run, build_parser().parse_args(argv))


def run(args) -> int:
    if args.command == "int8":
        return run_int8(args.artifact, args)
    return run_temperature(args)


if __name__ == "__main__":
    sys.exit(main())
