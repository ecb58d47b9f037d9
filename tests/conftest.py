"""Fixtures shared by the test modules."""
import pytest

from _pipeline import small_run as _build_small_run


@pytest.fixture(scope="session")
def small_run():
    """One small identified survey per test session (simulate -> catalogue -> identify, about
    half a minute): the review, plot, CLI and identification tests read it, none writes it."""
    return _build_small_run()
