"""Tests for motifscan.io.signals: every format, header and column rule, and every error."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
import threading
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motifscan.errors import MotifscanError
from motifscan.io import csv_readers
from motifscan.signal import SignalBlock, signal_from_arrays
from motifscan.io.signals import read_signal

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


def collect(source) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[int]]:
    """Concatenate a source's blocks: channels, time, and the size of each block."""
    blocks = list(source)
    sizes = [block.rows for block in blocks]
    channels = {
        name: np.concatenate([block.channels[name] for block in blocks]) if blocks else np.empty(0)
        for name in source.channels
    }
    time = None
    if blocks and blocks[0].time is not None:
        time = np.concatenate([block.time for block in blocks])
    return channels, time, sizes


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def error_of(path, **options) -> str:
    """The message of the MotifscanError raised by opening or streaming ``path``."""
    with pytest.raises(MotifscanError) as caught:
        for _ in read_signal(str(path), **options):
            pass
    message = str(caught.value)
    assert "\n" not in message
    return message


class FakeStdin:
    """Stands in for sys.stdin: only the byte layer is read."""

    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


# ---------------------------------------------------------------------------- formats


def test_csv_with_header_reads_channels_and_time_by_name(tmp_path):
    path = write(tmp_path / "data.csv", "time_s,a,b\n0,1,10\n0.5,2,20\n1,3,30\n")
    source = read_signal(str(path))
    assert source.name == str(path)
    assert source.channels == ["a", "b"]
    assert source.time_column == "time_s"
    channels, time, _ = collect(source)
    np.testing.assert_array_equal(channels["a"], [1, 2, 3])
    np.testing.assert_array_equal(channels["b"], [10, 20, 30])
    assert channels["a"].dtype == np.float64
    np.testing.assert_array_equal(time, [0, 0.5, 1])
    assert time.dtype == np.float64


def test_csv_without_header_names_columns(tmp_path):
    path = write(tmp_path / "data.csv", "1,2\n3,4\n5,6\n")
    source = read_signal(str(path))
    assert source.channels == ["column1", "column2"]
    assert source.time_column is None
    channels, time, _ = collect(source)
    np.testing.assert_array_equal(channels["column1"], [1, 3, 5])
    assert time is None


def test_header_can_be_forced(tmp_path):
    path = write(tmp_path / "data.csv", "1,2\n3,4\n")
    channels, _, _ = collect(read_signal(str(path), header=True))
    assert list(channels) == ["1", "2"]
    np.testing.assert_array_equal(channels["1"], [3])
    message = error_of(write(tmp_path / "named.csv", "a,b\n1,2\n3,4\n5,6\n"), header=False)
    assert "named.csv: line 1, column 'column1': 'a' is not a number" in message


def test_tsv(tmp_path):
    path = write(tmp_path / "data.tsv", "x\ty\n1\t2\n3\t4\n")
    channels, _, _ = collect(read_signal(str(path)))
    np.testing.assert_array_equal(channels["y"], [2, 4])


def test_txt_one_value_per_line(tmp_path):
    path = write(tmp_path / "signal.txt", "0.5\n1.5\n-2\n")
    source = read_signal(str(path))
    assert source.channels == ["column1"]
    channels, _, _ = collect(source)
    np.testing.assert_array_equal(channels["column1"], [0.5, 1.5, -2])


@pytest.mark.parametrize("text", ["a;b\n1;2\n", "a\tb\n1\t2\n", "1 2\n3 4\n"])
def test_txt_sniffs_the_delimiter(tmp_path, text):
    source = read_signal(str(write(tmp_path / "signal.TXT", text)))
    assert len(source.channels) == 2
    channels, _, _ = collect(source)
    assert channels[source.channels[1]][0] == 2


def test_gzip_csv(tmp_path):
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n"))
    channels, _, _ = collect(read_signal(str(path)))
    np.testing.assert_array_equal(channels["b"], [2, 4])


