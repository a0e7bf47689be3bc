"""Read signals block by block from CSV, TSV, TXT (optionally gzip-compressed), Parquet or stdin.

:func:`read_signal` checks everything it can before any data flows (the file, its format,
header, column names and types) and returns a :class:`SignalSource`: the channel names, the
time column, and an iterator of :class:`SignalBlock` objects of at most ``block_rows`` rows.
Memory stays bounded by the block size whatever the length of the input.
:func:`signal_from_arrays` wraps in-memory arrays in the same type, so files and arrays go
through one pipeline.

Column types are decided from the first MiB of a text file and the whole file is then
streamed by pyarrow with those types fixed (numeric channels as float64, so an integer
column that later holds ``1.5`` still reads). Every problem with the input surfaces as a
one-line :class:`~motifscan.errors.MotifscanError` naming the file and, where it applies,
the line and column.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence


from motifscan.choices import BAD_LINES, check_choice
from motifscan.errors import MotifscanError
from motifscan.io.columns import _ReadOptions, _format_of, _os_reason
from motifscan.io.csv_blocks import _open_csv_file, _open_csv_stream, byte_resumable
from motifscan.io.csv_layout import DELIMITER_ALIASES
from motifscan.io.parquet import _open_parquet, _open_parquet_dataset, is_parquet_dataset
from motifscan.io.streams import STDIN_NAME, _FollowedFile, _stdin_binary
from motifscan.signal import DEFAULT_BLOCK_ROWS, SignalSource, _checked_block_rows

__all__ = [
    "SIGNAL_EXTENSIONS",
    "read_signal",
]

#: File name endings read as signals when a directory is given (each also with ``.gz``,
#: except Parquet, which is compressed inside).
SIGNAL_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq")


# --------------------------------------------------------------------------------------
# Entry points


def read_signal(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    time_column: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    byte_range: tuple[int, int] | None = None,
    follow: bool = False,
    row_groups: tuple[int, int] | None = None,
    on_notice: Callable[[str], None] | None = None,
    bad_lines: str = "error",
) -> SignalSource:
    """Open a signal file (or ``"-"`` for stdin) for streaming.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.tsv`` or ``.txt`` file, each optionally followed by ``.gz``; a
        ``.parquet`` or ``.pq`` file; any other name is read as CSV. ``"-"`` reads CSV
        (plain or gzip-compressed) from standard input.
    columns : sequence of str, optional
        Channels to read, in this order. By default every numeric column except the time
        column is a channel, in file order; text columns (labels) are ignored.
    time_column : str, optional
        Column to carry as time. By default the first timestamp or date column, else the
        first column named ``time``, ``timestamp``, ``datetime``, ``date``, ``t`` or
        starting with ``time_`` / ``time `` (case-insensitive), else none.
    delimiter : str, optional
        One-character field separator (``"\\t"`` and ``"tab"`` mean tab). By default
        ``,`` for CSV, tab for TSV, sniffed from the first line for TXT and stdin.
        Ignored for Parquet.
    header : bool, optional
        Whether the first line holds column names. By default it does unless every
        field of it is a number; headerless columns are named ``column1``, ``column2``...
    block_rows : int, optional
        Maximum number of rows per yielded block.
    byte_range : (int, int), optional
        Read only the rows in bytes ``start .. stop`` of an uncompressed text file (see
        :func:`byte_resumable`); both must be 0 or just after a newline. Header and types
        still come from the start of the file; bytes beyond ``stop`` are never looked at.
    row_groups : (int, int), optional
        Read only row groups ``start .. stop - 1`` of a Parquet file.
    follow : bool, optional
        Read an uncompressed text file like ``tail -f``: at its end, wait for more lines
        instead of ending (blocks are yielded as lines arrive; the iteration never ends).
        The name is followed like ``tail -F``: a rotated file is read to its end and the new
        one from its start, a truncated file from its new start.
    on_notice : callable(str), optional
        With ``follow``, called with one line when the followed file was rotated or
        truncated (for stderr).
    bad_lines : {"error", "skip", "nan"}, optional
        What to do with a text line that cannot be read (a field too many or too few, a
        cell that is not a number or, in the time column, not a timestamp): raise an error
        naming its line and column; drop it (later rows move up one position); or read it
        as a row of missing values (NaN, and NaT in a timestamp column). What was done is
        counted in :attr:`SignalSource.bad_lines`. In a table of one column an empty line
        is a missing value (a row), whatever the policy.

    Returns
    -------
    SignalSource
        Yields :class:`SignalBlock` objects whose channels are float64 arrays of shape
        ``(rows,)``. From files every block but the last has exactly ``block_rows`` rows;
        from stdin and pipes blocks are yielded as data arrives.

    Raises
    ------
    MotifscanError
        For anything wrong with the options or what the input's first MiB shows: a
        missing, empty or unreadable file, an unknown column, no numeric column, a bad
        cell, a row with the wrong number of fields.
    """
    path_text = os.fspath(path)
    name = STDIN_NAME if path_text == "-" else path_text
    block_rows = _checked_block_rows(block_rows)
    delimiter = _checked_delimiter(delimiter)
    selected = _checked_columns(columns, name)
    if time_column is not None and not isinstance(time_column, str):
        raise MotifscanError(f"time column must be a column name (got {time_column!r})")
    if header is not None and not isinstance(header, bool):
        raise MotifscanError(f"header must be True, False or None (got {header!r})")
    check_choice("bad_lines", bad_lines, BAD_LINES)
    options = _ReadOptions(selected, time_column, header, block_rows, bad_lines)

    if path_text == "-":
        # Stdin has no extension to tell: its delimiter is sniffed as a TXT file's.
        return _open_csv_stream(name, _stdin_binary(), delimiter, options)
    if is_parquet_dataset(path_text):
        return _open_parquet_dataset(path_text, name, options)

    file_format, compressed = _format_of(path_text)
    if delimiter is None:  # the extension's (TXT: one value per line; unused for Parquet)
        delimiter = {"tsv": "\t", "txt": None}.get(file_format, ",")
    mode = _stat_input(path_text, name)
    if follow:
        if not byte_resumable(path_text):
            raise MotifscanError(f"{name}: --follow reads uncompressed CSV, TSV or TXT files")
        return _open_csv_stream(name, _FollowedFile(path_text, name, on_notice=on_notice), delimiter, options)
    if byte_range is not None:
        if not byte_resumable(path_text):
            raise MotifscanError(f"{name}: byte ranges can only be read from uncompressed text files")
        return _open_csv_file(path_text, name, delimiter, False, options, byte_range)
    if file_format == "parquet":
        if compressed:
            raise MotifscanError(f"{name}: Parquet is compressed inside; give the .parquet file itself, not .gz")
        if not stat.S_ISREG(mode):
            raise MotifscanError(f"{name}: Parquet must be a regular file, not a pipe")
        return _open_parquet(path_text, name, options, row_groups)
    if row_groups is not None:
        raise MotifscanError(f"{name}: row groups can only be read from Parquet files")

    if not stat.S_ISREG(mode):
        # A named pipe or process substitution cannot be re-read: stream it like stdin.
        try:
            stream = open(path_text, "rb")
        except OSError as exc:
            raise MotifscanError(f"{name}: cannot open ({_os_reason(exc)})") from None
        return _open_csv_stream(name, stream, delimiter, options)
    return _open_csv_file(path_text, name, delimiter, compressed, options)


# --------------------------------------------------------------------------------------
# Option checks


def _checked_delimiter(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    if isinstance(delimiter, str):
        resolved = DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
        if len(resolved) == 1 and resolved not in '\r\n"':
            return resolved
    raise MotifscanError(f"--delimiter must be one character other than a quote or newline (got {delimiter!r})")


def _checked_columns(columns: Sequence[str] | None, name: str) -> tuple[str, ...] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    chosen = tuple(columns)
    if not chosen:
        # An empty selection is what an unused repeatable CLI option gives: no selection.
        return None
    seen: set[str] = set()
    for column in chosen:
        if not isinstance(column, str):
            raise MotifscanError(f"{name}: column names must be strings (got {column!r})")
        if column in seen:
            raise MotifscanError(f"{name}: column '{column}' is selected twice")
        seen.add(column)
    return chosen


def _stat_input(path: str, name: str) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MotifscanError(f"{name}: no such file") from None
    except OSError as exc:
        raise MotifscanError(f"{name}: cannot open ({_os_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise MotifscanError(f"{name}: is a directory")
    if stat.S_ISREG(info.st_mode):
        if info.st_size == 0:
            raise MotifscanError(f"{name}: file is empty")
        if not os.access(path, os.R_OK):
            raise MotifscanError(f"{name}: permission denied")
    return info.st_mode
