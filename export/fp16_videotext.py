"""FP16 graphs for every graph of a video-text artifact, each gated on inputs of its own kind.

The video graph sees the parity clips, the per-frame graph (CLIP mean-pool) their frames, the text
graph real prompts of several lengths padded into one batch (so padding and pooling are exercised),
and the X-CLIP head the FP32 graphs' own outputs for those clips and prompts. Embedding graphs must
keep cosine >= 0.999 with no non-finite value; the head, whose output is a score, also the same top-1.
"""

from __future__ import annotations

from pathlib import Path

from export.fp16_graph import add_fp16_graph


def add_videotext_fp16_graphs(bundle, staging: Path, manifest, tokenizer, prompts, strict: bool, log,
                              keep_fp32=()) -> list[str]:
    from export.validate import parity_inputs
    from export.videotext_parity import _parity_prompts

    clips = parity_inputs(bundle.input, bundle.preprocessing)
    ids, mask = tokenizer.encode(list(prompts[:8]) + list(_parity_prompts(tokenizer)))
    text_feeds = [{"input_ids": ids, "attention_mask": mask},
                  {"input_ids": ids[:1, :int(mask[0].sum())], "attention_mask": mask[:1, :int(mask[0].sum())]}]
    feeds = {"video": [{bundle.input.name: c} for c in clips], "text": text_feeds}
    if bundle.graph("frame") is not None and bundle.input.layout == "NTCHW":
        feeds["frame"] = [{"pixel_values": c.reshape((-1,) + c.shape[2:])} for c in clips]
    if bundle.graph("head") is not None:
        feeds["head"] = _head_feeds(bundle, staging, clips, text_feeds[0])
    written = []
    for graph in bundle.graphs:
        if graph.role not in feeds:
            log(f"  FP16 graph for {graph.file}: skipped (no inputs of its kind here)")
            continue
        written.append(add_fp16_graph(staging, manifest, graph.file, feeds[graph.role], scores=graph.role == "head",
                                      keep_fp32=keep_fp32, strict=strict, log=log))
    return written


def _head_feeds(bundle, staging: Path, clips, text_feed) -> list[dict]:
    """The head's inputs as the FP32 video and text graphs produce them."""
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    with OnnxRuntimeBackend(staging / bundle.graph("video").file, device="cpu") as video, \
            OnnxRuntimeBackend(staging / bundle.graph("text").file, device="cpu") as text:
        texts = text.infer(text_feed)[text.outputs[0].name]
        feeds = []
        for clip in clips:
            out = video.infer({bundle.input.name: clip})
            feeds.append({"video_embeds": out["video_embeds"], "img_features": out["img_features"],
                          "text_embeds": texts})
    return feeds