def test_gzip_content_is_detected_whatever_the_name(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(gzip.compress(b"a\n1\n2\n"))
    channels, _, _ = collect(read_signal(str(path)))
    np.testing.assert_array_equal(channels["a"], [1, 2])


def test_parquet_with_timestamp_column_and_nulls(tmp_path):
    path = tmp_path / "data.parquet"
    stamps = pa.array([0, 1_000_000, 2_000_000, 3_000_000], pa.timestamp("ms"))
    table = pa.table(
        {
            "label": ["a", "b", "c", "d"],
            "when": stamps,
            "x": pa.array([1, None, 3, 4], pa.int32()),
            "y": [0.5, 1.5, 2.5, 3.5],
        }
    )
    pq.write_table(table, path, row_group_size=3)
    source = read_signal(str(path), block_rows=3)
    assert source.channels == ["x", "y"]
    assert source.time_column == "when"
    channels, time, sizes = collect(source)
    assert sizes == [3, 1]
    np.testing.assert_array_equal(channels["x"], [1, np.nan, 3, 4])
    assert time.dtype in (np.dtype("datetime64[us]"), np.dtype("datetime64[ns]"))
    assert time[1] == np.datetime64("1970-01-01T00:16:40")


def _not_utf8_path(tmp_path, name: bytes) -> str:
    path = os.path.join(os.fsencode(tmp_path), name)
    try:
        open(path, "wb").close()
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    return os.fsdecode(path)  # as Python and the command line hand it over


def test_a_parquet_file_whose_name_is_not_utf8_is_read_like_a_csv_file(tmp_path):
    # pyarrow takes a path given as text as UTF-8, which b"\xff" is not.
    parquet, text = _not_utf8_path(tmp_path, b"\xff.parquet"), _not_utf8_path(tmp_path, b"\xfe.csv")
    values = [0.5, 1.5, 2.5, 3.5, 4.5]
    with open(parquet, "wb") as sink:
        pq.write_table(pa.table({"x": values}), sink, row_group_size=2)
    Path(text).write_text("x\n" + "".join(f"{value}\n" for value in values))
    for path in (parquet, text):
        source = read_signal(path, block_rows=2)
        channels, _, sizes = collect(source)
        assert source.name == path and sizes == [2, 2, 1]
        np.testing.assert_array_equal(channels["x"], values)


def test_a_broken_parquet_file_whose_name_is_not_utf8_is_named_in_its_error(tmp_path):
    parquet = _not_utf8_path(tmp_path, b"\xfd.parquet")
    Path(parquet).write_bytes(b"not parquet")
    with pytest.raises(MotifscanError) as raised:
        read_signal(parquet)
    assert str(raised.value).startswith(f"{parquet}: not a valid Parquet file (Parquet magic bytes not found")


def test_pq_extension_and_column_selection(tmp_path):
    path = tmp_path / "data.PQ"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}), path)
    source = read_signal(str(path), columns=["b", "a"])
    assert source.channels == ["b", "a"]
    channels, _, _ = collect(source)
    np.testing.assert_array_equal(channels["b"], [3, 4])


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"t,v\n0,1\n1,2\n2,\n"))
    source = read_signal("-")
    assert source.name == "<stdin>"
    assert source.channels == ["v"]
    assert source.time_column == "t"
    channels, time, _ = collect(source)
    np.testing.assert_array_equal(channels["v"], [1, 2, np.nan])
    np.testing.assert_array_equal(time, [0, 1, 2])


@pytest.mark.parametrize("delimiter", ["\t", ";", ","])
def test_stdin_delimiter_is_sniffed_as_for_files(monkeypatch, delimiter):
    text = "t_s{0}ecg_mv\n0{0}1.5\n1{0}2.5\n".replace("{0}", delimiter)
    monkeypatch.setattr(sys, "stdin", FakeStdin(text.encode()))
    source = read_signal("-", columns=["ecg_mv"])
    channels, _, _ = collect(source)
    np.testing.assert_array_equal(channels["ecg_mv"], [1.5, 2.5])


def test_stdin_delimiter_option_wins_over_the_sniffed_one(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"a,b|c\n1,2|3\n"))
    assert read_signal("-", delimiter="|").channels == ["c"]  # sniffed: "a" and "b|c"


def test_gzip_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(gzip.compress(b"v\n1\n2\n3\n")))
    channels, _, _ = collect(read_signal("-", block_rows=2))
    np.testing.assert_array_equal(channels["v"], [1, 2, 3])


