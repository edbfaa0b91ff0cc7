"""OpenCV, imported once with an error that explains the Jetson choice."""

try:
    import cv2  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ImportError(
        "the Tubelet runtime needs OpenCV (cv2): pip install 'tubelet[opencv]', or on a Jetson keep "
        "JetPack's system OpenCV (it has GStreamer) and make it visible to this Python"
    ) from exc
