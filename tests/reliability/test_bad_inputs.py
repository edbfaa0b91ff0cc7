"""Hundreds of mutated invocations of the four command lines and mutated manifests, each judged as a
user meets it (tests/fixtures/cli_cases.py): exit 0, 1 or 2; a one-line message last on stderr;
no traceback; within its time limit; nothing changed outside its output folder.

Cases run in this process through each CLI's `main(argv)` (a few in a real child process, to show
the two agree). Tables: every option of runtime.classify, runtime.stream, python -m calibration and
export/build_engine.py given odd values (empty, zero, negative, NaN, huge, not a number, a missing
path, a folder, a FIFO, /dev/null, ...); named manifest damage with the message it must produce; and
seeded random manifest mutations of a classification and a video-text artifact.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.bad_input_world import build_inputs, edit_manifest, mutated_manifest
from tests.fixtures.cli_cases import Case, problems, report, run_case

HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None
REPO = Path(__file__).resolve().parents[2]

PATHS = ["{in}/missing", "{in}/empty-folder", "{in}/text.avi", "{in}/fifo", "/dev/null", "{in}/art/model.onnx", ""]
INTS = ["0", "-1", "abc", "1.5", "99999999999", "2"]
FLOATS = ["0", "-1", "nan", "inf", "1e20", "abc", "0.5"]
OUT_FILES = ["{out}/result.json", "{in}/empty-folder", "{in}/missing-folder/result.json", "/dev/full"]


def _with(argv: list[str], option: str, value: str | None) -> list[str]:
    """argv with option's value replaced (or the option appended); value None drops the option."""
    argv = list(argv)
    if option in argv:
        i = argv.index(option)
        del argv[i:i + 2]
        if value is None:
            return argv
        argv[i:i] = [option, value]
        return argv
    return argv if value is None else argv + [option, value]


def _table(cli: str, base: list[str], options: dict[str, list], timeout_s: float = 15.0,
           known: dict[tuple[str, str], tuple[int, str]] | None = None) -> list[Case]:
    """One case per (option, odd value) on top of a working base invocation; `known` pins the exit
    status and the message (a regex on the last stderr line) of the cases whose right answer is known."""
    known = dict(known or {})
    cases = [Case(f"{cli}-base", cli, base, timeout_s, exits=(0,))]
    for option, values in options.items():
        for value in values:
            shown = "DROPPED" if value is None else (value if len(value) <= 24 else f"{value[:8]}...{len(value)}chars")
            name = re.sub(r"[^\w.{}-]+", "_", f"{option}={shown}")
            code, message = known.pop((option, value), (None, None))
            cases.append(Case(f"{cli}{name}", cli, _with(base, option, value), timeout_s,
                              exits=(code,) if message else (0, 1, 2), message=message))
    assert not known, f"known messages for cases not in the table: {sorted(known)}"
    return cases


CLASSIFY_KNOWN = {  # cases whose right answer this suite pins down (issue classes 3 and 5)
    ("--artifact", "{in}/art/model.onnx"): (1, r"is a file, not a folder"),
    ("--artifact", "/dev/null"): (1, r"is a character device, not a folder"),
    ("--artifact", "{in}/fifo"): (1, r"is a FIFO \(named pipe\), not a folder"),
    ("--artifact", "{in}/empty-folder"): (1, r"manifest.json is what makes .* a Tubelet artifact folder but missing"),
    ("--backend", "tensorrt"): (1, r"holds no TensorRT engine; .* use --backend onnxruntime$"),
    ("--precision", "fp16"): (1, r"--precision fp16 needs a TensorRT FP16 engine.*\(e\.g\. --precision fp32\)"),
    ("--precision", "int8"): (1, r"holds no int8 ONNX model"),
    ("--backend", "triton"): (1, r"--backend triton and --server URL go together"),
    ("--server", "grpc://127.0.0.1:9"): (1, r"--backend triton and --server URL go together"),
    ("--source", "{in}/short.avi"): (0, r"3 frames were sampled and a window needs 4: the stream is shorter than one clip"),
}
CLASSIFY = ["--artifact", "{in}/art", "--source", "{in}/clip.avi", "--threads", "1"]
CLASSIFY_CASES = _table("classify", CLASSIFY, {
    "--artifact": PATHS + ["{in}/vt", "{in}", None],
    "--source": PATHS + ["{in}/short.avi", "{in}/slow.avi", "{in}/art", None],
    "--backend": ["tensorrt", "tpu", "", "cuda", "tensorrt-ep", "onnxruntime", "auto", "triton", "openvino"],
    "--precision": ["fp16", "int8", "bf16", ""],
    "--threads": INTS, "--top-k": INTS, "--window-stride": INTS,
    "--server": ["grpc://127.0.0.1:9", "nope"], "--server-timeout": ["0", "nan", "abc"],
}, known=CLASSIFY_KNOWN)

