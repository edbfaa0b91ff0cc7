"""What build_engine.py prints once an artifact is written: its files and the verdicts of its gates."""

from __future__ import annotations


def print_classification(artifact) -> None:
    m = artifact.manifest
    print(f"\n{m.family} {m.task}: {m.input.frames}x{m.input.height}x{m.input.width} {m.input.layout}, {len(m.labels)} labels")
    for name, entry in sorted(m.files.items()):
        print(f"  {name:<24} {entry.size / 1e6:9.2f} MB  {entry.kind:<10} sha256 {entry.sha256[:12]}")
    p = m.validation.get("onnx_fp32", {})
    if p:
        print(f"  parity vs PyTorch: max abs {_figure(p['max_abs_error'], '.2e')} (atol {p['atol']:g}), min cosine "
              f"{_figure(p['min_cosine'], '.6f')}, top-1 agreement {_figure(p['top1_agreement'], '.0%')} over "
              f"{p['clips']} clips: {'PASS' if p['passed'] else 'FAIL'}")
    _tensorrt_summary(m)


def print_videotext(artifact) -> None:
    m = artifact.manifest
    print(f"\n{m.family} video_text: {m.input.frames}x{m.input.height}x{m.input.width} {m.input.layout}, "
          f"{len(m.labels)} label prompts, logit scale {m.video_text.logit_scale:.2f}")
    for name, entry in sorted(m.files.items()):
        print(f"  {name:<22} {entry.size / 1e6:9.2f} MB  {entry.kind:<11} sha256 {entry.sha256[:12]}")
    for gate, report in sorted(m.validation.items()):
        if not gate.startswith("onnx_fp32_"):
            continue
        worst = "n/a" if report["max_abs_error"] is None else f"{report['max_abs_error']:.2e}"
        print(f"  parity {gate[len('onnx_fp32_'):]:<11} max abs {worst} (atol {report['atol']:g}): "
              f"{'PASS' if report['passed'] else 'FAIL'}")


def _figure(value, spec: str) -> str:
    """A gate's number, or 'n/a' where non-finite outputs left it uncomputed (None in the manifest)."""
    return "n/a" if value is None else format(value, spec)


def _tensorrt_summary(m) -> None:
    ready = m.validation.get("tensorrt_readiness")
    if ready:
        for version, verdict in ready["versions"].items():
            state = "ready" if verdict["passed"] else "NOT ready: " + "; ".join(verdict["problems"])
            print(f"  TensorRT {version} parser: {state}")
    fp16 = m.validation.get("fp16_cpu")
    if fp16:
        for key, label in (("norms_fp32", "norms kept FP32"), ("nothing_fp32", "nothing kept FP32")):
            r = fp16[key]
            print(f"  FP16 on CPU, {label}: min cosine {r['min_cosine']:.6f}, top-1 agreement {r['top1_agreement']:.0%}, "
                  f"non-finite {r['nonfinite_outputs']}: {'PASS' if r['passed'] else 'FAIL'}")
