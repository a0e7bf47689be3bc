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

import csv
import dataclasses
import functools
import gzip
import io
import os
import select
import stat
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from motifscan.choices import BAD_LINES, check_choice
from motifscan.errors import MotifscanError

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "SIGNAL_EXTENSIONS",
    "STDIN_NAME",
    "BadLines",
    "SignalBlock",
    "SignalSource",
    "byte_resumable",
    "complete_lines_end",
    "drop_rows",
    "is_parquet_dataset",
    "parquet_dataset_files",
    "parquet_row_groups",
    "prepend_rows",
    "read_signal",
    "same_input",
    "signal_from_arrays",
]

DEFAULT_BLOCK_ROWS = 1 << 20
STDIN_NAME = "<stdin>"
#: File name endings read as signals when a directory is given (each also with ``.gz``,
#: except Parquet, which is compressed inside).
SIGNAL_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq")
# Files that writers of Parquet datasets (Spark, Dask, pyarrow) leave beside the parts.
DATASET_MARKERS = frozenset({"_SUCCESS", "_metadata", "_common_metadata"})
ARRAY_NAME = "<array>"

# How much of a text input decides the header, a .txt delimiter and the column types.
INFERENCE_BYTES = 1 << 20
# Rows of a Parquet file that tell a numeric time column from a channel.
PARQUET_HEAD_ROWS = 1 << 16
# A first line longer than this is not a table.
MAX_FIRST_LINE_BYTES = 64 << 20
# Bounds on pyarrow's read block: large enough for long lines and few batches, small
# enough that pyarrow's read-ahead keeps memory modest. Its streaming reader parses ahead
# of a slower consumer: measured on a 100-million-row CSV, its memory pool peaked at about
# 37 blocks (600 MB with 16 MiB blocks, 75 MB with 2 MiB ones, at the same speed).
MIN_ARROW_BLOCK_BYTES = 1 << 20
MAX_ARROW_BLOCK_BYTES = 2 << 20
# How long to wait for more piped input before deciding types from what has arrived, so
# that `tail -f log.csv | motifscan detect -` starts without waiting for a full MiB.
LIVE_INPUT_WAIT_S = 0.05
# Recent stdin bytes kept to name the line of a bad cell, since stdin cannot be re-read.
MIN_STDIN_ERROR_WINDOW_BYTES = 8 << 20

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: Names (lower-cased) of a numeric time column: one of these names, or one starting with
#: one of the prefixes (``time_s``, ``t_ms``, ``elapsed_min``); such a column is the time
#: column only when its values rise strictly (missing values aside) in the first rows.
TIME_COLUMN_NAMES = frozenset({"time", "timestamp", "datetime", "date", "t", "year", "years",
                               "epoch", "seconds", "elapsed"})
TIME_COLUMN_PREFIXES = ("time_", "time ", "t_", "timestamp_", "elapsed_", "epoch_", "seconds_")
# Steps of a time-like channel that differ by less than this (relative) are one step: a
# column of 0.1-second times written as text rounds each value to its last digit.
CONSTANT_STEP_RTOL = 1e-6
DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t"}
TXT_DELIMITER_CANDIDATES = ("\t", ",", ";")

# What the first MiB says a column holds.
_NUMBER = "number"
_TIMESTAMP = "timestamp"
_BAD_NUMBER = "number with a bad cell"
_TEXT = "text"
_OTHER = "other"

# Cells per pyarrow call when re-checking timestamps on the error path.
_TIMESTAMP_CHECK_BATCH = 4096
# Under --bad-lines skip/nan, a piece of at most this many lines that pyarrow rejects is
# checked line by line in Python; a larger one is halved first (see _TolerantCsvBlockReader).
_LINES_CHECKED_ONE_BY_ONE = 512
# Cells of a text column looked at to tell timestamps with a few bad cells from labels.
_TIMESTAMP_SAMPLE = 200

_BAD_LINES_HINT = " (--bad-lines skip or nan reads past it)"


# --------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class SignalBlock:
    """Consecutive rows of a signal.

    Attributes
    ----------
    channels : dict[str, numpy.ndarray]
        Channel name -> float64 array of shape ``(rows,)``; every channel has the same
        length. Missing cells are NaN. The arrays are read-only; copy before modifying.
    time : numpy.ndarray or None
        The time column for the same rows, shape ``(rows,)``: float64 for a numeric time
        column (NaN where missing), ``datetime64[ns]`` or ``datetime64[us]`` for timestamps
        (NaT where missing), or None when the signal has no time column.
    """

    channels: dict[str, np.ndarray]
    time: np.ndarray | None = None

    @property
    def rows(self) -> int:
        """Number of rows (samples) in the block."""
        for values in self.channels.values():
            return len(values)
        return 0 if self.time is None else len(self.time)


@dataclass
class BadLines:
    """What the ``bad_lines`` policy did to an input's unreadable lines, counted as it reads.

    Attributes
    ----------
    policy : str
        ``"error"``, ``"skip"`` (the lines were dropped) or ``"nan"`` (each was read as a
        row of missing values).
    count : int
        Lines dropped or read as missing so far.
    first : str or None
        What was wrong with the first of them, e.g.
        ``"line 5, column 'x': 'ERR' is not a number"``.
    """

    policy: str = "error"
    count: int = 0
    first: str | None = None

    def add(self, problem: str) -> None:
        """Count one more bad line; ``problem`` describes it."""
        self.count += 1
        if self.first is None:
            self.first = problem

    def merge(self, other: BadLines) -> None:
        """Add the counts of a later part of the same input (a byte range)."""
        self.count += other.count
        if self.first is None:
            self.first = other.first

    def report(self) -> dict:
        """The JSON summary entry."""
        return {"policy": self.policy, "count": self.count, "first": self.first}


