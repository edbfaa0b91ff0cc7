"""X-CLIP (transformers.XCLIPModel) split into three graphs.

- video: pixel_values (B, T, C, H, W) → video_embeds (B, D) from the multi-frame integration
  transformer, and img_features (B, P, D), the frame-averaged patch tokens the prompt generator reads;
- text: input_ids, attention_mask (K, L) → text_embeds (K, D), projected, not normalised;
- head: (video_embeds, img_features, text_embeds) → similarity (B, K): X-CLIP's prompt generator
  conditions every text on each clip's visual tokens, so this small graph runs per clip batch.
  logits_per_video = logit_scale × similarity.

The text pooling takes the hidden state at the last attended token (the runtime pads on the
right, so that is the end token) instead of X-CLIP's `input_ids.argmax(-1)`: no ArgMax on int64
ids, which ONNX Runtime lacks and TensorRT refuses. The parity gate checks both give the same.
"""

from __future__ import annotations

from pathlib import Path

from export.models.contract import Bundle, Graph, LoadRequest, VideoTextSpec, checked_config, default_sampling
from export.models.registry import register

FAMILY = "xclip"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def load(request: LoadRequest) -> Bundle:
    import torch
    from transformers import XCLIPModel

    from export.models.clip_meanpool import input_spec_and_preprocessing, load_tokenizer
    from export.models.wrappers import Text, XClipHead, XClipVideo

    model = request.model
    config = checked_config(model, ("xclip",), XCLIPModel)
    tokenizer_json, max_length, pad_id = load_tokenizer(model, int(config.text_config.max_position_embeddings),
                                                        int(config.text_config.vocab_size))
    frames = int(config.vision_config.num_frames)
    spec, pre = input_spec_and_preprocessing(model, frames, int(config.vision_config.image_size), "NTCHW")
    net = XCLIPModel.from_pretrained(model, use_safetensors=True, attn_implementation="eager").eval()
    dim = int(config.projection_dim)
    patches = (int(config.vision_config.image_size) // int(config.vision_config.patch_size)) ** 2
    video_example = (torch.zeros(spec.shape(2)),)
    text_example = (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64))
    head_example = (torch.zeros(2, dim), torch.zeros(2, patches, dim), torch.zeros(3, dim))
    logit_scale = float(net.logit_scale.exp().item())

    def end_to_end(pixel_values, input_ids, attention_mask):
        out = net(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask)
        return out.logits_per_video / logit_scale  # the head's similarity, from HF's own forward

    graphs = [
        Graph("video", "model.onnx", XClipVideo(net).eval(), video_example, ["pixel_values"],
              ["video_embeds", "img_features"], {"pixel_values": {0: "batch"}},
              reference=lambda px: [net.get_video_features(pixel_values=px).pooler_output]),
        Graph("text", "text.onnx", Text(net, normalize=False).eval(), text_example, ["input_ids", "attention_mask"],
              ["text_embeds"], {"input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"}},
              reference=lambda ids, mask: [net.get_text_features(input_ids=ids, attention_mask=mask).pooler_output]),
        Graph("head", "head.onnx", XClipHead(net).eval(), head_example, ["video_embeds", "img_features", "text_embeds"],
              ["similarity"], {"video_embeds": {0: "batch"}, "img_features": {0: "batch"}, "text_embeds": {0: "texts"}},
              scores=True),
    ]
    video_text = VideoTextSpec(
        tokenizer_json=tokenizer_json, max_length=max_length, pad_id=pad_id, embed_dim=dim, logit_scale=logit_scale,
        text_normalized=False,
        video_pooling="X-CLIP multi-frame integration transformer; prompt-conditioned text in the head")
    return Bundle(family=FAMILY, task="video_text", input=spec, preprocessing=pre, graphs=graphs,
                  sampling=default_sampling(frames), source={"model": str(model), "local": Path(model).exists(), "frames": frames},
                  video_text=video_text, end_to_end=end_to_end)


register(FAMILY, "xclip", "video_text", load)
