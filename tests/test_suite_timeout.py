"""A test that hangs fails with a traceback, and the run goes on: pytest.ini's per-test timeout.

Tests here start real servers, cameras and subprocesses; a call with no bound once stalled a whole run.
"""

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_suite_bounds_every_test():
    ini = configparser.ConfigParser()
    ini.read(REPO / "pytest.ini")
    assert 0 < float(ini["pytest"]["timeout"]) <= 900


def test_a_hanging_test_fails_with_its_stack_and_the_next_test_still_runs(tmp_path):
    ran = tmp_path / "after-ran"
    (tmp_path / "test_hang.py").write_text(
        "import pathlib, threading\n"
        "def test_hangs():\n"
        "    threading.Event().wait()\n"
        "def test_after():\n"
        f"    pathlib.Path({str(ran)!r}).touch()\n")
    # The repository's own configuration, with the bound shortened so the check takes seconds.
    run = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path),
                          "-p", "no:cacheprovider", "-o", "timeout=2", str(tmp_path / "test_hang.py")],
                         check=False, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "Timeout" in out and "test_hangs" in out, out
    assert ran.exists(), out  # the test after the hang ran its body
