"""Without the [triton] extra: the runtime and tubelet-triton still import, and the backend names the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = "import sys\nfor m in ('tritonclient', 'tritonclient.grpc', 'tritonclient.http', 'grpc', 'torch'): sys.modules[m] = None\n"


def _python(code: str):
    return subprocess.run([sys.executable, "-c", BLOCK + code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_modules_import_without_tritonclient():
    run = _python("import runtime.backends.triton, runtime.triton_repo.cli, runtime.stream")
    assert run.returncode == 0, run.stderr[-2000:]


def test_stream_cli_names_the_extra_when_tritonclient_is_missing(onnx_artifact):
    run = _python("from runtime.stream import main\n"
                  f"sys.exit(main(['--artifact', {str(onnx_artifact)!r}, '--source', 'synthetic', '--backend', "
                  "'triton', '--server', 'grpc://127.0.0.1:1']))")
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert "pip install 'tubelet[triton]'" in run.stderr.strip().splitlines()[-1]


def test_tubelet_triton_needs_no_tritonclient(onnx_artifact, tmp_path):
    run = _python("from runtime.triton_repo.cli import main\n"
                  f"sys.exit(main(['--artifact', {str(onnx_artifact)!r}, '--repository', {str(tmp_path / 'repo')!r}]))")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "repo" / "onnx-artifact" / "config.pbtxt").is_file()
