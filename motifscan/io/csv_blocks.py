"""Text tables streamed block by block by pyarrow, with the layout fixed in advance: whole
files, byte ranges of whole lines (``--dask`` splits), and live standard input.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, IO

from motifscan.errors import MotifscanError
from motifscan.io.columns import (
    GZIP_MAGIC,
    _ReadOptions,
    _batch_piece,
    _format_of,
    _os_reason,
    _read_errors,
    _time_from_arrow,
)
from motifscan.io.csv_layout import (
    UTF8_BOM,
    _arrow_owned,
    _find_bad_row,
    _plan_csv,
    _with_final_newline,
)
from motifscan.io.streams import (
    MIN_STDIN_ERROR_WINDOW_BYTES,
    _FollowedFile,
    _ByteReader,
    _ReplayStream,
    _always_ready,
    _read_available,
    _read_head,
    _readiness_probe,
)
from motifscan.signal import BadLines, SignalBlock, SignalSource, _one_line
from motifscan.io.csv_readers import CsvBlockReader, LiveCsvBlockReader, TolerantCsvBlockReader


def byte_resumable(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an uncompressed CSV/TSV/TXT regular file, readable by byte range."""
    path = os.fspath(path)
    file_format, compressed = _format_of(path)
    if file_format == "parquet" or compressed or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as raw:
            return raw.read(2) != GZIP_MAGIC
    except OSError:
        return False


def complete_lines_end(path: str, size: int) -> int:
    """The byte offset just after the last newline in the first ``size`` bytes of ``path``.

    A log that is being written may end in half a line; only whole lines are read.
    """
    with open(path, "rb") as raw:
        end = size
        while end > 0:
            start = max(0, end - (1 << 16))
            raw.seek(start)
            chunk = raw.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


def _range_stream(path: str, start: int, stop: int) -> Any:
    import pyarrow as pa

    # A memory map hands pyarrow the range without copying it; pages are read as parsed.
    # By the name's bytes: pyarrow encodes a str path as UTF-8, which a name that is not
    # UTF-8 (held with surrogate escapes) cannot be.
    with pa.memory_map(os.fsencode(path)) as mapped:
        return pa.BufferReader(mapped.read_at(stop - start, start))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open_csv_file(
    path: str,
    name: str,
    delimiter: str | None,
    compressed_by_name: bool,
    options: _ReadOptions,
    byte_range: tuple[int, int] | None = None,
) -> SignalSource:
    import pyarrow as pa

    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
    except OSError as exc:
        raise MotifscanError(f"{name}: cannot open ({_os_reason(exc)})") from None
    compressed = magic == GZIP_MAGIC
    if compressed_by_name and not compressed:
        raise MotifscanError(f"{name}: not a valid gzip file (no gzip header)")

    def open_file() -> Any:
        where = path
        if not _utf8(path):
            # pyarrow encodes a str path as UTF-8, which a name that is not UTF-8 (held by
            # Python with surrogate escapes) is not: give it the bytes of the name.
            where = pa.OSFile(os.fsencode(path))
        return pa.input_stream(where, compression="gzip" if compressed else None)

    try:
        with open_file() as stream:
            head, at_eof = _read_head(stream.read, _always_ready, name)
    except MotifscanError:
        raise
    except _read_errors() as exc:
        if compressed:
            raise MotifscanError(f"{name}: not a valid gzip file ({_one_line(exc)})") from None
        raise MotifscanError(f"{name}: cannot read ({_one_line(exc)})") from None
    if byte_range is not None and len(head) >= byte_range[1] and byte_range[1] > 0:
        # Decide types from whole lines only: the file may end in half a line being written.
        head, at_eof = head[: byte_range[1]], True
    if not head:
        raise MotifscanError(f"{name}: file is empty")
    layout = _plan_csv(name, head, at_eof, delimiter, options, compressed)
    # A small input is in memory already: read it from there.
    whole = _with_final_newline(head) if at_eof and byte_range is None else None
    read_layout = layout
    if byte_range is not None and byte_range[0] > 0:
        # Past the header: every line of the range is a row.
        read_layout = dataclasses.replace(layout, skip_rows=0)

    def open_input() -> Any:
        if byte_range is not None:
            return _range_stream(path, *byte_range)
        return open_file() if whole is None else pa.BufferReader(_arrow_owned(whole))

    def locate(rows_read: int) -> tuple[str | None, str]:
        where = f"line {layout.first_data_line + rows_read} or later"
        binary: IO[bytes] | gzip.GzipFile
        try:
            if whole is not None:
                binary = io.BytesIO(whole)
            else:
                binary = gzip.open(path, "rb") if compressed else open(path, "rb")
            with binary:
                return _find_bad_row(binary, layout, layout.checks(), first_line=1), where
        except (OSError, EOFError, zlib.error):
            return None, where

    bad_lines = BadLines(options.bad_lines)

    def first_line() -> int:
        if byte_range is None or byte_range[0] == 0:
            return 1
        with open(path, "rb") as raw:  # only when a bad line is found
            return 1 + sum(chunk.count(b"\n") for chunk in _chunks(raw, byte_range[0]))

    def blocks() -> Iterator[SignalBlock]:
        if options.bad_lines == "error":
            reader = CsvBlockReader(read_layout, open_input, locate, options.block_rows, full_blocks=True)
        else:
            reader = TolerantCsvBlockReader(read_layout, open_input, locate, options.block_rows, bad_lines, first_line)
        yield from reader.blocks()

    rows_hint = None if whole is None else whole.count(b"\n")
    if byte_range is not None:
        # A row takes at least two bytes (a value and a newline): a bound known up front, so
        # a run over a few new lines (--state) takes the quick-starting NumPy backend.
        rows_hint = (byte_range[1] - byte_range[0]) // 2
    estimate = None if byte_range is not None else rows_hint
    if estimate is None and not compressed:
        head_rows = max(head.count(b"\n") - layout.skip_rows, 1)
        span = (byte_range[1] - byte_range[0]) if byte_range is not None else os.path.getsize(path)
        estimate = int(span * head_rows / len(head))
    source = SignalSource(name, layout.channels, layout.time_column, blocks, rows_hint, read_ahead=True)
    source.rows_estimate = estimate
    source.bad_lines = bad_lines
    source.notes = layout.notes
    source.time_zone = layout.time_zone
    return source


