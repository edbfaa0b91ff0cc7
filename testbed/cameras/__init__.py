"""Loopback cameras a live source can be pointed at: mjpeg.MjpegCamera (HTTP, in-process threads) and
rtsp.RtspCamera (rtsp_server.py under the system Python's GStreamer bindings, in its own process)."""
