"""ONNX → TensorRT engine (a plain plan file, loadable by trtexec), written to the 8.6/10.x API.

FP16 keeps normalization, softmax and the reductions/pow/sqrt inside them in FP32 through precision
constraints (ViTs lose their accuracy otherwise: NVIDIA/TensorRT issues 2781, 2564, 4111, 4493),
plus any layer whose name matches a --keep-fp32 pattern. INT8 takes an explicitly quantized Q/DQ
ONNX (INT8 + FP16 flags, no calibrator); a legacy calibrator object is accepted only for TensorRT
< 10.1, where the implicit calibrators are not yet deprecated. One optimization profile covers the
batch axis (frames and resolution are fixed). The timing cache is saved beside the engine.

The decisions (which layers stay FP32, profile shapes, version rules, the trtexec command line) are
plain functions over objects with TensorRT's attribute surface, so they are tested without TensorRT.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from packaging.version import Version

from runtime.artifact import sha256_file
from runtime.engine_provenance import parse_version

PRECISIONS = ("fp16", "int8")
HARDWARE_LEVELS = {"none": "NONE", "ampere+": "AMPERE_PLUS"}
# (LayerType name, sub-operation or None): what stays FP32 under FP16, matching export/fp16_check.py.
FP32_LAYER_KINDS = (("NORMALIZATION", None), ("SOFTMAX", None), ("REDUCE", None),
                    ("ELEMENTWISE", "POW"), ("UNARY", "SQRT"))


class EngineBuildError(RuntimeError):
    """TensorRT could not parse the graph or build the engine; the message says what and how to fix it."""


@dataclass
class BuildOptions:
    precision: str = "fp16"
    batch: tuple[int, int, int] = (1, 1, 8)
    workspace_mib: int | None = None
    opt_level: int | None = None  # builder optimization level 0..5 (TensorRT default 3)
    keep_fp32: list[str] = field(default_factory=list)  # fnmatch patterns over layer names
    version_compatible: bool = False
    hardware_compat: str = "none"  # none | ampere+
    dla_core: int | None = None
    gpu_fallback: bool = True
    timing_cache: Path | None = None

    def check(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: choose one of {PRECISIONS}")
        if not (1 <= self.batch[0] <= self.batch[1] <= self.batch[2]):
            raise ValueError(f"batch profile {self.batch}: need 1 <= min <= opt <= max")
        if self.opt_level is not None and not 0 <= self.opt_level <= 5:
            raise ValueError(f"builder optimization level {self.opt_level}: choose 0..5")
        if self.hardware_compat not in HARDWARE_LEVELS:
            raise ValueError(f"hardware compatibility {self.hardware_compat!r}: choose one of {sorted(HARDWARE_LEVELS)}")
        if self.dla_core is not None and self.hardware_compat != "none":
            raise ValueError("DLA engines cannot be hardware-compatible (JetPack has no hardware compatibility); "
                             "drop --hardware-compat or --dla-core")


def needs_explicit_batch_flag(version: str | Version) -> bool:
    """8.x needs NetworkDefinitionCreationFlag.EXPLICIT_BATCH; 10 is explicit-batch only (flag deprecated)."""
    return _v(version) < Version("10")


def calibrator_allowed(version: str | Version) -> bool:
    """The implicit INT8 calibrators are deprecated from TensorRT 10.1 on (explicit Q/DQ supersedes them)."""
    return _v(version) < Version("10.1")


def supports_portability_flags(version: str | Version) -> bool:
    """VERSION_COMPATIBLE, hardware_compatibility_level and builder_optimization_level exist from 8.6."""
    return _v(version) >= Version("8.6")


def _v(version) -> Version:
    return version if isinstance(version, Version) else parse_version(version)


def profile_shapes(name: str, shape, batch: tuple[int, int, int]) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) for one input: the batch axis from `batch`, every other axis static."""
    dims = list(shape)
    if not dims:
        raise EngineBuildError(f"input {name!r} is a scalar; a video model input has a batch axis")
    fixed = dims[1:]
    if any(not isinstance(d, int) or d <= 0 for d in fixed):
        raise EngineBuildError(f"input {name!r} has shape {tuple(dims)}: only the batch axis may be dynamic "
                               "(frames and resolution are fixed at export); re-export the ONNX with static axes")
    if isinstance(dims[0], int) and dims[0] > 0 and batch != (dims[0],) * 3:
        raise EngineBuildError(f"input {name!r} has a static batch of {dims[0]}, but the profile asks for "
                               f"{batch}; export with a dynamic batch axis")
    return tuple((b, *fixed) for b in batch)


