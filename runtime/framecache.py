"""No frame encoded twice: the streaming recognizer's per-frame embedding cache.

Models whose window embedding is the mean of per-frame embeddings (CLIP mean-pool: an image
encoder per frame, then a temporal mean) do not need a window's T frames encoded again for every
window: consecutive windows share T - window_stride frames. `FrameEmbeddingCache` keeps, per
stream, the embeddings of the frames of its latest window, keyed by each frame's source index.
For a batch of due windows (any streams) it encodes only the frames it has not seen, all of them
in one batched call of the frame graph (cross-stream batching, as for whole clips), and gives
each window the mean of its frames' embeddings: exactly what the video graph computes.

A backend offers this by having `frame_encoder` (a Backend: frames (N, C, H, W) → (N, D)) and
`logits_from_embeddings(embeds (B, D)) -> (B, K)`; `runtime.videotext.zeroshot.ZeroShotClassifier` does for
CLIP mean-pool artifacts. Other backends run whole clips as before.
"""

from __future__ import annotations

import threading

import numpy as np

DEFAULT_FRAME_BATCH = 64


def frame_cache_for(backend, manifest) -> "FrameEmbeddingCache | None":
    """The cache for a backend whose video embedding decomposes per frame, else None."""
    encoder = getattr(backend, "frame_encoder", None)
    if encoder is None or not callable(getattr(backend, "logits_from_embeddings", None)):
        return None
    return FrameEmbeddingCache(encoder, backend.logits_from_embeddings, manifest.input.frames, manifest.input.layout,
                               _frame_batch(manifest, backend))


def _frame_batch(manifest, backend) -> int:
    """Most frames per frame-graph call: its batch profile's maximum when the manifest records one."""
    name = getattr(backend, "frame_graph_name", None)
    entry = manifest.files.get(name) if name else None
    profile = entry.details.get("batch_profile") if entry is not None else None
    return int(profile[2]) if isinstance(profile, (list, tuple)) and len(profile) == 3 else DEFAULT_FRAME_BATCH


class FrameEmbeddingCache:
    """Per stream: source frame index → embedding, for the frames of the stream's latest window."""

    def __init__(self, encoder, logits_from_embeddings, frames: int, layout: str, frame_batch: int = DEFAULT_FRAME_BATCH):
        self.encoder, self.to_logits = encoder, logits_from_embeddings
        self.frames, self.layout, self.frame_batch = int(frames), layout, max(1, int(frame_batch))
        self._streams: dict[str, dict[int, np.ndarray]] = {}
        self._lock = threading.Lock()  # one batch at a time (the scheduler's worker; tests may call directly)
        self.encoded = 0  # frames encoded so far, over all streams
        self.reused = 0  # window frames served from the cache

    def logits(self, windows) -> np.ndarray:
        """(B, K) logits for windows given as (stream_id, Clip) pairs, oldest first per stream."""
        with self._lock:
            return self.to_logits(self.embeddings(windows))

    def embeddings(self, windows) -> np.ndarray:
        """(B, D) window embeddings: each the mean of its frames' embeddings, new frames encoded once."""
        stores, window_keys, latest_first = [], [], {}
        todo: dict[tuple[int, int], tuple[dict, int, np.ndarray]] = {}  # (store, key) → what to encode
        for stream_id, clip in windows:
            keys = self._keys(stream_id, clip)
            if keys is None:  # no key identifies one frame: this window is encoded whole, nothing kept
                store, keys = {}, tuple(range(self.frames))
            else:
                store = self._streams[stream_id]
                latest_first[stream_id] = keys[0]
            for t, key in enumerate(keys):
                if key in store or (id(store), key) in todo:
                    self.reused += 1
                else:
                    todo[(id(store), key)] = (store, key, self._frame(clip.array, t))
            stores.append(store)
            window_keys.append(keys)
        self._encode(list(todo.values()))
        out = [np.stack([store[key] for key in keys]).mean(axis=0) for store, keys in zip(stores, window_keys)]
        for stream_id, first in latest_first.items():  # keep only what a later window can still share
            cached = self._streams[stream_id]
            for key in [k for k in cached if k < first]:
                del cached[key]
        return np.stack(out).astype(np.float32, copy=False)

    def _keys(self, stream_id: str, clip) -> tuple[int, ...] | None:
        """The clip's frame indices as cache keys, or None when they cannot identify its frames."""
        keys = tuple(int(i) for i in clip.frame_indices)
        if len(keys) != self.frames:
            raise ValueError(f"clip of stream {stream_id!r} names {len(keys)} frame indices, the model takes "
                             f"{self.frames} frames")
        cached = self._streams.setdefault(stream_id, {})
        # Indices count frames within one source run; a source that starts over (a looping file, a
        # caller reusing indices) must never be served embeddings of other frames with the same index.
        if not all(a < b for a, b in zip(keys, keys[1:])):
            return None
        if cached and keys[0] < min(cached):
            cached.clear()
        return keys

    def _frame(self, array: np.ndarray, t: int) -> np.ndarray:
        return array[t] if self.layout == "NTCHW" else array[:, t]

    def _encode(self, todo: list) -> None:
        """Encode (store, key, frame) items in batched frame-graph calls; store each embedding under its key."""
        name_in, name_out = self.encoder.inputs[0].name, self.encoder.outputs[0].name
        for start in range(0, len(todo), self.frame_batch):
            chunk = todo[start:start + self.frame_batch]
            frames = np.ascontiguousarray(np.stack([frame for _, _, frame in chunk]), dtype=np.float32)
            embeds = self.encoder.infer({name_in: frames})[name_out]
            for (store, key, _), embed in zip(chunk, embeds):
                store[key] = embed
        self.encoded += len(todo)

    def reset(self, stream_id: str | None = None) -> None:
        with self._lock:
            if stream_id is None:
                self._streams.clear()
            else:
                self._streams.pop(stream_id, None)
