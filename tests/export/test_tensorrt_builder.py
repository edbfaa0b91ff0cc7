"""The builder's TensorRT-free decisions: options, profiles, strategy by version, trtexec lines, no-TensorRT paths.

Everything that touches TensorRT objects is tested against each release's real bindings in
tests/tensorrt_api (no hand-written TensorRT fakes here).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from runtime.artifact import describe_file, read_manifest, write_manifest
from runtime.backends.tensorrt.build import (STRONGLY_TYPED, WEAKLY_TYPED, BuildOptions, EngineBuildError,
                                        TensorRTMissingError, calibrator_allowed, profile_shapes, source_precision,
                                        strategy_for)
from runtime.backends.tensorrt.trtexec import strongly_typed_command, weakly_typed_command
from runtime.backends.tensorrt.artifact_engines import add_engines, trtexec_lines

SHAPES = profile_shapes("pixel_values", [-1, 16, 3, 224, 224], {0: (1, 2, 4)})


def test_profile_covers_every_dynamic_axis_from_its_range():
    assert SHAPES == ((1, 16, 3, 224, 224), (2, 16, 3, 224, 224), (4, 16, 3, 224, 224))
    assert profile_shapes("input_ids", [-1, -1], {0: (1, 8, 64), 1: (1, 16, 77)}) == ((1, 1), (8, 16), (64, 77))
    with pytest.raises(EngineBuildError, match="axis 1 is dynamic"):
        profile_shapes("x", [-1, -1, 3, 224, 224], {0: (1, 1, 8)})
    with pytest.raises(EngineBuildError, match="static axis 0 of 1"):
        profile_shapes("x", [1, 16, 3, 224, 224], {0: (1, 1, 8)})
    assert profile_shapes("x", [4, 16, 3, 224, 224], {0: (4, 4, 4)})[2] == (4, 16, 3, 224, 224)


@pytest.mark.parametrize("version, strategy", [("8.6.1.6", WEAKLY_TYPED), ("10.0.1", STRONGLY_TYPED),
                                               ("10.3.0", STRONGLY_TYPED), ("10.16.1.11", STRONGLY_TYPED),
                                               ("11.4.0.106", STRONGLY_TYPED)])
def test_strategy_compares_versions_numerically(version, strategy):
    # "10.3" < "8.6" as strings; packaging.version gets it right.
    assert strategy_for(version) == strategy
    assert calibrator_allowed(strategy) is (strategy == WEAKLY_TYPED)


def test_old_or_bad_versions_are_clear_errors():
    with pytest.raises(EngineBuildError, match="older than 8.6"):
        strategy_for("8.5.2")
    with pytest.raises(ValueError, match="not a TensorRT version"):
        strategy_for("ten")


def test_each_strategy_reads_its_own_onnx():
    assert source_precision(STRONGLY_TYPED, "fp16") == "fp16" and source_precision(WEAKLY_TYPED, "fp16") == "fp32"
    assert source_precision(STRONGLY_TYPED, "int8") == "int8" and source_precision(WEAKLY_TYPED, "int8", True) == "fp32"


def test_strongly_typed_trtexec_has_no_precision_flags_and_reads_megabytes():
    opts = BuildOptions(precision="int8", workspace_mib=2048, opt_level=4, version_compatible=True,
                        hardware_compat="ampere+", timing_cache=Path("t.cache"))
    cmd = strongly_typed_command("m.int8.onnx", "m.engine", {"pixel_values": SHAPES}, opts)
    assert cmd[:3] == ["trtexec", "--onnx=m.int8.onnx", "--saveEngine=m.engine"]
    for flag in ("--minShapes=pixel_values:1x16x3x224x224", "--optShapes=pixel_values:2x16x3x224x224",
                 "--maxShapes=pixel_values:4x16x3x224x224", "--stronglyTyped", "--memPoolSize=workspace:2048M",
                 "--builderOptimizationLevel=4", "--versionCompatible", "--hardwareCompatibilityLevel=ampere+",
                 "--timingCacheFile=t.cache"):
        assert flag in cmd
    # trtexec 11 rejects these; trtexec reads "2048MiB" as bytes.
    assert not {"--fp16", "--int8", "--precisionConstraints=obey"} & set(cmd) and not any("MiB" in c for c in cmd)


def test_weakly_typed_trtexec_pins_the_given_layers():
    cmd = weakly_typed_command("m.onnx", "e", {"pixel_values": SHAPES}, BuildOptions(dla_core=1), ["ln0", "sm0"])
    for flag in ("--fp16", "--precisionConstraints=obey", "--layerPrecisions=ln0:fp32,sm0:fp32",
                 "--layerOutputTypes=ln0:fp32,sm0:fp32", "--useDLACore=1", "--allowGPUFallback"):
        assert flag in cmd
    assert "--int8" not in cmd and "--stronglyTyped" not in cmd


@pytest.mark.parametrize("kwargs, message", [
    (dict(precision="fp8"), "precision"), (dict(batch=(2, 1, 4)), "batch profile"), (dict(texts=(1, 8)), "texts"),
    (dict(opt_level=7), "0..5"), (dict(hardware_compat="hopper+"), "hardware compatibility"),
    (dict(dla_core=0, hardware_compat="ampere+"), "DLA"), (dict(workspace_mib=0), "workspace")])
def test_bad_options_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BuildOptions(**kwargs).check()


def _with_fp16(folder):
    manifest = read_manifest(folder)
    shutil.copyfile(folder / "model.onnx", folder / "model.fp16.onnx")
    manifest.files["model.fp16.onnx"] = describe_file(folder / "model.fp16.onnx", "onnx", precision="fp16",
                                                      details={"fp32_nodes": ["/ln0", "/sm0"]})
    write_manifest(folder, manifest)
    return folder


def test_without_tensorrt_add_engines_raises_one_line_and_changes_nothing(onnx_artifact, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError, even where installed
    folder = _with_fp16(onnx_artifact)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(TensorRTMissingError, match=r"tubelet\[trt-cu12\]") as caught:
        add_engines(folder, BuildOptions(), log=lambda _: None)
    assert "\n" not in str(caught.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_trtexec_lines_give_both_strategies_from_the_manifest(onnx_artifact):
    folder = _with_fp16(onnx_artifact)
    lines = trtexec_lines(folder, BuildOptions(batch=(1, 2, 4), workspace_mib=512))
    strong = next(line for line in lines if "--stronglyTyped" in line)
    weak = next(line for line in lines if "--fp16" in line)
    assert f"--onnx={folder / 'model.fp16.onnx'}" in strong and "--maxShapes=pixel_values:4x4x3x32x32" in strong
    assert f"--onnx={folder / 'model.onnx'} " in weak and "--layerPrecisions=/ln0:fp32,/sm0:fp32" in weak
    assert all(re.search(r"--memPoolSize=workspace:512M(\s|$)", line) for line in (strong, weak))


def test_artifact_without_fp16_graph_says_to_reexport(onnx_artifact):
    lines = trtexec_lines(onnx_artifact, BuildOptions())
    assert any("lacks" in line and "re-export" in line for line in lines if line.startswith("# TensorRT >= 10"))
    assert any("--fp16" in line for line in lines)  # the 8.6 form still works from the FP32 graph


def test_int8_without_a_quantized_model_says_to_calibrate(onnx_artifact, monkeypatch):
    from runtime.backends.tensorrt.artifact_engines import graph_builds

    with pytest.raises(EngineBuildError, match="calibration"):
        graph_builds(read_manifest(onnx_artifact), STRONGLY_TYPED, "int8")


def test_engine_cli_without_tensorrt_exits_1_with_one_line_then_trtexec(onnx_artifact, monkeypatch, capsys):
    from runtime.backends.tensorrt.cli import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    folder = _with_fp16(onnx_artifact)
    assert main(["--artifact", str(folder), "--workspace", "2048"]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "trt-cu12" in err and "trt-cu13" in err
    assert "--stronglyTyped" in out and "--memPoolSize=workspace:2048M" in out and "model.fp16.onnx" in out


def test_engine_cli_usage_errors_exit_2(onnx_artifact, capsys):
    from runtime.backends.tensorrt.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["--artifact", str(onnx_artifact), "--batch", "4,2,1"])
    assert caught.value.code == 2
    assert main(["--artifact", str(onnx_artifact), "--dla-core", "0", "--hardware-compat", "ampere+"]) == 2


def test_engine_cli_runs_as_a_module_without_torch_or_onnx():
    import subprocess

    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None\n"
            "import runtime.backends.tensorrt.cli, runtime.backends.tensorrt.artifact_engines\n"
            "import runtime.backends.tensorrt.build, runtime.backends.tensorrt.trtexec\n"
            "sys.argv = ['tubelet-engine', '--help']\n"
            "runtime.backends.tensorrt.cli.main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.returncode == 0, proc.stderr
    assert "tubelet-engine" in proc.stdout and "--precision" in proc.stdout and "--texts" in proc.stdout
    setup = (Path(__file__).resolve().parents[2] / "setup.py").read_text(encoding="utf-8")
    assert "tubelet-engine=runtime.backends.tensorrt.cli:main" in setup
    assert '"trt-cu12": ["tensorrt-cu12>=10.3", "cuda-python>=12.6,<13"]' in setup
    assert '"trt-cu13": ["tensorrt-cu13>=10.13", "cuda-python>=13,<14"]' in setup


def test_engine_cli_batch_defaults_to_the_exported_profile(onnx_artifact, monkeypatch, capsys):
    from runtime.backends.tensorrt.cli import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    folder = _with_fp16(onnx_artifact)
    manifest = read_manifest(folder)
    manifest.files["model.onnx"].details["batch_profile"] = [1, 2, 4]
    write_manifest(folder, manifest)
    assert main(["--artifact", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "--optShapes=pixel_values:2x4x3x32x32" in out and "--maxShapes=pixel_values:4x4x3x32x32" in out
    assert main(["--artifact", str(folder), "--batch", "1,1,2"]) == 1
    assert "--maxShapes=pixel_values:2x4x3x32x32" in capsys.readouterr().out


def test_hardware_compatibility_is_refused_when_building_on_a_jetson(monkeypatch):
    from runtime.backends.tensorrt import build as trt_build

    monkeypatch.setattr(trt_build, "this_platform", lambda: "jetson")
    with pytest.raises(EngineBuildError, match="does not exist on JetPack"):
        trt_build._check_platform(BuildOptions(hardware_compat="ampere+"))
    trt_build._check_platform(BuildOptions())  # a plain Jetson engine is fine
    monkeypatch.setattr(trt_build, "this_platform", lambda: "x86_64")
    trt_build._check_platform(BuildOptions(hardware_compat="ampere+"))
