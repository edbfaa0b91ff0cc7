"""Tiny random-init X-CLIP / CLIP checkpoints with a real (small) CLIP BPE tokenizer, for tests and benchmarks."""

from __future__ import annotations

import json

import pytest

MERGES = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("in", "g</w>"), ("a", "n"), ("o", "n"), ("e", "r")]
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=32)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
              patch_size=8)


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's reversible byte → printable character table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def clip_tokenizer(folder):
    """A byte-level BPE CLIP tokenizer over all 256 bytes plus a few merges, saved into folder."""
    transformers = pytest.importorskip("transformers", reason="needs the [export] extra")
    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in MERGES] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tok = transformers.CLIPTokenizer(vocab=vocab, merges=list(MERGES))
    tok.model_max_length = TEXT["max_position_embeddings"]
    tok.save_pretrained(str(folder))
    return tok


def _processor(folder, size):
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"shortest_edge": size}, "do_center_crop": True,
        "crop_size": {"height": size, "width": size}, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3}))


def _text_config(tok):
    return dict(TEXT, vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id)


def save_tiny_xclip(folder, frames=4):
    torch = pytest.importorskip("torch", reason="needs the [export] extra")
    transformers = pytest.importorskip("transformers", reason="needs the [export] extra")
    folder.mkdir(parents=True, exist_ok=True)
    tok = clip_tokenizer(folder)
    torch.manual_seed(0)
    vision = dict(VISION, num_frames=frames, mit_hidden_size=16, mit_intermediate_size=32, mit_num_hidden_layers=1,
                  mit_num_attention_heads=2)
    config = transformers.XCLIPConfig(text_config=_text_config(tok), vision_config=vision, projection_dim=16,
                                      prompt_layers=1, prompt_num_attention_heads=2)
    transformers.XCLIPModel(config).eval().save_pretrained(folder)
    _processor(folder, VISION["image_size"])
    return folder


def save_tiny_clip(folder):
    torch = pytest.importorskip("torch", reason="needs the [export] extra")
    transformers = pytest.importorskip("transformers", reason="needs the [export] extra")
    folder.mkdir(parents=True, exist_ok=True)
    tok = clip_tokenizer(folder)
    torch.manual_seed(1)
    config = transformers.CLIPConfig(text_config=_text_config(tok), vision_config=VISION, projection_dim=16)
    transformers.CLIPModel(config).eval().save_pretrained(folder)
    _processor(folder, VISION["image_size"])
    return folder
