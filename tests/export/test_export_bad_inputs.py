"""Bad export inputs: one line naming the value and the fix, before the long work, nothing changed.

Each case runs the real command line on a damaged copy of a tiny checkpoint and asserts the exit
code (1: error, 2: usage), a single stderr line, no traceback, that no export step started, and
that the model folder and the labels file hash the same afterwards. Cases marked `no_torch` run
with torch and transformers unimportable: they must be refused before either is needed.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "export" / "build_engine.py"
NO_TORCH = ("import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"
            "sys.path.insert(0, {repo!r})\nfrom export.build_engine import main\nsys.exit(main(sys.argv[1:]))")


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        h.update(str(p.relative_to(path) if p != path else "").encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def edit_config(model: Path, **changes):
    config = json.loads((model / "config.json").read_text())
    config.update(changes)
    (model / "config.json").write_text(json.dumps(config))


def truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def lines_file(folder: Path, text: str) -> Path:
    path = folder / "labels.txt"
    path.write_text(text, encoding="utf-8")
    return path


def binary_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# case id, (model, tmp) -> extra args, expected code, expected text, runs without torch
CASES = {
    "config.json not JSON": (lambda m, t: (m / "config.json").write_text("{not json") and [], 1,
                             "config.json is not valid JSON: Expecting property name", True),
    "config.json a list": (lambda m, t: (m / "config.json").write_text("[1, 2]") and [], 1,
                           "must hold a JSON object, got list", True),
    "truncated safetensors": (lambda m, t: truncate(m / "model.safetensors") or [], 1,
                              "model.safetensors is truncated or damaged", True),
    "safetensors cut inside its header": (lambda m, t: (m / "model.safetensors").write_bytes(b"\x10\x00") and [], 1,
                                          "less than a safetensors header", True),
    "config sizes differ from the weights": (lambda m, t: edit_config(m, intermediate_size=48) or [], 1,
                                             "config.json does not match the weights", False),
    "config that builds no model": (lambda m, t: edit_config(m, hidden_size=30) or [], 1,
                                    "config.json", False),
    "--labels missing file": (lambda m, t: ["--labels", str(t / "nope.txt")], 1, "nope.txt: no such file", True),
    "--labels a folder": (lambda m, t: ["--labels", str(t)], 1, "is not a regular file", True),
    "--labels all blank": (lambda m, t: ["--labels", str(lines_file(t, "\n  \n\t\n"))], 1,
                           "has no labels: its 3 line(s) are blank", True),
    "--labels repeated": (lambda m, t: ["--labels", str(lines_file(t, "wave\npush\nwave\n"))], 1,
                          "repeats labels ['wave']", True),
    "--labels not UTF-8": (lambda m, t: ["--labels", str(binary_file(t / "labels.txt", b"\xff\xfe\x00bad"))], 1,
                           "is not UTF-8 text", True),
    "--model missing folder": (lambda m, t: ["--model", str(t / "nonexistent")], 1, "no such folder", True),
    "--model /nonexistent": (lambda m, t: ["--model", "/nonexistent/model"], 1,
                             "--model /nonexistent/model: no such folder", True),
    "--model a file": (lambda m, t: ["--model", str(m / "config.json")], 1, "is a file", True),
    "--prompts for VideoMAE": (lambda m, t: ["--prompts", str(lines_file(t, "a\nb\n"))], 2,
                               "--prompts is for video-text models", True),
    "--frames for VideoMAE": (lambda m, t: ["--frames", "8"], 2, "--frames is for clip-meanpool", True),
    "--atol nan": (lambda m, t: ["--atol", "nan"], 2, "--atol 'nan': expected a finite number >= 0", True),
    "--atol negative": (lambda m, t: ["--atol=-1e-4"], 2, "expected a finite number >= 0", True),
    "--target-fps 0": (lambda m, t: ["--target-fps", "0"], 2, "--target-fps 0: expected a rate", True),
    "--target-fps inf": (lambda m, t: ["--target-fps", "inf"], 2, "expected a rate", True),
    "sampling.json window_stride 0": (lambda m, t: (m / "sampling.json").write_text('{"window_stride": 0}') and [], 1,
                                      "window_stride must be a whole number in [1,", False),
    "sampling.json target_fps string": (lambda m, t: (m / "sampling.json").write_text('{"target_fps": "7"}') and [],
                                        1, "target_fps must be null or a number", False),
    "preprocessor_config.json not JSON": (lambda m, t: (m / "preprocessor_config.json").write_text("{") and [], 1,
                                          "preprocessor_config.json is not valid JSON", False),
    "id2label repeats a name": (lambda m, t: edit_config(m, id2label={"0": "wave", "1": "push", "2": "push"}) or [],
                                1, "repeats labels ['push']", False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_before_any_work(tmp_path, tiny_checkpoint, case):
    prepare, code, text, no_torch = CASES[case]
    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, model)
    extra = prepare(model, tmp_path)
    watched = [p for p in (model, tmp_path / "labels.txt") if p.exists()]
    before = {p: digest(p) for p in watched}
    args = ["--model", str(model), "--output", str(tmp_path / "out"), *extra]
    command = ([sys.executable, "-c", NO_TORCH.format(repo=str(REPO))] if no_torch else [sys.executable, str(SCRIPT)])
    run = subprocess.run(command + args, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    error_lines = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and text in error_lines[0], run.stderr
    assert run.stderr.strip().splitlines() == error_lines, run.stderr  # nothing but the one line
    assert "exporting ONNX" not in run.stdout  # refused before the long work
    assert {p: digest(p) for p in watched} == before and not (tmp_path / "out").exists()


def test_hub_ids_still_go_to_the_hub(tmp_path, monkeypatch):
    from export.inputs import check_model_folder, looks_like_hub_id

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert looks_like_hub_id("MCG-NJU/videomae-base-finetuned-kinetics") and looks_like_hub_id("bert-base-uncased")
    assert check_model_folder("MCG-NJU/videomae-base") is None  # not local: transformers reads it from the hub
    for local in ("/nonexistent", "./mine", "../mine", "~/mine", "models/typo", "a/b/c", "mine/"):
        assert not looks_like_hub_id(local), local


def test_missing_preprocessor_config_says_which_defaults_and_records_them(tmp_path, tiny_checkpoint):
    from runtime.artifact import load_artifact

    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, model)
    (model / "preprocessor_config.json").unlink()
    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(model), "--output", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    # One line, and only that: the libraries' warnings and progress bars stay out of the way.
    assert run.stderr.strip().splitlines() == [
        f"warning: {model} has no preprocessor_config.json: using the VideoMAE image processor defaults (resize "
        "shortest edge 32, center crop 32x32, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], bilinear); the "
        "manifest records them as defaults. Save the model's image processor beside it if it was trained otherwise"]
    manifest = load_artifact(tmp_path / "out").manifest
    assert manifest.source["preprocessing_from"] == "defaults" and manifest.preprocessing.mean == [0.485, 0.456, 0.406]


def test_verbose_lets_the_libraries_speak(tmp_path, tiny_checkpoint):
    import importlib.util

    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out"),
                          "--verbose"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    if importlib.util.find_spec("torchvision") is None:
        assert run.stderr.count("torchvision is not installed") >= 1
    quiet = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_checkpoint), "--output",
                            str(tmp_path / "out2")], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


@pytest.fixture(scope="module")
def videotext_checkpoints(tmp_path_factory):
    pytest.importorskip("tokenizers", reason="needs the [videotext] extra (tokenizers)")
    from testbed.tiny_videotext import save_tiny_clip, save_tiny_xclip

    root = tmp_path_factory.mktemp("vt")
    return {"xclip": save_tiny_xclip(root / "xclip"), "clip": save_tiny_clip(root / "clip")}


def drop_tokenizer(model: Path):
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)


def foreign_vocab_size(model: Path):
    """A text config claiming 4x the tokenizer's vocabulary, weights resized to match: only the tokenizer is wrong."""
    from safetensors.torch import load_file, save_file

    config = json.loads((model / "config.json").read_text())
    size = config["text_config"]["vocab_size"]
    config["text_config"]["vocab_size"] = size * 4
    (model / "config.json").write_text(json.dumps(config))
    weights = load_file(str(model / "model.safetensors"))
    for name, tensor in list(weights.items()):
        if tensor.shape[:1] == (size,) and "token_embedding" in name:
            weights[name] = torch.cat([tensor] * 4)
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})


