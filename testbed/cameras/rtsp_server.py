"""A loopback RTSP camera: GStreamer's rtsp-server (Debian: gstreamer1.0-rtsp, gir1.2-gst-rtsp-server-1.0,
python3-gst-1.0, gstreamer1.0-plugins-good). Run with the system Python that has those bindings:

    /usr/bin/python3 testbed/cameras/rtsp_server.py PORT     # rtsp://127.0.0.1:PORT/cam, MJPEG/RTP 64x48@20

rtpjpegpay only carries 4:2:0 JPEG, hence format=I420. Prints "ready" once listening.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = ("( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=64,height=48,framerate=20/1 "
            "! jpegenc ! rtpjpegpay name=pay0 pt=26 )")

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(PIPELINE)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{sys.argv[1]}")
print("ready", flush=True)
GLib.MainLoop().run()
