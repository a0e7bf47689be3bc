"""The layout of a text table, decided from its first MiB: delimiter, header, column names
and kinds; and, on the error path only, the line and column of a bad cell.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, IO

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.io.columns import (
    _BAD_NUMBER,
    _NUMBER,
    _ReadOptions,
    _TEXT,
    _TIMESTAMP,
    _TIMESTAMP_CHECK_BATCH,
    _TIMESTAMP_SAMPLE,
    _arrow_kind,
    _choose_columns,
    _columns_to_read,
    _first_bad_time,
    _float64_from_arrow,
    _is_number_cell,
    _null_values,
    _parses_as_float,
    _read_errors,
    _text_column_kind,
    _time_like_notes,
)
from motifscan.io.streams import STDIN_NAME
from motifscan.signal import _one_line


# Bounds on pyarrow's read block: large enough for long lines and few batches, small
# enough that pyarrow's read-ahead keeps memory modest. Its streaming reader parses ahead
# of a slower consumer: measured on a 100-million-row CSV, its memory pool peaked at about
# 37 blocks (600 MB with 16 MiB blocks, 75 MB with 2 MiB ones, at the same speed).
MIN_ARROW_BLOCK_BYTES = 1 << 20
MAX_ARROW_BLOCK_BYTES = 2 << 20
UTF8_BOM = b"\xef\xbb\xbf"
DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t"}
TXT_DELIMITER_CANDIDATES = ("\t", ",", ";")
# Under --bad-lines skip/nan, a piece of at most this many lines that pyarrow rejects is
# checked line by line in Python; a larger one is halved first (see TolerantCsvBlockReader).
_LINES_CHECKED_ONE_BY_ONE = 512
_BAD_LINES_HINT = " (--bad-lines skip or nan reads past it)"


@dataclass(frozen=True)
class _CsvLayout:
    name: str
    delimiter: str
    names: tuple[str, ...]  # all columns, in file order
    skip_rows: int  # physical lines pyarrow skips before data (blank lines and the header)
    first_data_line: int  # 1-based physical line of the first data row
    channels: tuple[str, ...]
    time_column: str | None
    column_types: dict[str, Any]  # column read -> pyarrow type
    arrow_block_bytes: int
    compressed: bool
    bad_lines: str = "error"
    notes: tuple[str, ...] = ()  # see SignalSource.notes
    time_zone: Any = None  # see SignalSource.time_zone

    @property
    def read_columns(self) -> list[str]:
        return _columns_to_read(self.channels, self.time_column)

    def arrow_options(self) -> tuple[Any, Any, Any]:
        import pyarrow.csv as pacsv

        return (
            pacsv.ReadOptions(
                column_names=list(self.names),
                skip_rows=self.skip_rows,
                block_size=self.arrow_block_bytes,
            ),
            _parse_options(self.delimiter, len(self.names)),
            pacsv.ConvertOptions(column_types=self.column_types, include_columns=self.read_columns),
        )

    def checks(self) -> dict[int, tuple[str, Any]]:
        """Column index -> (name, pyarrow type) for every column streamed."""
        return {self.names.index(column): (column, self.column_types[column]) for column in self.read_columns}


def _parse_options(delimiter: str, fields: int = 0) -> Any:
    import pyarrow.csv as pacsv

    # Quoted fields may hold newlines, as in Python's csv module, which locates bad rows:
    # both must split rows the same way for the line numbers to be right. In a table of one
    # column an empty line is an empty cell, a missing value: skipping it would move every
    # later sample one position up.
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=fields != 1)


def _with_final_newline(data: bytes) -> bytes:
    # pyarrow cannot skip a header that does not end in a newline.
    return data if data.endswith(b"\n") else data + b"\n"


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 never fails, so a non-UTF-8 header still gives usable names.
        return raw.decode("latin-1")


def _sniff_delimiter(first_line: str) -> str:
    counts = {candidate: first_line.count(candidate) for candidate in TXT_DELIMITER_CANDIDATES}
    best = max(TXT_DELIMITER_CANDIDATES, key=lambda candidate: counts[candidate])
    if counts[best]:
        return best
    # numpy.savetxt writes several columns separated by single spaces.
    if len(first_line.strip().split(" ")) > 1:
        return " "
    return ","


def _column_names(fields: list[str]) -> list[str]:
    """Header fields as names: blanks get ``columnN``, repeats get ``.1``, ``.2`` as in pandas."""
    names: list[str] = []
    taken: set[str] = set()
    for index, field in enumerate(fields, start=1):
        base = field.strip() or f"column{index}"
        candidate, repeat = base, 0
        while candidate in taken:
            repeat += 1
            candidate = f"{base}.{repeat}"
        taken.add(candidate)
        names.append(candidate)
    return names


def _read_header(
    name: str, lines: list[bytes], delimiter: str | None, header: bool | None
) -> tuple[str, list[str], int, int]:
    """Return the delimiter, the column names, the lines to skip and the first data line.

    The first non-blank line decides: it is a header unless ``header`` says otherwise or
    (by default) every field of it is a number.
    """
    first_line_index = next((i for i, line in enumerate(lines) if line not in (b"", b"\r")), None)
    if first_line_index is None:
        raise MotifscanError(f"{name}: {'input' if name == STDIN_NAME else 'file'} is empty")
    first_line = _decode_text(lines[first_line_index].rstrip(b"\r"))
    if delimiter is None:
        delimiter = _sniff_delimiter(first_line)
    try:
        fields = next(csv.reader([first_line], delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        problem = f"line {first_line_index + 1}: cannot parse ({_one_line(exc)})"
        raise MotifscanError(f"{name}: {problem}") from None

    if header is None:
        values = [field for field in fields if field.strip()]
        header = not (values and all(_parses_as_float(field) for field in values))
    header_line = first_line_index + 1
    if header:
        # pyarrow counts skipped rows as raw lines, blank ones included.
        return delimiter, _column_names(fields), header_line, header_line + 1
    names = [f"column{i}" for i in range(1, len(fields) + 1)]
    return delimiter, names, first_line_index, header_line


def _longest_line(text: bytes) -> int:
    """The length in bytes of the longest line of ``text`` (newlines not counted).

    Found from the newlines' positions by NumPy: the head holds up to a MiB of short lines,
    and a Python loop over them took 8-9 ms of every run's start (NumPy: 1.5-2.5 ms).
    """
    newlines = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], newlines, [len(text)]))
    return int(np.max(np.diff(bounds))) - 1


def _plan_csv(
    name: str,
    head: bytes,
    at_eof: bool,
    delimiter: str | None,
    options: _ReadOptions,
    compressed: bool,
) -> _CsvLayout:
    """Decide delimiter, header, names, channels, time column and types from the head."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    # Type inference needs whole rows: cut the head after its last complete line.
    sample = _with_final_newline(head) if at_eof else head[: head.rfind(b"\n") + 1]
    lines = sample.split(b"\n")
    delimiter, names, skip_rows, first_data_line = _read_header(name, lines, delimiter, options.header)
    longest_line = _longest_line(sample)

    def layout_of(
        channels: tuple[str, ...],
        time_column: str | None,
        column_types: dict[str, Any],
        arrow_block_bytes: int = MIN_ARROW_BLOCK_BYTES,
    ) -> _CsvLayout:
        return _CsvLayout(
            name=name,
            delimiter=delimiter,
            names=tuple(names),
            skip_rows=skip_rows,
            first_data_line=first_data_line,
            channels=channels,
            time_column=time_column,
            column_types=column_types,
            arrow_block_bytes=arrow_block_bytes,
            compressed=compressed,
            bad_lines=options.bad_lines,
        )

    parse_options = _parse_options(delimiter)
    # Lines with a field too many or too few say nothing about the columns' types; without
    # a bad-lines policy the first bad line (of any kind) is reported once types are known.
    invalid_rows: list[Any] = []

    def skip_invalid(row: Any) -> str:
        invalid_rows.append(row)
        return "skip"

    try:
        sample.decode("utf-8")  # pyarrow decodes a row for the handler, and warns if it cannot
        parse_options.invalid_row_handler = skip_invalid
    except UnicodeDecodeError:
        pass
    try:
        table = pacsv.read_csv(
            pa.BufferReader(_arrow_owned(sample)),
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=skip_rows,
                block_size=max(len(sample), 2 * longest_line, 1 << 16),
                use_threads=False,
            ),
            parse_options=parse_options,
            # Label columns need not be UTF-8: they are only looked at, never read.
            convert_options=pacsv.ConvertOptions(check_utf8=False),
        )
    except _read_errors() as exc:
        problem = _find_bad_row(io.BytesIO(sample), layout_of((), None, {}), {}, first_line=1)
        raise MotifscanError(
            f"{name}: {problem + _BAD_LINES_HINT if problem else f'cannot read as CSV ({_one_line(exc)})'}"
        ) from None

    kinds: dict[str, str] = {}
    zones: dict[str, str | None] = {}  # timestamp columns found among text -> their zone
    for column, field in zip(names, table.schema):
        kinds[column] = _arrow_kind(field.type)
        if kinds[column] == _TEXT:
            kinds[column] = _text_column_kind(table.column(column))
            if options.bad_lines != "error":  # its bad cells are bad lines, for the policy
                if kinds[column] == _BAD_NUMBER:
                    kinds[column] = _NUMBER
                else:
                    stamped, zone = _mostly_timestamps(table.column(column))
                    if stamped:
                        kinds[column], zones[column] = _TIMESTAMP, zone

    def not_numeric(column: str) -> MotifscanError:
        layout = layout_of((column,), None, {column: pa.float64()})
        problem = _find_bad_row(io.BytesIO(sample), layout, layout.checks(), first_line=1)
        if problem:
            # A few bad cells among numbers are bad lines; a column of labels is not numeric.
            hint = _BAD_LINES_HINT if kinds.get(column) == _BAD_NUMBER else ""
            return MotifscanError(f"{name}: {problem}{hint}")
        return MotifscanError(f"{name}: column {column!r} is not numeric")

    if invalid_rows and options.bad_lines == "error":
        suspects = [column for column in names if kinds[column] == _BAD_NUMBER]
        layout = layout_of(tuple(suspects), None, {column: pa.float64() for column in suspects})
        problem = _find_bad_row(io.BytesIO(sample), layout, layout.checks(), first_line=1)
        raise MotifscanError(f"{name}: {problem or 'cannot read as CSV'}{_BAD_LINES_HINT}")

    def head_values(column: str) -> np.ndarray | None:
        if kinds.get(column) != _NUMBER or column in zones:
            return None
        values = table.column(column)
        if _arrow_kind(values.type) == _NUMBER:
            try:
                return _float64_from_arrow(values.combine_chunks())
            except pa.ArrowException:
                return None  # integers beyond 2**53: not read here (their column says why)
        # Numbers read as text (a bad cell under --bad-lines, huge integers): cell by cell.
        cells = [
            cell.decode("utf-8", "replace") if cell is not None else "" for cell in values.cast(pa.binary()).to_pylist()
        ]
        return np.array([float(cell) if _parses_as_float(cell) else np.nan for cell in cells])

    channels, time_column = _choose_columns(name, names, kinds, options, not_numeric, head_values)
    notes = _time_like_notes(name, channels, options, head_values)
    time_zone = None
    column_types: dict[str, Any] = {channel: pa.float64() for channel in channels}
    if time_column is not None:
        time_type = table.schema.field(time_column).type
        if time_column in zones:
            time_type = pa.timestamp("ns", tz=zones[time_column])
        if kinds[time_column] == _NUMBER:
            column_types[time_column] = pa.float64()
        else:
            # Nanoseconds take any fraction that later rows may bring; the zone, if the
            # first rows had one, must be kept or pyarrow rejects the offsets.
            column_types[time_column] = pa.timestamp("ns", tz=getattr(time_type, "tz", None))
            if getattr(time_type, "tz", None) is not None:
                time_zone = _zone_of_first_time(sample, first_data_line, delimiter, names.index(time_column))

    bytes_per_row = len(sample) / max(table.num_rows, 1)
    arrow_block_bytes = int(bytes_per_row * options.block_rows)
    arrow_block_bytes = min(max(arrow_block_bytes, MIN_ARROW_BLOCK_BYTES), MAX_ARROW_BLOCK_BYTES)
    arrow_block_bytes = max(arrow_block_bytes, 4 * longest_line)
    return dataclasses.replace(
        layout_of(tuple(channels), time_column, column_types, arrow_block_bytes), notes=notes, time_zone=time_zone
    )


