"""Every console script setup.py installs resolves to a callable main that answers --help."""

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = dict(re.findall(r'"(tubelet-[\w-]+)=([\w.]+:\w+)"', (REPO / "setup.py").read_text(encoding="utf-8")))
EXPECTED = {"tubelet-export", "tubelet-classify", "tubelet-stream", "tubelet-engine", "tubelet-triton",
            "tubelet-calibrate", "tubelet-ros", "tubelet-retrieve"}


def test_every_command_line_has_a_console_script():
    assert set(SCRIPTS) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_entry_point_is_a_callable_main_that_answers_help(name, capsys):
    module, _, attr = SCRIPTS[name].partition(":")
    main = getattr(importlib.import_module(module), attr)
    assert callable(main)
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out
