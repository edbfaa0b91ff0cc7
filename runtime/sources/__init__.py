"""Frame sources. Each yields `Frame`s: image, monotonic capture timestamp, index."""

from runtime.sources.base import Frame

__all__ = ["Frame"]