def _mostly_timestamps(values: Any) -> tuple[bool, str | None]:
    """For a text column that may hold a few bad cells: whether most of its first cells are
    timestamps, and their zone (None for naive ones)."""
    import pyarrow as pa

    cells = [cell for cell in values.to_pylist()[:_TIMESTAMP_SAMPLE] if cell is not None and cell.strip()]
    zones = []
    for cell in cells:
        for arrow_type in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
            try:
                pa.array([cell]).cast(arrow_type)
            except pa.ArrowException:
                continue
            zones.append(arrow_type.tz)
            break
    return bool(cells) and len(zones) * 2 > len(cells), (zones[0] if zones else None)


def _zone_of_first_time(sample: bytes, first_data_line: int, delimiter: str, index: int) -> Any:
    """The zone of a text column of timestamps with offsets: that of its first time.

    pyarrow reads every offset into UTC; the output shows the times in the input's own
    offset again (one per input: a file whose offset changes, at a daylight-saving switch,
    is shown in its first one; the instants are right either way).
    """
    import datetime as dt

    text = io.StringIO(_decode_text(sample), newline="")
    for _ in range(first_data_line - 1):
        text.readline()
    first = None
    for row in csv.reader(text, delimiter=delimiter):
        if len(row) > index and row[index].strip() and row[index] not in _null_values():
            first = row[index].strip()
            break
    if first is None:
        return dt.UTC  # no time at all in the sample; pyarrow gave UTC
    try:
        moment = dt.datetime.fromisoformat(first)
    except ValueError:
        return dt.UTC  # a form Python does not read; pyarrow gave UTC
    offset = moment.utcoffset()
    if offset is None or not offset:
        return dt.UTC
    return dt.timezone(offset)


