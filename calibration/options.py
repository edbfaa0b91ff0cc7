"""The command-line options calibration's INT8 path shares with export/build_engine.py --precision int8.

Both `python -m calibration int8` and `export/build_engine.py --precision int8` take the same INT8
options and report the same table, so they are defined once here rather than in either CLI.
"""

from __future__ import annotations

import argparse
import time

from runtime.cli.args import fraction, non_negative_int, positive_int, within


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the option and the fix (exit 2); the full usage stays in --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_int8_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    """The INT8 options, shared with export/build_engine.py --precision int8."""
    group = parser.add_argument_group("INT8 calibration (Q/DQ)")
    group.add_argument("--calib-data", required=required, metavar="SPEC",
                       help="calibration clips: 'synthetic://?clips', a video, a folder of videos, ...")
    group.add_argument("--eval-data", default=None, metavar="SPEC",
                       help="held-out clips for the gate (default: every 4th stream of --calib-data)")
    group.add_argument("--method", default="minmax", choices=("minmax", "entropy", "percentile"),
                       help="activation range calibration (default minmax)")
    group.add_argument("--clips", type=positive_int, default=64, help="calibration clips (default 64)")
    group.add_argument("--holdout", type=fraction, default=0.25, help="fraction held out for the gate (default 0.25)")
    group.add_argument("--min-agreement", type=within(0.0, 1.0), default=0.99,
                       help="gate: top-1 agreement with FP32 (default 0.99)")
    group.add_argument("--min-cosine", type=within(-1.0, 1.0), default=0.99,
                       help="gate: per-clip logit cosine with FP32 (default 0.99)")
    group.add_argument("--max-excluded", type=non_negative_int, default=8,
                       help="layers the sensitivity search may keep in float when the gate fails (default 8; 0: off)")
    group.add_argument("--quantize-ops", default="MatMul,Gemm,Conv",
                       help="op types to quantize, comma-separated (default MatMul,Gemm,Conv)")
    group.add_argument("--int8-attention-probs", action="store_true",
                       help="also quantize the MatMuls of Softmax outputs (attention probabilities x V; float by default)")
    group.add_argument("--calib-window-stride", type=positive_int, default=None,
                       help="window stride for calibration clips (default: the manifest's, as the runtime samples)")
    group.add_argument("--calib-threads", type=positive_int, default=None, help="ONNX Runtime threads for the gate")


def int8_options(args):
    from calibration.quantize import QuantizeOptions

    ops = tuple(op.strip() for op in args.quantize_ops.split(",") if op.strip())
    return QuantizeOptions(method=args.method, op_types=ops, min_agreement=args.min_agreement,
                           min_cosine=args.min_cosine, max_excluded=args.max_excluded, threads=args.calib_threads,
                           float_attention_probs=not args.int8_attention_probs)


def run_int8(folder, args, log=print) -> int:
    """Calibrate, gate, write; print the final table. Shared with build_engine.py."""
    from calibration.errors import GateError
    from calibration.int8 import quantize_artifact

    start = time.perf_counter()
    try:
        result = quantize_artifact(folder, args.calib_data, int8_options(args), clips=args.clips, holdout=args.holdout,
                                   eval_spec=args.eval_data, window_stride=args.calib_window_stride, log=log,
                                   progress=True)
    except GateError as exc:
        if exc.report is not None:
            print_int8_table(exc.report, time.perf_counter() - start)
        raise
    print_int8_table(result.report, time.perf_counter() - start, result.path)
    return 0


def print_int8_table(report, seconds: float, path=None) -> None:
    g = report.gate
    rows = [("method", f"{report.method} ({report.quant_format.upper()}, symmetric int8, per-channel weights)"),
            ("clips", f"{report.calibration_clips} calibration, {report.heldout_clips} held out")]
    rows += [(f"{op} in INT8", f"{c['int8']} / {c['total']}") for op, c in sorted(report.census.items())]
    rows += [("attention probs x V", f"{len(report.float_by_rule)} in float" if report.float_by_rule else "in INT8"),
             ("kept in float", ", ".join(report.excluded) or "none"),
             ("top-1 agreement", f"{g.top1_agreement:.2%}  (gate >= {g.min_agreement:.2%})"),
             ("cosine min / mean", f"{g.min_cosine:.5f} / {g.mean_cosine:.5f}  (gate >= {g.min_cosine_required:.5f})"),
             ("max abs logit error", f"{g.max_abs_error:.4g}"),
             ("gate", "PASS" if g.passed else "FAIL"), ("time", f"{seconds:.1f} s")]
    if path is not None:
        rows.append(("written", str(path)))
    print_table(rows)


def print_table(rows) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")