def _fp32_kind(layer, trt) -> str | None:
    """'SOFTMAX', 'ELEMENTWISE.POW', ... when the layer belongs to the FP32 set, else None."""
    for type_name, op_name in FP32_LAYER_KINDS:
        if layer.type != getattr(trt.LayerType, type_name):
            continue
        if op_name is None:
            return type_name
        # ILayer hides the sub-operation; the Python API's documented downcast is assigning __class__.
        layer.__class__ = trt.IElementWiseLayer if type_name == "ELEMENTWISE" else trt.IUnaryLayer
        enum = trt.ElementWiseOperation if type_name == "ELEMENTWISE" else trt.UnaryOperation
        if layer.op == getattr(enum, op_name):
            return f"{type_name}.{op_name}"
    return None


def fp32_layer_decisions(network, trt, patterns=()) -> list[tuple[int, str, str]]:
    """[(layer index, layer name, reason)] of the layers to pin to FP32 under FP16/INT8 builds.

    Layers producing non-float tensors (shapes, indices) are skipped: a precision on them is
    meaningless and TensorRT 10 rejects it.
    """
    floats = (trt.float32, trt.float16)
    chosen = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
        if not outputs or any(o.dtype not in floats for o in outputs):
            continue
        kind = _fp32_kind(layer, trt)
        matched = next((p for p in patterns if fnmatch.fnmatchcase(layer.name, p)), None)
        if kind or matched:
            chosen.append((index, layer.name, kind or f"--keep-fp32 {matched}"))
    return chosen


def apply_fp32(network, trt, decisions) -> None:
    for index, _, _ in decisions:
        layer = network.get_layer(index)
        layer.precision = trt.float32
        for i in range(layer.num_outputs):
            layer.set_output_type(i, trt.float32)


def trtexec_command(onnx_path, engine_path, inputs: dict[str, tuple], opts: BuildOptions,
                    fp32_layers: list[str] = ()) -> list[str]:
    """The trtexec call that builds the same engine (8.6/10.x flag names)."""
    def shape(which: int) -> str:
        return ",".join(f"{name}:{'x'.join(str(d) for d in profile[which])}" for name, profile in inputs.items())

    cmd = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}",
           f"--minShapes={shape(0)}", f"--optShapes={shape(1)}", f"--maxShapes={shape(2)}", "--fp16"]
    if opts.precision == "int8":
        cmd.append("--int8")
    if fp32_layers:
        cmd += ["--precisionConstraints=obey", "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in fp32_layers),
                "--layerOutputTypes=" + ",".join(f"{n}:fp32" for n in fp32_layers)]
    if opts.workspace_mib:
        cmd.append(f"--memPoolSize=workspace:{opts.workspace_mib}MiB")
    if opts.opt_level is not None:
        cmd.append(f"--builderOptimizationLevel={opts.opt_level}")
    if opts.version_compatible:
        cmd.append("--versionCompatible")
    if opts.hardware_compat != "none":
        cmd.append(f"--hardwareCompatibilityLevel={opts.hardware_compat}")
    if opts.dla_core is not None:
        cmd.append(f"--useDLACore={opts.dla_core}")
        if opts.gpu_fallback:
            cmd.append("--allowGPUFallback")
    if opts.timing_cache:
        cmd.append(f"--timingCacheFile={opts.timing_cache}")
    return cmd


def trtexec_for_onnx(onnx_path: Path, engine_path: Path, opts: BuildOptions) -> list[str]:
    """The trtexec command for an ONNX file without TensorRT at hand.

    The ONNX parser names each layer after its ONNX node, so the FP32 set is given by node name
    (ops in export/fp16_check.KEEP_FP32_OPS plus --keep-fp32 patterns); with TensorRT present,
    `build_engine` reports the command with the parsed network's own layer names.
    """
    import onnx

    from export.fp16_check import KEEP_FP32_OPS

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    inputs = {}
    for value in graph.input:
        if value.name not in initializers:
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
                    for d in value.type.tensor_type.shape.dim]
            inputs[value.name] = profile_shapes(value.name, dims, opts.batch)
    names = [n.name for n in graph.node if n.name and (n.op_type in KEEP_FP32_OPS or any(
        fnmatch.fnmatchcase(n.name, p) for p in opts.keep_fp32))]
    return trtexec_command(onnx_path, engine_path, inputs, opts, names)


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineBuildError(f"TensorRT is not importable here ({exc}): build engines on the target with "
                               "pip install 'tubelet[trt]' (JetPack ships it as python3-libnvinfer)") from exc
    return trt


