"""Fixtures shared by the test modules, and the property tests' profile for CI."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# With CI set (.ci/run sets it), every property test runs one fixed set of examples
# (derandomized, no example database): a red CI always means that a change broke something,
# never that a new random draw found an old edge case. Other runs draw new examples every
# time, and that is where edge cases are found (and then pinned by a plain test).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sample_data() -> Path:
    """The project's ``sample_data`` folder."""
    return ROOT / "sample_data"