class SignalSource:
    """A signal whose blocks can be iterated once.

    Attributes
    ----------
    name : str
        The path as given, ``"<stdin>"`` for standard input, or the name given to
        :func:`signal_from_arrays`. Error messages start with it.
    channels : list[str]
        Channel names, in file order, or in the order of ``columns`` when given.
    time_column : str or None
        Name of the time column carried into the blocks, or None.
    rows_hint : int or None
        An upper bound on the number of rows when it is known before reading (small
        inputs, arrays), else None. It lets a run pick its backend once, up front.
    read_ahead : bool
        True when the blocks come from a file that ends (a regular CSV or Parquet file, not
        a pipe, stdin or a followed file): the pipeline then parses the next block in a
        thread while it scans the previous one, since reading it can never wait for input.
    rows_estimate : int or None
        About how many rows the input holds, for a progress bar: exact for Parquet,
        estimated from the first MiB for an uncompressed text file, else None.
    bad_lines : BadLines
        The lines the ``bad_lines`` policy dropped or read as missing, counted as the
        blocks are read (complete once the iteration has ended).
    notes : tuple of str
        One-line remarks about the input found while opening it (a channel that looks like
        a time column), for the caller to show.
    time_zone : datetime.tzinfo or None
        The zone of the input's timestamps: the offset of the first time of a text input
        whose times carry offsets (``datetime.UTC`` for ``Z``), the zone of a
        tz-aware Parquet column or pandas index; None for naive times and numeric time.
        The blocks hold the instants as naive UTC ``datetime64``; this says how to show them.

    Iterating yields :class:`SignalBlock` objects of at most ``block_rows`` rows, in
    order; an input without data rows yields nothing. Problems found while streaming (a
    bad cell deep in the file, a corrupt gzip tail) raise
    :class:`~motifscan.errors.MotifscanError` from the iterator.
    """

    def __init__(
        self,
        name: str,
        channels: Sequence[str],
        time_column: str | None,
        open_blocks: Callable[[], Iterator[SignalBlock]],
        rows_hint: int | None = None,
        read_ahead: bool = False,
    ):
        self.rows_hint = rows_hint
        self.read_ahead = read_ahead
        self.name = name
        self.channels = list(channels)
        self.time_column = time_column
        self._open_blocks = open_blocks
        self._iterated = False

    rows_estimate: int | None = None

    @property
    def bad_lines(self) -> BadLines:
        if self._bad_lines is None:
            self._bad_lines = BadLines()
        return self._bad_lines

    @bad_lines.setter
    def bad_lines(self, value: BadLines) -> None:
        self._bad_lines = value

    _bad_lines: BadLines | None = None
    notes: tuple[str, ...] = ()
    time_zone: Any = None

    def __iter__(self) -> Iterator[SignalBlock]:
        if self._iterated:
            # Stdin and pipes cannot be rewound; failing loudly here keeps code that
            # iterates twice from passing on files and breaking on pipes.
            raise RuntimeError(f"{self.name}: a SignalSource can be iterated only once")
        self._iterated = True
        return self._open_blocks()

    def __repr__(self) -> str:
        return (
            f"SignalSource(name={self.name!r}, channels={self.channels!r}, "
            f"time_column={self.time_column!r})"
        )


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
            raise MotifscanError(
                f"{name}: Parquet is compressed inside; give the .parquet file itself, not .gz"
            )
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


def signal_from_arrays(
    channels: Mapping[str, Any],
    time: Any = None,
    name: str = ARRAY_NAME,
    block_rows: int | None = None,
) -> SignalSource:
    """Wrap in-memory arrays as a :class:`SignalSource`.

    Parameters
    ----------
    channels : mapping of str to array_like
        Channel name -> 1-D numeric array; all of the same length ``n``. Converted to
        float64 (no copy when already float64).
    time : array_like, optional
        Shape ``(n,)``: numbers (converted to float64) or ``datetime64`` values
        (converted to ``datetime64[us]`` unless already ``[ns]`` or ``[us]``), or a pandas
        ``DatetimeIndex`` or Series, tz-aware too: its zone becomes
        :attr:`SignalSource.time_zone` and the times are kept as UTC.
    name : str, optional
        Name used in error messages and as :attr:`SignalSource.name`.
    block_rows : int, optional
        Maximum rows per block; by default all rows come in one block.

    Returns
    -------
    SignalSource
        Yields read-only views of the arrays, ``block_rows`` rows at a time; nothing when
        ``n == 0``. Its ``time_column`` is ``"time"`` when ``time`` is given.

    Raises
    ------
    MotifscanError
        When there is no channel, a channel or the time is not numeric or not 1-D, or the
        lengths differ.
    """
    if block_rows is not None:
        block_rows = _checked_block_rows(block_rows)
    if not isinstance(channels, Mapping) or not channels:
        raise MotifscanError(f"{name}: no channel given")
    arrays: dict[str, np.ndarray] = {}
    length: int | None = None
    first_channel = ""
    for channel, values in channels.items():
        if not isinstance(channel, str) or not channel:
            raise MotifscanError(
                f"{name}: channel names must be non-empty strings (got {channel!r})"
            )
        array = _float64_vector(values, f"{name}: channel '{channel}'")
        if length is None:
            length, first_channel = len(array), channel
        elif len(array) != length:
            raise MotifscanError(
                f"{name}: channel '{channel}' has {len(array)} samples "
                f"but '{first_channel}' has {length}"
            )
        arrays[channel] = array
    time_values, time_zone = (None, None) if time is None else _zoned_time_vector(time, f"{name}: time")
    if time_values is not None and len(time_values) != length:
        raise MotifscanError(
            f"{name}: time has {len(time_values)} values but the channels have {length}"
        )
    whole = SignalBlock(arrays, time_values)
    step = block_rows or max(whole.rows, 1)

    def blocks() -> Iterator[SignalBlock]:
        return _reblock([whole], step, full_blocks=True)

    source = SignalSource(name, list(arrays), None if time is None else "time", blocks, length)
    source.time_zone = time_zone
    return source