STREAM = ["--artifact", "{in}/art", "--source", "{in}/clip.avi", "--quiet", "--backend", "cpu", "--threads", "1",
          "--seconds", "8"]
STREAM_KNOWN = {
    ("--artifact", "{in}/art/model.onnx"): (1, r"is a file, not a folder"),
    ("--artifact", "{in}/fifo"): (1, r"is a FIFO \(named pipe\), not a folder"),
    ("--backend", "tensorrt"): (1, r"holds no TensorRT engine; .* use --backend onnxruntime$"),
    ("--precision", "fp16"): (1, r"--precision fp16 needs a TensorRT FP16 engine.*\(e\.g\. --precision fp32\)"),
}
STREAM_CASES = _table("stream", STREAM, {
    "--artifact": PATHS + ["{in}/vt"],
    "--source": PATHS[:-1] + ["{in}/art", "synthetic://?width=100000&height=100000", "/dev/video99",
                              "rtsp://127.0.0.1:9/none"],
    "--backend": ["tensorrt", "tpu", "auto", "onnxruntime"],
    "--precision": ["fp16", "int8", "bf16"],
    "--threads": INTS[:4], "--max-batch": INTS[:4], "--frame-stride": INTS[:4], "--window-stride": INTS[:4],
    "--target-fps": FLOATS, "--temperature": FLOATS[:5], "--ema-alpha": FLOATS[:5], "--top-k": INTS[:4],
    "--mean-windows": INTS[:3], "--on-threshold": FLOATS[:4], "--off-threshold": FLOATS[:4],
    "--unknown-below": FLOATS[:4], "--smoothing": ["ema", "median"], "--mode": ["live", "offline", "x"],
    "--background": ["not-a-label", "", "left"], "--seconds": FLOATS[:5], "--max-frames": INTS[:4],
    "--jsonl": OUT_FILES + ["-"], "--summary-json": OUT_FILES, "--overlay": ["{out}/o.mp4", "{in}/empty-folder"],
    "--prompts": ["{in}/prompts.txt", "{in}/blank.txt", "{in}/missing", "{in}/empty-folder", "/dev/null"],
    "--prompt": ["", "x" * 5000],
}, known=STREAM_KNOWN)

CALIBRATION_INT8 = ["int8", "--artifact", "{out}/art", "--calib-data", "{in}/clip.avi", "--clips", "2",
                    "--calib-threads", "1"]
CALIBRATION_TEMPERATURE = ["temperature", "--artifact", "{out}/art", "--calib-data", "{in}/labelled", "--clips", "3",
                           "--no-diagram", "--threads", "1"]
CALIBRATION_CASES = _table("calibration", CALIBRATION_INT8, {
    "--artifact": ["{in}/missing", "{in}/empty-folder", "/dev/null"],
    "--calib-data": ["{in}/missing", "{in}/empty-folder", "{in}/text.avi", "{in}/short.avi", "", "synthetic://?clips=0",
                     "synthetic://?clips&size=100000x100000"],
    "--method": ["entropy", "nope"], "--clips": ["0", "abc"], "--holdout": ["nan", "-1", "2"],
    "--min-agreement": ["nan", "2"], "--quantize-ops": ["Foo", ""], "--max-excluded": ["-1"],
}, timeout_s=60.0) + [
    Case(c.id.replace("calibration", "calibration-temperature"), "calibration", c.argv, 60.0)
    for c in _table("calibration", CALIBRATION_TEMPERATURE, {
        "--calib-data": ["{in}/clip.avi", "{in}/missing", "{in}/empty-folder", "synthetic://?clips=0"],
        "--clips": ["0", "abc"], "--precision": ["int8", "fp16"], "--diagram": ["/nonexistent/r.png"],
    }, timeout_s=60.0)
]