def build_engine(onnx_path: str | Path, engine_path: str | Path, opts: BuildOptions, calibrator=None,
                 log: Callable[[str], None] = print) -> dict:
    """Build and write the engine; return its provenance for the manifest.

    `calibrator`: an object implementing trt.IInt8EntropyCalibrator2 (the calibration package's legacy
    calibrator), for int8 builds of an ONNX without Q/DQ on TensorRT < 10.1 only.
    """
    opts.check()
    trt = import_tensorrt()
    version = parse_version(trt.__version__)
    if not supports_portability_flags(version):
        raise EngineBuildError(f"TensorRT {trt.__version__} is older than 8.6, the oldest this builder is written for "
                               "(JetPack 6.0 ships 8.6); upgrade TensorRT")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if needs_explicit_batch_flag(version) else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if opts.version_compatible or opts.hardware_compat != "none":
        # Portable plans cannot embed the InstanceNormalization plugin; use the native layer.
        parser.set_flag(trt.OnnxParserFlag.NATIVE_INSTANCENORM)
    # parse_from_file resolves external data (model.onnx.data) next to the graph.
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT {trt.__version__} cannot parse {onnx_path}: {' | '.join(errors)}; "
                               "see the tensorrt_readiness verdict in the manifest")
    engine_path = Path(engine_path)
    opts.timing_cache = Path(opts.timing_cache or engine_path.with_name(engine_path.stem + ".timing.cache"))
    config = builder.create_builder_config()
    inputs = _add_profile(builder, network, config, opts)
    decisions = _configure_precision(builder, network, config, trt, version, opts, calibrator)
    _configure_options(builder, network, config, trt, opts, log)
    _timing_cache(config, opts.timing_cache)
    log(f"building a TensorRT {trt.__version__} {opts.precision} engine ({len(decisions)} layers pinned to FP32); "
        "this takes minutes")
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT {trt.__version__} failed to build the engine for {onnx_path} (see the "
                               "TensorRT log above); try a larger --workspace or fewer --keep-fp32 layers")
    with open(engine_path, "wb") as handle:
        handle.write(serialized)  # IHostMemory exposes the buffer protocol: a plain plan, no header
    with open(opts.timing_cache, "wb") as handle:
        handle.write(config.get_timing_cache().serialize())  # rebuilds on this GPU reuse the kernel timings
    device = _device()
    return {"tensorrt": str(trt.__version__), "gpu": device.name, "compute_capability": device.compute_capability,
            "onnx_sha256": sha256_file(onnx_path), "precision": opts.precision,
            "build_seconds": round(time.perf_counter() - start, 1), "timing_cache": Path(opts.timing_cache).name,
            "profile": {name: [list(s) for s in shapes] for name, shapes in inputs.items()},
            "fp32_layers": len(decisions), "keep_fp32": list(opts.keep_fp32),
            "flags": _flag_names(config, trt), "workspace_mib": opts.workspace_mib,
            "builder_optimization_level": opts.opt_level, "version_compatible": opts.version_compatible,
            "hardware_compatibility": opts.hardware_compat, "dla_core": opts.dla_core,
            "calibrator": type(calibrator).__name__ if calibrator is not None else None,
            "trtexec": " ".join(trtexec_command(onnx_path, engine_path, inputs, opts, [d[1] for d in decisions]))}


def add_engine(folder: Path, manifest, opts: BuildOptions, log: Callable[[str], None] = print, calibrator=None):
    """Build `model.<precision>.engine` into an artifact folder and record it (with provenance) in the manifest.

    Without TensorRT this says so in one line, records why in `validation.tensorrt_engine`, and
    returns None: the ONNX artifact, readiness verdict and CPU FP16 numerics are still written.
    """
    from runtime.artifact import describe_file

    folder = Path(folder)
    source = manifest.file_of_kind("onnx", "int8" if opts.precision == "int8" else "fp32")
    if source is None:
        raise EngineBuildError("an int8 engine is built from model.int8.onnx (Q/DQ), which this artifact lacks: "
                               "run the calibration step first (build_engine.py --calib-data DIR)")
    try:
        import_tensorrt()
    except EngineBuildError as exc:
        log(f"  no engine: {exc}")
        manifest.validation["tensorrt_engine"] = {"built": False, "reason": str(exc)}
        return None
    name = f"model.{opts.precision}.engine"
    provenance = build_engine(folder / source, folder / name, opts, calibrator, log)
    manifest.files[name] = describe_file(folder / name, "engine", precision=opts.precision,
                                         details={**provenance, "onnx": source})
    cache = Path(opts.timing_cache)
    if cache.parent.resolve() == folder.resolve():
        manifest.files[cache.name] = describe_file(cache, "timing_cache", details={"tensorrt": provenance["tensorrt"]})
    manifest.validation["tensorrt_engine"] = {"built": True, "file": name, "build_seconds": provenance["build_seconds"]}
    log("  same engine with trtexec: " + provenance["trtexec"])
    return name


