"""The DDS structs' bytes against an independent ROS 2 serializer (rosbags, Humble definitions)."""

import numpy as np
import pytest

pytest.importorskip("cyclonedds", reason="the DDS transport needs cyclonedds==0.10.x (pip install 'tubelet[ros]')")
pytest.importorskip("rosbags", reason="the wire comparison needs rosbags (pip install 'tubelet[ros]')")

from rosbags.typesys import Stores, get_types_from_msg, get_typestore  # noqa: E402

from ros_bridge.messages import (  # noqa: E402
    Classification,
    DiagnosticArray,
    DiagnosticStatus,
    Header,
    KeyValue,
    ObjectHypothesis,
    Time,
)
from ros_bridge.transports import dds_types as d  # noqa: E402
from ros_bridge.transports.dds import TopicNameError, dds_topic  # noqa: E402

# vision_msgs 4.x (Humble) as published in its .msg files; rosbags does not ship vision_msgs.
VISION_MSGS = {
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/Classification": "std_msgs/Header header\nvision_msgs/ObjectHypothesis[] results\n",
}


@pytest.fixture(scope="module")
def store():
    ts = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    ts.register(types)
    return ts


def _rb_header(ts, sec, nanosec, frame_id):
    return ts.types["std_msgs/msg/Header"](stamp=ts.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                           frame_id=frame_id)


@pytest.mark.parametrize("height,width,encoding,step,frame_id", [
    (480, 640, "rgb8", 1920, "camera_optical"), (3, 5, "mono8", 8, "x"), (4, 6, "mono16", 13, ""),
    (2, 2, "bgra8", 8, "odd length id")])
def test_image_bytes_match_rosbags_both_ways(store, height, width, encoding, step, frame_id):
    data = np.random.default_rng(height).integers(0, 256, height * step, dtype=np.uint8)
    ours = d.Image_(d.Header_(d.Time_(-5, 999_999_999), frame_id), height, width, encoding, 1, step, data.tobytes())
    theirs = store.types["sensor_msgs/msg/Image"](header=_rb_header(store, -5, 999_999_999, frame_id), height=height,
                                                  width=width, encoding=encoding, is_bigendian=1, step=step, data=data)
    wire = bytes(store.serialize_cdr(theirs, "sensor_msgs/msg/Image"))
    assert ours.serialize() == wire
    back = d.Image_.deserialize(wire)
    assert isinstance(back.data, bytes) and back.data == data.tobytes()  # the fast path gives bytes, not a list
    assert (back.height, back.width, back.step, back.encoding, back.header.frame_id) == (height, width, step, encoding,
                                                                                         frame_id)


def test_compressed_image_bytes_match(store):
    data = np.arange(37, dtype=np.uint8)
    ours = d.CompressedImage_(d.Header_(d.Time_(1, 2), "c"), "jpeg", data.tobytes())
    theirs = store.types["sensor_msgs/msg/CompressedImage"](header=_rb_header(store, 1, 2, "c"), format="jpeg", data=data)
    assert ours.serialize() == bytes(store.serialize_cdr(theirs, "sensor_msgs/msg/CompressedImage"))


def test_classification_bytes_match(store):
    msg = Classification(Header(Time(1_700_000_000, 5), "front"),
                         [ObjectHypothesis("wave", 0.75), ObjectHypothesis("push", 0.2), ObjectHypothesis("", 0.05)])
    T = store.types
    theirs = T["vision_msgs/msg/Classification"](
        header=_rb_header(store, 1_700_000_000, 5, "front"),
        results=[T["vision_msgs/msg/ObjectHypothesis"](class_id=h.class_id, score=h.score) for h in msg.results])
    wire = bytes(store.serialize_cdr(theirs, "vision_msgs/msg/Classification"))
    assert d.classification(msg).serialize() == wire
    back = d.Classification_.deserialize(wire)
    assert [(h.class_id, h.score) for h in back.results] == [("wave", 0.75), ("push", 0.2), ("", 0.05)]


def test_string_and_diagnostics_bytes_match(store):
    T = store.types
    assert d.String_('{"kind": "onset"}').serialize() == bytes(
        store.serialize_cdr(T["std_msgs/msg/String"](data='{"kind": "onset"}'), "std_msgs/msg/String"))
    msg = DiagnosticArray(Header(Time(3, 4), ""), [
        DiagnosticStatus(1, "tubelet: /cam", "1 bad message", "/cam", [KeyValue("dropped", "1"), KeyValue("a", "")]),
        DiagnosticStatus(0, "tubelet: /b", "ok", "", [])])
    theirs = T["diagnostic_msgs/msg/DiagnosticArray"](header=_rb_header(store, 3, 4, ""), status=[
        T["diagnostic_msgs/msg/DiagnosticStatus"](
            level=s.level, name=s.name, message=s.message, hardware_id=s.hardware_id,
            values=[T["diagnostic_msgs/msg/KeyValue"](key=kv.key, value=kv.value) for kv in s.values])
        for s in msg.status])
    assert d.diagnostic_array(msg).serialize() == bytes(store.serialize_cdr(theirs, "diagnostic_msgs/msg/DiagnosticArray"))


def test_type_names_are_the_ones_rmw_cyclonedds_uses():
    assert d.Image_.__idl_typename__.replace(".", "::") == "sensor_msgs::msg::dds_::Image_"
    assert d.Classification_.__idl_typename__.replace(".", "::") == "vision_msgs::msg::dds_::Classification_"
    assert d.Image_.__idl__._xt_bytedata == (None, None)  # no type information, as rmw_cyclonedds_cpp


@pytest.mark.parametrize("name,expected", [("/camera/image_raw", "rt/camera/image_raw"), ("image", "rt/robot/image"),
                                           ("/diagnostics", "rt/diagnostics")])
def test_ros_names_map_to_rt_topics(name, expected):
    assert dds_topic(name, namespace="/robot") == expected


@pytest.mark.parametrize("name", ["", "/", "/a//b", "/a/b/", "/1cam", "/cam-era", "~/private", None])
def test_invalid_ros_names_are_refused(name):
    with pytest.raises(TopicNameError):
        dds_topic(name)