# --------------------------------------------------------------------------------------
# Option checks


@dataclass(frozen=True)
class _ReadOptions:
    columns: tuple[str, ...] | None
    time_column: str | None
    header: bool | None
    block_rows: int
    bad_lines: str = "error"


def _checked_block_rows(block_rows: Any) -> int:
    is_integer = isinstance(block_rows, (int, np.integer)) and not isinstance(block_rows, bool)
    if not is_integer or block_rows < 1:
        raise MotifscanError(f"block_rows must be a positive integer (got {block_rows!r})")
    return int(block_rows)


def _checked_delimiter(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    if isinstance(delimiter, str):
        resolved = DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
        if len(resolved) == 1 and resolved not in '\r\n"':
            return resolved
    raise MotifscanError(
        f"--delimiter must be one character other than a quote or newline (got {delimiter!r})"
    )


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


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this input cannot be read", to be reported in one line."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, EOFError, zlib.error, UnicodeError, csv.Error)


# --------------------------------------------------------------------------------------
# Cells


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


# --------------------------------------------------------------------------------------
# Reading byte streams that cannot be re-read


def _stdin_binary() -> IO[bytes]:
    stdin = sys.stdin
    if stdin is None:
        raise MotifscanError(f"{STDIN_NAME}: no standard input")
    binary = getattr(stdin, "buffer", None)
    if binary is not None:
        return binary
    # A text-only stand-in for stdin (some embedding tools) has no byte layer.
    return io.BytesIO(stdin.read().encode("utf-8"))


def _readiness_probe(stream: IO[bytes]) -> Callable[[float], bool]:
    """Return ``more_ready(timeout)``: whether more input can be read without blocking."""
    if isinstance(stream, _FollowedFile):
        return stream.more_ready
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        # In-memory streams never block: always read on.
        return lambda timeout=0.0: True

    def more_ready(timeout: float = 0.0) -> bool:
        try:
            return bool(select.select([descriptor], [], [], timeout)[0])
        except (OSError, ValueError):
            # select() does not support this descriptor (e.g. a Windows pipe): block.
            return True

    return more_ready


def _read_available(stream: IO[bytes], size: int, more_ready: Callable[[float], bool]) -> bytes:
    """Read up to ``size`` bytes: block for the first, then take only what is already there.

    A live pipe thus hands pyarrow what has arrived instead of waiting for a full block,
    while a fast pipe still gives large reads.
    """
    read_some = getattr(stream, "read1", None) or stream.read
    chunk = read_some(size)
    if not chunk or len(chunk) >= size:
        return chunk
    parts = [chunk]
    received = len(chunk)
    while received < size and more_ready(0.0):
        more = read_some(size - received)
        if not more:
            break
        parts.append(more)
        received += len(more)
    return b"".join(parts)


#: How often a followed file is checked for new lines.
FOLLOW_POLL_S = 0.1


class _CtrlCStop(KeyboardInterrupt):
    """Ctrl-C during a live stream's blocking read: the stream ends there, as if its input
    had ended (a KeyboardInterrupt anywhere else, so it still stops a run if it escapes)."""


class _LiveStop:
    """Ctrl-C on a live stream (stdin, a pipe, ``--follow``): stop reading, decide what was
    read, and let the caller exit with 130.

    A live run is ended by Ctrl-C, so Ctrl-C must not lose what the run has read: the
    motif still waiting for more samples is decided and written. While the live reader
    runs in the main thread, SIGINT sets :attr:`requested`; if the reader is blocked in a
    read, the read is broken off (:class:`_CtrlCStop`), else the reader stops before its
    next read. The stream then ends like a closed pipe. A second Ctrl-C interrupts at once.
    """

    requested = False  # Ctrl-C ended a live stream
    reading = False  # the live reader is in a blocking read

    @classmethod
    def on_sigint(cls, signum, frame) -> None:
        if cls.requested:
            raise KeyboardInterrupt
        cls.requested = True
        if cls.reading:
            raise _CtrlCStop

    @classmethod
    def installed(cls):
        """A context in which SIGINT ends the live stream (main thread only; elsewhere,
        and for a handler someone else installed, Ctrl-C keeps its usual meaning)."""
        import contextlib
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return contextlib.nullcontext()
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def installed():
            signal.signal(signal.SIGINT, cls.on_sigint)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, previous)

        return installed()

    @classmethod
    def read(cls, stream: IO[bytes], size: int) -> bytes | None:
        """``stream.read(size)``, or None once Ctrl-C ended the stream."""
        if cls.requested:
            return None
        try:
            cls.reading = True
            return stream.read(size)
        except _CtrlCStop:
            return None
        finally:
            cls.reading = False