def wrong_text_width(model: Path):
    config = json.loads((model / "config.json").read_text())
    config["text_config"]["intermediate_size"] = 48
    (model / "config.json").write_text(json.dumps(config))


VIDEOTEXT_CASES = {
    "X-CLIP without tokenizer files": ("xclip", drop_tokenizer, [], 1, "has no tokenizer files", False),
    "CLIP without tokenizer files": ("clip", drop_tokenizer, [], 1, "has no tokenizer files", False),
    "CLIP with a foreign tokenizer": ("clip", foreign_vocab_size, [], 1,
                                      "the text model's vocab_size is", False),
    "X-CLIP config with wrong sizes": ("xclip", wrong_text_width, [], 1, "config.json does not match the weights", False),
    "--labels for a video-text model": ("clip", lambda m: None, ["--labels", "LABELS"], 2, "--labels is for VideoMAE", True),
    "--frames for X-CLIP": ("xclip", lambda m: None, ["--frames", "4"], 2, "--frames is for clip-meanpool", True),
    "repeated prompts": ("clip", lambda m: None, ["--prompts", "LABELS"], 1, "repeats prompts ['a dog']", True),
}


@pytest.mark.parametrize("case", list(VIDEOTEXT_CASES))
def test_bad_videotext_input_is_one_line_before_any_work(tmp_path, videotext_checkpoints, case):
    family, damage, extra, code, text, no_torch = VIDEOTEXT_CASES[case]
    model = tmp_path / "model"
    shutil.copytree(videotext_checkpoints[family], model)
    damage(model)
    labels = lines_file(tmp_path, "a dog\nthe cat\na dog\n")
    before = digest(model)
    args = ["--model", str(model), "--output", str(tmp_path / "out"), *[str(labels) if a == "LABELS" else a for a in extra]]
    command = [sys.executable, "-c", NO_TORCH.format(repo=str(REPO))] if no_torch else [sys.executable, str(SCRIPT)]
    run = subprocess.run(command + args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == code, run.stderr
    assert run.stderr.strip().splitlines() == [line for line in run.stderr.strip().splitlines() if "error:" in line]
    assert len(run.stderr.strip().splitlines()) == 1 and text in run.stderr, run.stderr
    assert "exporting" not in run.stdout and digest(model) == before and not (tmp_path / "out").exists()


def test_an_opset_onnx_does_not_know_is_refused_before_work(tmp_path, tiny_checkpoint):
    """It used to reach the ONNX checker, which answered with a page of context naming another opset."""
    import onnx

    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out"),
                          "--opset", "99"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"build_engine.py: error: --opset 99: the installed onnx knows opsets up to {onnx.defs.onnx_opset_version()} "
        "(default 17, what TensorRT 8.6 parses) (see --help)"]
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_library_error_with_newlines_is_printed_on_one_line(capsys):
    from export.inputs import one_line

    message = one_line(ValueError("No Op registered for Attention\n\n==> Context: Bad node spec\n  Name: x"))
    assert message == "No Op registered for Attention ==> Context: Bad node spec Name: x"
    assert one_line("x" * 3000).endswith(" ...") and len(one_line("x" * 3000)) == 2004


def test_a_mistyped_videotext_motion_config_is_one_line(tmp_path):
    model = tmp_path / "tower"
    shutil.copytree(REPO / "models" / "videotext-motion", model)
    config = json.loads((model / "config.json").read_text())
    config["widths"] = 5  # a number where a list of channel widths belongs
    (model / "config.json").write_text(json.dumps(config))
    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(model), "--output", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"error: {model}: cannot load the video tower ('int' object is not iterable)"]