def test_large_stdin_keeps_every_row(monkeypatch):
    rows = 300_000
    data = ("v\n" + "\n".join(map(str, range(rows))) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    channels, _, sizes = collect(read_signal("-", block_rows=50_000))
    assert max(sizes) <= 50_000
    assert len(channels["v"]) == rows
    assert channels["v"].sum() == rows * (rows - 1) / 2


# ------------------------------------------------------------------ columns and values


def test_delimiter_option(tmp_path):
    path = write(tmp_path / "data.csv", "a|b\n1|2\n")
    channels, _, _ = collect(read_signal(str(path), delimiter="|"))
    np.testing.assert_array_equal(channels["b"], [2])
    tab_path = write(tmp_path / "tabs.csv", "a\tb\n1\t2\n")
    assert read_signal(str(tab_path), delimiter="\\t").channels == ["a", "b"]


@pytest.mark.parametrize("delimiter", ["ab", "", '"'])
def test_bad_delimiter_names_the_option(tmp_path, delimiter):
    path = write(tmp_path / "data.csv", "a\n1\n")
    assert "--delimiter" in error_of(path, delimiter=delimiter)


def test_columns_select_and_order(tmp_path):
    path = write(tmp_path / "data.csv", "a,b,c\n1,2,3\n4,5,6\n")
    source = read_signal(str(path), columns=["c", "a"])
    assert source.channels == ["c", "a"]
    channels, _, _ = collect(source)
    assert list(channels) == ["c", "a"]
    np.testing.assert_array_equal(channels["c"], [3, 6])


def test_time_detected_by_type(tmp_path):
    path = write(
        tmp_path / "data.csv",
        "when,v\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01.5,2\n,3\n",
    )
    source = read_signal(str(path))
    assert source.time_column == "when"
    assert source.channels == ["v"]
    _, time, _ = collect(source)
    assert time.dtype == np.dtype("datetime64[ns]")
    assert time[1] == np.datetime64("2024-01-01T00:00:01.500")
    assert np.isnat(time[2])


def test_time_with_zone_comes_out_as_utc(tmp_path):
    path = write(tmp_path / "data.csv", "stamp,v\n2024-01-01T02:00:00+02:00,1\n2024-01-01T00:00:01Z,2\n")
    _, time, _ = collect(read_signal(str(path)))
    assert time[0] == np.datetime64("2024-01-01T00:00:00")


@pytest.mark.parametrize("name", ["time", "Timestamp", "t", "TIME_ms", "time (s)", "date"])
def test_time_detected_by_name(tmp_path, name):
    path = write(tmp_path / "data.csv", f"v,{name}\n1,0\n2,1\n")
    source = read_signal(str(path))
    assert source.time_column == name
    assert source.channels == ["v"]


def test_explicit_time_column(tmp_path):
    path = write(tmp_path / "data.csv", "k,v\n10,1\n20,2\n")
    source = read_signal(str(path), time_column="k")
    assert source.time_column == "k"
    assert source.channels == ["v"]
    _, time, _ = collect(source)
    np.testing.assert_array_equal(time, [10, 20])


def test_selected_time_named_column_stays_a_channel(tmp_path):
    path = write(tmp_path / "data.csv", "time,v\n0,1\n1,2\n")
    source = read_signal(str(path), columns=["time", "v"])
    assert source.channels == ["time", "v"]
    assert source.time_column is None


def test_label_column_is_ignored(tmp_path):
    path = write(tmp_path / "data.csv", "x,activity\n1,walking\n2,running\n3,\n")
    source = read_signal(str(path))
    assert source.channels == ["x"]
    channels, _, _ = collect(source)
    assert list(channels) == ["x"]


def test_missing_cells_are_nan_and_special_values_parse(tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n1,\n,2\nnan,inf\n-inf,3\n")
    channels, _, _ = collect(read_signal(str(path)))
    np.testing.assert_array_equal(channels["a"], [1, np.nan, np.nan, -np.inf])
    np.testing.assert_array_equal(channels["b"], [np.nan, 2, np.inf, 3])


def test_integer_column_with_a_fraction_past_the_first_mib(tmp_path):
    rows = 250_000  # well past the bytes used to decide the types
    lines = [f"{i},{i % 7}" for i in range(rows)] + ["1.5,2.25"]
    path = write(tmp_path / "data.csv", "a,b\n" + "\n".join(lines) + "\n")
    channels, _, _ = collect(read_signal(str(path)))
    assert len(channels["a"]) == rows + 1
    assert channels["a"][-1] == 1.5
    assert channels["b"][-1] == 2.25


def test_duplicate_and_blank_header_names(tmp_path):
    path = write(tmp_path / "data.csv", "a,a,\n1,2,3\n")
    assert read_signal(str(path)).channels == ["a", "a.1", "column3"]


def test_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n")
    source = read_signal(str(path))
    assert source.channels == ["a", "b"]
    channels, _, _ = collect(source)
    np.testing.assert_array_equal(channels["b"], [2, 4])


def test_quoted_fields_may_hold_delimiters_and_newlines(tmp_path):
    path = write(tmp_path / "data.csv", 'note,v\n"a, b",1\n"two\nlines",2\nplain,x\n')
    assert error_of(path).endswith(
        "data.csv: line 5, column 'v': 'x' is not a number (--bad-lines skip or nan reads past it)"
    )
    path = write(tmp_path / "good.csv", 'note,v\n"a, b",1\n"two\nlines",2\n')
    channels, _, _ = collect(read_signal(str(path)))
    np.testing.assert_array_equal(channels["v"], [1, 2])


def test_empty_column_selection_means_all(tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n1,2\n")
    assert read_signal(str(path), columns=[]).channels == ["a", "b"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_named_pipe_is_streamed(tmp_path):
    fifo = tmp_path / "live.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w") as writer:
            writer.write("v\n" + "".join(f"{i}\n" for i in range(1000)))

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        channels, _, _ = collect(read_signal(str(fifo), block_rows=100))
    finally:
        feeder.join(timeout=10)
    np.testing.assert_array_equal(channels["v"], np.arange(1000))


def test_header_only_file_yields_no_blocks(tmp_path):
    source = read_signal(str(write(tmp_path / "data.csv", "a,b\n")))
    assert source.channels == ["a", "b"]
    assert list(source) == []


@pytest.mark.parametrize("block_rows", [1, 3, 7, 10, 1000])
def test_blocks_concatenate_to_the_same_data(tmp_path, block_rows):
    rows = 10
    path = write(tmp_path / "data.csv", "t,v\n" + "".join(f"{i},{i * i}\n" for i in range(rows)))
    channels, time, sizes = collect(read_signal(str(path), block_rows=block_rows))
    np.testing.assert_array_equal(channels["v"], np.arange(rows) ** 2)
    np.testing.assert_array_equal(time, np.arange(rows))
    assert all(size == block_rows for size in sizes[:-1])
    assert 0 < sizes[-1] <= block_rows


@pytest.mark.parametrize("block_rows", [1, 4, 1000])
def test_parquet_blocks_concatenate_to_the_same_data(tmp_path, block_rows):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"v": np.arange(10.0)}), path, row_group_size=3)
    channels, _, sizes = collect(read_signal(str(path), block_rows=block_rows))
    np.testing.assert_array_equal(channels["v"], np.arange(10.0))
    assert all(size == block_rows for size in sizes[:-1])


