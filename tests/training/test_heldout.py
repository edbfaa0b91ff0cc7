"""training.heldout scores every model on the same fresh clips of each seed, and its pooled count
is what scoring those clips directly gives."""

import pytest

pytest.importorskip("torch", reason="scoring save_pretrained folders needs the [export] extra")
pytestmark = pytest.mark.export

from runtime.world import ACTIONS, REVERSED  # noqa: E402
from training.config import ModelSpec  # noqa: E402
from training.data import world_clips  # noqa: E402
from training.finetune import evaluate, new_classifier, predict, save_bundle  # noqa: E402
from training.heldout import main  # noqa: E402

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32, num_layers=1,
                 num_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_layers=1, decoder_heads=2)


def test_pooled_count_is_the_direct_score_of_the_same_clips(tmp_path, capsys):
    model = new_classifier(TINY, ACTIONS, seed=3)
    save_bundle(model, tmp_path / "tiny", TINY)
    assert main(["--models", str(tmp_path / "tiny"), "--seeds", "990101,990102",
                 "--clips-per-class", "1", "--threads", "1"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {tmp_path / 'tiny'} ")]
    assert len(row) == 1
    right = 0
    for seed in (990101, 990102):
        clips, labels = world_clips(1, TINY.num_frames, TINY.image_size, seed=seed, fps=TINY.fps)
        predictions = predict(model, clips, TINY.image_size)
        right += int((predictions == labels).sum())
        assert evaluate(predictions, labels, ACTIONS, REVERSED)["right"] == int((predictions == labels).sum())
    assert f"| {right}/{2 * len(ACTIONS)} |" in row[0]


def test_each_set_is_rendered_once_for_all_models(tmp_path, monkeypatch, capsys):
    import training.data

    for name, seed in (("a", 3), ("b", 4)):
        save_bundle(new_classifier(TINY, ACTIONS, seed=seed), tmp_path / name, TINY)
    rendered = []

    def counted(*args, **kwargs):
        rendered.append(kwargs["seed"])
        return world_clips(*args, **kwargs)

    monkeypatch.setattr(training.data, "world_clips", counted)
    assert main(["--models", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--seeds", "990101,990102",
                 "--clips-per-class", "1", "--threads", "1"]) == 0
    assert sorted(rendered) == [990101, 990102]  # two models, two sets: two renders, not four
    assert len([line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {tmp_path}")]) == 2


def test_refuses_a_model_of_other_labels_and_a_folder_without_weights(tmp_path, capsys):
    save_bundle(new_classifier(TINY, ACTIONS[:3]), tmp_path / "three", TINY)
    with pytest.raises(SystemExit, match="not the synthetic world's 11 actions"):
        main(["--models", str(tmp_path / "three"), "--seeds", "990101", "--clips-per-class", "1"])
    with pytest.raises(SystemExit) as exit_info:
        main(["--models", str(tmp_path / "missing")])
    assert exit_info.value.code == 2 and "holds no model.safetensors" in capsys.readouterr().err


@pytest.mark.parametrize("written, message", [
    (None, "no sampling.json"),
    ('{"target_fps": -2}', "target_fps must be null or a number"),
    ('{"target_fps": 7.5, "clip_rate": 7.5}', "unknown keys"),
    ('{"target_fps": null}', "names no target_fps"),
])
def test_refuses_the_sampling_files_export_refuses(tmp_path, written, message):
    """The clip rate is read by export's own reader: a file export would refuse is refused here too."""
    folder = save_bundle(new_classifier(TINY, ACTIONS, seed=3), tmp_path / "tiny", TINY)
    if written is None:
        (folder / "sampling.json").unlink()
    else:
        (folder / "sampling.json").write_text(written)
    with pytest.raises(SystemExit, match=message):
        main(["--models", str(folder), "--seeds", "990101", "--clips-per-class", "1", "--threads", "1"])
