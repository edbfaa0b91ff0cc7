"""The experiments page is written from the numbers: every run gets its row and reading."""

from pathlib import Path

from training.config import ModelSpec
from training.experiments import RUNS, write_markdown


def test_markdown_has_every_run_and_the_command(tmp_path):
    rows = [dict(kind="random init", ratio=None, rec_same=None, rec_tube=None, minutes=0.0,
                 probe=0.1, twin=0.5)]
    rows += [dict(kind=k, ratio=r, rec_same=0.58, rec_tube=0.6, minutes=1.0, probe=0.3, twin=0.7)
             for k, r in RUNS]
    out = tmp_path / "EXPERIMENTS.md"
    write_markdown(out, rows, ModelSpec(), 40, 0, "python -m training.experiments --out x",
                   Path("experiments_reconstruction.png"), floor_loss=0.2)
    text = out.read_text()
    assert "python -m training.experiments --out x" in text
    assert text.count("| tube |") == 2 and text.count("| random |") == 2
    assert "| random init | – | – | – | 10.0% | 50.0% |" in text
    assert "At 75%" in text and "At 90%" in text
    assert "an oracle that knows the clip without its sensor grain scores 0.200" in text
    assert "barely started" not in text and "copying it across time" not in text
    # random masks far easier on their own masks than under tube masks: the reading says why
    rows = [dict(row, rec_same=0.5 if row["kind"] == "random" else 0.99, rec_tube=0.99) if row["ratio"] else row
            for row in rows]
    write_markdown(out, rows, ModelSpec(), 40, 0, "x", Path("f.png"), floor_loss=0.2)
    text = out.read_text()
    assert text.count("copying it across time") == 2 and "stays near 1.0" in text and "barely started" not in text
    rows = [dict(row, rec_same=0.99, rec_tube=0.99) if row["ratio"] else row for row in rows]
    write_markdown(out, rows, ModelSpec(), 40, 0, "x", Path("f.png"), floor_loss=0.2)
    assert "barely started" in out.read_text()


def test_probes_at_chance_say_the_table_does_not_separate(tmp_path):
    rows = [dict(kind="random init", ratio=None, rec_same=None, rec_tube=None, minutes=0.0, probe=0.10, twin=0.455)]
    rows += [dict(kind=k, ratio=r, rec_same=0.94, rec_tube=0.95, minutes=1.0, probe=0.13, twin=0.52) for k, r in RUNS]
    out = tmp_path / "EXPERIMENTS.md"
    write_markdown(out, rows, ModelSpec(), 40, 0, "x", Path("f.png"), floor_loss=0.3)
    # the random-init order probe (45.5%) is below chance: gains count from 50%, so +3 points, not +6.5
    assert "best gain +3.0 points" in out.read_text() and "does not separate" in out.read_text()
