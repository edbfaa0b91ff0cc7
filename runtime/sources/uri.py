"""Query parameters of a source spec: 'x://...?seed=1&fps=15.5&realtime=false' -> typed options."""

from __future__ import annotations

__all__ = ["query"]


def query(spec: str) -> dict:
    """'x://...?seed=1&fps=15.5&realtime=false' → {'seed': 1, 'fps': 15.5, 'realtime': False}."""
    from urllib.parse import parse_qsl

    text = spec.partition("?")[2]
    return {key: _scalar(value) for key, value in parse_qsl(text, keep_blank_values=True)}


def _scalar(text: str):
    if text.lower() in ("true", "yes", "on"):
        return True
    if text.lower() in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
