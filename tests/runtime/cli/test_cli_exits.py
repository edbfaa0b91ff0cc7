"""Every command line ends the same way: 1 and one `error:` line for a TubeletError, 2 for a usage
error, and an old flag spelling refused at parse time with the name of the flag that replaced it."""

from __future__ import annotations

import importlib

import pytest

# tool -> (its main module, a working argv prefix that names a missing artifact: a TubeletError)
MISSING_ARTIFACT = {
    "stream": ("runtime.stream", ["--source", "synthetic", "--artifact", "{tmp}/none"]),
    "classify": ("runtime.classify", ["--source", "{tmp}/clip.avi", "--artifact", "{tmp}/none"]),
    "triton": ("runtime.triton_repo.cli", ["--repository", "{tmp}/repo", "--artifact", "{tmp}/none"]),
    "ros": ("ros_bridge.cli", ["--image-topic", "/cam/image_raw", "--artifact", "{tmp}/none"]),
    "engine": ("runtime.backends.tensorrt.cli", ["--artifact", "{tmp}/none"]),
    "retrieve": ("runtime.videotext.retrieve", ["--out", "{tmp}/r.png", "--artifact", "{tmp}/none"]),
    "calibrate int8": ("calibration.__main__", ["int8", "--calib-data", "synthetic://?clips",
                                                "--artifact", "{tmp}/none"]),
    "calibrate temperature": ("calibration.__main__", ["temperature", "--calib-data", "synthetic://?clips",
                                                       "--artifact", "{tmp}/none"]),
    "export": ("export.build_engine", ["--model", "{tmp}/none", "--output", "{tmp}/out"]),
}
# tool -> (old spelling, the new flag, an argv in which the old spelling is used)
RENAMED = {
    "classify --video": ("runtime.classify", "--video", "--source",
                         ["--artifact", "{tmp}/none", "--video", "clip.mp4"]),
    "ros --duration": ("ros_bridge.cli", "--duration", "--seconds",
                       ["--artifact", "{tmp}/none", "--duration", "60"]),
    "retrieve --video": ("runtime.videotext.retrieve", "--video", "--source",
                         ["--artifact", "{tmp}/none", "--video", "a.mp4", "b.mp4"]),
    "calibrate temperature --data": ("calibration.__main__", "--data", "--calib-data",
                                     ["temperature", "--artifact", "{tmp}/none", "--data", "synthetic"]),
}


def _main(module: str, argv: list[str], tmp_path, capsys) -> tuple[int, str]:
    main = importlib.import_module(module).main
    try:
        code = main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("tool", sorted(MISSING_ARTIFACT))
def test_a_tubelet_error_exits_1_with_one_line(tool, tmp_path, capsys):
    module, argv = MISSING_ARTIFACT[tool]
    code, err = _main(module, argv, tmp_path, capsys)
    assert code == 1, err
    assert err.strip().splitlines()[-1].startswith("error: ") and "none" in err and "Traceback" not in err


@pytest.mark.parametrize("tool", sorted(MISSING_ARTIFACT))
def test_a_usage_error_exits_2(tool, tmp_path, capsys):
    module, argv = MISSING_ARTIFACT[tool]
    code, err = _main(module, argv + ["--no-such-flag"], tmp_path, capsys)
    assert code == 2 and "--no-such-flag" in err


def test_usage_errors_found_after_parsing_exit_2(tmp_path, capsys):
    code, err = _main("runtime.backends.tensorrt.cli", ["--artifact", "{tmp}/none", "--dla-core", "0",
                                                        "--hardware-compat", "ampere+"], tmp_path, capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: DLA engines cannot be hardware-compatible")


def test_an_old_flag_without_values_still_names_the_new_one(tmp_path, capsys):
    code, err = _main("runtime.classify", ["--artifact", "x", "--video"], tmp_path, capsys)
    assert code == 2 and "--video was renamed --source: use --source clip.mp4" in err


def test_bridge_parameter_errors_stay_usage_errors(tmp_path, capsys):
    code, err = _main("ros_bridge.cli", ["--artifact", "x", "--image-topic", "/a", "--image-topic", "/b",
                                         "--camera-name", "c", "--camera-name", "c"], tmp_path, capsys)
    assert code == 2 and "camera names must be unique" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("case", sorted(RENAMED))
def test_an_old_flag_spelling_names_the_new_flag(case, tmp_path, capsys):
    module, old, new, argv = RENAMED[case]
    code, err = _main(module, argv, tmp_path, capsys)
    assert code == 2, err
    assert f"{old} was renamed {new}: use {new} " in err.strip().splitlines()[-1]
