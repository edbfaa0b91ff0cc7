"""The DDS transport on the real wire: image publisher process → bridge process → Classification here.

Loopback only (interface lo, no multicast, peer 127.0.0.1); a domain id of its own so parallel runs
on the machine do not meet. Negative controls: a topic without the `rt/` prefix and a type name
without `::dds_::` must find no reader.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("cyclonedds", reason="the DDS transport needs cyclonedds==0.10.x (pip install 'tubelet[ros]')")

from ros_bridge.transports.dds import loopback_config, qos_profiles  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PEER = REPO / "tests" / "ros_bridge" / "dds_peer.py"


def _lines(proc) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return lines


def _await_ready(lines: queue.Queue, proc, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lines.get(timeout=0.5).strip() == "ready":
                return
        except queue.Empty:
            if proc.poll() is not None:
                break
    raise AssertionError(f"bridge did not start (exit {proc.poll()}): {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")


def _peer(domain: int, topic: str, *extra) -> dict:
    run = subprocess.run([sys.executable, str(PEER), "--domain", str(domain), "--topic", topic, *extra],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture
def domain():
    return 100 + os.getpid() % 100


def test_images_from_another_process_come_back_as_classifications(onnx_artifact, domain, monkeypatch):
    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from ros_bridge.transports import dds_types as d

    bridge = subprocess.Popen(
        [sys.executable, "-m", "ros_bridge", "--artifact", str(onnx_artifact), "--image-topic", "/cam/image_raw",
         "--loopback", "--domain-id", str(domain), "--seconds", "60", "--set", "diagnostics_period=0.3"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _await_ready(_lines(bridge), bridge)
        participant = DomainParticipant(domain)
        _, reliable = qos_profiles()
        results = DataReader(participant, Topic(participant, "rt/tubelet/classification", d.Classification_), reliable)
        diagnostics = DataReader(participant, Topic(participant, "rt/diagnostics", d.DiagnosticArray_), reliable)

        for topic, extra in (("cam/image_raw", ()), ("rt/cam/image_raw", ("--wrong-type",))):
            control = _peer(domain, topic, "--match-timeout", "3", *extra)
            assert control == {"matched": 0, "sent": 0}, (topic, extra)

        report = _peer(domain, "rt/cam/image_raw", "--count", "40", "--fps", "30")
        assert report == {"matched": 1, "sent": 40}
        got, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline and len(got) < 5:
            got += results.take(N=64)
            time.sleep(0.1)
        time.sleep(0.5)
        got += results.take(N=64)
        assert len(got) >= 5  # 40 frames, a window every 2: up to 19 results; live mode may replace some
        for msg in got:
            # The publisher stamps frame i with 1000 s + i / 30 s.
            index = (msg.header.stamp.sec - 1000) * 30 + msg.header.stamp.nanosec // 33_333_333
            assert index >= 3 and index % 2 == 1 and msg.header.stamp.nanosec % 33_333_333 == 0
            assert msg.header.frame_id == "peer_cam"
            assert {h.class_id for h in msg.results} == {"left", "right", "still"}
            assert abs(sum(h.score for h in msg.results) - 1.0) < 1e-6

        # The camera goes away and a new one comes up on the topic: a reconnect.
        assert _peer(domain, "rt/cam/image_raw", "--count", "4") == {"matched": 1, "sent": 4}
        time.sleep(0.8)
        statuses = [s for array in diagnostics.take(N=64) for s in array.status]
        assert statuses, "no diagnostics arrived"
        values = {kv.key: kv.value for kv in statuses[-1].values}
        assert statuses[-1].name == "tubelet: /cam/image_raw"
        assert int(values["received"]) == 44 and int(values["dropped"]) == 0, values["last_error"]
        assert int(values["published"]) >= len(got) and values["reconnects"] == "1"
    finally:
        bridge.terminate()
        bridge.wait(timeout=20)
    assert bridge.returncode == 0, bridge.stderr.read()[-2000:]
