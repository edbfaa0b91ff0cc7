"""The torch modules the video-text adapters export: each one graph's forward over a transformers model.

Imported by the adapters inside their `load()` (it imports torch at the top). Each wrapper keeps the
model as `self.m`, so parameter and node names (what --keep-fp32 patterns match) read `m.<module>`.
"""

from __future__ import annotations

import torch


def gather_last(hidden, attention_mask):
    """hidden (K, L, D) at each row's last attended position → (K, D).

    The runtime pads on the right, so that is the end token: no ArgMax over int64 ids (which ONNX
    Runtime lacks and TensorRT refuses) as in the libraries' `input_ids.argmax(-1)`.
    """
    last = attention_mask.sum(dim=-1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def l2_normalized(x):
    return x / x.norm(p=2, dim=-1, keepdim=True)


def clip_image_features(net, pixel_values):
    """CLIPModel's image embeddings, L2-normalised (newer transformers return an output object)."""
    out = net.get_image_features(pixel_values=pixel_values)
    return l2_normalized(out if isinstance(out, torch.Tensor) else out.pooler_output)


class Text(torch.nn.Module):
    """(input_ids, attention_mask) → projected end-token state: X-CLIP's and CLIP's text encoder."""

    def __init__(self, net, normalize: bool):
        super().__init__()
        self.m = net
        self.normalize = normalize

    def forward(self, input_ids, attention_mask):
        hidden = self.m.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        out = self.m.text_projection(gather_last(hidden, attention_mask))
        return l2_normalized(out) if self.normalize else out


class XClipVideo(torch.nn.Module):
    """(B, T, C, H, W) → video_embeds (B, D) and the frame-averaged patch tokens the prompt generator reads."""

    def __init__(self, net):
        super().__init__()
        self.m = net

    def forward(self, pixel_values):
        m = self.m
        b, t, c, h, w = pixel_values.shape
        vision = m.vision_model(pixel_values=pixel_values.reshape(-1, c, h, w))
        cls = m.visual_projection(vision.pooler_output).reshape(b, t, -1)
        video = m.mit(cls).pooler_output
        patches = m.prompts_visual_layernorm(vision.last_hidden_state[:, 1:, :]) @ m.prompts_visual_projection
        patches = patches.reshape(b, t, -1, video.shape[-1]).mean(dim=1)
        return video, patches


class XClipHead(torch.nn.Module):
    """(video_embeds, img_features, text_embeds) → similarity (B, K), every text conditioned on each clip."""

    def __init__(self, net):
        super().__init__()
        self.m = net

    def forward(self, video_embeds, img_features, text_embeds):
        text = text_embeds.unsqueeze(0).expand(video_embeds.shape[0], -1, -1)
        text = text + self.m.prompts_generator(text, img_features)
        video = video_embeds / video_embeds.norm(p=2, dim=-1, keepdim=True)
        text = text / text.norm(p=2, dim=-1, keepdim=True)
        return (video.unsqueeze(1) * text).sum(-1)  # a product and a sum: no einsum in the graph


class ClipFrame(torch.nn.Module):
    """(N, C, H, W) → frame_embeds (N, D), each L2-normalised."""

    def __init__(self, net):
        super().__init__()
        self.m = net

    def forward(self, pixel_values):
        return clip_image_features(self.m, pixel_values)


class ClipVideo(torch.nn.Module):
    """(B, T, C, H, W) → mean over T of the L2-normalised frame embeddings (not renormalised)."""

    def __init__(self, net):
        super().__init__()
        self.m = net

    def forward(self, pixel_values):
        b, t, c, h, w = pixel_values.shape
        return clip_image_features(self.m, pixel_values.reshape(-1, c, h, w)).reshape(b, t, -1).mean(dim=1)
