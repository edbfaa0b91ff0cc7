"""The one thing every source produces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured image.

    `image` is uint8 in OpenCV order: HxWx3 BGR (some sources may give HxW gray or HxWx4 BGRA;
    the preprocessor accepts those). `timestamp` is the capture time in `time.monotonic()` seconds
    (or a synthetic clock for offline sources), `index` counts frames from 0 within its source.
    """

    image: np.ndarray
    timestamp: float
    index: int
    stream_id: str = "0"
