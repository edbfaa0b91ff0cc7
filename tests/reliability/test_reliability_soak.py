"""Short soak (slow): the streaming runtime on a camera dropping every 20 s, for 60 s."""

from __future__ import annotations

import pytest

pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")

from testbed.artifacts import make_onnx_artifact  # noqa: E402
from testbed.cameras.mjpeg import MjpegCamera  # noqa: E402
from testbed.faults.soak import soak  # noqa: E402


@pytest.mark.slow
def test_soak_60s_with_camera_drops(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    with MjpegCamera(fps=20) as camera:
        report = soak(artifact, camera, seconds=60.0, drop_every_s=20.0, warmup_s=20.0)
    assert report.errors == {} and report.drops == 2 and report.reconnects == 2 and report.results > 200
    up = [s for s in report.samples if s[0] >= 20.0 and s[4]]
    # Open files and threads with the camera up come back to the same level after every drop.
    assert up[-1][2] <= max(s[2] for s in up[:10]) and up[-1][3] <= max(s[3] for s in up[:10])
    # The 1 MB/h target needs a long run to resolve (docs/RELIABILITY.md); here: no gross leak.
    assert up[-1][1] - up[0][1] < 2.0, (up[0][1], up[-1][1])
