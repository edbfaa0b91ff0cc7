"""The procedural motion world (runtime.world) as a frame source, and the one spelling of it.

Every tool names the world the same way (`open_source`, `--source`, calibration's `--calib-data`
and `--data`), parsed here by `parse_world_spec`:

    synthetic                          the continuous stream, every option at its default
    synthetic://?seed=3&fps=15         the continuous stream (the demo camera) with options
    synthetic://?clips=64&size=64x64   64 labelled clips balanced over the actions (calibration)
    synthetic://?clips&seed=5          labelled clips, as many as the tool asks for (calibration's --clips)

Query keys (keyword arguments to open_source are the same keys, and win over the query):
    seed=S                 which world; the same seed, the same pixels (open_source 0, calibration 1000)
    fps=F                  frames per second (15)
    size=HxW               frame height x width in pixels, or width=W and height=H (open_source
                           240x320; calibration the model's input size)
    frames=N               the stream ends after N frames (open_source: never; calibration 900)
    min_action_s, max_action_s   shortest and longest action or pause, seconds (1.5, 4.0)
    realtime=true|false    pace the stream to the clock as a live camera (open_source: true);
                           calibration reads the world offline
    clips=N, clips         N labelled clips instead of the stream (with seed, fps and size only);
                           a bare `clips` leaves the count to the tool
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from runtime.sources.base import Frame, GroundTruth, IterableSource, SourceError
from runtime.sources.live import LiveSource, split_options

__all__ = ["LiveSyntheticSource", "SyntheticSource", "WorldSpec", "is_world_spec", "open_synthetic",
           "parse_world_spec"]

SCHEME = "synthetic://"
STREAM_KEYS = ("frames", "realtime", "min_action_s", "max_action_s")
COMMON_KEYS = ("seed", "fps", "size", "width", "height")


@dataclass(frozen=True)
class WorldSpec:
    """A parsed world spec; None means "the tool's default". `labelled`: clips (`clips` of them, None: as many
    as the tool asks for), else the continuous stream."""

    seed: int | None = None
    fps: float | None = None
    height: int | None = None
    width: int | None = None
    frames: int | None = None
    clips: int | None = None
    labelled: bool = False
    realtime: bool | None = None
    min_action_s: float | None = None
    max_action_s: float | None = None
    other: dict = field(default_factory=dict)  # keys the world does not know (a source's stream_id, ring, ...)

    def stream_options(self) -> dict:
        """The SyntheticStream keyword arguments given (defaults left to it)."""
        named = {"seed": self.seed, "fps": self.fps, "height": self.height, "width": self.width,
                 "num_frames": self.frames, "min_action_s": self.min_action_s, "max_action_s": self.max_action_s}
        return {key: value for key, value in named.items() if value is not None}


def is_world_spec(spec: str) -> bool:
    """Does `spec` name the synthetic world, in today's spelling or an old one?"""
    lower = spec.strip().lower()
    return lower in ("synthetic", "synthetic-stream") or lower.startswith(("synthetic:", "synthetic-stream:"))


def new_spelling(spec: str) -> str | None:
    """The one spelling of an old calibration spec (synthetic:clips=N,size=HxW, synthetic-stream:...),
    or None when `spec` is already spelled right."""
    text = spec.strip()
    lower = text.lower()
    if lower == "synthetic" or lower.startswith((SCHEME, "synthetic://?")):
        return None
    stream = lower.startswith(("synthetic-stream", "synthetic:?"))  # synthetic:?seed=1 was the stream
    params = text.partition(":")[2].lstrip("?")
    if params.startswith("//"):
        params = params[2:].lstrip("?")
    items = [part.strip() for part in params.replace("&", ",").split(",") if part.strip()]
    if not stream and not any(item.startswith("clips=") for item in items):
        items.insert(0, "clips")
    return SCHEME + ("?" + "&".join(items) if items else "")


def parse_world_spec(spec: str, options: dict | None = None) -> WorldSpec:
    """Parse `synthetic` or `synthetic://?key=value&...` (see the module docstring) plus keyword
    options (which win). Raises SourceError for an old spelling (naming the new one), a key that is
    not key=value, a bad value, or clips= mixed with the stream's own keys."""
    from runtime.sources.uri import query

    text = spec.strip()
    fixed = new_spelling(text)
    if fixed is not None:
        raise SourceError(f"{spec!r} is no longer a spelling of the synthetic world; write {fixed!r} "
                          "(synthetic://?clips=N for labelled clips, synthetic://?... for the stream)")
    if "?" in text:
        for item in text.partition("?")[2].split("&"):
            if item and item != "clips" and ("=" not in item or not item.partition("=")[2]):
                raise SourceError(f"{spec!r}: {item!r} is not key=value (e.g. synthetic://?clips=64&seed=1)")
    given = {**query(text), **(options or {})}
    values = {key: given.pop(key) for key in (*COMMON_KEYS, *STREAM_KEYS, "clips") if key in given}
    spec_values = _typed(spec, values)
    if spec_values["labelled"]:
        mixed = sorted(key for key in STREAM_KEYS if key in values)
        if mixed:
            raise SourceError(f"{spec!r}: clips=N renders separate labelled clips; {mixed} belong to the "
                              "continuous stream (synthetic://?frames=N...): drop one or the other")
    return WorldSpec(**spec_values, other=given)


