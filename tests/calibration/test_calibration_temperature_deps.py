"""`calibration temperature` without matplotlib: refused before the fit, or run with --no-diagram."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime.artifact import sha256_file

REPO = Path(__file__).resolve().parents[2]
# The CLI with matplotlib unimportable, as on an install without the [calibration] extra.
NO_MATPLOTLIB = ("import sys\nsys.modules['matplotlib'] = None\nsys.path.insert(0, {repo!r})\n"
                 "from calibration.__main__ import main\nsys.exit(main(sys.argv[1:]))")


def _temperature(artifact, *extra):
    return subprocess.run([sys.executable, "-c", NO_MATPLOTLIB.format(repo=str(REPO)), "temperature", "--artifact",
                           str(artifact), "--calib-data", "synthetic://?clips&seed=3", "--clips", "12", *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=180)


def test_missing_matplotlib_is_named_before_the_fit(synth_artifact):
    before = sha256_file(synth_artifact / "manifest.json")
    done = _temperature(synth_artifact)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "the reliability diagram requires the 'matplotlib' module" in done.stderr
    assert "pip install 'tubelet[calibration]'" in done.stderr and "--no-diagram" in done.stderr
    assert "fitting the temperature" not in done.stdout  # refused before the clips were read and fitted
    assert sha256_file(synth_artifact / "manifest.json") == before


def test_no_diagram_needs_no_matplotlib(synth_artifact):
    done = _temperature(synth_artifact, "--no-diagram")
    assert done.returncode == 0, done.stderr
    assert "diagram" in done.stdout and "skipped" in done.stdout
