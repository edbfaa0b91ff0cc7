"""ROS 2 message types as Cyclone DDS structs, named as rmw_cyclonedds_cpp names them.

ROS 2's `pkg/msg/Name` travels as the DDS type `pkg::msg::dds_::Name_` with plain (final) structs in
XCDR1, so these definitions match a ROS 2 node byte for byte (tests compare them against the
`rosbags` serializer). Imported only by the DDS transport: it needs the `cyclonedds` module.

Fast byte path: ROS's `uint8[] data` is the IDL `sequence<octet>`, which the binding turns into a
Python list of ints (≈ 26 ms for a VGA frame). The field stays declared as `sequence[uint8]` (so
the type the binding describes to peers is the real one), and its (de)serializer is swapped for
the binding's bytes machine, which writes the same wire form (4-byte aligned uint32 length, then
the raw octets) in one copy and reads back `bytes`. This touches binding internals (the struct's
member machines), which differ between cyclonedds 0.10 and 11: `_fast_octets` checks the layout
and refuses loudly, and tests pin the wire bytes against an independent serializer.
"""

# No `from __future__ import annotations` here: the binding reads these annotations as objects.
from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t


@dataclass
class Time_(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Header_(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time_ = field(default_factory=Time_)
    frame_id: str = ""


@dataclass
class Image_(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""  # bytes in Python, sequence<octet> on the wire (module docstring)


@dataclass
class CompressedImage_(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header_ = field(default_factory=Header_)
    format: str = ""
    data: t.sequence[t.uint8] = b""


@dataclass
class ObjectHypothesis_(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesis_"):
    class_id: str = ""
    score: t.float64 = 0.0


@dataclass
class Classification_(IdlStruct, typename="vision_msgs::msg::dds_::Classification_"):
    header: Header_ = field(default_factory=Header_)
    results: t.sequence[ObjectHypothesis_] = field(default_factory=list)


@dataclass
class String_(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str = ""


@dataclass
class KeyValue_(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus_(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    level: t.uint8 = 0  # `byte` in the .msg: an octet on the wire
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: t.sequence[KeyValue_] = field(default_factory=list)


@dataclass
class DiagnosticArray_(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    header: Header_ = field(default_factory=Header_)
    status: t.sequence[DiagnosticStatus_] = field(default_factory=list)


def _fast_octets(cls, member: str = "data") -> None:
    """Serialize `cls.member` (a sequence<uint8>) from/to bytes in one copy instead of a list of ints."""
    from cyclonedds.idl._machinery import BytesMachine, PlainCdrV2SequenceOfPrimitiveMachine, StructMachine

    idl = cls.__idl__
    idl.populate()
    for machine in (idl.v0_machine, idl.v2_machine):
        current = getattr(machine, "members_machines", {}).get(member)
        if not isinstance(machine, StructMachine) or not isinstance(current, (PlainCdrV2SequenceOfPrimitiveMachine,
                                                                             BytesMachine)):
            raise RuntimeError(f"cyclonedds binding internals differ from the 0.10 series ({type(machine).__name__}."
                               f"{member}: {type(current).__name__}); install cyclonedds==0.10.5 (pip install "
                               "'tubelet[ros]')")
        machine.members_machines[member] = BytesMachine()


class _NoTypeInformation:
    """Stands in for the XTypes data the binding would compute, so it computes none."""


def _like_rmw(cls) -> None:
    """Announce no XTypes type information, as rmw_cyclonedds_cpp does.

    Endpoints then match on topic and type *name* as they do with ROS 2 nodes; with type information
    XTypes would match any structurally assignable type whatever its name. The binding skips type
    information when its cached XTypes data is set and the serialized form is None (pysertype.c).
    """
    idl = cls.__idl__
    idl.populate()
    if not hasattr(idl, "_xt_data") or not hasattr(idl, "_xt_bytedata"):
        raise RuntimeError("cyclonedds binding internals differ from the 0.10 series (no _xt_data); "
                           "install cyclonedds==0.10.5 (pip install 'tubelet[ros]')")
    idl._xt_data = (_NoTypeInformation(), _NoTypeInformation())
    idl._xt_bytedata = (None, None)


_fast_octets(Image_)
_fast_octets(CompressedImage_)
for _cls in (Time_, Header_, Image_, CompressedImage_, ObjectHypothesis_, Classification_, String_, KeyValue_,
             DiagnosticStatus_, DiagnosticArray_):
    _like_rmw(_cls)


def header(h) -> Header_:
    return Header_(Time_(h.stamp.sec, h.stamp.nanosec), h.frame_id)


def classification(msg) -> Classification_:
    """ros_bridge.messages.Classification → its DDS struct."""
    return Classification_(header(msg.header), [ObjectHypothesis_(h.class_id, h.score) for h in msg.results])


def diagnostic_array(msg) -> DiagnosticArray_:
    return DiagnosticArray_(header(msg.header), [
        DiagnosticStatus_(s.level, s.name, s.message, s.hardware_id, [KeyValue_(kv.key, kv.value) for kv in s.values])
        for s in msg.status])
