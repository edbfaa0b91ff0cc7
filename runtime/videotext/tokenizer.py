"""Prompt text → token ids for the exported text encoder, with the `tokenizers` package only.

The artifact ships the model's own `tokenizer.json` (normaliser, pre-tokenizer, vocabulary and
the special-token template), so ids match what transformers would produce. Truncation and
padding written in that file are switched off: a prompt longer than the text encoder's limit is
an error (silently cutting "a person not picking up a cup" changes its meaning), and padding is
done here on the right with the model's pad id, which is what the text graph's pooling expects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from runtime.backends.base import require
from runtime.cli.errors import OptionValueError, TubeletError


class PromptError(TubeletError, ValueError):
    """A prompt cannot be encoded: not text, empty, or longer than the text encoder accepts."""


class TextTokenizer:
    """Callable: list of prompts → (input_ids, attention_mask), int64 (K, L), L = longest prompt."""

    def __init__(self, path: str | os.PathLike, max_length: int, pad_id: int):
        tokenizers = require("tokenizers", "videotext", "encoding new prompts for a video-text model")
        if max_length < 2:
            raise OptionValueError(f"max_length must be >= 2 (room for the special tokens), got {max_length}")
        try:
            self._tok = tokenizers.Tokenizer.from_file(str(Path(path)))
        except Exception as exc:  # tokenizers raises plain Exception subclasses for bad JSON
            raise PromptError(f"cannot read the tokenizer {path}: {exc}") from exc
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)

    def encode(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        prompts = check_prompts(prompts)
        encodings = self._tok.encode_batch(prompts)
        lengths = [len(e.ids) for e in encodings]
        for prompt, n in zip(prompts, lengths):
            if n > self.max_length:
                raise PromptError(
                    f"prompt {_short(prompt)!r} is {n} tokens long; this text encoder takes at most {self.max_length} "
                    "(special tokens included): shorten it")
        width = max(lengths)
        ids = np.full((len(prompts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(prompts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, :len(enc.ids)] = enc.ids
            mask[row, :len(enc.ids)] = 1
        return ids, mask

    __call__ = encode

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)


def check_prompts(prompts) -> list[str]:
    """A non-empty list of non-blank strings, or a PromptError that says which entry is wrong."""
    if isinstance(prompts, str):
        raise PromptError("prompts must be a list of strings, got one string; wrap it in a list")
    try:
        prompts = list(prompts)
    except TypeError:
        raise PromptError(f"prompts must be a list of strings, got {type(prompts).__name__}") from None
    if not prompts:
        raise PromptError("the prompt list is empty: give at least one prompt")
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise PromptError(f"prompt {index} is {type(prompt).__name__}, not text: {prompt!r}")
        if not prompt.strip():
            raise PromptError(f"prompt {index} is empty or only whitespace: give a description such as 'a person waving'")
    return prompts


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