def stream_interrupted() -> bool:
    """Whether Ctrl-C ended a live stream of this process (stdin, a pipe or ``--follow``):
    what was read before it has been decided, and the command should exit with 130."""
    return _LiveStop.requested


class _FollowedFile(io.RawIOBase):
    """A file followed by name like ``tail -F``: at its end, wait for it to grow instead of
    ending; when the name comes to stand for another file (``mv log log.1 && touch log``),
    read the old one to its end and go on with the new one from its start; when the file
    is truncated, also when it is truncated and grown again past where it was read before
    the next look (found by the bytes just before the read position no longer being those
    read there), go on from its new start.

    Either way the signal goes on (positions keep counting), a new start that repeats the
    header lines of the first file has them dropped, and ``on_notice`` gets one line
    saying what happened.
    """

    #: How many bytes just before the read position are kept and checked at each read.
    CHECK_BYTES = 64

    def __init__(self, path: str, name: str, poll_s: float = FOLLOW_POLL_S,
                 on_notice: Callable[[str], None] | None = None):
        super().__init__()
        self._path = path
        self._name = name
        self._poll_s = poll_s
        self._notice = on_notice or (lambda message: None)
        self._file = self._open()
        self._position = 0  # bytes of the current file read
        self._before = b""  # the last CHECK_BYTES bytes read from the current file
        self._header = b""  # lines at the start of the first file that a new start repeats
        self._new_start = False  # at the start of a new or truncated file
        self._pending = b""  # a newline that ends the old file's unfinished last line
        self.rotations = 0
        self.truncations = 0

    def _open(self):
        try:
            return open(self._path, "rb", buffering=0)
        except OSError as exc:
            raise MotifscanError(f"{self._name}: cannot open ({_os_reason(exc)})") from None

    def set_header_lines(self, lines: int) -> None:
        """Drop these first lines (the header) where a new or truncated file repeats them."""
        if lines <= 0:
            return
        head = os.pread(self._file.fileno(), INFERENCE_BYTES, 0)
        cut = 0
        for _ in range(lines):
            cut = head.find(b"\n", cut) + 1
            if not cut:
                return
        self._header = head[:cut]

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = size if size is not None and size > 0 else 1 << 16
        while True:
            if self._pending:
                data, self._pending = self._pending[:size], self._pending[size:]
                return data
            if self._available() > 0:
                data = self._read_checked(size)
                if data:
                    return data
                continue  # the file was rewritten under the read: read its new start
            time.sleep(self._poll_s)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def more_ready(self, timeout: float = 0.0) -> bool:
        """Whether bytes not read yet are there, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._pending or self._available() > 0:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._poll_s, left))

    def _available(self) -> int:
        """Bytes the current file holds past the read position, after going over to a
        truncated file's new start or to the file now at the name."""
        size = os.fstat(self._file.fileno()).st_size
        if size < self._position:
            self._restart(f"{self._name}: the file was truncated; reading it again from its start")
            size = os.fstat(self._file.fileno()).st_size
        elif size == self._position and self._replaced():
            self._switch()
            size = os.fstat(self._file.fileno()).st_size
        if self._new_start and self._header:
            self._skip_repeated_header(size)
        return size - self._position if not (self._new_start and self._header) else 0

    def _replaced(self) -> bool:
        """Whether the name now stands for another file (a missing name is not yet one)."""
        try:
            now = os.stat(self._path)
        except OSError:
            return False
        held = os.fstat(self._file.fileno())
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def _switch(self) -> None:
        self._file.close()
        self._file = self._open()
        self.rotations += 1
        self._restart(f"{self._name}: replaced by a new file (rotated); following the new one "
                      "from its start", count=False)

    def _restart(self, notice: str, count: bool = True) -> None:
        # What was read of the old content ends here, an unfinished last line included:
        # the new content must not continue it.
        if self._before and not self._before.endswith(b"\n"):
            self._pending = b"\n"
        self._file.seek(0)
        self._position = 0
        self._before = b""
        self._new_start = True
        self.truncations += count
        self._notice(notice)

    def _skip_repeated_header(self, size: int) -> None:
        """At a new start: drop the header when it is repeated; wait while it may still be."""
        head = os.pread(self._file.fileno(), len(self._header), 0)
        if head == self._header:
            self._file.seek(len(head))
            self._position = len(head)
            self._before = head[-self.CHECK_BYTES:]
        elif self._header.startswith(head) and size < len(self._header):
            return  # a header still being written, or nothing yet
        self._new_start = False

    def _read_checked(self, size: int) -> bytes:
        """Read on, unless the bytes before the read position changed: then the file was
        truncated and grown again, and the next read starts at its new start."""
        start = self._position
        data = self._file.read(size)
        if self._before and os.pread(self._file.fileno(), len(self._before),
                                     start - len(self._before)) != self._before:
            self._restart(f"{self._name}: the file was truncated and written again; reading it "
                          "from its start")
            return b""
        self._position += len(data)
        self._before = (self._before + data)[-self.CHECK_BYTES:]
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class _ReplayStream(io.RawIOBase):
    """A read-once byte stream: bytes already consumed (``head``), then the rest of ``source``.

    It also keeps the most recent ``keep_bytes`` it handed out, with the line number
    they start at, so a bad cell found by pyarrow can still be located on stdin.
    """

    def __init__(
        self,
        head: bytes,
        source: IO[bytes],
        more_ready: Callable[[float], bool],
        keep_bytes: int = 0,
    ):
        super().__init__()
        self._head = memoryview(head)
        self._source = source
        self._more_ready = more_ready
        self._keep_bytes = keep_bytes
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self.recent_first_line = 1
        self.recent_starts_at_beginning = True

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        if self._head:
            data = bytes(self._head[:size])
            self._head = self._head[size:]
        else:
            data = _read_available(self._source, size, self._more_ready)
        self._remember(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        # The source (stdin) belongs to the caller; only this view of it ends.
        super().close()

    def _remember(self, data: bytes) -> None:
        if not self._keep_bytes or not data:
            return
        self._recent.append(data)
        self._recent_bytes += len(data)
        while self._recent_bytes - len(self._recent[0]) >= self._keep_bytes:
            dropped = self._recent.popleft()
            self._recent_bytes -= len(dropped)
            self.recent_first_line += dropped.count(b"\n")
            self.recent_starts_at_beginning = False

    def recent(self) -> tuple[bytes, int]:
        """The kept bytes, cut to start at a line, and the number of that line."""
        data = b"".join(self._recent)
        first_line = self.recent_first_line
        if not self.recent_starts_at_beginning:
            cut = data.find(b"\n") + 1
            data = data[cut:] if cut else b""
            first_line += 1 if cut else 0
        return data, first_line


def _read_head(
    read: Callable[[int], bytes], more_ready: Callable[[float], bool], name: str
) -> tuple[bytes, bool]:
    """Read the first MiB or so (at least one whole line); return it and whether input ended."""
    parts: list[bytes] = []
    size = 0
    newlines = 0
    while True:
        chunk = read(INFERENCE_BYTES - size if size < INFERENCE_BYTES else INFERENCE_BYTES)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
        newlines += chunk.count(b"\n")
        if newlines and size >= INFERENCE_BYTES:
            return b"".join(parts), False
        if not newlines and size > MAX_FIRST_LINE_BYTES:
            raise MotifscanError(
                f"{name}: line 1 is longer than {MAX_FIRST_LINE_BYTES >> 20} MiB; is this a table?"
            )
        if newlines >= 2 and not more_ready(LIVE_INPUT_WAIT_S):
            return b"".join(parts), False


# --------------------------------------------------------------------------------------
# Deciding the layout of a text table from its first MiB


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
        return {
            self.names.index(column): (column, self.column_types[column])
            for column in self.read_columns
        }


def _columns_to_read(channels: Sequence[str], time_column: str | None) -> list[str]:
    """Channels then the time column, each once (a column may be both)."""
    return list(dict.fromkeys([*channels, *([time_column] if time_column else [])]))


def _parse_options(delimiter: str, fields: int = 0) -> Any:
    import pyarrow.csv as pacsv

    # Quoted fields may hold newlines, as in Python's csv module, which locates bad rows:
    # both must split rows the same way for the line numbers to be right. In a table of one
    # column an empty line is an empty cell, a missing value: skipping it would move every
    # later sample one position up.
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                              ignore_empty_lines=fields != 1)


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
    delimiter, names, skip_rows, first_data_line = _read_header(
        name, lines, delimiter, options.header
    )
    longest_line = max(len(line) for line in lines)

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
    try:
        sample.decode("utf-8")  # pyarrow decodes a row for the handler, and warns if it cannot
        parse_options.invalid_row_handler = lambda row: invalid_rows.append(row) or "skip"
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
        cells = [cell.decode("utf-8", "replace") if cell is not None else ""
                 for cell in values.cast(pa.binary()).to_pylist()]
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
    return dataclasses.replace(layout_of(tuple(channels), time_column, column_types, arrow_block_bytes),
                               notes=notes, time_zone=time_zone)


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
    try:
        moment = dt.datetime.fromisoformat(first)
    except (TypeError, ValueError):
        return dt.UTC  # a form Python does not read; pyarrow gave UTC
    offset = moment.utcoffset()
    if offset is None or not offset:
        return dt.UTC
    return dt.timezone(offset)


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


