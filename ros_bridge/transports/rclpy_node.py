"""The production ROS 2 node (rclpy): `ros2 launch ros_bridge tubelet.launch.py` or `ros2 run ros_bridge tubelet_node`.

Cameras are subscribed with the sensor-data QoS (best effort, keep last 5: matches best-effort and
reliable publishers alike); results are published reliable (keep last 10), as ROS tools expect:
- `<output_namespace>[/<camera>]/classification`  vision_msgs/Classification
- `<output_namespace>[/<camera>]/events`          std_msgs/String (JSON onset/offset, docs/ROS.md)
- `/diagnostics`                                  diagnostic_msgs/DiagnosticArray
Every parameter in config/params.yaml is declared; sampling, thresholds, smoothing and zero-shot
prompts can be changed while running (`ros2 param set /tubelet on_threshold 0.7`); the others
(artifact, topics, backend, limits) are read at start and a change is refused with the reason.

rclpy is not installable from pip or Debian; this module runs on a ROS 2 installation and is not
exercised by the test suite (the DDS transport, which the tests drive, shares everything but this file).
"""

from __future__ import annotations

import sys

from runtime.backends.base import MissingDependencyError


def _import_rclpy():
    try:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        from rcl_interfaces.msg import SetParametersResult
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image
        from std_msgs.msg import String
        from vision_msgs.msg import Classification, ObjectHypothesis
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ROS 2 node needs rclpy and the message packages ({exc}); source /opt/ros/<distro>/setup.bash and "
            "install ros-<distro>-vision-msgs (rosdep install --from-paths ros_bridge), or use the DDS transport: "
            "python -m ros_bridge") from exc
    return dict(rclpy=rclpy, Node=Node, Parameter=Parameter, SetParametersResult=SetParametersResult,
                qos_sensor=qos_profile_sensor_data, QoSProfile=QoSProfile, Reliability=ReliabilityPolicy,
                History=HistoryPolicy, Durability=DurabilityPolicy, Image=Image, CompressedImage=CompressedImage,
                String=String, Classification=Classification, ObjectHypothesis=ObjectHypothesis,
                DiagnosticArray=DiagnosticArray, DiagnosticStatus=DiagnosticStatus, KeyValue=KeyValue)


class RclpyOutputs:
    """`ros_bridge.node.Outputs` on rclpy publishers."""

    def __init__(self, node, ros: dict, cameras, output_namespace: str, diagnostics_topic: str):
        from ros_bridge.transports.dds import output_topics  # plain helper, no DDS import

        self.ros = ros
        reliable = ros["QoSProfile"](depth=10, reliability=ros["Reliability"].RELIABLE,
                                     history=ros["History"].KEEP_LAST, durability=ros["Durability"].VOLATILE)
        self._pubs = {}
        for camera in cameras:
            cls_topic, ev_topic = output_topics(camera, output_namespace)
            self._pubs[camera.key] = (node.create_publisher(ros["Classification"], cls_topic, reliable),
                                      node.create_publisher(ros["String"], ev_topic, reliable))
        self._diag = node.create_publisher(ros["DiagnosticArray"], diagnostics_topic, reliable)

    def _header(self, target, header) -> None:
        target.stamp.sec, target.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
        target.frame_id = header.frame_id

    def classification(self, camera, msg) -> None:
        out = self.ros["Classification"]()
        self._header(out.header, msg.header)
        out.results = [self.ros["ObjectHypothesis"](class_id=h.class_id, score=float(h.score)) for h in msg.results]
        self._pubs[camera.key][0].publish(out)

    def event(self, camera, msg) -> None:
        self._pubs[camera.key][1].publish(self.ros["String"](data=msg.data))

    def diagnostics(self, msg) -> None:
        out = self.ros["DiagnosticArray"]()
        self._header(out.header, msg.header)
        KeyValue, Status = self.ros["KeyValue"], self.ros["DiagnosticStatus"]
        # `byte level` is a bytes object of length 1 in rclpy.
        out.status = [Status(level=bytes([s.level]), name=s.name, message=s.message, hardware_id=s.hardware_id,
                             values=[KeyValue(key=kv.key, value=kv.value) for kv in s.values]) for s in msg.status]
        self._diag.publish(out)


def _declare(node, ros: dict) -> dict:
    """Declare every parameter with its default (typed, even for empty lists); return the current values."""
    from ros_bridge.params import DEFAULTS

    Parameter = ros["Parameter"]
    for name, default in DEFAULTS.items():
        if isinstance(default, list):
            # An empty list would be typed as a byte array; declare the string array explicitly.
            value = Parameter(name, Parameter.Type.STRING_ARRAY, list(default)).get_parameter_value()
            node.declare_parameter(name, value)
        else:
            node.declare_parameter(name, default)
    return {name: node.get_parameter(name).value for name in DEFAULTS}


def build_node(ros: dict):
    """The node, its bridge core and opened model, from the node's parameters."""
    from ros_bridge.node import BridgeCore
    from ros_bridge.params import (STARTUP_ONLY, ParameterError, bridge_settings, merged, open_bridge_model,
                                   recognizer_config)

    node = ros["Node"]("tubelet")
    values = merged({k: list(v) if isinstance(v, (list, tuple)) else v for k, v in _declare(node, ros).items()})
    if not values["artifact"]:
        raise ParameterError("parameter artifact is empty; set it in config/params.yaml or with "
                             "--ros-args -p artifact:=/path/to/artifact")
    settings, config = bridge_settings(values), recognizer_config(values)
    model = open_bridge_model(values)
    outputs = RclpyOutputs(node, ros, settings.cameras, values["output_namespace"], values["diagnostics_topic"])
    core = BridgeCore(model, outputs, settings, config, logger=_RosLogger(node.get_logger()))
    for camera in settings.cameras:
        kind = ros["CompressedImage"] if camera.compressed else ros["Image"]
        node.create_subscription(kind, camera.topic, lambda msg, key=camera.key: core.on_image(key, msg),
                                 ros["qos_sensor"])

    def on_set(params):
        changed = {p.name: (list(p.value) if isinstance(p.value, (list, tuple)) else p.value) for p in params}
        frozen = sorted(set(changed) & set(STARTUP_ONLY))
        if frozen:
            return ros["SetParametersResult"](successful=False, reason=f"{frozen} are read at start; restart the node")
        try:
            new = merged({**values, **changed})
            prompts = new["prompts"] if "prompts" in changed else None
            core.reconfigure(recognizer_config(new), prompts=prompts or None)
        except Exception as exc:  # noqa: BLE001 - refused with the reason; the running settings stay
            return ros["SetParametersResult"](successful=False, reason=str(exc))
        values.update(changed)
        return ros["SetParametersResult"](successful=True)

    node.add_on_set_parameters_callback(on_set)
    return node, core, model


class _RosLogger:
    """logging.Logger's warning(fmt, *args) on an rclpy logger (the core logs through it)."""

    def __init__(self, logger):
        self._logger = logger

    def warning(self, fmt, *args):
        self._logger.warning(fmt % args if args else fmt)


def main(args=None) -> int:
    ros = _import_rclpy()
    rclpy = ros["rclpy"]
    rclpy.init(args=args)
    node = core = model = None
    try:
        node, core, model = build_node(ros)
        node.get_logger().info("tubelet bridge running")
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - one line for bad parameters or a bad artifact, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if core is not None:
            core.close()
        if model is not None:
            model.close()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
