"""Tests for motifscan.io.csv_layout's helpers not reached through read_signal alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from motifscan.io.csv_layout import _longest_line


@given(st.lists(st.sampled_from([b"a", b"1.5", b"\n", b"\r", b",", b"\r\n", b"xyz" * 20])).map(b"".join))
def test_the_longest_line_is_the_longest_piece_between_newlines(text):
    assert _longest_line(text) == max(len(line) for line in text.split(b"\n"))
