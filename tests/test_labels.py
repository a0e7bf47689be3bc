"""Labelled windows: --positives/--negatives lists and labels files; rows and times."""

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.io.labels import parse_positions, read_labels, resolve_position


def test_positions_from_an_option():
    labels = parse_positions("120, 840,1710", "--positives", True)
    assert [label.start for label in labels] == ["120", "840", "1710"] and all(label.positive for label in labels)
    with pytest.raises(MotifscanError, match="--negatives: position 2 is missing"):
        parse_positions("1,,3", "--negatives", False)


def test_labels_file_with_and_without_end(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("start,end,label\n10,20,positive\n\n30,40,Negative\n")
    labels = read_labels(str(path))
    assert [(label.start, label.end, label.positive) for label in labels] == [("10", "20", True), ("30", "40", False)]
    assert labels[1].where.endswith("labels.csv: line 4")
    path.write_text("label,start\npositive,5\n")
    assert read_labels(str(path))[0].end is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "labels file is empty"),
        ("begin,label\n1,positive\n", "needs a 'start' column"),
        ("start,end\n1,2\n", "needs a 'label' column"),
        ("start,label\n", "header but no labels"),
        ("start,label\n1,maybe\n", "line 2: label must be positive or negative, got 'maybe'"),
        ("start,label\n1\n", "line 2: expected 2 fields, found 1"),
    ],
)
def test_bad_labels_files(tmp_path, text, fragment):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(MotifscanError, match=fragment):
        read_labels(str(path))
    with pytest.raises(MotifscanError, match="no such labels file"):
        read_labels(str(tmp_path / "missing.csv"))


def test_rows_and_times():
    times = np.datetime64("2025-03-14T08:00:00") + np.arange(10).astype("timedelta64[s]")
    assert resolve_position("7", times, 10, "x") == 7
    assert resolve_position("2025-03-14T08:00:03", times, 10, "x") == 3
    assert resolve_position("2.5", np.arange(10) / 2, 10, "x") == 5
    with pytest.raises(MotifscanError, match="x: row 10 is outside the signal"):
        resolve_position("10", None, 10, "x")
    with pytest.raises(MotifscanError, match="no time column"):
        resolve_position("2.5", None, 10, "x")
    with pytest.raises(MotifscanError, match="no row has the time 2025-03-14T09:00:00"):
        resolve_position("2025-03-14T09:00:00", times, 10, "x")
    with pytest.raises(MotifscanError, match="neither a row number nor a time"):
        resolve_position("soon", times, 10, "x")


def test_a_byte_order_mark_is_no_part_of_the_header(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("start,end,label\n120,160,positive\n".encode("utf-8-sig"))
    (label,) = read_labels(str(path))
    assert (label.start, label.end, label.positive) == ("120", "160", True)


@pytest.mark.skipif(not __import__("os").path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_no_labels_file():
    with pytest.raises(MotifscanError, match="/dev/zero: not a regular file"):
        read_labels("/dev/zero")