EXPORT = ["--model", "{in}/ckpt", "--output", "{out}/art", "--opset", "17"]
EXPORT_CASES = _table("export", EXPORT, {
    "--model": ["{in}/missing", "{in}/empty-folder", "{in}/text.avi", "{in}/ckpt-bad-config", "{in}/ckpt-truncated",
                "{in}/art", "/dev/null", ""],
    "--output": ["{in}/ckpt", "{in}", "{in}/empty-folder", "{in}/clip.avi", "{in}/ckpt/.", "."],
    "--opset": ["0", "abc", "99"], "--batch": ["0,0,0", "1,8", "8,1,1", "a,b,c"], "--atol": ["nan", "-1", "abc"],
    "--frame-stride": ["0", "-1"], "--target-fps": ["0", "nan", "1e20"], "--window-stride": ["0"],
    "--labels": ["{in}/missing", "{in}/blank.txt", "{in}/empty-folder"], "--family": ["nope", "xclip"],
    "--precision": ["bf16"],
}, timeout_s=90.0)
for case in EXPORT_CASES:  # every --output into the inputs is tried with --overwrite: it must refuse, touching nothing
    if case.id.startswith("export--output="):
        case.argv.append("--overwrite")


def _shapes(cli: str, base: list[str]) -> list[Case]:
    """The shape of the command line itself: nothing, --help, an unknown flag, a value cut off, a flag twice."""
    cases = [Case(f"{cli}-help", cli, ["--help"], exits=(0,)),
             Case(f"{cli}-unknown-flag", cli, base + ["--bogus"], exits=(2,)),
             Case(f"{cli}-value-cut-off", cli, base[:-1], exits=(2,)),
             Case(f"{cli}-first-flag-twice", cli, base + base[:2], exits=(0, 1, 2))]
    if cli != "export":  # export with no arguments is no mistake: it exports the bundled model into build/
        cases.append(Case(f"{cli}-no-arguments", cli, [], exits=(2,)))
    return cases


SHAPE_CASES = [case for cli, base in (("classify", CLASSIFY), ("stream", STREAM), ("calibration", CALIBRATION_INT8),
                                      ("export", EXPORT)) for case in _shapes(cli, base)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs")
    inputs = build_inputs(root, with_torch=HAS_TORCH)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(inputs / "cwd")  # a CLI that writes to the working directory changes the inputs: caught
        patch.setenv("HF_HUB_OFFLINE", "1")  # a hub id must fail at once, not wait for a network
        yield root, inputs


def _run(world, case: Case):
    root, inputs = world
    out = root / "out" / re.sub(r"[^\w.-]+", "_", case.id)
    if "{out}/art" in case.argv and case.cli == "calibration":
        shutil.copytree(inputs / "art", out / "art")  # calibration writes into its artifact: a private copy
    result = run_case(case, [inputs], out)
    assert not problems(case, result), report(case, result)
    return result


@pytest.mark.parametrize("case", CLASSIFY_CASES, ids=lambda c: c.id)
def test_classify_bad_input(world, case):
    _run(world, case)


@pytest.mark.parametrize("case", SHAPE_CASES, ids=lambda c: c.id)
def test_command_line_shape(world, case):
    if case.cli == "export" and not HAS_TORCH and case.exits != (2,) and "--help" not in case.argv:
        pytest.skip("export needs the [export] extra (torch, transformers)")
    _run(world, case)


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda c: c.id)
def test_stream_bad_input(world, case):
    _run(world, case)


@pytest.mark.parametrize("case", CALIBRATION_CASES, ids=lambda c: c.id)
def test_calibration_bad_input(world, case):
    _run(world, case)


@pytest.mark.skipif(not HAS_TORCH, reason="export needs the [export] extra (torch, transformers)")
@pytest.mark.parametrize("case", EXPORT_CASES, ids=lambda c: c.id)
def test_export_bad_input(world, case):
    _run(world, case)


