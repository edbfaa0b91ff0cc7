"""What a manifest's values may be: JSON types first, then ranges the runtime can honour.

A manifest comes from a file anyone can edit, so every value the runtime later loops over, allocates
for or divides by is bounded here, at read time, with a one-line reason (found by fuzzing the reader
and by trying extreme values: `target_fps: 1e300` made the sampler spin, `batch_profile: [0, 0, 0]`
or `[1, 8]` failed at the first batch, a 100000-pixel crop ended in a MemoryError).

The bounds are far above any real video model and far below what exhausts a robot's memory:
"""

from __future__ import annotations

import math
from typing import Any

MAX_SIDE = 4096  # input/crop/resize height and width, pixels
MAX_FRAMES = 512  # frames per clip
MAX_CHANNELS = 4
MAX_CLIP_VALUES = 1 << 26  # frames x channels x height x width of one clip: 256 MiB of float32
MAX_STRIDE = 10_000  # sampling.frame_stride and sampling.window_stride
MAX_TARGET_FPS = 1000.0  # sampling.target_fps (frames per second sampled by timestamp)
MAX_BATCH = 1024  # batch_profile entries
MAX_TEMPERATURE = 1000.0
MAX_TEXT_LENGTH = 4096  # video_text.max_length, tokens
MAX_LOGIT_SCALE = 10_000.0


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(problems: list[str], where: str, value: Any, low: int, high: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not is_int(value) or not low <= value <= high:
        problems.append(f"{where} must be an integer in {low}..{high}{' or null' if optional else ''}, got {value!r}")


def _number_in(problems: list[str], where: str, value: Any, high: float, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not is_number(value) or not 0 < value <= high:
        problems.append(f"{where} must be a finite number in (0, {high:g}]{' or null' if optional else ''}, "
                        f"got {value!r}")


def type_and_range_problems(m) -> list[str]:
    """Every field whose JSON type or value is out of bounds; empty when the manifest is usable."""
    problems: list[str] = []
    _input_problems(problems, m.input)
    _preprocessing_problems(problems, m.preprocessing)
    problems.extend(sampling_problems(m.sampling))
    _number_in(problems, "temperature", m.temperature, MAX_TEMPERATURE)
    for where, names in (("labels", m.labels), ("outputs", m.outputs), ("background", m.background)):
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            problems.append(f"{where} must be a list of non-empty strings, got {_short(names)}")
        elif len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            problems.append(f"{where} must be distinct, {twice} appear more than once")
    if isinstance(m.outputs, list) and not m.outputs:
        problems.append("outputs must name at least one model output")
    for where in ("source", "tool_versions", "validation"):
        if not isinstance(getattr(m, where), dict):
            problems.append(f"{where} must be an object, got {_short(getattr(m, where))}")
    for name, entry in m.files.items():
        _file_problems(problems, name, entry)
    return problems


def sampling_problems(sampling) -> list[str]:
    """A Sampling's strides and target fps out of range: usable by a writer before its long work."""
    problems: list[str] = []
    _int_in(problems, "sampling.frame_stride", sampling.frame_stride, 1, MAX_STRIDE)
    _int_in(problems, "sampling.window_stride", sampling.window_stride, 1, MAX_STRIDE)
    _number_in(problems, "sampling.target_fps", sampling.target_fps, MAX_TARGET_FPS, optional=True)
    return problems


def _input_problems(problems: list[str], spec) -> None:
    if not isinstance(spec.name, str) or not spec.name:
        problems.append(f"input.name must be a non-empty string, got {spec.name!r}")
    _int_in(problems, "input.frames", spec.frames, 1, MAX_FRAMES)
    _int_in(problems, "input.channels", spec.channels, 1, MAX_CHANNELS)
    for axis in ("height", "width"):
        _int_in(problems, f"input.{axis}", getattr(spec, axis), 1, MAX_SIDE)
    sizes = (spec.frames, spec.channels, spec.height, spec.width)
    if all(is_int(v) and v > 0 for v in sizes) and math.prod(sizes) > MAX_CLIP_VALUES:
        problems.append(f"input clip {spec.frames}x{spec.channels}x{spec.height}x{spec.width} holds "
                        f"{math.prod(sizes)} values, more than the {MAX_CLIP_VALUES} one clip may hold")
    if spec.dtype != "float32":
        problems.append(f"input.dtype must be float32 (what preprocessing produces), got {spec.dtype!r}")


def _preprocessing_problems(problems: list[str], pre) -> None:
    for where, values in (("preprocessing.mean", pre.mean), ("preprocessing.std", pre.std)):
        if not isinstance(values, list) or not all(is_number(v) for v in values):
            problems.append(f"{where} must be a list of finite numbers, got {_short(values)}")
    for axis in ("crop_height", "crop_width"):
        _int_in(problems, f"preprocessing.{axis}", getattr(pre, axis), 1, MAX_SIDE)
    for axis in ("resize_shortest_edge", "resize_height", "resize_width"):
        _int_in(problems, f"preprocessing.{axis}", getattr(pre, axis), 1, MAX_SIDE, optional=True)
    if not is_number(pre.rescale) or pre.rescale <= 0:
        problems.append(f"preprocessing.rescale must be a positive finite number, got {pre.rescale!r}")
    for where in ("color", "interpolation"):
        if not isinstance(getattr(pre, where), str):
            problems.append(f"preprocessing.{where} must be a string, got {getattr(pre, where)!r}")


def video_text_problems(spec, files: dict) -> list[str]:
    """The video_text section: every file it names is listed, sizes and scales in range."""
    problems = []
    for role, name in spec.files().items():
        required = role in ("video_graph", "text_graph", "tokenizer")
        if name is None and not required:
            continue
        if not isinstance(name, str) or name not in files:
            problems.append(f"video_text.{role} must name a file listed in files, got {name!r}")
    if not is_int(spec.max_length) or not 1 <= spec.max_length <= MAX_TEXT_LENGTH:
        problems.append(f"video_text.max_length must be an integer in 1..{MAX_TEXT_LENGTH}, got {spec.max_length!r}")
    if not is_int(spec.pad_id) or spec.pad_id < 0:
        problems.append(f"video_text.pad_id must be a non-negative integer, got {spec.pad_id!r}")
    if not is_number(spec.logit_scale) or not 0 < spec.logit_scale <= MAX_LOGIT_SCALE:
        problems.append(f"video_text.logit_scale must be a finite number in (0, {MAX_LOGIT_SCALE:g}], "
                        f"got {spec.logit_scale!r}")
    if spec.embed_dim is not None and not (is_int(spec.embed_dim) and spec.embed_dim > 0):
        problems.append(f"video_text.embed_dim must be a positive integer or null, got {spec.embed_dim!r}")
    if not isinstance(spec.text_normalized, bool) or not isinstance(spec.video_pooling, (str, type(None))):
        problems.append("video_text.text_normalized must be true/false and video_pooling a string or null")
    return problems


def _file_problems(problems: list[str], name: str, entry) -> None:
    if not isinstance(entry.sha256, str) or len(entry.sha256) != 64 or not is_int(entry.size) or entry.size < 0:
        problems.append(f"files.{name} needs a 64-character sha256 and a byte size, got {_short(entry.sha256)}, "
                        f"{entry.size!r}")
    if not isinstance(entry.kind, str) or not isinstance(entry.details, dict):
        problems.append(f"files.{name} needs a kind (string) and details (object)")
        return
    if "batch_profile" in entry.details:
        problems.extend(batch_profile_problems(f"files.{name}.details.batch_profile", entry.details["batch_profile"]))
    profile = entry.details.get("profile")
    if profile is not None:
        if not isinstance(profile, dict):
            problems.append(f"files.{name}.details.profile must map input names to [min, opt, max] shapes")
        else:
            for tensor, shapes in profile.items():
                problems.extend(_shape_profile_problems(f"files.{name}.details.profile.{tensor}", shapes))


def batch_profile_problems(where: str, profile: Any) -> list[str]:
    """[min, opt, max] batch sizes with 1 <= min <= opt <= max <= MAX_BATCH."""
    if (not isinstance(profile, list) or len(profile) != 3 or not all(is_int(b) for b in profile)
            or not 1 <= profile[0] <= profile[1] <= profile[2] <= MAX_BATCH):
        return [f"{where} must be [min, opt, max] batch sizes with 1 <= min <= opt <= max <= {MAX_BATCH}, "
                f"got {_short(profile)}"]
    return []


def _shape_profile_problems(where: str, shapes: Any) -> list[str]:
    ok = (isinstance(shapes, list) and len(shapes) == 3 and all(isinstance(s, list) and s for s in shapes)
          and len({len(s) for s in shapes}) == 1 and all(is_int(d) and d >= 1 for s in shapes for d in s))
    if ok:
        ok = not batch_profile_problems(where, [s[0] for s in shapes]) and all(
            lo <= opt <= hi for lo, opt, hi in zip(*shapes))
    return [] if ok else [f"{where} must be three shapes [min, opt, max] of positive dims, min <= opt <= max, "
                          f"got {_short(shapes)}"]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
