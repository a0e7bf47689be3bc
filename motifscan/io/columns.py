"""Which columns of a table are channels and which is the time, and how cells are read.

Shared by the CSV and Parquet readers: column kinds from pyarrow types or from the first
MiB of text, time-column names, conversion of arrow arrays to float64 and datetimes, and
the one-line wording of read errors.
"""

from __future__ import annotations

import csv
import functools
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.signal import SignalBlock, _datetime_ns_or_us


# How much of a text input decides the header, a .txt delimiter and the column types.
INFERENCE_BYTES = 1 << 20
# A first line longer than this is not a table.
MAX_FIRST_LINE_BYTES = 64 << 20
GZIP_MAGIC = b"\x1f\x8b"
#: Names (lower-cased) of a numeric time column: one of these names, or one starting with
#: one of the prefixes (``time_s``, ``t_ms``, ``elapsed_min``); such a column is the time
#: column only when its values rise strictly (missing values aside) in the first rows.
TIME_COLUMN_NAMES = frozenset(
    {"time", "timestamp", "datetime", "date", "t", "year", "years", "epoch", "seconds", "elapsed"}
)
TIME_COLUMN_PREFIXES = ("time_", "time ", "t_", "timestamp_", "elapsed_", "epoch_", "seconds_")
# Steps of a time-like channel that differ by less than this (relative) are one step: a
# column of 0.1-second times written as text rounds each value to its last digit.
CONSTANT_STEP_RTOL = 1e-6
# What the first MiB says a column holds.
_NUMBER = "number"
_TIMESTAMP = "timestamp"
_BAD_NUMBER = "number with a bad cell"
_TEXT = "text"
_OTHER = "other"
# Cells per pyarrow call when re-checking timestamps on the error path.
_TIMESTAMP_CHECK_BATCH = 4096
# Cells of a text column looked at to tell timestamps with a few bad cells from labels.
_TIMESTAMP_SAMPLE = 200


@dataclass(frozen=True)
class _ReadOptions:
    columns: tuple[str, ...] | None
    time_column: str | None
    header: bool | None
    block_rows: int
    bad_lines: str = "error"


def _format_of(path: str) -> tuple[str, bool]:
    """Return the format (csv, tsv, txt, parquet) and whether the name ends in .gz."""
    lower = path.lower()
    compressed = lower.endswith(".gz")
    stem = lower[:-3] if compressed else lower
    extension = os.path.splitext(stem)[1]
    if extension in (".parquet", ".pq"):
        return "parquet", compressed
    if extension in (".tsv", ".txt"):
        return extension[1:], compressed
    return "csv", compressed


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this input cannot be read", to be reported in one line."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, EOFError, zlib.error, UnicodeError, csv.Error)


@functools.cache
def _null_values() -> frozenset[str]:
    import pyarrow.csv as pacsv

    # pyarrow turns these into nulls before converting, so they are missing, not bad.
    return frozenset(pacsv.ConvertOptions().null_values)


def _parses_as_float(text: str) -> bool:
    # pyarrow trims spaces and tabs only; Python's float() would also accept newlines,
    # "1_000" and non-ASCII digits.
    text = text.strip(" \t")
    if not text or not text.isascii() or "_" in text or not text.isprintable() or " " in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_number_cell(cell: str) -> bool:
    """Whether pyarrow reads this CSV cell into a float64 column (as a value or a null)."""
    return cell in _null_values() or _parses_as_float(cell)


def _column_list(names: Iterable[str]) -> str:
    return ", ".join(names)


def _columns_to_read(channels: Sequence[str], time_column: str | None) -> list[str]:
    """Channels then the time column, each once (a column may be both)."""
    return list(dict.fromkeys([*channels, *([time_column] if time_column else [])]))


def _arrow_kind(arrow_type: Any) -> str:
    import pyarrow.types as patypes

    if (
        patypes.is_integer(arrow_type)
        or patypes.is_floating(arrow_type)
        or patypes.is_decimal(arrow_type)
        or patypes.is_null(arrow_type)
    ):
        return _NUMBER
    if patypes.is_timestamp(arrow_type) or patypes.is_date(arrow_type):
        return _TIMESTAMP
    text_tests = (patypes.is_string, patypes.is_large_string, patypes.is_binary)
    if any(is_text(arrow_type) for is_text in text_tests):
        return _TEXT
    return _OTHER


def _text_column_kind(values: Any) -> str:
    """Tell a label column from a numeric column holding a bad cell (or huge integers)."""
    import pyarrow as pa

    cells = [
        cell.decode("utf-8", "replace")
        for cell in values.cast(pa.binary()).to_pylist()
        if cell is not None and cell.strip()
    ]
    numbers = sum(1 for cell in cells if _is_number_cell(cell))
    if cells and numbers == len(cells):
        # Integers beyond int64 make pyarrow infer text; float64 reads them.
        return _NUMBER
    if numbers * 2 > len(cells):
        return _BAD_NUMBER
    return _TEXT


def zone_from_arrow(name: str | None) -> Any:
    """A ``datetime.tzinfo`` for an Arrow time zone (``"UTC"``, ``"+02:00"``, ``"Europe/Paris"``)."""
    import datetime as dt

    if name is None:
        return None
    if name in ("UTC", "Z", "Etc/UTC", "+00:00", "-00:00"):
        return dt.UTC
    if name[:1] in "+-" and len(name) == 6 and name[3] == ":":
        sign = 1 if name[0] == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise MotifscanError(f"unknown time zone {name!r}") from None


def _is_time_name(column: str) -> bool:
    lowered = column.strip().lower()
    return lowered in TIME_COLUMN_NAMES or lowered.startswith(TIME_COLUMN_PREFIXES)


