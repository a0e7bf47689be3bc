"""Text tables streamed block by block by pyarrow, with the layout fixed in advance: whole
files, byte ranges of whole lines (``--dask`` splits), and live standard input.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, IO

from motifscan.errors import MotifscanError
from motifscan.io.columns import (
    GZIP_MAGIC,
    _ReadOptions,
    _batch_piece,
    _format_of,
    _is_number_cell,
    _null_values,
    _os_reason,
    _read_errors,
    _time_from_arrow,
)
from motifscan.io.csv_layout import (
    UTF8_BOM,
    _BAD_LINES_HINT,
    _CsvLayout,
    _LINES_CHECKED_ONE_BY_ONE,
    _arrow_owned,
    _find_bad_row,
    _plan_csv,
    _with_final_newline,
)
from motifscan.io.streams import (
    MIN_STDIN_ERROR_WINDOW_BYTES,
    _FollowedFile,
    _LiveStop,
    _ByteReader,
    _ReplayStream,
    _always_ready,
    _read_available,
    _read_head,
    _readiness_probe,
)
from motifscan.signal import BadLines, SignalBlock, SignalSource, _one_line, _reblock


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
            reader = _CsvBlockReader(read_layout, open_input, locate, options.block_rows, full_blocks=True)
        else:
            reader = _TolerantCsvBlockReader(read_layout, open_input, locate, options.block_rows, bad_lines, first_line)
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
        reader: _LiveCsvBlockReader | _TolerantCsvBlockReader
        if options.bad_lines == "error":
            reader = _LiveCsvBlockReader(layout, lambda: replay, locate, options.block_rows, full_blocks=False)
        else:
            # Reads whatever has arrived as soon as it has, as the live reader does.
            reader = _TolerantCsvBlockReader(
                layout, lambda: replay, locate, options.block_rows, bad_lines, lambda: 1, full_blocks=False
            )
        yield from reader.blocks()

    signal_source = SignalSource(name, layout.channels, layout.time_column, blocks)
    signal_source.bad_lines = bad_lines
    signal_source.notes = layout.notes
    signal_source.time_zone = layout.time_zone
    return signal_source


class _CsvBlockReader:
    """Stream a text table with pyarrow, turning batches into blocks and errors into messages."""

    def __init__(
        self,
        layout: _CsvLayout,
        open_input: Callable[[], Any],
        locate: Callable[[int], tuple[str | None, str]],
        block_rows: int,
        full_blocks: bool,
    ):
        self.layout = layout
        self.open_input = open_input
        self.locate = locate
        self.block_rows = block_rows
        self.full_blocks = full_blocks
        self.rows_read = 0

    def blocks(self) -> Iterator[SignalBlock]:
        yield from _reblock(self._pieces(), self.block_rows, self.full_blocks)

    def _pieces(self) -> Iterator[SignalBlock]:
        import pyarrow.csv as pacsv

        errors = _read_errors()
        stream = None
        try:
            try:
                stream = self.open_input()
                reader = pacsv.open_csv(stream, *self.layout.arrow_options())
            except errors as exc:
                raise self._error(exc) from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except errors as exc:
                    raise self._error(exc) from None
                self.rows_read += batch.num_rows
                yield _batch_piece(batch, self.layout.channels, self.layout.time_column)
        finally:
            if stream is not None:
                stream.close()

    def _error(self, exc: BaseException) -> MotifscanError:
        import pyarrow as pa

        if isinstance(exc, MotifscanError):
            return exc
        name = self.layout.name
        detail = _one_line(exc)
        if self.layout.compressed and isinstance(exc, (OSError, EOFError, zlib.error)):
            return MotifscanError(f"{name}: not a valid gzip file ({detail})")
        if not isinstance(exc, pa.ArrowInvalid):
            return MotifscanError(f"{name}: cannot read ({detail})")
        if "straddling" in detail:
            near = self.layout.first_data_line + self.rows_read
            return MotifscanError(
                f"{name}: a row at or after line {near} is longer than "
                f"{self.layout.arrow_block_bytes} bytes (or a quote is never closed)"
            )
        problem, where = self.locate(self.rows_read)
        if problem:
            return MotifscanError(f"{name}: {problem}{_BAD_LINES_HINT}")
        column = ""
        prefix, _, rest = detail.partition(": ")
        index_text = prefix.removeprefix("In CSV column #")
        if prefix.startswith("In CSV column #") and index_text.isdigit() and rest:
            index = int(index_text)
            if index < len(self.layout.names):
                column = f", column '{self.layout.names[index]}'"
            detail = rest
        return MotifscanError(f"{name}: {where}{column}: {detail}{_BAD_LINES_HINT}")


class _TolerantCsvBlockReader(_CsvBlockReader):
    """Stream a text table under ``bad_lines`` skip or nan: every bad line is handled alone.

    The input is read in pieces of whole lines. A piece pyarrow reads as it is (the usual
    case) goes through at pyarrow's speed; a piece it rejects is checked line by line with
    the checks that name bad rows (:func:`_find_bad_row`'s), its bad lines dropped or
    blanked, and the rest read by pyarrow with the same options. Each line is judged on its
    own, so the rows do not depend on where pieces, blocks or byte ranges are cut.
    """

    def __init__(
        self,
        layout: _CsvLayout,
        open_input: Callable[[], Any],
        locate: Callable[[int], tuple[str | None, str]],
        block_rows: int,
        bad_lines: BadLines,
        first_line: Callable[[], int],
        full_blocks: bool = True,
    ):
        super().__init__(layout, open_input, locate, block_rows, full_blocks)
        self.bad_lines = bad_lines
        self.first_line = first_line  # the file line the input starts at (counted when needed)

    def _pieces(self) -> Iterator[SignalBlock]:
        if self.full_blocks:
            yield from self._tolerant_pieces()
            return
        # A live stream (stdin, --follow): Ctrl-C ends it as it ends _LiveCsvBlockReader's.
        with _LiveStop.installed():
            yield from self._tolerant_pieces()

    def _tolerant_pieces(self) -> Iterator[SignalBlock]:
        errors = _read_errors()
        layout = self.layout
        skip = layout.skip_rows
        lines_before = 0  # lines of the input before the current piece
        pending = b""
        stream = self.open_input()
        try:
            first = True
            while True:
                try:
                    if self.full_blocks:
                        chunk = stream.read(layout.arrow_block_bytes)
                    else:
                        chunk = _LiveStop.read(stream, layout.arrow_block_bytes)
                except errors as exc:
                    raise self._error(exc) from None
                if chunk is None:  # Ctrl-C: the whole lines read so far are the input
                    chunk = pending = b""
                if first and chunk.startswith(UTF8_BOM):
                    chunk = chunk[len(UTF8_BOM) :]
                first = False
                if chunk:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    if not cut:
                        continue
                    data, pending = pending[:cut], pending[cut:]
                else:
                    data, pending = (_with_final_newline(pending) if pending else b""), b""
                while skip and data:  # header lines, skipped as raw lines like pyarrow does
                    newline = data.find(b"\n") + 1
                    data, skip, lines_before = data[newline:], skip - 1, lines_before + 1
                if data:
                    tables = self._tables(data, lines_before)
                    lines_before += data.count(b"\n")
                    for batch in (batch for table in tables for batch in table.to_batches()):
                        self.rows_read += batch.num_rows
                        yield _batch_piece(batch, layout.channels, layout.time_column)
                if not chunk:
                    return
        finally:
            stream.close()

    def _read(self, data: bytes) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        read_options, parse_options, convert_options = self.layout.arrow_options()
        read_options.skip_rows = 0
        read_options.block_size = max(len(data), 1 << 16)
        read_options.use_threads = False
        return pacsv.read_csv(
            pa.BufferReader(_arrow_owned(data)),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )

    def _tables(self, data: bytes, lines_before: int) -> list[Any]:
        """The rows of whole lines ``data`` as pyarrow tables, in order.

        A piece pyarrow rejects is halved (at a line end) until the pieces are small; only
        those are checked line by line, so a few bad lines in a large file cost a few
        extra pyarrow reads each, not a Python pass over everything.
        """
        import pyarrow as pa

        try:
            return [self._read(data)]
        except pa.ArrowInvalid:
            pass
        lines = data.count(b"\n")
        if lines > _LINES_CHECKED_ONE_BY_ONE:
            middle = data.rfind(b"\n", 0, len(data) // 2) + 1 or data.find(b"\n") + 1
            if 0 < middle < len(data):
                head = data[:middle]
                return self._tables(head, lines_before) + self._tables(data[middle:], lines_before + head.count(b"\n"))
        cleaned = self._without_bad_lines(data, lines_before)
        if not cleaned:
            return []  # every line was bad and skipped
        try:
            return [self._read(cleaned)]
        except _read_errors() as exc:
            raise self._error(exc) from None

    def _without_bad_lines(self, data: bytes, lines_before: int) -> bytes:
        """``data`` with its bad lines dropped (skip) or made rows of empty cells (nan)."""
        layout = self.layout
        raw_lines = data.split(b"\n")[:-1]
        checks = layout.checks()
        number_checks = [(index, column) for index, (column, kind) in checks.items() if _is_float_type(kind)]
        time_checks = [(index, column, kind) for index, (column, kind) in checks.items() if not _is_float_type(kind)]
        expected = len(layout.names)
        empty_row = layout.delimiter.encode() * (expected - 1) + b"\n"
        kept: list[bytes | None] = []
        problems: dict[int, str] = {}  # index in kept -> what is wrong with that line
        line_of: dict[int, int] = {}
        times: list[tuple[int, str, str, Any]] = []  # (index in kept, column, cell, type)
        reader = csv.reader((line.decode("utf-8", "replace") + "\n" for line in raw_lines), delimiter=layout.delimiter)
        consumed = 0
        problem: str | None  # what is wrong with the current line, None when nothing
        while True:
            start = consumed
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                row, problem = None, f"cannot parse ({_one_line(exc)})"
            consumed = reader.line_num
            raw = b"\n".join(raw_lines[start:consumed]) + b"\n"
            if row == []:
                if expected == 1:
                    kept.append(raw)  # an empty cell: a missing value
                continue
            line = start + lines_before
            if row is None:
                pass
            elif len(row) != expected:
                problem = f"expected {expected} fields, got {len(row)}"
            else:
                problem = next(
                    (
                        f"column '{column}': {row[index]!r} is not a number"
                        for index, column in number_checks
                        if not _is_number_cell(row[index])
                    ),
                    None,
                )
                if problem is None:
                    times += [
                        (len(kept), column, row[index], kind)
                        for index, column, kind in time_checks
                        if row[index] not in _null_values()
                    ]
            if problem is not None:
                problems[len(kept)] = problem
            line_of[len(kept)] = line
            kept.append(raw)
        for index, column, cell in _bad_time_cells(times):
            problems.setdefault(index, f"column '{column}': {cell!r} is not a timestamp")
        if not problems:
            return data
        first_line = self.first_line()
        for index in sorted(problems):
            problem = problems[index]
            separator = ", " if problem.startswith("column") else ": "
            self.bad_lines.add(f"line {first_line + line_of[index]}{separator}{problem}")
            kept[index] = empty_row if self.bad_lines.policy == "nan" else None
        return b"".join(line for line in kept if line is not None)


def _is_float_type(arrow_type: Any) -> bool:
    import pyarrow as pa

    return arrow_type == pa.float64()


def _bad_time_cells(cells: list[tuple[int, str, str, Any]]) -> list[tuple[int, str, str]]:
    """The timestamp cells pyarrow's own parser rejects, as (key, column, cell)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bad = []
    for arrow_type in {arrow_type for *_, arrow_type in cells}:
        of_type = [cell for cell in cells if cell[3] == arrow_type]
        try:
            pc.cast(pa.array([cell for _, _, cell, _ in of_type], pa.string()), arrow_type)
            continue
        except pa.ArrowException:
            pass
        for key, column, cell, _ in of_type:
            try:
                pc.cast(pa.array([cell], pa.string()), arrow_type)
            except pa.ArrowException:
                bad.append((key, column, cell))
    return sorted(bad)


class _LiveCsvBlockReader(_CsvBlockReader):
    """Parse the whole lines of a stream as soon as they arrive.

    pyarrow's streaming reader holds each block back until it has read the next one (to
    finish a row cut at the block's end); on a live pipe the next one may come in an hour.
    Here every read (whatever is available, see :func:`_read_available`) is cut after its
    last newline and those lines are parsed at once, with the layout's fixed types.
    """

    def _pieces(self) -> Iterator[SignalBlock]:
        # Installed while the stream is read, and while its blocks are scanned in between.
        with _LiveStop.installed():
            yield from self._live_pieces()

    def _live_pieces(self) -> Iterator[SignalBlock]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        errors = _read_errors()
        layout = self.layout
        _, parse_options, convert_options = layout.arrow_options()
        skip = layout.skip_rows  # header lines still to skip
        pending = b""
        stream = self.open_input()
        try:
            while True:
                try:
                    chunk = _LiveStop.read(stream, layout.arrow_block_bytes)
                except errors as exc:
                    raise self._error(exc) from None
                if chunk is None:
                    # Ctrl-C: the whole lines read so far are the input; a line still
                    # being written is not one.
                    chunk = pending = b""
                if chunk:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    if not cut:
                        continue
                    data, pending = pending[:cut], pending[cut:]
                else:
                    data, pending = (_with_final_newline(pending) if pending.strip() else b""), b""
                lines = data.count(b"\n")
                if lines > skip:
                    read_options = pacsv.ReadOptions(
                        column_names=list(layout.names),
                        skip_rows=skip,
                        block_size=max(len(data), 1 << 16),
                        use_threads=False,
                    )
                    try:
                        table = pacsv.read_csv(
                            pa.BufferReader(_arrow_owned(data)),
                            read_options=read_options,
                            parse_options=parse_options,
                            convert_options=convert_options,
                        )
                    except errors as exc:
                        raise self._error(exc) from None
                    for batch in table.to_batches():
                        self.rows_read += batch.num_rows
                        yield _batch_piece(batch, layout.channels, layout.time_column)
                skip = max(0, skip - lines)
                if not chunk:
                    return
        finally:
            stream.close()


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
