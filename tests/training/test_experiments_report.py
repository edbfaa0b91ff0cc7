"""The experiments page is written from the numbers: every cell gets its row, the reading says what
separated by a rule that a lucky seed or a few clips cannot pass, and a partial grid says so."""

from pathlib import Path

from training.experiments import RUNS, reading, group, separated, write_markdown
from training.seed_runs import Budget, EXPERIMENT_SPEC


def _result(kind, ratio, seed, probe, twin, ft_order=0.5, rec=0.95, finished=True):
    result = {"kind": kind, "ratio": ratio, "seed": seed, "minutes": 1.0, "budget": {"finetune_epochs": 15},
              "milestones": {"500": {"rec_same": rec, "rec_tube": rec, "probe": 0.1, "twin": 0.5},
                             "1000": {"rec_same": None if ratio is None else rec,
                                      "rec_tube": None if ratio is None else rec,
                                      "probe": probe, "twin": twin}}}
    if finished:
        result["finetune"] = {"accuracy": 0.2, "order": ft_order, "minutes": 0.5, "loss": [2.3, 2.0]}
    return result


def _grid(tube_twin=(0.70, 0.72, 0.74), random_twin=(0.50, 0.52, 0.55)):
    results = []
    for seed in range(3):
        results.append(_result("none", None, seed, 0.1, 0.5))
        for kind, ratio in RUNS:
            twin = (tube_twin if kind == "tube" else random_twin)[seed]
            results.append(_result(kind, ratio, seed, 0.3, twin))
    return results


def test_separated_needs_no_overlap_and_a_gap_beyond_sampling_error():
    assert separated([0.70, 0.72, 0.74], [0.50, 0.52, 0.55], clips=200) == "above"
    assert separated([0.50, 0.52, 0.55], [0.70, 0.72, 0.74], clips=200) == "below"
    assert separated([0.70, 0.72, 0.74], [0.60, 0.71, 0.69], clips=200) is None  # seeds overlap
    # apart on every seed but by 2 points: under twice the sampling error of 200 clips (7 points)
    assert separated([0.53, 0.535, 0.54], [0.51, 0.515, 0.52], clips=200) is None
    assert separated([0.53, 0.535, 0.54], [0.51, 0.515, 0.52]) == "above"  # losses: no clip count
    assert separated([0.7], [0.5], clips=200) is None  # one seed is not a spread


def test_reading_names_what_separated_and_what_did_not():
    cells = group(_grid())
    text = reading(cells, floor_loss=0.278)
    assert "separated on: temporal-order probe at 75%" in text and "tube above random on every seed" in text
    assert "did not separate (their seeds overlap) on: rec. loss, tube mask at 75%" in text
    assert "linear probe at 75% (tube 30.0% ± 0.0 vs random 30.0% ± 0.0)" in text
    assert "tube 75%, temporal-order probe (above random init on every seed)" in text
    assert "random 75%, temporal-order probe" not in text.split("Not apart")[0]
    assert "an oracle that knows the clip without its sensor grain scores 0.278" in text


def test_markdown_has_every_cell_the_command_and_marks_a_partial_grid(tmp_path):
    out = tmp_path / "EXPERIMENTS.md"
    budget = Budget(steps=1000, evaluations=2)
    write_markdown(out, _grid(), [0, 1, 2], budget, EXPERIMENT_SPEC, "python -m training.experiments --out x",
                   Path("experiments_reconstruction.png"), floor_loss=0.2)
    text = out.read_text()
    assert "python -m training.experiments --out x" in text and "Partial" not in text
    assert text.count("| tube | 75% | 3 |") == 1 and text.count("| random | 90% | 3 |") == 1
    assert "| random init | – | 3 | – | – | 10.0% ± 0.0 | 50.0% ± 0.0 |" in text
    assert "| tube | 75% | 500 | 3 |" in text and "| tube | 75% | 1000 | 3 |" in text
    partial = _grid()[:-2] + [_result("random", 0.9, 2, 0.3, 0.5, finished=False)]
    write_markdown(out, partial, [0, 1, 2], budget, EXPERIMENT_SPEC, "x", Path("f.png"), floor_loss=0.2)
    text = out.read_text()
    assert "Partial: 13 of 15 cells finished" in text
    assert "| random | 90% | 2 |" in text  # the unfinished cell is left out of the final table


def test_reconstruction_line_reads_the_latest_milestone_of_unfinished_cells_too():
    from training.experiments import reconstruction_line

    results = [_result("none", None, 0, 0.1, 0.5), _result("tube", 0.9, 0, 0.1, 0.5, rec=0.134, finished=False),
               _result("random", 0.9, 0, 0.1, 0.5, rec=0.067), _result("random", 0.9, 1, 0.1, 0.5, rec=0.067)]
    line = reconstruction_line(results, 0.134)
    assert "tube 90% 100.0% (step 1000, 1 seed)" in line and "random 90% 50.0% (step 1000, 2 seeds)" in line
    assert reconstruction_line(results[:1], 0.134) == ""  # no pretrained cell yet: no line


