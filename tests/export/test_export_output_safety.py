"""--output / --overwrite never destroy what is not an artifact; killed exports leave nothing that lasts.

Every refusal runs the real command line in a child process in which torch and transformers cannot
be imported: a refusal that comes only after loading the model would fail with an ImportError
there instead of the one-line message. The input folders are hashed before and after.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.tiny_videomae import save_tiny_videomae

pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "export" / "build_engine.py"
# The command line with torch and transformers unimportable: what is refused must be refused before them.
NO_TORCH = ("import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"
            "sys.path.insert(0, {repo!r})\nfrom export.build_engine import main\nsys.exit(main(sys.argv[1:]))")


def tree_digest(root: Path) -> str:
    """Every relative path, file content and symlink target under root (root itself may be a file)."""
    digest = hashlib.sha256()
    paths = [root] if not root.is_dir() or root.is_symlink() else sorted(root.rglob("*"))
    for path in paths:
        digest.update(str(path.relative_to(root) if path != root else "").encode())
        if path.is_symlink():
            digest.update(b"->" + os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def refuse(args, cwd, watched):
    before = {p: tree_digest(p) for p in watched}
    run = subprocess.run([sys.executable, "-c", NO_TORCH.format(repo=str(REPO)), *args], cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --output "), run.stderr
    assert "Traceback" not in run.stderr and "ModuleNotFoundError" not in run.stderr
    assert {p: tree_digest(p) for p in watched} == before
    return lines[0]


@pytest.fixture
def workspace(tmp_path, tiny_checkpoint):
    """parent/mine: a private copy of the tiny checkpoint with a sibling; an ordinary folder; a file."""
    parent = tmp_path / "parent"
    model = parent / "mine"
    shutil.copytree(tiny_checkpoint, model)
    (parent / "sibling").mkdir()
    (parent / "sibling" / "notes.txt").write_text("mine, not an artifact")
    ordinary = tmp_path / "ordinary"
    ordinary.mkdir()
    (ordinary / "data.csv").write_text("1,2,3\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("a plain file")
    return tmp_path, model, ordinary, plain


@pytest.mark.parametrize("case, output, reason", [
    ("model itself", "parent/mine", "is the model folder itself"),
    ("model with trailing /.", "parent/mine/.", "is the model folder itself"),
    ("model through ..", "parent/sibling/../mine", "is the model folder itself"),
    ("parent of the model", "parent", "contains the model folder"),
    ("inside the model", "parent/mine/build", "lies inside the model folder"),
    ("ordinary folder", "ordinary/.", "is not a Tubelet artifact"),
    ("plain file", "plain.txt", "is a file"),
    ("current directory", ".", "the current directory"),
    ("symlink to the model", "link-to-model", "is the model folder itself"),
    ("symlink to the parent", "link-to-parent", "contains the model folder"),
])
def test_overwrite_refuses_what_is_not_an_artifact(workspace, case, output, reason):
    root, model, ordinary, plain = workspace
    (root / "link-to-model").symlink_to(model)
    (root / "link-to-parent").symlink_to(model.parent)
    cwd = ordinary if case == "current directory" else root
    line = refuse(["--model", str(model), "--output", output, "--overwrite"], cwd, [model.parent, ordinary, plain])
    assert reason in line and output in line


def test_a_damaged_manifest_does_not_make_a_folder_an_artifact(workspace):
    root, model, ordinary, plain = workspace
    (ordinary / "manifest.json").write_text("{not json")
    line = refuse(["--model", str(model), "--output", str(ordinary), "--overwrite"], root, [ordinary, model])
    assert "not a Tubelet artifact" in line and "not valid JSON" in line


def test_without_overwrite_even_an_artifact_is_refused(tmp_path, workspace, tiny_artifact_session):
    root, model, _, _ = workspace
    artifact = root / "artifact"
    shutil.copytree(tiny_artifact_session, artifact)
    line = refuse(["--model", str(model), "--output", str(artifact)], root, [artifact, model])
    assert "pass --overwrite" in line


def test_overwrite_replaces_an_artifact_and_leaves_inputs_alone(workspace, tiny_artifact_session):
    root, model, _, _ = workspace
    artifact = root / "artifact"
    shutil.copytree(tiny_artifact_session, artifact)
    old_graph = (artifact / "model.onnx").stat().st_ino
    before = tree_digest(model.parent)
    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(model), "--output", str(artifact), "--overwrite"],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (artifact / "model.onnx").stat().st_ino != old_graph and (artifact / "manifest.json").is_file()
    assert tree_digest(model.parent) == before
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []


def test_an_artifact_holding_files_its_manifest_does_not_list_is_not_replaced(workspace, tiny_artifact_session):
    root, model, _, _ = workspace
    artifact = root / "artifact"
    shutil.copytree(tiny_artifact_session, artifact)
    (artifact / "notes.txt").write_text("the user's, not the export's")
    (artifact / "clips").mkdir()
    (artifact / "clips" / "a.mp4").write_bytes(b"calibration clips kept here")
    line = refuse(["--model", str(model), "--output", "artifact", "--overwrite"], root, [artifact, model])
    assert "also holds what its manifest does not list (clips/, notes.txt)" in line


def test_overwrite_through_a_symlink_replaces_the_artifact_it_points_to(tmp_path, tiny_checkpoint):
    from export.pipeline import ExportOptions, build_artifact

    real = tmp_path / "real"
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=real), log=lambda _: None)
    old_graph = (real / "model.onnx").stat().st_ino
    (tmp_path / "link").symlink_to(real)
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "link", overwrite=True), log=lambda _: None)
    assert (tmp_path / "link").is_symlink() and (real / "model.onnx").stat().st_ino != old_graph


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def make_staging(parent: Path, name: str, pid: int, marker: bool = True) -> Path:
    folder = parent / f".{name}.staging-{pid}"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"half a graph")
    if marker:
        (folder / ".tubelet-staging").write_text(str(pid))
    return folder


def test_next_export_sweeps_only_its_own_dead_staging(tmp_path, tiny_checkpoint):
    from export.pipeline import ExportOptions, build_artifact

    dead = dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        stale = make_staging(tmp_path, "out", dead)
        live = make_staging(tmp_path, "out", sleeper.pid)
        unmarked = make_staging(tmp_path, "out", dead_pid(), marker=False)
        other_output = make_staging(tmp_path, "other", dead)
        notes = []
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "out"), log=notes.append)
        assert not stale.exists()
        assert live.exists() and unmarked.exists() and other_output.exists()
        assert any("removed 1 staging folder" in n for n in notes)
        assert (tmp_path / "out" / "manifest.json").is_file() and not (tmp_path / "out" / ".tubelet-staging").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_artifact_set_aside_by_a_killed_export_is_put_back(tmp_path, tiny_artifact_session, tiny_checkpoint):
    from export.pipeline import ExportOptions, OutputExistsError, build_artifact

    set_aside = tmp_path / f".out.old-{dead_pid()}"
    shutil.copytree(tiny_artifact_session, set_aside)
    before = tree_digest(set_aside)
    with pytest.raises(OutputExistsError, match="--overwrite"):  # it is back, and not replaced unasked
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "out"), log=lambda _: None)
    assert not set_aside.exists() and tree_digest(tmp_path / "out") == before


def start_export(tmp_path, model, out):
    return subprocess.Popen([sys.executable, str(SCRIPT), "--model", str(model), "--output", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_staging(parent: Path, process, timeout=120.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in parent.iterdir() if ".staging-" in p.name and (p / ".tubelet-staging").exists()]
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the export never created its staging folder")


def test_sigkill_leaves_staging_that_the_next_export_removes(tmp_path, tiny_checkpoint):
    from export.pipeline import ExportOptions, build_artifact

    process = start_export(tmp_path, tiny_checkpoint, tmp_path / "out")
    staging = wait_for_staging(tmp_path, process)
    process.kill()
    process.communicate(timeout=30)
    assert staging.exists() and not (tmp_path / "out").exists()
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "out"), log=lambda _: None)
    assert not staging.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_sigint_and_sigterm_say_one_line_and_clean_up(tmp_path, tiny_checkpoint, sig, code, word):
    process = start_export(tmp_path, tiny_checkpoint, tmp_path / "out")
    wait_for_staging(tmp_path, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"{word}: nothing was written to")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [] and not (tmp_path / "out").exists()


def test_api_refuses_the_model_folder_too(tmp_path, tiny_checkpoint):
    from export.pipeline import ExportOptions, UnsafeOutputError, build_artifact

    model = save_tiny_videomae(tmp_path / "m")
    before = tree_digest(model)
    with pytest.raises(UnsafeOutputError, match="model folder itself"):
        build_artifact(ExportOptions(model=str(model), output=model, overwrite=True), log=lambda _: None)
    assert tree_digest(model) == before
    json.loads((model / "config.json").read_text())


def test_an_output_under_a_file_is_refused_before_work(workspace):
    root, model, _, plain = workspace
    line = refuse(["--model", str(model), "--output", "plain.txt/artifact"], root, [model.parent, plain])
    assert "which is a file, not a folder" in line


def test_an_output_in_an_unwritable_folder_is_refused_before_work(workspace):
    import stat

    root, model, _, _ = workspace
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user whom permissions do not stop (root)")
        line = refuse(["--model", str(model), "--output", "locked/new/artifact"], root, [model.parent])
        assert "permission denied" in line
    finally:
        locked.chmod(stat.S_IRWXU)
