"""The block readers of text tables: whole blocks parsed by pyarrow (:class:`CsvBlockReader`),
bad lines read around one at a time under ``--bad-lines skip|nan``
(:class:`TolerantCsvBlockReader`), and a live stream's lines as they come
(:class:`LiveCsvBlockReader`). What they read is opened in :mod:`motifscan.io.csv_blocks`.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from motifscan.errors import MotifscanError
from motifscan.io.columns import _batch_piece, _is_number_cell, _null_values, _read_errors
from motifscan.io.csv_layout import (
    UTF8_BOM,
    _BAD_LINES_HINT,
    _CsvLayout,
    _LINES_CHECKED_ONE_BY_ONE,
    _arrow_owned,
    _with_final_newline,
)
from motifscan.io.streams import _LiveStop
from motifscan.signal import BadLines, SignalBlock, _one_line, _reblock


class CsvBlockReader:
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


class TolerantCsvBlockReader(CsvBlockReader):
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
        # A live stream (stdin, --follow): Ctrl-C ends it as it ends LiveCsvBlockReader's.
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


class LiveCsvBlockReader(CsvBlockReader):
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