def test_small_losses_keep_their_digits():
    from training.experiments import _spread

    assert _spread([0.00391, 0.00385, 0.00402], "loss") == "0.00393 ± 0.00009"
    assert _spread([0.960, 0.950, 0.970], "loss") == "0.960 ± 0.010"


def test_a_ratio_with_one_finished_seed_a_side_is_not_called_overlapping():
    results = [_result("tube", 0.75, 0, 0.3, 0.70), _result("random", 0.75, 0, 0.3, 0.50)]
    results += [_result("none", None, seed, 0.1, 0.5) for seed in range(3)]
    text = reading(group(results), 0.278)
    assert ("Too few seeds to compare (two a side needed): tube 75% with random 75% (1 and 1 finished); "
            "tube 75% with random init (1 and 3 finished); random 75% with random init (1 and 3 finished).") in text
    assert "did not separate" not in text and "separated on" not in text and "random-init" not in text


def test_the_rate_table_compares_each_rate_with_random_init_at_that_rate(tmp_path):
    """Cells given more fine-tune rates get a table row per rate and a reading per rate; a page
    without them has no such section."""
    from training.experiments import _rate_section

    results = _grid()
    assert _rate_section(results) == ""
    for result in results:
        pretrained = result["kind"] != "none"
        # at 0.003 the pretrained encoders fine-tune far above random init, on every seed
        accuracy = (0.6 if pretrained else 0.2) + 0.01 * result["seed"]
        result["finetune_lr"] = {"0.003": {"accuracy": accuracy, "order": 0.5 + 0.01 * result["seed"],
                                           "minutes": 0.5, "loss": [2.3, 1.0]}}
    text = _rate_section(results)
    assert "| random init | – | 0.001 | 15 | 3 | 20.0% ± 0.0 | 50.0% ± 0.0 | 2.30 -> 2.00 |" in text
    assert "| tube | 90% | 0.003 | 15 | 3 | 61.0% ± 1.0 | 51.0% ± 1.0 | 2.30 -> 1.00 |" in text
    at_001, at_003 = (line for line in text.splitlines() if line.startswith("- At lr"))
    assert at_001 == "- At lr 0.001, 15 epochs, apart on every seed: none (0 of 12 comparisons; the rest overlap)."
    assert at_003.startswith("- At lr 0.003, 15 epochs, apart on every seed: tube 75% above random init on accuracy; "
                             "tube 90% above random init on accuracy;")
    assert "on order" not in at_003 and "tube 90% above random 90%" not in at_003
    assert "(4 of 12 comparisons; the rest overlap)" in at_003
    assert "tube 90% at lr 0.003, 15 epochs (61.0% ± 1.0)" in text
    assert "random init at lr 0.003, 15 epochs (21.0% ± 1.0)" in text
    out = tmp_path / "EXPERIMENTS.md"
    write_markdown(out, results, [0, 1, 2], Budget(steps=1000, evaluations=2), EXPERIMENT_SPEC, "cmd",
                   tmp_path / "none.png", floor_loss=0.2)
    assert "## Twin fine-tune by learning rate" in out.read_text()


def test_finetune_rates_option_takes_distinct_rates():
    import argparse

    import pytest

    from training.experiments import _rates

    assert _rates("3e-3, 0.0003, 3e-3x60") == (3e-3, 3e-4, (3e-3, 60))
    for bad in ("0", "1e-3,0.001", "fast", "", "3e-3x0", "3e-3xlong", "3e-3x60,0.003x60"):
        with pytest.raises(argparse.ArgumentTypeError):
            _rates(bad)


def test_the_geometry_section_reads_each_pair_of_cells():
    from training.experiments import _geometry_section

    results = _grid()
    assert _geometry_section(results) == ""
    for result in results:
        base = {"none": 0.70, "tube": 0.85, "random": 0.95}[result["kind"]]
        result["geometry"] = {"token_cosine": base + 0.01 * result["seed"], "token_rank": 3.0 + result["seed"],
                              "clip_rank": 2.5}
    text = _geometry_section(results)
    assert "| random init | – | 3 | 0.710 ± 0.010 | 4.0 ± 1.0 | 2.5 ± 0.0 |" in text
    assert "tube vs random 90%, token-to-clip cosine (0.860 ± 0.010 vs 0.960 ± 0.010): below on every seed" in text
    assert "tube 90% vs random init, token-to-clip cosine (0.860 ± 0.010 vs 0.710 ± 0.010): above on every seed" in text
    assert "tube vs random 90%, token effective rank (4.0 ± 1.0 vs 4.0 ± 1.0)" in text.split("Not apart")[1]
