"""The trtexec command lines that build the same engines as runtime/backends/tensorrt/build.py.

Two forms, as the builder has two strategies: strongly typed (`--stronglyTyped`, from the FP16 or
Q/DQ ONNX; TensorRT >= 10, and on 11 the only form trtexec accepts: it rejects --fp16, --int8 and
the precision-constraint flags) and weakly typed (TensorRT 8.6: `--fp16` with the norm layers pinned
to FP32 by name). Memory sizes use the unit letters trtexec reads (K, M, G): `2048M`; a bare
`2048MiB` is read as bytes.
"""

from __future__ import annotations

from runtime.backends.tensorrt.build import STRONGLY_TYPED, BuildOptions


def _shape_flags(inputs: dict[str, tuple]) -> list[str]:
    def shape(which: int) -> str:
        return ",".join(f"{name}:{'x'.join(str(d) for d in profile[which])}" for name, profile in inputs.items())

    return [f"--minShapes={shape(0)}", f"--optShapes={shape(1)}", f"--maxShapes={shape(2)}"]


def _option_flags(opts: BuildOptions) -> list[str]:
    cmd = []
    if opts.workspace_mib:
        cmd.append(f"--memPoolSize=workspace:{int(opts.workspace_mib)}M")
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


def strongly_typed_command(onnx_path, engine_path, inputs: dict[str, tuple], opts: BuildOptions) -> list[str]:
    """TensorRT >= 10: precision comes from the ONNX (model.fp16.onnx, or the Q/DQ FP16 model.int8.fp16.onnx)."""
    return ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}", *_shape_flags(inputs),
            "--stronglyTyped", *_option_flags(opts)]


def weakly_typed_command(onnx_path, engine_path, inputs: dict[str, tuple], opts: BuildOptions,
                         fp32_layers=()) -> list[str]:
    """TensorRT 8.6: FP16 (+ INT8 for a Q/DQ graph) flags, the given layers pinned to FP32."""
    cmd = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}", *_shape_flags(inputs), "--fp16"]
    if opts.precision == "int8":
        cmd.append("--int8")
    fp32_layers = list(fp32_layers)
    if fp32_layers:
        cmd += ["--precisionConstraints=obey", "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in fp32_layers),
                "--layerOutputTypes=" + ",".join(f"{n}:fp32" for n in fp32_layers)]
    return cmd + _option_flags(opts)


def command_for(strategy: str, onnx_path, engine_path, inputs, opts: BuildOptions, fp32_layers=()) -> list[str]:
    if strategy == STRONGLY_TYPED:
        return strongly_typed_command(onnx_path, engine_path, inputs, opts)
    return weakly_typed_command(onnx_path, engine_path, inputs, opts, fp32_layers)