def _time_like_notes(name: str, channels: Sequence[str], options: _ReadOptions,
                     head_values: Callable[[str], np.ndarray | None]) -> tuple[str, ...]:
    """A note for each channel taken by default that rises by a constant step like a clock."""
    if options.columns is not None:
        return ()  # the channels were asked for by name
    notes = []
    for channel in channels:
        step = _constant_step(head_values(channel))
        if step is not None:
            notes.append(f"{name}: column '{channel}' rises by {step:g} every row, like a time column or "
                         f"row number; it is scanned as a channel (--time-column {channel} carries it as "
                         f"time, --column picks the channels)")
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
            raise MotifscanError(
                f"{name}: unknown time column '{time_column}' (columns: {available})"
            )
        if kinds[time_column] == _BAD_NUMBER:
            raise not_numeric(time_column)
        if kinds[time_column] not in (_NUMBER, _TIMESTAMP):
            raise MotifscanError(
                f"{name}: time column '{time_column}' holds neither numbers nor ISO 8601 timestamps"
            )
    else:
        # A column picked as a channel stays a channel; time comes from the others.
        candidates = [column for column in names if column not in (options.columns or ())]
        time_column = next((column for column in candidates if kinds[column] == _TIMESTAMP), None)
        if time_column is None:
            named = [column for column in candidates if _is_time_name(column)]
            time_column = next(
                (column for column in named
                 if kinds[column] == _NUMBER and _rises(head_values(column))), None
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


# --------------------------------------------------------------------------------------
# Finding the line of a bad cell (error path only)


def _find_bad_row(
    binary: IO[bytes],
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
                problem = _first_bad_time(pending_times)
                if problem:
                    return problem
                pending_times.clear()
    except (csv.Error, OSError, EOFError, zlib.error) as exc:
        problem = f"line {first_line + lines_before}: cannot parse ({_one_line(exc)})"
        return _first_bad_time(pending_times) or problem
    return _first_bad_time(pending_times)


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


# --------------------------------------------------------------------------------------
# Streaming text tables


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


def _range_stream(path: str, start: int, stop: int) -> Any:
    import pyarrow as pa

    # A memory map hands pyarrow the range without copying it; pages are read as parsed.
    with pa.memory_map(path) as mapped:
        return pa.BufferReader(mapped.read_at(stop - start, start))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open_csv_file(
    path: str, name: str, delimiter: str | None, compressed_by_name: bool, options: _ReadOptions,
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
            head, at_eof = _read_head(stream.read, lambda timeout=0.0: True, name)
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
            reader = _TolerantCsvBlockReader(read_layout, open_input, locate, options.block_rows,
                                             bad_lines, first_line)
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


def _open_csv_stream(
    name: str, raw: IO[bytes], delimiter: str | None, options: _ReadOptions
) -> SignalSource:
    more_ready = _readiness_probe(raw)
    try:
        magic = _read_available(raw, 2, more_ready)
        if len(magic) == 1:
            magic += raw.read(1)
    except _read_errors() as exc:
        raise MotifscanError(f"{name}: cannot read ({_one_line(exc)})") from None
    compressed = magic == GZIP_MAGIC
    source: IO[bytes] = _ReplayStream(magic, raw, more_ready)
    if compressed:
        source = gzip.GzipFile(fileobj=source, mode="rb")
    try:
        head, at_eof = _read_head(
            lambda size: _read_available(source, size, more_ready), more_ready, name
        )
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
        if options.bad_lines == "error":
            reader = _LiveCsvBlockReader(
                layout, lambda: replay, locate, options.block_rows, full_blocks=False
            )
        else:
            # Reads whatever has arrived as soon as it has, as the live reader does.
            reader = _TolerantCsvBlockReader(layout, lambda: replay, locate, options.block_rows,
                                             bad_lines, lambda: 1, full_blocks=False)
        yield from reader.blocks()

    source = SignalSource(name, layout.channels, layout.time_column, blocks)
    source.bad_lines = bad_lines
    source.notes = layout.notes
    source.time_zone = layout.time_zone
    return source


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

    def __init__(self, layout: _CsvLayout, open_input: Callable[[], Any],
                 locate: Callable[[int], tuple[str | None, str]], block_rows: int,
                 bad_lines: BadLines, first_line: Callable[[], int], full_blocks: bool = True):
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
                    chunk = chunk[len(UTF8_BOM):]
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
        return pacsv.read_csv(pa.BufferReader(_arrow_owned(data)), read_options=read_options,
                              parse_options=parse_options, convert_options=convert_options)

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
                return (self._tables(head, lines_before)
                        + self._tables(data[middle:], lines_before + head.count(b"\n")))
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
        time_checks = [(index, column, kind) for index, (column, kind) in checks.items()
                       if not _is_float_type(kind)]
        expected = len(layout.names)
        empty_row = layout.delimiter.encode() * (expected - 1) + b"\n"
        kept: list[bytes | None] = []
        problems: dict[int, str] = {}  # index in kept -> what is wrong with that line
        line_of: dict[int, int] = {}
        times: list[tuple[int, str, str, Any]] = []  # (index in kept, column, cell, type)
        reader = csv.reader((line.decode("utf-8", "replace") + "\n" for line in raw_lines),
                            delimiter=layout.delimiter)
        consumed = 0
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
                problem = next((f"column '{column}': {row[index]!r} is not a number"
                                for index, column in number_checks if not _is_number_cell(row[index])), None)
                if problem is None:
                    times += [(len(kept), column, row[index], kind) for index, column, kind in time_checks
                              if row[index] not in _null_values()]
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
                    read_options = pacsv.ReadOptions(column_names=list(layout.names), skip_rows=skip,
                                                      block_size=max(len(data), 1 << 16), use_threads=False)
                    try:
                        table = pacsv.read_csv(pa.BufferReader(_arrow_owned(data)), read_options=read_options,
                                               parse_options=parse_options, convert_options=convert_options)
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


def _batch_piece(batch: Any, channels: Sequence[str], time_column: str | None) -> SignalBlock:
    values = {channel: _float64_from_arrow(batch.column(channel)) for channel in channels}
    time = None if time_column is None else _time_from_arrow(batch.column(time_column))
    return SignalBlock(values, time)


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
            raise MotifscanError(f"{name}: column '{column}': {_one_line(exc)}; "
                                 "it cannot be read as float64 without rounding") from None
    raise MotifscanError(f"{name}: {_one_line(problem)}")


def _float64_from_arrow(array: Any) -> np.ndarray:
    import pyarrow as pa

    if array.type != pa.float64():
        array = array.cast(pa.float64())
    if len(array) == 0:
        return np.empty(0)
    # Straight from the Arrow buffers: Array.to_numpy imports pandas, which costs a few
    # tenths of a second of start-up on a small file.
    validity, data = array.buffers()[:2]
    values = np.frombuffer(data, dtype=np.float64, count=len(array) + array.offset)[array.offset:]
    if array.null_count:  # nulls (empty cells) become NaN
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little",
                             count=len(array) + array.offset)[array.offset:]
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


def _datetime_ns_or_us(values: np.ndarray) -> np.ndarray:
    unit = np.datetime_data(values.dtype)[0]
    if unit in ("ns", "us"):
        return values
    # Finer than ns cannot be kept in int64 over useful ranges; coarser fits us exactly.
    finer = unit in ("ps", "fs", "as")
    return values.astype("datetime64[ns]" if finer else "datetime64[us]")


# --------------------------------------------------------------------------------------
# Parquet


def parquet_row_groups(path: str) -> list[int]:
    """The number of rows in each row group of a Parquet file."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            metadata = parquet.metadata
            return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    except _read_errors() as exc:
        raise MotifscanError(f"{path}: not a valid Parquet file ({_one_line(exc)})") from None


def _open_parquet(path: str, name: str, options: _ReadOptions,
                  row_groups: tuple[int, int] | None = None) -> SignalSource:
    import pyarrow.parquet as pq

    errors = _read_errors()
    try:
        with pq.ParquetFile(path) as parquet:
            schema = parquet.schema_arrow
    except errors as exc:
        raise MotifscanError(f"{name}: not a valid Parquet file ({_one_line(exc)})") from None

    names = list(schema.names)
    if len(set(names)) != len(names):
        duplicate = next(column for column in names if names.count(column) > 1)
        raise MotifscanError(f"{name}: column '{duplicate}' appears twice")
    kinds = {field.name: _arrow_kind(field.type) for field in schema}
    # Parquet types are exact: a text column is never a numeric one with a bad cell.
    kinds = {column: _OTHER if kind == _TEXT else kind for column, kind in kinds.items()}

    def not_numeric(column: str) -> MotifscanError:
        column_type = schema.field(column).type
        return MotifscanError(f"{name}: column '{column}' is not numeric ({column_type})")

    @functools.cache
    def head() -> Any:
        numeric = [column for column in names if kinds[column] == _NUMBER]
        try:
            with pq.ParquetFile(path) as parquet:
                return next(parquet.iter_batches(batch_size=PARQUET_HEAD_ROWS, columns=numeric), None)
        except errors:
            return None

    def head_values(column: str) -> np.ndarray | None:
        if kinds.get(column) != _NUMBER or head() is None:
            return None
        try:
            return _float64_from_arrow(head().column(column))
        except errors:
            return None  # integers beyond 2**53: the column is refused when it is read

    channels, time_column = _choose_columns(name, names, kinds, options, not_numeric, head_values)
    notes = _time_like_notes(name, channels, options, head_values)
    read_columns = _columns_to_read(channels, time_column)

    def pieces() -> Iterator[SignalBlock]:
        try:
            parquet = pq.ParquetFile(path)
        except errors as exc:
            raise MotifscanError(f"{name}: not a valid Parquet file ({_one_line(exc)})") from None
        try:
            groups = None if row_groups is None else list(range(*row_groups))
            batches = parquet.iter_batches(batch_size=options.block_rows, columns=read_columns,
                                           row_groups=groups)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except errors as exc:
                    problem = f"not a valid Parquet file ({_one_line(exc)})"
                    raise MotifscanError(f"{name}: {problem}") from None
                yield _parquet_piece(batch, channels, time_column, name)
        finally:
            parquet.close()

    def blocks() -> Iterator[SignalBlock]:
        yield from _reblock(pieces(), options.block_rows, full_blocks=True)

    source = SignalSource(name, channels, time_column, blocks, read_ahead=True)
    source.notes = notes
    if time_column is not None:
        source.time_zone = zone_from_arrow(getattr(schema.field(time_column).type, "tz", None))
    groups = parquet_row_groups(path)
    source.rows_estimate = sum(groups if row_groups is None else groups[slice(*row_groups)])
    return source


def is_parquet_dataset(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory holding one Parquet dataset (one signal in parts).

    A directory is a dataset when its name ends in ``.parquet`` or ``.pq``, or it holds a
    ``_SUCCESS``, ``_metadata`` or ``_common_metadata`` file, or Hive-style ``key=value``
    subdirectories, or only files named ``part-*`` / ``part.*``; and it holds at least one
    Parquet part. Any other directory is a folder of separate inputs.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError:
        return False
    names = [entry.name for entry in entries if not entry.name.startswith(".")]
    partitioned = any(entry.is_dir() and "=" in entry.name for entry in entries)
    files = [name for name in names if name not in DATASET_MARKERS and os.path.isfile(os.path.join(path, name))]
    marked = (
        path.rstrip(os.sep).lower().endswith((".parquet", ".pq"))
        or bool(DATASET_MARKERS.intersection(names))
        or partitioned
        or (files and all(name.startswith(("part-", "part.")) for name in files))
    )
    return marked and bool(parquet_dataset_files(path))


def parquet_dataset_files(path: str) -> list[str]:
    """The Parquet parts of a dataset directory, in the order they are read (by path)."""
    parts = []
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith((".", "_")))
        for name in sorted(files):
            if name.startswith((".", "_")) or name.endswith(".crc"):
                continue
            parts.append(os.path.join(folder, name))
    return [part for part in parts if _format_of(part) == ("parquet", False) or "." not in os.path.basename(part)]


def _open_parquet_dataset(path: str, name: str, options: _ReadOptions) -> SignalSource:
    """A dataset directory read as one signal: its parts one after the other, by path."""
    parts = parquet_dataset_files(path)
    sources = [_open_parquet(part, f"{name}: {os.path.relpath(part, path)}", options) for part in parts]
    first = sources[0]
    for other in sources[1:]:
        if (other.channels, other.time_column) != (first.channels, first.time_column):
            raise MotifscanError(
                f"{other.name}: columns differ from {os.path.relpath(parts[0], path)} "
                f"(channels {', '.join(other.channels)} vs {', '.join(first.channels)})"
            )

    def blocks() -> Iterator[SignalBlock]:
        pieces = (block for source in sources for block in source)
        yield from _reblock(pieces, options.block_rows, full_blocks=True)

    dataset = SignalSource(name, first.channels, first.time_column, blocks, read_ahead=True)
    dataset.notes = first.notes
    dataset.time_zone = first.time_zone
    dataset.rows_estimate = sum(source.rows_estimate for source in sources)
    return dataset


def drop_rows(source: SignalSource, count: int) -> SignalSource:
    """``source`` without its first ``count`` rows."""
    def blocks() -> Iterator[SignalBlock]:
        left = count
        for block in source:
            if left >= block.rows:
                left -= block.rows
                continue
            yield _slice_rows(block, left, block.rows) if left else block
            left = 0

    hint = None if source.rows_hint is None else max(source.rows_hint - count, 0)
    return _same_input(source, SignalSource(source.name, source.channels, source.time_column, blocks, hint,
                                            read_ahead=source.read_ahead))


def prepend_rows(source: SignalSource, first: SignalBlock) -> SignalSource:
    """``source`` with the rows of ``first`` (same channels) before its own."""
    def blocks() -> Iterator[SignalBlock]:
        if first.rows:
            yield first
        yield from source

    return _same_input(source, SignalSource(source.name, source.channels, source.time_column, blocks, None,
                                            read_ahead=source.read_ahead))


def same_input(source: SignalSource, wrapper: SignalSource) -> SignalSource:
    """``wrapper`` (a source whose blocks come from ``source``) given ``source``'s counts and notes."""
    wrapper.bad_lines = source.bad_lines
    wrapper.notes = source.notes
    wrapper.time_zone = source.time_zone
    return wrapper


_same_input = same_input


# --------------------------------------------------------------------------------------
# Blocks


def _reblock(
    pieces: Iterable[SignalBlock], block_rows: int, full_blocks: bool
) -> Iterator[SignalBlock]:
    """Cut or join pieces into read-only blocks of at most ``block_rows`` rows.

    With ``full_blocks`` every block but the last has exactly ``block_rows`` rows;
    otherwise each piece is passed on at once (cut if too long) so live input flows.
    """
    pending: deque[SignalBlock] = deque()
    pending_rows = 0
    for piece in pieces:
        if not piece.rows:
            continue
        pending.append(piece)
        pending_rows += piece.rows
        while pending_rows >= block_rows:
            yield _take_rows(pending, block_rows)
            pending_rows -= block_rows
        if not full_blocks and pending_rows:
            yield _take_rows(pending, pending_rows)
            pending_rows = 0
    if pending_rows:
        yield _take_rows(pending, pending_rows)


def _take_rows(pending: deque[SignalBlock], count: int) -> SignalBlock:
    """Remove the first ``count`` rows from the pending pieces and return them as a block."""
    parts: list[SignalBlock] = []
    needed = count
    while needed:
        piece = pending[0]
        if piece.rows <= needed:
            parts.append(pending.popleft())
            needed -= piece.rows
        else:
            parts.append(_slice_rows(piece, 0, needed))
            pending[0] = _slice_rows(piece, needed, piece.rows)
            needed = 0
    if len(parts) == 1:
        channels, time = parts[0].channels, parts[0].time
    else:
        channels = {
            name: np.concatenate([part.channels[name] for part in parts])
            for name in parts[0].channels
        }
        time = None if parts[0].time is None else np.concatenate([part.time for part in parts])
    return SignalBlock(
        {name: _read_only(values) for name, values in channels.items()},
        None if time is None else _read_only(time),
    )


def _slice_rows(block: SignalBlock, start: int, stop: int) -> SignalBlock:
    return SignalBlock(
        {name: values[start:stop] for name, values in block.channels.items()},
        None if block.time is None else block.time[start:stop],
    )


def _read_only(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view


def _float64_vector(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise MotifscanError(f"{what} is not numeric ({_one_line(exc)})") from None
    if array.dtype.kind not in "biuf":
        if array.dtype.kind != "O":
            raise MotifscanError(f"{what} is not numeric (dtype {array.dtype})")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise MotifscanError(f"{what} is not numeric ({_one_line(exc)})") from None
    if array.ndim != 1:
        raise MotifscanError(f"{what} must be one-dimensional (shape {array.shape})")
    return np.ascontiguousarray(array, dtype=np.float64)


def _zoned_time_vector(values: Any, what: str) -> tuple[np.ndarray, Any]:
    """The times as naive UTC and their zone: pandas keeps a tz-aware index's zone in ``tz``."""
    zone = getattr(values, "tz", None) or getattr(getattr(values, "dt", None), "tz", None)
    if zone is None:
        return _time_vector(values, what), None
    utc = values.tz_convert("UTC") if hasattr(values, "tz_convert") else values.dt.tz_convert("UTC")
    naive = utc.tz_localize(None) if hasattr(utc, "tz_localize") else utc.dt.tz_localize(None)
    return _time_vector(np.asarray(naive), what), zone


def _time_vector(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "M":
        if array.ndim != 1:
            raise MotifscanError(f"{what} must be one-dimensional (shape {array.shape})")
        return _datetime_ns_or_us(array)
    return _float64_vector(array, what)
