"""Fixtures shared by the test modules."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sample_data() -> Path:
    """The project's ``sample_data`` folder."""
    return ROOT / "sample_data"
