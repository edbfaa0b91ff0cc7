"""Engine provenance: what an engine was built with, and whether this machine can load it.

A TensorRT plan is tied to the TensorRT version that built it and to the GPU's compute capability
(`deserialize_cuda_engine` returns None otherwise, with a terse log line). The builder records its
provenance in the manifest; the runtime compares it with this machine *before* deserializing and
refuses a mismatch with the command that rebuilds the engine here. Portable builds relax the rules:
version-compatible engines (TensorRT >= 8.6) load on the same or a later TensorRT of the same major
version; hardware-compatible engines (`ampere+`) load on any GPU of compute capability >= 8.0, except
on Jetson, where hardware compatibility does not exist. Plans never cross platforms (a Jetson plan
does not load on an x86-64 or SBSA server and back): the builder records the platform.

The rules are pure functions of (provenance, machine) and are tested without TensorRT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from runtime.common.hints import setting

REBUILD_HINT = ("rebuild the engine on this machine: tubelet-engine --artifact <artifact> --precision {precision} "
                "(or trtexec: see docs/TENSORRT.md), or open the artifact with {onnxruntime}")


@dataclass(frozen=True)
class Machine:
    tensorrt: str
    gpu: str
    compute_capability: str  # "8.7"
    dla_cores: int = 0
    platform: str = ""  # jetson | x86_64 | aarch64 (SBSA); "" when unknown


def this_platform() -> str:
    """'jetson' on a Jetson (L4T), else the CPU architecture: TensorRT plans are per platform."""
    import platform
    from pathlib import Path

    if Path("/etc/nv_tegra_release").is_file():
        return "jetson"
    try:
        compatible = Path("/proc/device-tree/compatible").read_bytes()
    except OSError:
        compatible = b""
    return "jetson" if b"nvidia,tegra" in compatible else platform.machine().lower()


@dataclass
class Compatibility:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def message(self, engine: str, precision: str = "fp16") -> str:
        return (f"engine {engine} cannot run here: " + "; ".join(self.reasons) + "; "
                + REBUILD_HINT.format(precision=precision, onnxruntime=setting("backend", "onnxruntime")))


def parse_version(text: str) -> Version:
    """A TensorRT version string ('8.6.2.3', '10.3.0') as a comparable Version, never as a string."""
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a TensorRT version (expected e.g. '10.3.0')") from None


def same_release(a: str, b: str) -> bool:
    """Equal major.minor.patch: the build number (8.6.1.6 vs 8.6.1) does not change the plan format."""
    return parse_version(a).release[:3] == parse_version(b).release[:3]


def check_compatibility(provenance: dict, machine: Machine) -> Compatibility:
    """Whether an engine with this provenance can be deserialized and run on `machine`."""
    result = Compatibility(ok=True)
    built_trt = provenance.get("tensorrt")
    if not built_trt:
        result.reasons.append("the manifest records no TensorRT version for it")
    else:
        _check_version(str(built_trt), machine.tensorrt, bool(provenance.get("version_compatible")), result)
    _check_gpu(provenance, machine, result)
    built_on = provenance.get("platform")
    if built_on and machine.platform and built_on != machine.platform:
        result.reasons.append(f"it was built on {built_on}, this machine is {machine.platform} (TensorRT plans do not "
                              "cross platforms)")
    dla = provenance.get("dla_core")
    if dla is not None and int(dla) >= machine.dla_cores:
        result.reasons.append(f"it was built for DLA core {dla}, this machine has {machine.dla_cores} DLA cores")
    result.ok = not result.reasons
    return result


def _check_version(built: str, here: str, version_compatible: bool, result: Compatibility) -> None:
    b, h = parse_version(built), parse_version(here)
    if version_compatible:
        if h.major != b.major or h < b:
            result.reasons.append(f"it is a version-compatible engine from TensorRT {built}, which loads on TensorRT "
                                  f"{b.major}.x >= {built} only; this machine has TensorRT {here}")
    elif not same_release(built, here):
        result.reasons.append(f"it was built with TensorRT {built}, this machine has TensorRT {here} "
                              "(plain engines load only on the TensorRT release that built them)")


def _check_gpu(provenance: dict, machine: Machine, result: Compatibility) -> None:
    built_cc = provenance.get("compute_capability")
    if not built_cc:
        result.reasons.append("the manifest records no GPU compute capability for it")
        return
    hardware = str(provenance.get("hardware_compatibility") or "none").lower()
    if hardware in ("ampere+", "ampere_plus"):
        if machine.platform == "jetson":
            result.reasons.append("it is a hardware-compatible (ampere+) engine, and JetPack has no hardware "
                                  "compatibility")
            return
        if parse_version(machine.compute_capability) < Version("8.0"):
            result.reasons.append(f"it is an Ampere+ hardware-compatible engine; this GPU ({machine.gpu}) has compute "
                                  f"capability {machine.compute_capability} < 8.0")
        return
    if parse_version(str(built_cc)) != parse_version(machine.compute_capability):
        result.reasons.append(f"it was built for compute capability {built_cc} ({provenance.get('gpu', '?')}), this GPU "
                              f"({machine.gpu}) is {machine.compute_capability}")
    elif provenance.get("gpu") and provenance["gpu"] != machine.gpu:
        result.warnings.append(f"built on {provenance['gpu']}, running on {machine.gpu} (same compute capability "
                               f"{machine.compute_capability}); TensorRT may pick slower kernels: rebuild for best speed")


def this_machine(cuda=None) -> Machine:
    """TensorRT version, GPU name and compute capability here (imports tensorrt and cuda lazily)."""
    from runtime.backends.base import require

    trt = require("tensorrt", "trt", "checking an engine against this machine")
    owned = cuda is None
    if owned:
        from runtime.backends.tensorrt.cuda_memory import open_cuda

        cuda = open_cuda()
    try:
        info = cuda.device_info()
    finally:
        if owned:
            cuda.close()
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    return Machine(str(trt.__version__), info.name, info.compute_capability, int(runtime.num_DLA_cores), this_platform())
