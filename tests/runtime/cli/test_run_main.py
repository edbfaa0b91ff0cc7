"""run_main: the exit status and last stderr line of every command line."""

import pytest

from runtime.cli.errors import OptionValueError, TubeletError, UsageError
from runtime.cli.main import add_note, one_line, run_main


def _raising(error):
    def fn(args):
        raise error

    return fn


@pytest.mark.parametrize("error,code", [(TubeletError("bad artifact"), 1), (UsageError("bad flags"), 2),
                                        (OptionValueError("bad file"), 1), (FileNotFoundError("no such file"), 1),
                                        (ImportError("pip install x"), 1)])
def test_errors_end_as_one_line_with_their_code(error, code, capsys):
    assert run_main(_raising(error), None) == code
    assert capsys.readouterr().err == f"error: {error}\n"


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        run_main(lambda args: 1 / 0, None)


def test_ctrl_c_says_what_the_tool_left_behind(capsys):
    assert run_main(_raising(KeyboardInterrupt()), None, interrupted=lambda: "interrupted: nothing written") == 130
    assert capsys.readouterr().err == "interrupted: nothing written\n"
    with pytest.raises(KeyboardInterrupt):  # a tool that handles it itself
        run_main(_raising(KeyboardInterrupt()), None, interrupted=None)


def test_notes_and_library_newlines_join_the_one_line(capsys):
    error = TubeletError("engine build failed:\n  layer 3\n")
    add_note(error, "(the artifact is unchanged)")
    assert one_line(error) == "engine build failed: layer 3 (the artifact is unchanged)"
    assert run_main(_raising(error), None, error_note="[tool]") == 1
    assert capsys.readouterr().err == "error: engine build failed: layer 3 (the artifact is unchanged) [tool]\n"


def test_messages_name_settings_as_options_inside_run_main():
    from runtime.common.hints import setting

    assert run_main(lambda args: 0 if setting("backend", "cpu") == "--backend cpu" else 3, None) == 0
    assert setting("backend", "cpu") == "backend='cpu'"
