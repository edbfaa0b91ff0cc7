"""The bundled model's recipe as one command: a tiny run end to end, warm-started at twice the pixels
with the full-frame view, writes a folder export takes and a TRAINING.md that says what was done."""

import json

import pytest

from training.train_bundled import main

TINY = ["--num-layers", "1", "--hidden-size", "32", "--intermediate-size", "64", "--finetune-epochs", "1",
        "--clips-per-class", "1", "--threads", "1"]


@pytest.mark.slow
def test_recipe_warm_starts_at_twice_the_pixels_and_reports_it(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "small"), "--image-size", "16", "--patch-size", "4", *TINY]) == 0
    assert main(["--out", str(tmp_path / "large"), "--image-size", "32", "--patch-size", "8", "--full-frame",
                 "--init", str(tmp_path / "small"), *TINY]) == 0
    assert "patch weights 4 px spread over 8 px" in capsys.readouterr().out
    report = (tmp_path / "large" / "TRAINING.md").read_text()
    assert "the whole frame resized to 32x32" in report and "loaded patch weights 4 px spread over 8 px" in report
    processor = json.loads((tmp_path / "large" / "preprocessor_config.json").read_text())
    assert processor["do_center_crop"] is False and processor["size"] == {"height": 32, "width": 32}
    config = json.loads((tmp_path / "large" / "config.json").read_text())
    assert (config["image_size"], config["patch_size"]) == (32, 8)


def test_recipe_refuses_a_patch_that_does_not_divide_the_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x"), "--image-size", "30", "--patch-size", "8"])
    assert exit_info.value.code == 2 and "does not divide" in capsys.readouterr().err


def test_recipe_refuses_negative_change_frames(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x"), "--change-frames", "-1"])
    assert exit_info.value.code == 2 and "--change-frames -1 is negative" in capsys.readouterr().err


def test_recipe_refuses_new_layers_without_a_folder_to_grow(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x"), "--num-layers", "6", "--init-new-layers"])
    assert exit_info.value.code == 2 and "--init-new-layers needs --init" in capsys.readouterr().err