def _typed(spec: str, values: dict) -> dict:
    out: dict = {"labelled": "clips" in values}
    if values.get("clips") == "":  # a bare `clips`: the tool's count
        del values["clips"]
    for key, kind in (("seed", int), ("fps", float), ("width", int), ("height", int), ("frames", int),
                      ("clips", int), ("min_action_s", float), ("max_action_s", float)):
        if key in values:
            out[key] = _number(spec, key, values[key], kind)
    if "size" in values:
        if "width" in out or "height" in out:
            raise SourceError(f"{spec!r}: give size=HxW or width and height, not both")
        try:
            out["height"], out["width"] = (int(v) for v in str(values["size"]).lower().split("x"))
        except ValueError:
            raise SourceError(f"{spec!r}: size={values['size']!r} must be HxW, e.g. size=64x64") from None
    if out.get("clips") is not None and out["clips"] < 1:
        raise SourceError(f"{spec!r}: clips must be at least 1, got {out['clips']}")
    if "realtime" in values:
        if not isinstance(values["realtime"], bool):
            raise SourceError(f"{spec!r}: realtime must be true or false, got {values['realtime']!r}")
        out["realtime"] = values["realtime"]
    return out


def _number(spec: str, key: str, value, kind):
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise SourceError(f"{spec!r}: {key}={value!r} is not a valid {kind.__name__}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise SourceError(f"{spec!r}: {key}={value!r} is not a valid {kind.__name__}") from None


class SyntheticSource(IterableSource):
    """The world run flat out (offline): every frame, in order, and its ground truth."""

    def __init__(self, world, name: str, stream_id: str):
        super().__init__(world, name, stream_id)
        self._world = world

    def ground_truth(self) -> GroundTruth:
        return self._world


class LiveSyntheticSource(LiveSource):
    """The world paced to the clock as a live camera (a slow consumer loses frames), and its ground truth."""

    def __init__(self, world, name: str, stream_id: str, **live):
        super().__init__(lambda: _IteratorReader(world), name, stream_id, **live)
        self._world = world

    def ground_truth(self) -> GroundTruth:
        return self._world


def open_synthetic(spec: str, options: dict) -> IterableSource | LiveSource:
    """The continuous stream: live (paced in real time) by default; realtime=false runs flat out, offline."""
    try:
        from runtime.world import SyntheticStream
    except ImportError as exc:
        raise SourceError(f"{spec!r}: the synthetic world (runtime.world) is not available: {exc}") from exc
    parsed = parse_world_spec(spec, options)
    if parsed.labelled:
        raise SourceError(f"{spec!r}: clips=N is a set of labelled clips, which calibration reads "
                          "(--calib-data 'synthetic://?clips=N'); a frame source is the continuous stream: "
                          "drop clips (synthetic://?seed=S&frames=N...)")
    realtime = True if parsed.realtime is None else parsed.realtime
    live, _ = split_options(spec, parsed.other, (*COMMON_KEYS, *STREAM_KEYS))
    stream_id = live.pop("stream_id", "synthetic")
    world = parsed.stream_options()
    try:
        stream = SyntheticStream(realtime=realtime, stream_id=stream_id, **world)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"{spec!r}: bad synthetic-world options {world}: {exc}") from exc
    if not realtime:
        if live:
            raise SourceError(f"{spec!r}: options {sorted(live)} apply to live sources only; drop them or use "
                              "realtime=True")
        return SyntheticSource(stream, spec, stream_id)
    return LiveSyntheticSource(stream, spec, stream_id, **live)


class _IteratorReader:
    """Feeds an iterable of frames (already paced) to the capture thread, once."""

    def __init__(self, frames: Iterable[Frame]):
        self._frames = iter(frames)

    def read(self) -> Frame:
        from runtime.sources.live import EndOfStream

        try:
            return next(self._frames)
        except StopIteration:
            raise EndOfStream("the stream ended") from None

    def release(self) -> None:
        pass

