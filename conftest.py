# The repository root is a pytest rootdir conftest so `runtime`, `export`, ... import from the checkout.

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (CI runs them in a job of their own)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (CI does, in its own bounded job)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
