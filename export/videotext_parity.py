"""Parity gates for video-text graphs: each ONNX graph vs the library's own PyTorch function.

Video graphs see the same clips as the VideoMAE gate (noise at batch 1 and 3, moving bars made by
the model's own preprocessing); text graphs see real prompts of several lengths tokenized by the
runtime's tokenizer, padded into one batch (so padding and end-token pooling are exercised);
the X-CLIP head sees the ONNX video and text outputs, and an end-to-end gate compares the three
graphs chained in ONNX Runtime with XCLIPModel's own forward. Failures raise ParityError.
"""

from __future__ import annotations

import numpy as np

from export.validate import ParityError, ParityReport, parity_inputs


def _compare(name: str, expected: list[np.ndarray], got: list[np.ndarray], atol: float, strict: bool,
             batches: list[int]) -> ParityReport:
    worst, cosines, agree, total = 0.0, [], 0, 0
    for exp, out in zip(expected, got):
        if exp.shape != out.shape:
            raise ParityError(f"{name}: ONNX output shape {out.shape} differs from PyTorch's {exp.shape}")
        worst = max(worst, float(np.abs(exp - out).max()))
        a, b = exp.reshape(exp.shape[0], -1), out.reshape(out.shape[0], -1)
        cosines += [float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)) for x, y in zip(a, b)]
        agree += int((exp.reshape(exp.shape[0], -1).argmax(-1) == out.reshape(out.shape[0], -1).argmax(-1)).sum())
        total += exp.shape[0]
    report = ParityReport(total, batches, worst, min(cosines), agree / max(total, 1), atol, worst <= atol)
    if strict and not report.passed:
        raise ParityError(
            f"{name}: ONNX Runtime differs from PyTorch by {worst:.3g} (max abs) > atol {atol:g} over {total} rows "
            f"(min cosine {report.min_cosine:.6f}); raise --atol only if this difference is acceptable for your use")
    return report


def _torch_run(fn, arrays) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        out = fn(*[torch.from_numpy(a) for a in arrays])
    out = out if isinstance(out, (list, tuple)) else [out]
    return [o.detach().numpy() for o in out]


def _gate(graph, backend, samples, atol, strict) -> ParityReport:
    expected, got, batches = [], [], []
    reference = graph.reference or graph.module
    for arrays in samples:
        ref = _torch_run(reference, arrays)
        out = backend.infer(dict(zip(graph.inputs, arrays)))
        expected += ref
        got += [out[name] for name in graph.outputs[:len(ref)]]
        batches.append(int(arrays[0].shape[0]))
    return _compare(f"{graph.role} graph", expected, got, atol, strict, batches)


def run_gates(bundle, staging, tokenizer, prompts, atol: float, strict: bool, log) -> dict:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    clips = parity_inputs(bundle.input, bundle.preprocessing)
    texts = list(prompts[:8]) + list(_parity_prompts(tokenizer))
    tokens = tokenizer.encode(texts)
    backends = {g.role: OnnxRuntimeBackend(staging / g.file, device="cpu") for g in bundle.graphs}
    try:
        reports = {}
        for graph in bundle.graphs:
            if graph.role in ("video",):
                samples = [(c,) for c in clips]
            elif graph.role == "frame":
                samples = [(c.reshape((-1,) + c.shape[2:]),) for c in clips if bundle.input.layout == "NTCHW"]
            elif graph.role == "text":
                samples = [tokens, tuple(t[:1, :int(tokens[1][0].sum())] for t in tokens)]
            else:
                continue  # the head needs the other graphs' outputs: below
            reports[graph.role] = _gate(graph, backends[graph.role], samples, atol, strict)
        if bundle.graph("head") is not None:
            reports.update(_head_gates(bundle, backends, clips, tokens, atol, strict))
        for role, report in reports.items():
            log(f"  {role:<12} max abs {report.max_abs_error:.2e} (atol {atol:g}), min cosine {report.min_cosine:.6f}: "
                f"{'PASS' if report.passed else 'FAIL'}")
        return {f"onnx_fp32_{role}": report.as_dict() for role, report in reports.items()}
    finally:
        for backend in backends.values():
            backend.close()


def _parity_prompts(tokenizer):
    from export.videotext import PARITY_PROMPTS

    # Keep only prompts this tokenizer can take whole (a tiny test vocabulary may split them finely).
    for prompt in PARITY_PROMPTS:
        try:
            tokenizer.encode([prompt])
        except ValueError:
            continue
        yield prompt


def _head_gates(bundle, backends, clips, tokens, atol, strict) -> dict:
    head = bundle.graph("head")
    text = backends["text"].infer({"input_ids": tokens[0], "attention_mask": tokens[1]})["text_embeds"]
    samples = []
    for clip in clips:
        video = backends["video"].infer({"pixel_values": clip})
        samples.append((video["video_embeds"], video["img_features"], text))
    reports = {"head": _gate(head, backends["head"], samples, atol, strict)}
    if bundle.end_to_end is not None:
        expected, got = [], []
        for clip, (video, patches, _) in zip(clips, samples):
            expected += _torch_run(bundle.end_to_end, (clip, tokens[0], tokens[1]))
            got.append(backends["head"].infer({"video_embeds": video, "img_features": patches, "text_embeds": text})["similarity"])
        reports["end_to_end"] = _compare("X-CLIP end to end (video → text → head)", expected, got, atol, strict,
                                         [len(c) for c in clips])
    return reports
