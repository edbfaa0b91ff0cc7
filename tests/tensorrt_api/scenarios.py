"""The builder, the engine runner and the legacy calibrator against one release's real API.

Run by test_tensorrt_api.py as `python -m tests.tensorrt_api.scenarios OUT_DIR` in a process where
that release is importable (releases.Release.env). Each scenario returns what it observed as JSON;
an exception is recorded with its type and message, so the test shows exactly which attribute a
release lacks. The assertions live in the test.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import traceback
from pathlib import Path
from unittest import mock

import numpy as np

from tests.tensorrt_api import fake_trt

trt = fake_trt.load()
VIDEO_INPUT = {"pixel_values": (-1, 4, 3, 32, 32)}
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def artifact(root: Path, fp16=True, int8=False, int8_fp16=None) -> Path:
    """A real artifact folder (tiny ONNX, manifest with hashes) with FP16 / Q/DQ graphs beside it; with int8 also
    the Q/DQ FP16 graph strongly typed builds take (model.int8.fp16.onnx), unless int8_fp16 is False."""
    from runtime.artifact import describe_file, read_manifest, write_manifest
    from testbed.artifacts import make_onnx_artifact

    folder = make_onnx_artifact(root / "art")
    manifest = read_manifest(folder)
    int8_fp16 = int8 if int8_fp16 is None else int8_fp16
    for wanted, name, precision, details in ((fp16, "fp16", "fp16", {}), (int8, "int8", "int8", {}),
                                            (int8_fp16, "int8.fp16", "int8", {"compute": "fp16"})):
        if wanted:
            shutil.copyfile(folder / "model.onnx", folder / f"model.{name}.onnx")  # parsing is faked
            manifest.files[f"model.{name}.onnx"] = describe_file(folder / f"model.{name}.onnx", "onnx",
                                                                 precision=precision, details=details)
    write_manifest(folder, manifest)
    return folder


def _observed(gpu: fake_trt.FakeGpu) -> dict:
    flags = sorted(name for name, flag in trt.BuilderFlag.__members__.items() if flag in gpu.flags)
    network_flags = gpu.builder.create_network.call_args.args[0] if gpu.builder.create_network.called else None
    shapes = {}
    for profile in gpu.profiles:
        for call in profile.set_shape.call_args_list:
            shapes.setdefault(call.args[0], []).append([list(s) for s in call.args[1:]])
    pinned = [layer.name for layer in gpu.layers if hasattr(trt.ILayer, "precision") and layer.precision == trt.float32
              and layer.set_output_type.call_args_list == [mock.call(0, trt.float32)]]
    return {"flags": flags, "network_flags": network_flags, "profile_shapes": shapes, "pinned": pinned,
            "parse_calls": [c.args[0] for c in gpu.parser.parse_from_file.call_args_list]}


def _build(root: Path, opts, inputs=VIDEO_INPUT, layers=None, calibrator=None, **art) -> dict:
    from runtime.artifact import load_artifact
    from runtime.backends.tensorrt.cuda_memory import DeviceInfo
    from runtime.backends.tensorrt.artifact_engines import add_engines

    folder = artifact(root, **art)
    gpu = fake_trt.FakeGpu(trt, inputs, layers)
    with contextlib.ExitStack() as stack:
        gpu.install(stack)
        stack.enter_context(mock.patch("runtime.backends.tensorrt.build._device",
                                       return_value=DeviceInfo("Fake GPU", "8.7")))
        names = add_engines(folder, opts, log=lambda _: None, calibrator=calibrator)
    m = load_artifact(folder).manifest
    details = m.files[names[0]].details
    config = gpu.config
    return {**_observed(gpu), "engines": names, "details": details, "files": sorted(m.files),
            "pool": [[str(c.args[0]), c.args[1]] for c in config.set_memory_pool_limit.call_args_list],
            "dla_core": config.DLA_core if opts.dla_core is not None else None,
            "opt_level": config.builder_optimization_level if opts.opt_level is not None else None,
            "hardware": str(config.hardware_compatibility_level) if opts.hardware_compat != "none" else None,
            "timing_cache_set": config.set_timing_cache.called}


@scenario
def strategy(root):
    from runtime.backends.tensorrt.build import network_flags, strategy_for

    chosen = strategy_for(trt.__version__)
    return {"strategy": chosen, "flags": network_flags(trt, trt.__version__, chosen)}


@scenario
def build_fp16(root):
    from runtime.backends.tensorrt.build import BuildOptions

    opts = BuildOptions(precision="fp16", batch=(1, 2, 4), workspace_mib=512, opt_level=4, version_compatible=True)
    return _build(root, opts)


@scenario
def build_int8_qdq(root):
    """INT8 from the artifact's Q/DQ graphs; the network is what each source parses to (FP16 compute from the
    Q/DQ FP16 graph under strong typing, FP32 from model.int8.onnx under weak typing)."""
    from runtime.backends.tensorrt.build import BuildOptions, strategy_for

    strong = strategy_for(trt.__version__) == "strongly_typed"
    layers = fake_trt.vit_layers(trt, quantized=True, compute=trt.float16 if strong else None)
    return _build(root, BuildOptions(precision="int8"), layers=layers, int8=True)


@scenario
def int8_refusals(root):
    """What a strongly typed INT8 build refuses, and what the weakly typed one still takes: an artifact without
    the Q/DQ FP16 graph (calibrated before it existed), and a Q/DQ network with no FP16 tensor."""
    from runtime.backends.tensorrt.build import BuildOptions, EngineBuildError

    seen = {}
    for name, art, layers in (("no_fp16_graph", {"int8": True, "int8_fp16": False}, None),
                              ("fp32_network", {"int8": True}, None)):
        try:
            got = _build(root / name, BuildOptions(precision="int8"),
                         layers=layers or fake_trt.vit_layers(trt, quantized=True), **art)
            seen[name] = {"built": got["details"]["onnx"], "flags": got["flags"]}
        except EngineBuildError as exc:
            seen[name] = {"refused": str(exc)}
    return seen


@scenario
def build_dla_portable(root):
    from runtime.backends.tensorrt.build import BuildOptions

    dla = _build(root / "dla", BuildOptions(dla_core=1))
    hardware = _build(root / "hw", BuildOptions(hardware_compat="ampere+"))
    return {"dla": dla, "hardware": hardware}


@scenario
def build_videotext(root):
    """Engines per graph of a video-text artifact: profiles over batch, texts and tokens."""
    from runtime.backends.tensorrt.build import BuildOptions, build_engine
    from runtime.backends.tensorrt.cuda_memory import DeviceInfo
    from runtime.backends.tensorrt.artifact_engines import axis_ranges, graph_builds
    from runtime.artifact import FileEntry, Manifest, InputSpec, Preprocessing, Sampling
    from runtime.backends.tensorrt.build import BuildPlan, strategy_for

    manifest = Manifest(task="video_text", family="test", input=InputSpec("pixel_values", "NTCHW", 4, 32, 32),
                        preprocessing=Preprocessing(32, None, None, 32, 32, [0.5] * 3, [0.5] * 3),
                        sampling=Sampling(), labels=["a"], outputs=["video_embeds"], video_text={"max_length": 24})
    for name, kind, precision, inputs in (("model.onnx", "onnx", "fp32", ["pixel_values"]),
                                          ("text.onnx", "onnx_text", "fp32", ["input_ids", "attention_mask"]),
                                          ("model.fp16.onnx", "onnx", "fp16", ["pixel_values"]),
                                          ("text.fp16.onnx", "onnx_text", "fp16", ["input_ids", "attention_mask"]),
                                          ("model.onnx", "onnx", "fp32", ["pixel_values"])):
        manifest.files[name] = FileEntry("0" * 64, 1, kind, precision, details={"inputs": inputs})
    strategy_name = strategy_for(trt.__version__)
    builds = graph_builds(manifest, strategy_name, "fp16")
    opts = BuildOptions(texts=(1, 4, 16))
    text = next(b for b in builds if b.role == "text")
    ranges = axis_ranges(manifest, manifest.files[text.onnx], opts)
    (root / "text.onnx").write_bytes(b"onnx")
    gpu = fake_trt.FakeGpu(trt, {"input_ids": (-1, -1), "attention_mask": (-1, -1)}, layers=[])
    with contextlib.ExitStack() as stack:
        gpu.install(stack)
        stack.enter_context(mock.patch("runtime.backends.tensorrt.build._device",
                                       return_value=DeviceInfo("Fake GPU", "8.7")))
        details = build_engine(BuildPlan(strategy_name, root / "text.onnx", root / "text.fp16.engine", ranges), opts,
                               log=lambda _: None)
    return {"builds": [[b.role, b.onnx, b.engine, b.engine_kind] for b in builds], "profile": details["profile"]}


@scenario
def no_gpu(root):
    """The real trt.Builder on a machine without a GPU: a one-line error, the artifact untouched."""
    from runtime.artifact import read_manifest
    from runtime.backends.tensorrt.build import BuildOptions, NoGpuError
    from runtime.backends.tensorrt.artifact_engines import add_engines, no_engine_reason
    from runtime.backends.tensorrt.cli import main

    folder = artifact(root)
    before = sorted(p.name for p in folder.iterdir()), read_manifest(folder).to_json()
    try:
        add_engines(folder, BuildOptions(), log=lambda _: None)
        raised = None
    except NoGpuError as exc:
        raised = str(exc)
    after = sorted(p.name for p in folder.iterdir()), read_manifest(folder).to_json()
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--artifact", str(folder), "--workspace", "2048"])
    return {"error": raised, "unchanged": before == after, "reason": no_engine_reason(BuildOptions()),
            "cli_rc": rc, "cli_stderr": err.getvalue(), "cli_stdout": out.getvalue()}


@scenario
def weak_calibrator(root):
    """The legacy calibrator: a real IInt8EntropyCalibrator2 subclass where the release has one."""
    from calibration.reader import ClipReader, ClipSample
    from runtime.backends.tensorrt.build import BuildOptions

    cudart = mock.MagicMock()
    cudart.cudaMalloc.return_value = (0, 0xD000)
    cudart.cudaMemcpy.return_value = (0,)
    with mock.patch.dict(sys.modules, {"cuda": mock.MagicMock(bindings=mock.MagicMock(runtime=cudart)),
                                       "cuda.bindings": mock.MagicMock(runtime=cudart),
                                       "cuda.bindings.runtime": cudart}):
        from calibration.legacy_trt import calibrator_for

        samples = [ClipSample(np.full((4, 3, 32, 32), i, np.float32), None, f"s{i}", 0, 0, 0) for i in range(4)]
        calibrator = calibrator_for(root / "model.onnx", "e" * 64, ClipReader(samples, "pixel_values", batch_size=2))
        batches = [calibrator.get_batch(["pixel_values"]) for _ in range(3)]
        result = _build(root, BuildOptions(precision="int8", batch=(1, 2, 4)), calibrator=calibrator, fp16=False)
    return {"batches": batches, "calibrator_base": isinstance(calibrator, trt.IInt8EntropyCalibrator2), **result}


@scenario
def runner(root):
    """TensorRTBackend over an engine, context and runtime of the release; copies through FakeCuda."""
    from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest
    from runtime.backends.tensorrt.runner import TensorRTBackend

    folder = artifact(root)
    (folder / "model.fp16.engine").write_bytes(b"fake plan")
    manifest = read_manifest(folder)
    manifest.files["model.fp16.engine"] = describe_file(
        folder / "model.fp16.engine", "engine", precision="fp16",
        details={"tensorrt": trt.__version__, "gpu": "Fake GPU", "compute_capability": "8.7", "dla_core": 1,
                 "version_compatible": True, "platform": "", "role": "video"})
    write_manifest(folder, manifest)
    gpu = fake_trt.FakeGpu(trt, VIDEO_INPUT)
    engine, context, cuda, seen = _fake_engine(gpu)
    gpu.runtime.deserialize_cuda_engine.side_effect = lambda data: (seen.append(("dla", gpu.runtime.DLA_core,
                                                                                 gpu.runtime.engine_host_code_allowed))
                                                                    or engine)
    clips = np.random.default_rng(0).standard_normal((6, 4, 3, 32, 32)).astype(np.float32)
    with contextlib.ExitStack() as stack:
        gpu.install(stack)
        stack.enter_context(mock.patch("runtime.backends.tensorrt.cuda_memory.open_cuda", return_value=cuda))
        backend = TensorRTBackend(load_artifact(folder))
        got = backend.infer({"pixel_values": clips})["logits"]
        backend.close()
    want = clips.reshape(6, 4, 3, -1).mean(axis=(1, 3))
    return {"max_error": float(np.abs(got - want).max()), "shape": list(got.shape), "max_batch": backend.max_batch,
            "deserialize_saw": seen, "cuda_closed": cuda.closed, "chunks": len([s for s in seen if s[0] == "run"])}


def _fake_engine(gpu):
    """An ICudaEngine whose execution context computes logits = per-channel mean, reading and writing
    the device buffers at the addresses the backend gave it."""
    names, shapes = ["pixel_values", "logits"], {"pixel_values": (-1, 4, 3, 32, 32), "logits": (-1, 3)}
    engine = fake_trt.spec(trt.ICudaEngine, num_io_tensors=2)
    engine.get_tensor_name.side_effect = lambda i: names[i]
    engine.get_tensor_mode.side_effect = lambda n: trt.TensorIOMode.INPUT if n == "pixel_values" else trt.TensorIOMode.OUTPUT
    engine.get_tensor_dtype.side_effect = lambda n: trt.float32
    engine.get_tensor_shape.side_effect = lambda n: shapes[n]
    engine.get_tensor_profile_shape.side_effect = lambda n, p: [(1, 4, 3, 32, 32), (2, 4, 3, 32, 32), (4, 4, 3, 32, 32)]
    context = fake_trt.spec(trt.IExecutionContext)
    current, addresses, seen, cuda = {}, {}, [], fake_trt.FakeCuda()

    def set_input_shape(name, shape):
        current[name] = tuple(shape)
        current["logits"] = (shape[0], 3)
        return True

    def execute(stream):
        batch = current["pixel_values"][0]
        raw = cuda.device[addresses["pixel_values"]][:batch * 4 * 3 * 32 * 32 * 4]
        clips = raw.view(np.float32).reshape(batch, 4, 3, 32 * 32)
        logits = clips.mean(axis=(1, 3)).astype(np.float32)
        cuda.device[addresses["logits"]][:logits.nbytes] = logits.view(np.uint8).reshape(-1)
        seen.append(("run", batch))
        return True

    context.set_input_shape.side_effect = set_input_shape
    context.get_tensor_shape.side_effect = lambda n: current[n]
    context.set_tensor_address.side_effect = lambda n, a: addresses.__setitem__(n, a)
    context.execute_async_v3.side_effect = execute
    engine.create_execution_context.return_value = context
    return engine, context, cuda, seen


@scenario
def failed_builds_leave_the_artifact(root):
    """A build TensorRT refuses, and Ctrl-C in the middle of one: the artifact is byte for byte as it was."""
    from runtime.backends.tensorrt.cuda_memory import DeviceInfo
    from runtime.backends.tensorrt.build import BuildOptions, EngineBuildError
    from runtime.backends.tensorrt.artifact_engines import add_engines

    outcomes = {}
    for case, effect in (("refused", None), ("interrupted", KeyboardInterrupt())):
        folder = artifact(root / case)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        gpu = fake_trt.FakeGpu(trt, VIDEO_INPUT)
        if effect is None:
            gpu.builder.build_serialized_network.return_value = None
        else:
            gpu.builder.build_serialized_network.side_effect = effect
        with contextlib.ExitStack() as stack:
            gpu.install(stack)
            stack.enter_context(mock.patch("runtime.backends.tensorrt.build._device",
                                           return_value=DeviceInfo("GPU", "8.7")))
            try:
                add_engines(folder, BuildOptions(), log=lambda _: None)
                outcomes[case] = "built"
            except (EngineBuildError, KeyboardInterrupt) as exc:
                outcomes[case] = type(exc).__name__
        outcomes[case + "_unchanged"] = {p.name: p.read_bytes() for p in folder.iterdir()} == before
    return outcomes


@scenario
def first_launch(root):
    """build_engine on a first launch builds; the next launch finds the engine fits this machine and reuses it."""
    from runtime.artifact import load_artifact
    from runtime.backends.tensorrt.cuda_memory import DeviceInfo
    from runtime.backends.tensorrt.artifact_engines import build_on_first_launch

    folder = artifact(root)
    gpu = fake_trt.FakeGpu(trt, VIDEO_INPUT)
    lines = []
    with contextlib.ExitStack() as stack:
        gpu.install(stack)
        stack.enter_context(mock.patch("runtime.backends.tensorrt.build._device",
                                       return_value=DeviceInfo("Fake GPU", "8.7")))
        stack.enter_context(mock.patch("runtime.backends.tensorrt.cuda_memory.open_cuda",
                                       return_value=fake_trt.FakeCuda()))
        first = build_on_first_launch(load_artifact(folder), "fp32", lines.append)
        builds_after_first = gpu.builder.build_serialized_network.call_count
        second = build_on_first_launch(load_artifact(folder), "fp32", lines.append)
    return {"engines": sorted(n for n, e in first.manifest.files.items() if e.kind == "engine"),
            "builds": [builds_after_first, gpu.builder.build_serialized_network.call_count],
            "second_engines": sorted(n for n, e in second.manifest.files.items() if e.kind == "engine"),
            "log": lines}


@scenario
def videotext_runner(root):
    """Zero-shot over a video-text artifact's engines: new prompts go through the text engine."""
    from runtime.artifact import describe_file, read_manifest, write_manifest
    from runtime.model import open_model
    from tests.runtime.videotext_toy import colour_frames, make_toy_videotext

    folder = make_toy_videotext(root / "vt")
    manifest = read_manifest(folder)
    for role, graph, kind in (("video", "model.onnx", "engine"), ("text", "text.onnx", "engine_text"),
                              ("frame", "frame.onnx", "engine_frame")):
        engine = "model.fp16.engine" if role == "video" else f"{role}.fp16.engine"
        (folder / engine).write_bytes(graph.encode())  # the fake runtime runs the graph the bytes name
        manifest.files[engine] = describe_file(folder / engine, kind, precision="fp16", details={
            "tensorrt": trt.__version__, "gpu": "Fake GPU", "compute_capability": "8.7", "role": role})
    write_manifest(folder, manifest)
    gpu, cuda, runs = fake_trt.FakeGpu(trt, {}), fake_trt.FakeCuda(), []
    gpu.runtime.deserialize_cuda_engine.side_effect = lambda data: _onnx_engine(folder / bytes(data).decode(), cuda, runs)
    prompts = ["a red shape", "a blue square", "the green shape moving left"]
    clips = np.stack([np.stack(colour_frames(bgr, 4, seed=i)) for i, bgr in enumerate([(0, 0, 255), (255, 0, 0)])])
    clips = (clips.transpose(0, 1, 4, 2, 3)[:, :, ::-1] / 255.0 - 0.5) / 0.5  # NTCHW, RGB, normalised
    clips = np.ascontiguousarray(clips, np.float32)
    with contextlib.ExitStack() as stack:
        gpu.install(stack)
        stack.enter_context(mock.patch("runtime.backends.tensorrt.cuda_memory.open_cuda", return_value=cuda))
        on_trt = open_model(folder, backend="tensorrt", prompts=prompts)
        got = on_trt.backend.infer({on_trt.backend.inputs[0].name: clips})
        on_trt.close()
    on_cpu = open_model(folder, backend="cpu", prompts=prompts)
    want = on_cpu.backend.infer({on_cpu.backend.inputs[0].name: clips})
    on_cpu.close()
    name = next(iter(want))
    return {"max_error": float(np.abs(got[name] - want[name]).max()), "graphs_run": sorted(set(runs)),
            "labels": on_trt.labels, "top1": got[name].argmax(-1).tolist()}


