"""The builder, engine runner and legacy calibrator against the real API of TensorRT 8.6, 10.3, 10.16, 11.4.

Each release runs every scenario (tests/fixtures/tensorrt_api/scenarios.py) once, in its own process;
these tests assert on what the scenarios observed. A release that cannot be fetched fails its tests
(these tests need PyPI or a filled wheel cache; see tests/fixtures/tensorrt_api/releases.py).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.fixtures.tensorrt_api.releases import RELEASES, prepare, run_in_release

pytestmark = pytest.mark.tensorrt_api
STRONG = ("10.3", "10.16", "11.4")


@pytest.fixture(scope="module", params=sorted(RELEASES, key=lambda r: [int(p) for p in r.split(".")]))
def release(request, tmp_path_factory):
    rel = prepare(request.param)  # raises (fails the test) when the wheel cannot be fetched
    out = tmp_path_factory.mktemp(f"trt-{request.param}")
    proc = run_in_release(rel, "tests.fixtures.tensorrt_api.scenarios", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return request.param, results


def value(results: dict, name: str):
    entry = results[name]
    assert entry["ok"], f"{name} on TensorRT {results['version']}: {entry['error']}: {entry['message']}\n{entry['traceback']}"
    return entry["value"]


def test_the_release_imported_is_the_one_asked_for(release):
    name, results = release
    assert results["version"].startswith(name)


def test_strategy_and_network_flags_follow_the_release(release):
    name, results = release
    got = value(results, "strategy")
    if name == "8.6":
        assert got == {"strategy": "weakly_typed", "flags": 1}  # 1 << EXPLICIT_BATCH (0)
    elif name == "11.4":
        assert got == {"strategy": "strongly_typed", "flags": 0}  # strongly typed is implied on 11
    else:
        assert got["strategy"] == "strongly_typed" and got["flags"] == 1 << 1  # 1 << STRONGLY_TYPED (1)


def test_fp16_build_reads_the_right_onnx_and_sets_every_option(release):
    name, results = release
    got = value(results, "build_fp16")
    assert got["engines"] == ["model.fp16.engine"] and "model.fp16.timing.cache" in got["files"]
    assert got["pool"] == [["MemoryPoolType.WORKSPACE", 512 << 20]] and got["opt_level"] == 4
    assert got["profile_shapes"]["pixel_values"] == [[[1, 4, 3, 32, 32], [2, 4, 3, 32, 32], [4, 4, 3, 32, 32]]]
    assert got["timing_cache_set"] and got["details"]["version_compatible"] is True
    assert "VERSION_COMPATIBLE" in got["flags"]
    if name in STRONG:
        assert got["parse_calls"][0].endswith("model.fp16.onnx") and got["details"]["onnx"] == "model.fp16.onnx"
        assert not {"FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"} & set(got["flags"]) and got["pinned"] == []
        assert got["details"]["strategy"] == "strongly_typed"
    else:
        assert got["parse_calls"][0].endswith("model.onnx") and got["details"]["strategy"] == "weakly_typed"
        assert {"FP16", "OBEY_PRECISION_CONSTRAINTS"} <= set(got["flags"]) and "INT8" not in got["flags"]
        assert got["pinned"] == ["/blocks.0/norm1/LayerNormalization", "/blocks.0/attn/Softmax", "/norm/Pow",
                                 "/norm/ReduceMean", "/norm/Sqrt"]
    assert got["details"]["platform"] and got["details"]["gpu"] == "Fake GPU"


def test_int8_builds_from_the_qdq_graph_with_fp16_compute(release):
    name, results = release
    got = value(results, "build_int8_qdq")
    assert got["engines"] == ["model.int8.engine"]
    if name in STRONG:  # INT8 + FP16 from the graph's own types: the Q/DQ FP16 graph, no precision flags
        assert got["parse_calls"][0].endswith("model.int8.fp16.onnx") and got["details"]["onnx"] == "model.int8.fp16.onnx"
        assert "INT8" not in got["flags"] and "FP16" not in got["flags"] and got["pinned"] == []
        assert got["details"]["strategy"] == "strongly_typed"
    else:  # 8.6: the CPU's Q/DQ graph, unquantized layers in FP16 by flag, norms pinned
        assert got["parse_calls"][0].endswith("model.int8.onnx") and got["details"]["onnx"] == "model.int8.onnx"
        assert {"INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"} <= set(got["flags"]) and got["pinned"]


def test_strongly_typed_int8_refuses_an_int8_plus_fp32_engine(release):
    name, results = release
    got = value(results, "int8_refusals")
    if name in STRONG:
        assert "model.int8.fp16.onnx" in got["no_fp16_graph"]["refused"]
        assert "python -m calibration int8" in got["no_fp16_graph"]["refused"]
        assert "no FP16 tensor" in got["fp32_network"]["refused"]
    else:  # weak typing runs unquantized layers in FP16 whatever the graph's types: model.int8.onnx serves
        assert got["no_fp16_graph"]["built"] == got["fp32_network"]["built"] == "model.int8.onnx"
        assert {"INT8", "FP16"} <= set(got["no_fp16_graph"]["flags"])


def test_dla_with_gpu_fallback_and_hardware_compatibility(release):
    _, results = release
    got = value(results, "build_dla_portable")
    assert got["dla"]["dla_core"] == 1 and "GPU_FALLBACK" in got["dla"]["flags"]
    assert got["dla"]["details"]["dla_core"] == 1 and got["dla"]["details"]["gpu_fallback"] is True
    assert got["hardware"]["hardware"] == "HardwareCompatibilityLevel.AMPERE_PLUS"


def test_videotext_text_engine_covers_texts_and_tokens(release):
    _, results = release
    got = value(results, "build_videotext")
    assert ["text", "text.fp16.onnx", "text.fp16.engine", "engine_text"] in got["builds"] or \
        ["text", "text.onnx", "text.fp16.engine", "engine_text"] in got["builds"]
    assert got["profile"]["input_ids"] == [[1, 1], [4, 16], [16, 24]]  # texts 1..16, tokens 1..max_length 24
    assert got["profile"]["attention_mask"] == got["profile"]["input_ids"]


def test_no_gpu_is_one_line_and_leaves_the_artifact(release):
    _, results = release
    got = value(results, "no_gpu")
    assert got["error"] and "no usable CUDA GPU" in got["error"] and "\n" not in got["error"]
    assert got["unchanged"] and got["reason"] == got["error"]
    assert got["cli_rc"] == 1 and got["cli_stderr"].count("\n") == 1 and "no usable CUDA GPU" in got["cli_stderr"]
    assert "--stronglyTyped" in got["cli_stdout"] and re.search(r"--memPoolSize=workspace:2048M\s", got["cli_stdout"])
    assert "MiB" not in got["cli_stdout"] and "[video]" not in got["cli_stdout"]  # nothing started
    assert "model.fp16.onnx" in got["cli_stdout"] and "--fp16" in got["cli_stdout"]


def test_legacy_calibrator_serves_8_6_and_is_refused_clearly_elsewhere(release):
    name, results = release
    entry = results["weak_calibrator"]
    if name != "8.6":
        assert not entry["ok"] and entry["error"] == "CalibrationError" and "Q/DQ" in entry["message"]
        return
    got = value(results, "weak_calibrator")
    assert got["calibrator_base"] and got["batches"][:2] == [[0xD000], [0xD000]] and got["batches"][2] is None
    assert got["parse_calls"][0].endswith("model.onnx") and {"INT8", "FP16"} <= set(got["flags"])
    # The calibration profile fixes the batch axis at the calibrator's batch size (2).
    assert got["profile_shapes"]["pixel_values"][1] == [[2, 4, 3, 32, 32]] * 3
    assert got["details"]["calibrator"] == "EntropyCalibrator"


def test_engine_runner_moves_the_right_bytes_and_sets_dla_before_deserializing(release):
    _, results = release
    got = value(results, "runner")
    assert got["shape"] == [6, 3] and got["max_error"] < 1e-5
    assert got["max_batch"] == 4 and got["chunks"] == 2  # 6 clips over a max batch of 4
    assert got["deserialize_saw"][0] == ["dla", 1, True]
    assert got["cuda_closed"]


def test_videotext_zero_shot_runs_on_the_engines_and_new_prompts_use_the_text_engine(release):
    _, results = release
    got = value(results, "videotext_runner")
    assert got["graphs_run"] == ["model.onnx", "text.onnx"]  # new prompts: encoded by the text engine
    assert got["labels"] == ["a red shape", "a blue square", "the green shape moving left"]
    assert got["max_error"] < 1e-5 and got["top1"] == [0, 1]  # same scores as ONNX Runtime: red clip, blue clip


def test_first_launch_builds_the_engine_and_the_next_reuses_it(release):
    _, results = release
    got = value(results, "first_launch")
    assert got["engines"] == got["second_engines"] == ["model.fp16.engine"]
    assert got["builds"] == [1, 1]  # built once, then reused
    assert got["log"][0].startswith("no fp16 engine for this machine") and got["log"][-1].startswith("reusing")


def test_a_refused_or_interrupted_build_leaves_the_artifact_as_it_was(release):
    _, results = release
    got = value(results, "failed_builds_leave_the_artifact")
    assert got == {"refused": "EngineBuildError", "refused_unchanged": True,
                   "interrupted": "KeyboardInterrupt", "interrupted_unchanged": True}