def _add_profile(builder, network, config, opts: BuildOptions) -> dict[str, tuple]:
    profile = builder.create_optimization_profile()
    inputs = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shapes = profile_shapes(tensor.name, [int(d) for d in tensor.shape], opts.batch)
        profile.set_shape(tensor.name, *shapes)
        inputs[tensor.name] = shapes
    config.add_optimization_profile(profile)
    return inputs


def _configure_precision(builder, network, config, trt, version, opts: BuildOptions, calibrator):
    # platform_has_fast_fp16 is deprecated in later 10.x releases: treat its absence as "yes".
    if not getattr(builder, "platform_has_fast_fp16", True):
        raise EngineBuildError("this GPU has no fast FP16; build an FP32 engine with trtexec or use ONNX Runtime")
    config.set_flag(trt.BuilderFlag.FP16)
    if opts.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # with FP16: layers left unquantized run in FP16, not FP32
        quantized = any(network.get_layer(i).type in (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
                        for i in range(network.num_layers))
        if calibrator is not None:
            if not calibrator_allowed(version):
                raise EngineBuildError(f"TensorRT {version} deprecates implicit INT8 calibrators (since 10.1); "
                                       "build from the explicitly quantized model.int8.onnx (Q/DQ) instead")
            if quantized:
                raise EngineBuildError("the ONNX is already quantized (Q/DQ); build it without a calibrator")
            config.int8_calibrator = calibrator
        elif not quantized:
            raise EngineBuildError("--precision int8 needs the explicitly quantized model.int8.onnx (Q/DQ nodes) "
                                   "from the calibration step, or (TensorRT < 10.1) a calibrator")
    decisions = fp32_layer_decisions(network, trt, opts.keep_fp32)
    if decisions:
        apply_fp32(network, trt, decisions)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    return decisions


def _configure_options(builder, network, config, trt, opts: BuildOptions, log) -> None:
    if opts.workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(opts.workspace_mib) << 20)
    if opts.opt_level is not None:
        config.builder_optimization_level = int(opts.opt_level)
    if opts.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if opts.hardware_compat != "none":
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, HARDWARE_LEVELS[opts.hardware_compat])
    if opts.dla_core is not None:
        _configure_dla(builder, network, config, trt, opts, log)


def _configure_dla(builder, network, config, trt, opts: BuildOptions, log) -> None:
    cores = builder.num_DLA_cores
    if opts.dla_core >= cores:
        raise EngineBuildError(f"--dla-core {opts.dla_core}: this device has {cores} DLA cores "
                               "(AGX Orin and Orin NX have 2, Orin Nano none)")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = int(opts.dla_core)
    off_dla = [network.get_layer(i).name for i in range(network.num_layers)
               if not config.can_run_on_DLA(network.get_layer(i))]
    if off_dla and not opts.gpu_fallback:
        raise EngineBuildError(f"{len(off_dla)} layers cannot run on DLA (attention, LayerNorm and GELU never can), "
                               f"e.g. {off_dla[:5]}; allow GPU fallback or drop --dla-core")
    if opts.gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if off_dla:
        log(f"  DLA: {len(off_dla)} of {network.num_layers} layers fall back to the GPU (e.g. {off_dla[:3]})")


def _device():
    from runtime.backends.cuda_memory import open_cuda

    cuda = open_cuda()
    try:
        return cuda.device_info()
    finally:
        cuda.close()


def _timing_cache(config, path: Path | None):
    data = Path(path).read_bytes() if path and Path(path).is_file() else b""
    cache = config.create_timing_cache(data)  # b"" gives an empty cache the build fills
    config.set_timing_cache(cache, ignore_mismatch=False)


def _flag_names(config, trt) -> list[str]:
    return sorted(name for name, flag in trt.BuilderFlag.__members__.items() if config.get_flag(flag))