def _chunks(raw: IO[bytes], size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``raw``, a MiB at a time."""
    while size > 0:
        chunk = raw.read(min(size, 1 << 20))
        if not chunk:
            return
        size -= len(chunk)
        yield chunk


def _open_csv_stream(name: str, raw: _ByteReader, delimiter: str | None, options: _ReadOptions) -> SignalSource:
    more_ready = _readiness_probe(raw)
    try:
        magic = _read_available(raw, 2, more_ready)
        if len(magic) == 1:
            magic += raw.read(1)
    except _read_errors() as exc:
        raise MotifscanError(f"{name}: cannot read ({_one_line(exc)})") from None
    compressed = magic == GZIP_MAGIC
    source: _ByteReader = _ReplayStream(magic, raw, more_ready)
    if compressed:
        source = gzip.GzipFile(fileobj=source, mode="rb")
    try:
        head, at_eof = _read_head(lambda size: _read_available(source, size, more_ready), more_ready, name)
    except MotifscanError:
        raise
    except _read_errors() as exc:
        if compressed:
            raise MotifscanError(f"{name}: not a valid gzip file ({_one_line(exc)})") from None
        raise MotifscanError(f"{name}: cannot read ({_one_line(exc)})") from None
    if not head.strip():
        raise MotifscanError(f"{name}: input is empty")
    layout = _plan_csv(name, head, at_eof, delimiter, options, compressed)
    if isinstance(raw, _FollowedFile):
        raw.set_header_lines(layout.skip_rows)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    if at_eof:
        head = _with_final_newline(head)
    replay = _ReplayStream(
        head,
        source,
        more_ready,
        keep_bytes=max(MIN_STDIN_ERROR_WINDOW_BYTES, 4 * layout.arrow_block_bytes),
    )

    def locate(rows_read: int) -> tuple[str | None, str]:
        data, first_line = replay.recent()
        problem = _find_bad_row(io.BytesIO(data), layout, layout.checks(), first_line=first_line)
        # Stdin cannot be re-read: if the bad row has left the kept bytes, name the
        # lines between the last good row and the end of what pyarrow has read.
        start = max(layout.first_data_line + rows_read, first_line)
        last_line = first_line + data.count(b"\n") - 1
        where = f"lines {start}-{last_line}" if last_line > start else f"line {start} or later"
        return problem, where

    bad_lines = BadLines(options.bad_lines)

    def blocks() -> Iterator[SignalBlock]:
        reader: LiveCsvBlockReader | TolerantCsvBlockReader
        if options.bad_lines == "error":
            reader = LiveCsvBlockReader(layout, lambda: replay, locate, options.block_rows, full_blocks=False)
        else:
            # Reads whatever has arrived as soon as it has, as the live reader does.
            reader = TolerantCsvBlockReader(
                layout, lambda: replay, locate, options.block_rows, bad_lines, lambda: 1, full_blocks=False
            )
        yield from reader.blocks()

    signal_source = SignalSource(name, layout.channels, layout.time_column, blocks)
    signal_source.bad_lines = bad_lines
    signal_source.notes = layout.notes
    signal_source.time_zone = layout.time_zone
    return signal_source


def _parquet_piece(batch: Any, channels: Sequence[str], time_column: str | None, name: str) -> SignalBlock:
    """:func:`_batch_piece` of a Parquet batch, whose typed integer columns may hold values
    that float64 cannot hold exactly (beyond 2**53, up to the uint64 maximum): refused,
    naming the column, rather than rounded without a word."""
    try:
        return _batch_piece(batch, channels, time_column)
    except _read_errors() as exc:
        problem = exc
    for column in (*channels, *([] if time_column is None else [time_column])):
        try:
            _time_from_arrow(batch.column(column))  # a time column, or float64 for a channel
        except _read_errors() as exc:
            raise MotifscanError(
                f"{name}: column '{column}': {_one_line(exc)}; it cannot be read as float64 without rounding"
            ) from None
    raise MotifscanError(f"{name}: {_one_line(problem)}")
