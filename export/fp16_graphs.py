"""FP16 graphs for every graph of an artifact, each gated on inputs of its own kind.

The video graph sees the parity clips, the per-frame graph (CLIP mean-pool) their frames, the text
graph real prompts of several lengths padded into one batch (so padding and pooling are exercised),
and the X-CLIP head the FP32 graphs' own outputs for those clips and prompts. Embedding graphs must
keep cosine >= 0.999 with no non-finite value; a graph whose output is a score (a classifier's
logits, the X-CLIP head) also the same top-1.
"""

from __future__ import annotations

from pathlib import Path

from export.fp16_graph import add_fp16_graph


def add_fp16_graphs(bundle, staging: Path, manifest, text_feeds: list[dict] | None, keep_fp32=(), strict: bool = True,
                    log=print) -> list[str]:
    """`text_feeds`: the text graph's inputs (video-text; None for a classifier)."""
    from export.validate import parity_inputs

    clips = parity_inputs(bundle.input, bundle.preprocessing)
    feeds = {"video": [{bundle.input.name: c} for c in clips]}
    if text_feeds is not None:
        feeds["text"] = text_feeds
    if bundle.graph("frame") is not None and bundle.input.layout == "NTCHW":
        feeds["frame"] = [{"pixel_values": c.reshape((-1,) + c.shape[2:])} for c in clips]
    if bundle.graph("head") is not None:
        feeds["head"] = _head_feeds(bundle, staging, clips, text_feeds[0])
    written = []
    for graph in bundle.graphs:
        if graph.role not in feeds:
            log(f"  FP16 graph for {graph.file}: skipped (no inputs of its kind here)")
            continue
        written.append(add_fp16_graph(staging, manifest, graph.file, feeds[graph.role], scores=graph.scores,
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
