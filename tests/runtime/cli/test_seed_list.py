"""`--seeds` of the experiment commands: one parser for every list of seeds."""

import argparse

import pytest

from runtime.cli.args import seed_list


def test_seed_list_reads_distinct_non_negative_seeds():
    assert seed_list("0,1,2") == [0, 1, 2]
    assert seed_list(" 7 , 3,") == [7, 3]


@pytest.mark.parametrize("text, message", [
    ("0,a", "takes integers separated by commas"),
    ("", "needs distinct non-negative integers"),
    ("1,1", "needs distinct non-negative integers"),
    ("-1", "needs distinct non-negative integers"),
])
def test_seed_list_refuses_what_is_not_a_list_of_distinct_seeds(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        seed_list(text)