def test_blocks_are_read_only(tmp_path):
    block = next(iter(read_signal(str(write(tmp_path / "data.csv", "a\n1\n2\n")))))
    assert isinstance(block, SignalBlock)
    with pytest.raises(ValueError):
        block.channels["a"][0] = 5


def test_source_iterates_once(tmp_path):
    source = read_signal(str(write(tmp_path / "data.csv", "a\n1\n")))
    list(source)
    with pytest.raises(RuntimeError):
        iter(source)


def test_streams_two_million_rows(tmp_path):
    rows = 2_000_000
    path = tmp_path / "long.csv"
    path.write_text("v\n" + "\n".join(map(str, range(rows))) + "\n")
    count = 0
    total = 0.0
    largest = 0
    for block in read_signal(str(path), block_rows=1 << 18):
        count += block.rows
        total += float(block.channels["v"].sum())
        largest = max(largest, block.rows)
    assert count == rows
    assert total == rows * (rows - 1) / 2
    assert largest == 1 << 18


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "data.csv").endswith("data.csv: no such file")


def test_directory(tmp_path):
    (tmp_path / "data.csv").mkdir()
    assert error_of(tmp_path / "data.csv").endswith("data.csv: is a directory")


def test_empty_file(tmp_path):
    assert error_of(write(tmp_path / "data.csv", "")).endswith("data.csv: file is empty")


def test_empty_gzip_content(tmp_path):
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b""))
    assert error_of(path).endswith("data.csv.gz: file is empty")


def test_empty_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    assert error_of("-").startswith("<stdin>: ")


def test_no_numeric_column(tmp_path):
    message = error_of(write(tmp_path / "data.csv", "a,b\nx,y\nz,w\n"))
    assert message.endswith("data.csv: no numeric column (columns: a, b)")


def test_bad_cell_in_the_first_rows(tmp_path):
    path = write(tmp_path / "data.csv", "x,y\n1,2\n3,4\n5,6\nabc,8\n9,10\n")
    assert error_of(path).endswith(
        "data.csv: line 5, column 'x': 'abc' is not a number (--bad-lines skip or nan reads past it)"
    )


def test_bad_cell_far_past_the_first_mib(tmp_path):
    rows = 300_000
    lines = [f"{i},{i}" for i in range(rows)]
    lines[250_000] = "250000,oops"
    path = write(tmp_path / "data.csv", "x,y\n" + "\n".join(lines) + "\n")
    source = read_signal(str(path))  # the head is fine: the problem shows while streaming
    message = error_of(path)
    assert message.endswith(
        "data.csv: line 250002, column 'y': 'oops' is not a number (--bad-lines skip or nan reads past it)"
    )
    assert source.channels == ["x", "y"]


def test_bad_cell_far_into_stdin(monkeypatch):
    rows = 300_000
    lines = [f"{i},{i}" for i in range(rows)]
    lines[250_000] = "oops,250000"
    monkeypatch.setattr(sys, "stdin", FakeStdin(("x,y\n" + "\n".join(lines) + "\n").encode()))
    assert (
        error_of("-")
        == "<stdin>: line 250002, column 'x': 'oops' is not a number (--bad-lines skip or nan reads past it)"
    )


def test_bad_cell_far_into_a_gzip_file(tmp_path):
    lines = [str(i) for i in range(300_000)]
    lines[200_000] = "1e5e"
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(("v\n" + "\n".join(lines) + "\n").encode()))
    assert error_of(path).endswith(
        "data.csv.gz: line 200002, column 'v': '1e5e' is not a number (--bad-lines skip or nan reads past it)"
    )


def test_bad_timestamp_far_into_the_file(tmp_path):
    stamps = [f"2024-01-01 00:00:{i % 60:02d},{i}" for i in range(150_000)]
    stamps[120_000] = "2024-13-45 00:00:00,1"
    path = write(tmp_path / "data.csv", "when,v\n" + "\n".join(stamps) + "\n")
    assert error_of(path).endswith(
        "data.csv: line 120002, column 'when': '2024-13-45 00:00:00' is not a timestamp (--bad-lines skip or nan reads past it)"
    )