def _onnx_engine(path: Path, cuda, runs):
    """An ICudaEngine of the release whose context runs the ONNX graph in ONNX Runtime, reading and
    writing FakeCuda's device memory at the addresses the backend set."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    int_type = trt.int64 if hasattr(trt, "int64") else trt.int32
    kinds = {"tensor(float)": (trt.float32, np.float32), "tensor(int64)": (int_type, np.dtype(trt.nptype(int_type)))}
    io = [(i, True) for i in session.get_inputs()] + [(o, False) for o in session.get_outputs()]
    names = [t.name for t, _ in io]
    spec = {t.name: (tuple(d if isinstance(d, int) else -1 for d in t.shape), kinds[t.type], is_input) for t, is_input in io}
    engine = fake_trt.spec(trt.ICudaEngine, num_io_tensors=len(names))
    engine.get_tensor_name.side_effect = lambda i: names[i]
    engine.get_tensor_mode.side_effect = lambda n: trt.TensorIOMode.INPUT if spec[n][2] else trt.TensorIOMode.OUTPUT
    engine.get_tensor_dtype.side_effect = lambda n: spec[n][1][0]
    engine.get_tensor_shape.side_effect = lambda n: spec[n][0]

    def profile(n, p):
        dims = spec[n][0]
        return [tuple(1 if d < 0 else d for d in dims), tuple(2 if d < 0 else d for d in dims),
                tuple(8 if d < 0 else d for d in dims)]

    engine.get_tensor_profile_shape.side_effect = profile
    context = fake_trt.spec(trt.IExecutionContext)
    shapes, addresses = {}, {}

    def feeds():
        out = {}
        for n, (_, (_, dtype), is_input) in spec.items():
            if is_input:
                count = int(np.prod(shapes[n]))
                raw = cuda.device[addresses[n]][:count * np.dtype(dtype).itemsize]
                out[n] = raw.view(dtype).reshape(shapes[n]).astype(np.int64 if dtype != np.float32 else np.float32)
        return out

    def set_input_shape(n, shape):
        shapes[n] = tuple(shape)
        if all(k in shapes for k, v in spec.items() if v[2]):
            zeros = {k: np.zeros(shapes[k], np.int64 if spec[k][1][1] != np.float32 else np.float32)
                     for k, v in spec.items() if v[2]}
            try:  # the backend sets inputs one at a time: until all agree, output shapes wait
                for meta, value in zip(session.get_outputs(), session.run(None, zeros)):
                    shapes[meta.name] = value.shape
            except Exception:
                pass
        return True

    def execute(stream):
        runs.append(path.name)
        for meta, value in zip(session.get_outputs(), session.run(None, feeds())):
            shapes[meta.name] = value.shape
            raw = np.ascontiguousarray(value.astype(spec[meta.name][1][1])).view(np.uint8).reshape(-1)
            cuda.device[addresses[meta.name]][:raw.size] = raw
        return True

    context.set_input_shape.side_effect = set_input_shape
    context.get_tensor_shape.side_effect = lambda n: shapes[n]
    context.set_tensor_address.side_effect = lambda n, a: addresses.__setitem__(n, a)
    context.execute_async_v3.side_effect = execute
    engine.create_execution_context.return_value = context
    return engine


def main(out_dir: str) -> int:
    out = Path(out_dir)
    results = {"version": trt.__version__}
    for name, fn in SCENARIOS.items():
        root = out / name
        root.mkdir(parents=True, exist_ok=True)
        try:
            results[name] = {"ok": True, "value": fn(root)}
        except Exception as exc:  # recorded for the test to assert on
            results[name] = {"ok": False, "error": type(exc).__name__, "message": str(exc),
                             "traceback": traceback.format_exc()[-3000:]}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