def _replace_model(folder: Path) -> None:
    """Another valid ONNX (8 frames, 5 labels) in place of model.onnx, its hash updated in the manifest."""
    from runtime.artifact import describe_file
    from testbed.artifacts import make_onnx_artifact

    other = make_onnx_artifact(folder.parent / f"{folder.name}-other", frames=8, labels=tuple("abcde"))
    (folder / "model.onnx").write_bytes((other / "model.onnx").read_bytes())
    shutil.rmtree(other)
    entry = describe_file(folder / "model.onnx", "onnx")
    edit_manifest(folder, lambda d: d["files"]["model.onnx"].update(sha256=entry.sha256, size=entry.size))


def _link_folder(folder: Path) -> None:
    elsewhere = folder.parent / f"{folder.name}-elsewhere"
    elsewhere.mkdir()
    (folder / "model.onnx").rename(elsewhere / "model.onnx")
    (folder / "sub").symlink_to(elsewhere, target_is_directory=True)
    edit_manifest(folder, lambda d: d["files"].update({"sub/model.onnx": d["files"].pop("model.onnx")}))


def _link_manifest(folder: Path) -> None:
    real = folder.parent / f"{folder.name}-manifest.json"
    (folder / "manifest.json").rename(real)
    (folder / "manifest.json").symlink_to(real)


def _model_is(kind: str):
    def change(folder: Path) -> None:
        (folder / "model.onnx").unlink()
        os.mkfifo(folder / "model.onnx") if kind == "fifo" else (folder / "model.onnx").mkdir()
    return change


def _manifest(change):
    return lambda folder: edit_manifest(folder, change)


# Named manifest damage (issue class 3: the reader coerced, shapes were checked at the first window)
# and the one-line message each must give.
NAMED_MANIFESTS = {
    "labels-a-string": ("art", _manifest(lambda d: d.update(labels="abc")), r"labels must be a list of non-empty strings"),
    "labels-a-mapping": ("art", _manifest(lambda d: d.update(labels={"left": 0, "right": 1, "still": 2})),
                         r"labels must be a list"),
    "outputs-a-string": ("art", _manifest(lambda d: d.update(outputs="logits")), r"outputs must be a list"),
    "labels-duplicated": ("art", _manifest(lambda d: d.update(labels=["left", "left", "still"])), r"must be distinct"),
    "one-label-more": ("art", _manifest(lambda d: d["labels"].append("up")),
                       r"gives 3 scores per window but the manifest has 4 labels"),
    "one-label-fewer": ("art", _manifest(lambda d: d["labels"].pop()),
                        r"gives 3 scores per window but the manifest has 2 labels"),
    "another-model-same-hash": ("art", _replace_model, r"is \(N, 8, 3, 32, 32\), the manifest's NTCHW clip is"),
    "input-renamed": ("art", _manifest(lambda d: d["input"].update(name="video")), r"input 'video' named in the manifest"),
    "batch-profile-zero": ("art", _manifest(lambda d: d["files"]["model.onnx"]["details"].update(batch_profile=[0, 0, 0])),
                           r"batch_profile must be \[min, opt, max\]"),
    "batch-profile-two": ("art", _manifest(lambda d: d["files"]["model.onnx"]["details"].update(batch_profile=[1, 8])),
                          r"batch_profile must be \[min, opt, max\]"),
    "target-fps-1e300": ("art", _manifest(lambda d: d["sampling"].update(target_fps=1e300)),
                         r"target_fps must be a finite number in \(0, 1000\]"),
    "crop-100000": ("art", _manifest(lambda d: (d["input"].update(height=100000, width=100000),
                                                d["preprocessing"].update(crop_height=100000, crop_width=100000))),
                    r"must be an integer in 1\.\.4096"),
    "model-is-a-folder": ("art", _model_is("folder"), r"model.onnx is named in the manifest but is a folder"),
    "model-is-a-fifo": ("art", _model_is("fifo"), r"model.onnx is named in the manifest but is a FIFO"),
    "model-under-linked-folder": ("art", _link_folder, r"sub is a symbolic link"),
    "manifest-linked": ("art", _link_manifest, r"manifest.json is a symbolic link"),
    "video-text-no-max-length": ("vt", _manifest(lambda d: d["video_text"].pop("max_length")),
                                 r"video_text.*missing 1 required positional argument: 'max_length'"),
    "video-text-graph-not-listed": ("vt", _manifest(lambda d: d["video_text"].update(text_graph="gone.onnx")),
                                    r"video_text.text_graph must name a file listed in files"),
    "video-text-no-section": ("vt", _manifest(lambda d: d.pop("video_text")), r"needs its video_text section"),
}
SEEDED_MANIFESTS = [("art", f"classification-{i:03d}") for i in range(200)] + [("vt", f"video-text-{i:03d}")
                                                                               for i in range(100)]