def _rises(values: np.ndarray | None) -> bool:
    """Whether the values (missing ones aside) rise strictly: what a numeric time column does."""
    if values is None:
        return False
    present = values[~np.isnan(values)]
    return present.size >= 2 and bool(np.all(np.diff(present) > 0))


def _constant_step(values: np.ndarray | None) -> float | None:
    """The step of values that rise by one constant step every row (at least 3 rows), else None."""
    if values is None or values.size < 3 or np.isnan(values).any():
        return None
    steps = np.diff(values)
    step = float(steps[0])
    if step <= 0 or not np.allclose(steps, step, rtol=CONSTANT_STEP_RTOL, atol=0):
        return None
    return step


def _time_like_notes(
    name: str, channels: Sequence[str], options: _ReadOptions, head_values: Callable[[str], np.ndarray | None]
) -> tuple[str, ...]:
    """A note for each channel taken by default that rises by a constant step like a clock."""
    if options.columns is not None:
        return ()  # the channels were asked for by name
    notes = []
    for channel in channels:
        step = _constant_step(head_values(channel))
        if step is not None:
            notes.append(
                f"{name}: column '{channel}' rises by {step:g} every row, like a time column or "
                f"row number; it is scanned as a channel (--time-column {channel} carries it as "
                f"time, --column picks the channels)"
            )
    return tuple(notes)


def _choose_columns(
    name: str,
    names: Sequence[str],
    kinds: Mapping[str, str],
    options: _ReadOptions,
    not_numeric: Callable[[str], MotifscanError],
    head_values: Callable[[str], np.ndarray | None] = lambda column: None,
) -> tuple[list[str], str | None]:
    """Pick the channels and the time column; raise for names or types that do not fit.

    ``head_values`` gives a numeric column's first values (float64), by which a column
    with a time name is told from a channel that happens to be named so.
    """
    available = _column_list(names)
    for column in options.columns or ():
        if column not in kinds:
            raise MotifscanError(f"{name}: unknown column '{column}' (columns: {available})")

    time_column = options.time_column
    if time_column is not None:
        if time_column not in kinds:
            raise MotifscanError(f"{name}: unknown time column '{time_column}' (columns: {available})")
        if kinds[time_column] == _BAD_NUMBER:
            raise not_numeric(time_column)
        if kinds[time_column] not in (_NUMBER, _TIMESTAMP):
            raise MotifscanError(f"{name}: time column '{time_column}' holds neither numbers nor ISO 8601 timestamps")
    else:
        # A column picked as a channel stays a channel; time comes from the others.
        candidates = [column for column in names if column not in (options.columns or ())]
        time_column = next((column for column in candidates if kinds[column] == _TIMESTAMP), None)
        if time_column is None:
            named = [column for column in candidates if _is_time_name(column)]
            time_column = next(
                (column for column in named if kinds[column] == _NUMBER and _rises(head_values(column))), None
            )

    if options.columns is not None:
        for column in options.columns:
            if kinds[column] != _NUMBER:
                raise not_numeric(column)
        return list(options.columns), time_column

    for column in names:
        if kinds[column] == _BAD_NUMBER and column != time_column:
            raise not_numeric(column)
    channels = [column for column in names if kinds[column] == _NUMBER and column != time_column]
    if not channels:
        raise MotifscanError(f"{name}: no numeric column (columns: {available})")
    return channels, time_column


def _first_bad_time(cells: list[tuple[int, str, str, Any]]) -> str | None:
    """Check timestamp cells with pyarrow's own parser (what the CSV reader uses)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def parses(batch: list[tuple[int, str, str, Any]]) -> bool:
        try:
            for arrow_type in {arrow_type for _, _, _, arrow_type in batch}:
                cells_of_type = [cell for _, _, cell, cell_type in batch if cell_type == arrow_type]
                pc.cast(pa.array(cells_of_type, pa.string()), arrow_type)
        except pa.ArrowException:
            return False
        return True

    if not cells or parses(cells):
        return None
    for line, column, cell, arrow_type in cells:
        if not parses([(line, column, cell, arrow_type)]):
            return f"line {line}, column '{column}': {cell!r} is not a timestamp"
    return None


def _batch_piece(batch: Any, channels: Sequence[str], time_column: str | None) -> SignalBlock:
    values = {channel: _float64_from_arrow(batch.column(channel)) for channel in channels}
    time = None if time_column is None else _time_from_arrow(batch.column(time_column))
    return SignalBlock(values, time)


def _float64_from_arrow(array: Any) -> np.ndarray:
    import pyarrow as pa

    if array.type != pa.float64():
        array = array.cast(pa.float64())
    if len(array) == 0:
        return np.empty(0)
    # Straight from the Arrow buffers: Array.to_numpy imports pandas, which costs a few
    # tenths of a second of start-up on a small file.
    validity, data = array.buffers()[:2]
    values = np.frombuffer(data, dtype=np.float64, count=len(array) + array.offset)[array.offset :]
    if array.null_count:  # nulls (empty cells) become NaN
        bits = np.unpackbits(
            np.frombuffer(validity, dtype=np.uint8), bitorder="little", count=len(array) + array.offset
        )[array.offset :]
        values = np.where(bits.astype(bool), values, np.nan)
    return values


def _time_from_arrow(array: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.types as patypes

    if patypes.is_date(array.type):
        array = array.cast(pa.timestamp("us"))
    if not patypes.is_timestamp(array.type):
        return _float64_from_arrow(array)
    # Zoned timestamps come out as naive UTC.
    values = array.to_numpy(zero_copy_only=False)
    return _datetime_ns_or_us(values)