def test_unknown_column(tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n1,2\n")
    message = error_of(path, columns=["foo"])
    assert message.endswith("data.csv: unknown column 'foo' (columns: a, b)")


def test_unknown_time_column(tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n1,2\n")
    message = error_of(path, time_column="when")
    assert "data.csv" in message and "'when'" in message and "(columns: a, b)" in message


def test_selected_text_column(tmp_path):
    path = write(tmp_path / "data.csv", "x,activity\n1,walking\n2,running\n")
    assert error_of(path, columns=["activity"]).endswith(
        "data.csv: line 2, column 'activity': 'walking' is not a number"
    )


def test_selected_parquet_text_column(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": [1.0], "label": ["a"]}), path)
    message = error_of(path, columns=["label"])
    assert "data.parquet" in message and "'label'" in message and "not numeric" in message


@pytest.mark.parametrize("values, kind", [([1, 2, 2**64 - 1, 3], pa.uint64()), ([1, 2**53 + 1], pa.int64())])
def test_parquet_integers_beyond_float64_are_refused_by_column(tmp_path, values, kind):
    # float64 holds integers exactly up to 2**53; larger ones would be rounded silently.
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": pa.array([1.0] * len(values)), "count": pa.array(values, kind)}), path)
    message = error_of(path)
    assert message.startswith(f"{path}: column 'count':") and "float64" in message


def test_text_time_column(tmp_path):
    path = write(tmp_path / "data.csv", "when,v\nmonday,1\ntuesday,2\n")
    message = error_of(path, time_column="when")
    assert message.startswith(str(path)) and "'when'" in message


def test_gzipped_parquet_is_refused(tmp_path):
    path = tmp_path / "data.parquet.gz"
    path.write_bytes(gzip.compress(b"PAR1"))
    assert "data.parquet.gz" in error_of(path)


def test_truncated_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": np.arange(1000.0)}), path)
    path.write_bytes(path.read_bytes()[:300])
    assert "data.parquet: not a valid Parquet file (" in error_of(path)


def test_csv_named_parquet(tmp_path):
    path = write(tmp_path / "data.parquet", "a\n1\n")
    assert "data.parquet: not a valid Parquet file" in error_of(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "data.csv.gz"
    payload = gzip.compress(("v\n" + "\n".join(map(str, range(600_000))) + "\n").encode())
    path.write_bytes(payload[: len(payload) // 2])
    source = read_signal(str(path))  # the first MiB decompresses fine
    assert source.channels == ["v"]
    assert "data.csv.gz: not a valid gzip file" in error_of(path)


def test_plain_text_named_gz(tmp_path):
    path = write(tmp_path / "data.csv.gz", "a\n1\n")
    assert "data.csv.gz: not a valid gzip file" in error_of(path)


def test_truncated_gzip_stdin(monkeypatch):
    payload = gzip.compress(("v\n" + "\n".join(map(str, range(400_000))) + "\n").encode())
    monkeypatch.setattr(sys, "stdin", FakeStdin(payload[: len(payload) // 2]))
    assert error_of("-").startswith("<stdin>: not a valid gzip")


def test_wrong_field_count_in_the_first_rows(tmp_path):
    path = write(tmp_path / "data.csv", "a,b\n1,2\n3\n4,5\n")
    assert error_of(path).endswith("data.csv: line 3: expected 2 fields, got 1 (--bad-lines skip or nan reads past it)")


def test_wrong_field_count_far_into_the_file(tmp_path):
    lines = [f"{i},{i}" for i in range(300_000)]
    lines[260_000] = "1,2,3"
    path = write(tmp_path / "data.csv", "a,b\n" + "\n".join(lines) + "\n")
    assert error_of(path).endswith(
        "data.csv: line 260002: expected 2 fields, got 3 (--bad-lines skip or nan reads past it)"
    )


def test_binary_garbage_gives_a_one_line_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(range(256)) * 40)
    assert error_of(path).startswith(str(path))


@pytest.mark.parametrize("block_rows", [0, -1, 1.5, True])
def test_bad_block_rows(tmp_path, block_rows):
    assert "block_rows" in error_of(write(tmp_path / "data.csv", "a\n1\n"), block_rows=block_rows)


# ------------------------------------------------------------------------ real data


def test_real_ecg_excerpt():
    path = SAMPLE_DATA / "ecg_mitdb_excerpt_360hz.csv"
    if not path.is_file():
        pytest.skip("sample_data/ecg_mitdb_excerpt_360hz.csv is not there yet")
    source = read_signal(str(path), block_rows=1000)
    assert source.channels == ["ecg_mv"]
    assert source.time_column == "time_s"
    channels, time, sizes = collect(source)
    assert len(time) == len(channels["ecg_mv"]) == sum(sizes)
    assert np.all(np.diff(time) > 0)
    assert np.all(np.isfinite(channels["ecg_mv"]))
    np.testing.assert_allclose(np.diff(time), 1 / 360, atol=2e-6)


def test_real_basicmotions_ignores_the_activity_label():
    path = SAMPLE_DATA / "basicmotions_interleaved_10hz.csv"
    if not path.is_file():
        pytest.skip("sample_data/basicmotions_interleaved_10hz.csv is not there yet")
    source = read_signal(str(path))
    assert source.time_column == "time_s"
    assert "activity" not in source.channels
    axes = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    assert set(axes) <= set(source.channels)
    selected = read_signal(str(path), columns=axes, block_rows=333)
    channels, time, sizes = collect(selected)
    assert list(channels) == axes
    assert len(time) == sum(sizes)
    assert all(np.isfinite(values).all() for values in channels.values())


# --------------------------------------------------------------------- arrays


def test_signal_from_arrays_blocks_and_time():
    values = np.arange(10.0)
    stamps = np.arange(10).astype("datetime64[s]")
    source = signal_from_arrays({"a": values, "b": list(range(10))}, time=stamps, block_rows=4)
    assert source.channels == ["a", "b"]
    assert source.name == "<array>"
    channels, time, sizes = collect(source)
    assert sizes == [4, 4, 2]
    np.testing.assert_array_equal(channels["b"], values)
    assert time.dtype == np.dtype("datetime64[us]")


def test_signal_from_arrays_one_block_by_default():
    _, time, sizes = collect(signal_from_arrays({"a": np.ones(7)}))
    assert sizes == [7]
    assert time is None


@pytest.mark.parametrize(
    ("channels", "fragment"),
    [
        ({"a": ["x", "y"]}, "'a' is not numeric"),
        ({"a": np.ones(3), "b": np.ones(4)}, "'b' has 4 samples"),
        ({"a": np.ones((2, 2))}, "one-dimensional"),
        ({}, "no channel"),
    ],
)
def test_signal_from_arrays_errors(channels, fragment):
    with pytest.raises(MotifscanError, match=fragment):
        signal_from_arrays(channels, name="mine")


def test_signal_from_arrays_time_length():
    with pytest.raises(MotifscanError, match="time"):
        signal_from_arrays({"a": np.ones(3)}, time=np.arange(2.0))


def test_bytes_handed_to_pyarrow_are_copies_it_owns():
    # pyarrow's worker threads may release an input buffer late, even while the interpreter
    # shuts down; a buffer over a Python object then aborts the process. So the readers
    # hand pyarrow copies in its own memory, never views of Python bytes.
    from motifscan.io.csv_layout import _arrow_owned

    data = b"v\n1\n2\n3\n"
    owned = _arrow_owned(data)
    assert owned.to_pybytes() == data
    assert owned.address != np.frombuffer(data, dtype=np.uint8).ctypes.data


# ---------------------------------------------------------------------------- bad lines

BAD_LINES = {
    "text": "{t},ERR",
    "extra field": "{t},1,2",
    "missing field": "{t}",
    "bad time": "yesterday,1",
}


def reference_rows(lines: list[str], policy: str) -> tuple[list[float], list[float]]:
    """Time and value of each row as ``--bad-lines`` reads them: the obvious line-by-line way."""
    times, values = [], []
    for line in lines:
        fields = line.split(",")
        good = len(fields) == 2
        try:
            time, value = float(fields[0]), float(fields[1])
        except (ValueError, IndexError):
            good = False
        if good:
            times.append(time)
            values.append(value)
        elif policy == "nan":
            times.append(np.nan)
            values.append(np.nan)
    return times, values


def numeric_time_lines(count: int, bad: dict[int, str]) -> list[str]:
    return [bad[i].format(t=i) if i in bad else f"{i},{(i * 7) % 11}" for i in range(count)]


def test_bad_line_error_names_line_column_and_the_option(tmp_path):
    path = write(tmp_path / "data.csv", "time,v\n0,1\n1,ERR\n2,3\n")
    message = error_of(path)
    assert "data.csv: line 3, column 'v': 'ERR' is not a number" in message
    assert "--bad-lines" in message


@pytest.mark.parametrize("kind", ["text", "extra field", "missing field"])
@pytest.mark.parametrize("policy", ["skip", "nan"])
def test_bad_lines_are_skipped_or_read_as_missing(tmp_path, kind, policy):
    lines = numeric_time_lines(12, {3: BAD_LINES[kind], 8: BAD_LINES[kind]})
    path = write(tmp_path / "data.csv", "time,v\n" + "\n".join(lines) + "\n")
    source = read_signal(str(path), bad_lines=policy)
    channels, time, _ = collect(source)
    want_time, want_values = reference_rows(lines, policy)
    np.testing.assert_array_equal(channels["v"], want_values)
    np.testing.assert_array_equal(time, want_time)  # skip: every kept row keeps its own time
    assert source.bad_lines.count == 2
    assert source.bad_lines.first.startswith("line 5")  # the header is line 1


def test_a_bad_timestamp_is_a_bad_line(tmp_path):
    stamps = [f"2024-01-01T00:00:{i:02d},{i}" for i in range(6)]
    stamps[2] = "2024-13-45T00:00:00,2"
    path = write(tmp_path / "data.csv", "when,v\n" + "\n".join(stamps) + "\n")
    channels, time, _ = collect(source := read_signal(str(path), bad_lines="nan"))
    assert np.isnat(time[2]) and np.isnan(channels["v"][2])
    np.testing.assert_array_equal(channels["v"][[0, 1, 3, 4, 5]], [0, 1, 3, 4, 5])
    assert source.bad_lines.first == "line 4, column 'when': '2024-13-45T00:00:00' is not a timestamp"


def test_bad_lines_far_past_the_first_mib(tmp_path):
    lines = numeric_time_lines(300_000, {250_000: "{t},oops", 260_000: "{t},1,2"})
    path = write(tmp_path / "data.csv", "time,v\n" + "\n".join(lines) + "\n")
    for policy in ("skip", "nan"):
        source = read_signal(str(path), bad_lines=policy)
        channels, _, _ = collect(source)
        assert len(channels["v"]) == (299_998 if policy == "skip" else 300_000)
        assert source.bad_lines.count == 2
        assert source.bad_lines.first == "line 250002, column 'v': 'oops' is not a number"


def test_bad_lines_policy_is_checked(tmp_path):
    path = write(tmp_path / "data.csv", "v\n1\n")
    assert "bad_lines must be one of error, skip, nan" in error_of(path, bad_lines="drop")


@pytest.mark.parametrize("header", ["v\n", ""])
def test_an_empty_cell_in_one_column_is_a_missing_value(tmp_path, header):
    path = write(tmp_path / "data.csv", header + "1\n2\n\n4\n5\n")
    channels, _, _ = collect(read_signal(str(path)))
    name = "v" if header else "column1"
    np.testing.assert_array_equal(channels[name], [1, 2, np.nan, 4, 5])


def byte_range_rows(path: Path, policy: str, cuts: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Values, times and bad-line count of a file read as byte ranges cut after the given lines."""
    data = path.read_bytes()
    offsets = [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    bounds = sorted({0, len(data), *(offsets[min(cut, len(offsets) - 1)] for cut in cuts)})
    values, times, count = [], [], 0
    for start, stop in itertools.pairwise(bounds):
        source = read_signal(str(path), byte_range=(start, stop), bad_lines=policy)
        channels, time, _ = collect(source)
        values.append(channels["v"])
        times.append(time if time is not None else np.empty(0))
        count += source.bad_lines.count
    return np.concatenate(values), np.concatenate(times), count


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    bad=st.dictionaries(st.integers(6, 39), st.sampled_from(sorted(BAD_LINES)), max_size=8),
    first=st.sampled_from(sorted(BAD_LINES)),
    policy=st.sampled_from(["skip", "nan"]),
    block_rows=st.integers(1, 45),
    cuts=st.lists(st.integers(8, 41), max_size=4),
    one_by_one=st.sampled_from([1, 2, 5, 512]),
)
def test_bad_lines_do_not_depend_on_blocks_or_byte_ranges(
    tmp_path_factory, bad, first, policy, block_rows, cuts, one_by_one
):
    # The first rows, from which a byte range starting at 0 decides the columns' types,
    # hold a bad line too (and enough good ones to decide them). Small pieces checked one
    # line at a time make the reader halve these 40 lines as it halves a large file.
    bad[0] = first
    with mock.patch.object(csv_readers, "_LINES_CHECKED_ONE_BY_ONE", one_by_one):
        check_bad_lines_everywhere(tmp_path_factory, bad, policy, block_rows, cuts)


def check_bad_lines_everywhere(tmp_path_factory, bad, policy, block_rows, cuts):
    lines = numeric_time_lines(40, {i: BAD_LINES[kind] for i, kind in bad.items()})
    path = tmp_path_factory.mktemp("bad") / "data.csv"
    write(path, "time,v\n" + "\n".join(lines) + "\n")
    want_time, want_values = reference_rows(lines, policy)
    source = read_signal(str(path), bad_lines=policy, block_rows=block_rows)
    channels, time, sizes = collect(source)
    np.testing.assert_array_equal(channels["v"], want_values)
    np.testing.assert_array_equal(time, want_time)
    assert all(size == block_rows for size in sizes[:-1])
    assert source.bad_lines.count == len(bad)
    values, times, count = byte_range_rows(path, policy, cuts)
    np.testing.assert_array_equal(values, want_values)
    np.testing.assert_array_equal(times, want_time)
    assert count == len(bad)


@pytest.mark.parametrize("policy", ["skip", "nan"])
def test_bad_lines_on_stdin(monkeypatch, policy):
    lines = numeric_time_lines(300_000, {5: "{t},x", 250_000: "{t},1,2"})
    monkeypatch.setattr(sys, "stdin", FakeStdin(("time,v\n" + "\n".join(lines) + "\n").encode()))
    source = read_signal("-", bad_lines=policy)
    channels, time, _ = collect(source)
    want_time, want_values = reference_rows(lines, policy)
    np.testing.assert_array_equal(channels["v"], want_values)
    np.testing.assert_array_equal(time, want_time)
    assert source.bad_lines.count == 2 and source.bad_lines.first == "line 7, column 'v': 'x' is not a number"


# ---------------------------------------------------------------------------- numeric time columns


@pytest.mark.parametrize("column", ["t_s", "time_s", "YEAR", "elapsed_min", "T_ms", "seconds"])
def test_numeric_time_columns_are_recognised_by_name_and_rising_values(tmp_path, column):
    path = write(tmp_path / "data.csv", f"{column},v\n0.5,1\n1.5,3\n2.0,2\n4.0,4\n")
    source = read_signal(str(path))
    assert (source.channels, source.time_column) == (["v"], column)
    assert source.notes == ()


def test_a_time_name_that_does_not_rise_is_a_channel(tmp_path):
    path = write(tmp_path / "data.csv", "t_ambient,time,v\n21.5,0,1\n21.4,1,2\n21.6,1,3\n")
    source = read_signal(str(path))  # 'time' repeats a value, 't_ambient' falls: channels both
    assert (source.channels, source.time_column) == (["t_ambient", "time", "v"], None)


def test_a_time_name_in_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"t_s": [0.0, 0.25, 0.5], "v": [1.0, 2.0, 3.0]}), path)
    source = read_signal(str(path))
    assert (source.channels, source.time_column) == (["v"], "t_s")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_channel_rising_by_a_constant_step_is_noted(tmp_path, suffix):
    table = {"sample": [0, 1, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.4, 0.5], "v": [1.0, 5.0, 2.0, 7.0, 1.0]}
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        write(path, "sample,x,v\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(*table.values())))
    else:
        pq.write_table(pa.table(table), path)
    source = read_signal(str(path))
    assert source.channels == ["sample", "x", "v"]
    assert len(source.notes) == 2
    assert source.notes[0] == (
        f"{path}: column 'sample' rises by 1 every row, like a time column or row "
        "number; it is scanned as a channel (--time-column sample carries it as time, "
        "--column picks the channels)"
    )
    assert "column 'x' rises by 0.1 every row" in source.notes[1]
    assert read_signal(str(path), columns=["sample", "v"]).notes == ()
    assert read_signal(str(path), time_column="sample").notes[0].startswith(f"{path}: column 'x'")


# ---------------------------------------------------------------------------- time zones


def test_times_with_offsets_keep_the_zone_of_the_first(tmp_path):
    import datetime as dt

    path = write(tmp_path / "data.csv", "time,v\n2024-05-01T10:00:03.9+02:00,1\n2024-05-01T08:00:05Z,2\n")
    source = read_signal(str(path))
    assert source.time_zone == dt.timezone(dt.timedelta(hours=2))
    _, time, _ = collect(source)  # the instants, as naive UTC
    np.testing.assert_array_equal(time, np.array(["2024-05-01T08:00:03.9", "2024-05-01T08:00:05"], "M8[ns]"))
    utc = write(tmp_path / "utc.csv", "time,v\n2024-05-01T08:00:03Z,1\n2024-05-01T08:00:05Z,2\n")
    assert read_signal(str(utc)).time_zone == dt.UTC
    naive = write(tmp_path / "naive.csv", "time,v\n2024-05-01T08:00:03,1\n2024-05-01T08:00:05,2\n")
    assert read_signal(str(naive)).time_zone is None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "+05:30", "UTC"])
def test_a_tz_aware_parquet_column_keeps_its_zone(tmp_path, zone):
    import zoneinfo

    from motifscan.io.csv_layout import zone_to_arrow

    path = tmp_path / "data.parquet"
    stamps = pa.array(np.array(["2024-03-31T00:30", "2024-03-31T01:30"], "M8[us]")).cast(pa.timestamp("us", tz=zone))
    pq.write_table(pa.table({"when": stamps, "v": [1.0, 2.0]}), path)
    source = read_signal(str(path))
    assert zone_to_arrow(source.time_zone) == zone
    if "/" in zone:
        assert source.time_zone == zoneinfo.ZoneInfo(zone)
    _, time, _ = collect(source)
    np.testing.assert_array_equal(time, np.array(["2024-03-31T00:30", "2024-03-31T01:30"], "M8[us]"))


def test_a_tz_aware_pandas_index_becomes_utc_times_and_a_zone():
    import pandas as pd

    index = pd.date_range("2024-05-01T10:00", periods=3, freq="1s", tz="Europe/Berlin")
    source = signal_from_arrays({"v": [1.0, 2.0, 3.0]}, time=index)
    assert str(source.time_zone) == "Europe/Berlin"
    _, time, _ = collect(source)
    np.testing.assert_array_equal(
        time, np.array(["2024-05-01T08:00:00", "2024-05-01T08:00:01", "2024-05-01T08:00:02"], "M8[ns]")
    )


def test_a_byte_range_of_a_file_whose_name_is_not_utf8(tmp_path):
    # pyarrow encodes a str path as UTF-8; a name held with surrogate escapes is given as bytes.
    path = tmp_path / os.fsdecode(b"walk\xff.csv")
    path.write_text("value\n1\n2\n3\n4\n")
    start = len("value\n1\n")
    channels, _, _ = collect(read_signal(str(path), byte_range=(start, path.stat().st_size)))
    np.testing.assert_array_equal(channels["value"], [2.0, 3.0, 4.0])