def _manifest_case(world, kind: str, name: str, damage, message: str | None, cli: str):
    root, inputs = world
    folder = root / "artifacts" / f"{name}-{cli}"
    if callable(damage):
        shutil.copytree(inputs / kind, folder)
        damage(folder)
        what = name
    else:
        what = mutated_manifest(inputs / kind, folder, damage)
    _read_ends_in_a_manifest_or_a_typed_error(folder)
    argv = (["--artifact", str(folder), "--source", "{in}/clip.avi", "--threads", "1"] if cli == "classify" else
            ["--artifact", str(folder), "--source", "{in}/clip.avi", "--quiet", "--backend", "cpu", "--seconds", "8"])
    case = Case(f"manifest {what} ({cli})", cli, argv, exits=(1,) if message else (0, 1, 2), message=message)
    result = run_case(case, [inputs, folder], root / "out" / f"{name}-{cli}")
    assert not problems(case, result), report(case, result)


def _read_ends_in_a_manifest_or_a_typed_error(folder: Path) -> None:
    from runtime.artifact import ArtifactError, Manifest, load_artifact

    try:
        assert isinstance(load_artifact(folder).manifest, Manifest)
    except ArtifactError:
        pass


@pytest.mark.parametrize("name", sorted(NAMED_MANIFESTS))
@pytest.mark.parametrize("cli", ["classify", "stream"])
def test_named_manifest_damage_gives_its_message(world, name, cli):
    kind, damage, message = NAMED_MANIFESTS[name]
    _manifest_case(world, kind, name, damage, message, cli)


@pytest.mark.parametrize("kind, seed", SEEDED_MANIFESTS, ids=[seed for _, seed in SEEDED_MANIFESTS])
def test_seeded_manifest_mutation(world, kind, seed):
    """1-2 values anywhere in the manifest replaced by odd ones; every third one also through the stream."""
    _manifest_case(world, kind, seed, seed, None, "classify")
    if int(seed[-3:]) % 3 == 0:
        _manifest_case(world, kind, seed, seed, None, "stream")


# A few in real child processes: what a shell sees (exit status, the last stderr line, no traceback).
SUBPROCESS = [
    ("classify", ["-m", "runtime.classify", "--artifact", "{in}/art/model.onnx", "--source", "{in}/clip.avi"],
     r"^error: artifact path .* is a file, not a folder"),
    ("stream", ["-m", "runtime.stream", "--artifact", "{in}/art", "--source", "{in}/clip.avi", "--backend",
                "tensorrt"], r"^error: .*use --backend onnxruntime$"),
    ("calibration", ["-m", "calibration", "int8", "--artifact", "{in}/missing", "--calib-data", "synthetic://?clips"],
     r"^error: artifact folder .* does not exist"),
    ("export", ["export/build_engine.py", "--model", "{in}/missing", "--output", "{out}/art"], r"^error: "),
]


@pytest.mark.parametrize("cli, argv, message", SUBPROCESS, ids=[s[0] for s in SUBPROCESS])
def test_in_a_child_process(world, tmp_path, cli, argv, message):
    root, inputs = world
    argv = [a.replace("{in}", str(inputs)).replace("{out}", str(tmp_path)) for a in argv]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    last = [line for line in run.stderr.splitlines() if line.strip()][-1]
    assert run.returncode == 1 and "Traceback" not in run.stderr and re.search(message, last), run.stderr