def zone_to_arrow(zone: Any) -> str | None:
    """The Arrow name of a ``datetime.tzinfo`` (the inverse of :func:`zone_from_arrow`)."""
    import datetime as dt

    if zone is None:
        return None
    key = getattr(zone, "key", None) or getattr(zone, "zone", None)  # zoneinfo, pytz
    if key:
        return key
    offset = zone.utcoffset(None)
    if offset is None:
        return str(zone)
    if not offset:
        return "UTC"
    minutes = int(offset / dt.timedelta(minutes=1))
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _find_bad_row(
    binary: IO[bytes] | gzip.GzipFile,
    layout: _CsvLayout,
    checks: Mapping[int, tuple[str, Any]],
    *,
    first_line: int,
) -> str | None:
    """Scan CSV bytes for the first row pyarrow would reject; describe it, or return None.

    ``first_line`` is the file line ``binary`` starts at. The description names the line
    and, for a bad cell, the column: ``line 5, column 'x': 'abc' is not a number``.
    """
    import pyarrow.types as patypes

    encoding = "utf-8-sig" if first_line == 1 else "utf-8"
    text = io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=layout.delimiter)
    expected_fields = len(layout.names)
    number_checks = []
    time_checks = []
    for index, (column, arrow_type) in checks.items():
        if patypes.is_timestamp(arrow_type):
            time_checks.append((index, column, arrow_type))
        else:
            number_checks.append((index, column))
    pending_times: list[tuple[int, str, str, Any]] = []
    # pyarrow skips the header as raw lines, quotes or not: do the same.
    while first_line < layout.first_data_line and text.readline():
        first_line += 1
    lines_before = 0
    try:
        for row in reader:
            line = first_line + lines_before
            lines_before = reader.line_num
            if not row:
                continue
            if len(row) != expected_fields:
                problem = f"line {line}: expected {expected_fields} fields, got {len(row)}"
                return _first_bad_time(pending_times) or problem
            for index, column in number_checks:
                cell = row[index]
                if not _is_number_cell(cell):
                    problem = f"line {line}, column '{column}': {cell!r} is not a number"
                    return _first_bad_time(pending_times) or problem
            for index, column, arrow_type in time_checks:
                if row[index] not in _null_values():
                    pending_times.append((line, column, row[index], arrow_type))
            if len(pending_times) >= _TIMESTAMP_CHECK_BATCH:
                bad_time = _first_bad_time(pending_times)
                if bad_time:
                    return bad_time
                pending_times.clear()
    except (csv.Error, OSError, EOFError, zlib.error) as exc:
        problem = f"line {first_line + lines_before}: cannot parse ({_one_line(exc)})"
        return _first_bad_time(pending_times) or problem
    return _first_bad_time(pending_times)


def _arrow_owned(data: bytes) -> Any:
    """``data`` copied into memory that pyarrow owns.

    pyarrow's streaming reader works ahead in its own threads, and one of them may drop
    the last reference to an input buffer after the reader is closed. A buffer over a
    Python object needs the GIL to be released; if that happens while the interpreter
    shuts down, the thread is killed inside C++ and the process aborts ("terminate called
    without an active exception"). Memory pyarrow owns is released without Python.
    """
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    sink.write(data)
    return sink.getvalue()
