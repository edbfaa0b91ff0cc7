"""Parity gates for video-text graphs: each ONNX graph vs the library's own PyTorch function.

Video graphs see the same clips as the VideoMAE gate (noise at batch 1 and 3, moving bars made by
the model's own preprocessing); text graphs see real prompts of several lengths tokenized by the
runtime's tokenizer, padded into one batch (so padding and end-token pooling are exercised);
the X-CLIP head sees the ONNX video and text outputs, and an end-to-end gate compares the three
graphs chained in ONNX Runtime with XCLIPModel's own forward. Failures raise ParityError.
"""

from __future__ import annotations

import numpy as np

from export.validate import ParityReport, check_atol, gate, parity_inputs

# Prompts of several lengths, used by the text parity gate besides the label prompts.
PARITY_PROMPTS = ("a person waving", "someone picking up a cup from the table and putting it down again", "go",
                  "a red square moving to the left across the frame")


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
    return gate(f"{graph.role} graph", expected, got, batches, atol, strict)


def run_gates(bundle, staging, tokenizer, prompts, atol: float, strict: bool, log) -> dict:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    atol = check_atol(atol)
    clips = parity_inputs(bundle.input, bundle.preprocessing)
    texts = list(prompts[:8]) + list(parity_prompts(tokenizer))
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
            if not samples:
                continue  # a per-frame graph of an NCTHW model: no clip splits into frames here
            reports[graph.role] = _gate(graph, backends[graph.role], samples, atol, strict)
        if bundle.graph("head") is not None:
            reports.update(_head_gates(bundle, backends, clips, tokens, atol, strict))
        for role, report in reports.items():
            log(f"  {role:<12} {report.comparison.numbers_line()} (atol {atol:g}): {'PASS' if report.passed else 'FAIL'}")
        return {f"onnx_fp32_{role}": report.as_dict() for role, report in reports.items()}
    finally:
        for backend in backends.values():
            backend.close()


def parity_prompts(tokenizer):
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
        reports["end_to_end"] = gate("X-CLIP end to end (video → text → head)", expected, got,
                                     [len(c) for c in clips], atol, strict)
    return reports
