"""Signals as the pipeline sees them: blocks of rows of named float64 channels and an optional
time column (:class:`SignalBlock`), and a :class:`SignalSource` that yields them.

The lowest types of the package: readers (``motifscan.io``), the pipeline, the Python API
and the compute modules all speak them, and this module imports none of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motifscan.errors import MotifscanError


DEFAULT_BLOCK_ROWS = 1 << 20
ARRAY_NAME = "<array>"


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
        return f"SignalSource(name={self.name!r}, channels={self.channels!r}, time_column={self.time_column!r})"


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
            raise MotifscanError(f"{name}: channel names must be non-empty strings (got {channel!r})")
        array = _float64_vector(values, f"{name}: channel '{channel}'")
        if length is None:
            length, first_channel = len(array), channel
        elif len(array) != length:
            raise MotifscanError(
                f"{name}: channel '{channel}' has {len(array)} samples but '{first_channel}' has {length}"
            )
        arrays[channel] = array
    time_values, time_zone = (None, None) if time is None else _zoned_time_vector(time, f"{name}: time")
    if time_values is not None and len(time_values) != length:
        raise MotifscanError(f"{name}: time has {len(time_values)} values but the channels have {length}")
    whole = SignalBlock(arrays, time_values)
    step = block_rows or max(whole.rows, 1)

    def blocks() -> Iterator[SignalBlock]:
        return _reblock([whole], step, full_blocks=True)

    source = SignalSource(name, list(arrays), None if time is None else "time", blocks, length)
    source.time_zone = time_zone
    return source


def _checked_block_rows(block_rows: Any) -> int:
    is_integer = isinstance(block_rows, (int, np.integer)) and not isinstance(block_rows, bool)
    if not is_integer or block_rows < 1:
        raise MotifscanError(f"block_rows must be a positive integer (got {block_rows!r})")
    return int(block_rows)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _datetime_ns_or_us(values: np.ndarray) -> np.ndarray:
    unit = np.datetime_data(values.dtype)[0]
    if unit in ("ns", "us"):
        return values
    # Finer than ns cannot be kept in int64 over useful ranges; coarser fits us exactly.
    finer = unit in ("ps", "fs", "as")
    return values.astype("datetime64[ns]" if finer else "datetime64[us]")


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
    return _same_input(
        source,
        SignalSource(source.name, source.channels, source.time_column, blocks, hint, read_ahead=source.read_ahead),
    )


def prepend_rows(source: SignalSource, first: SignalBlock) -> SignalSource:
    """``source`` with the rows of ``first`` (same channels) before its own."""

    def blocks() -> Iterator[SignalBlock]:
        if first.rows:
            yield first
        yield from source

    return _same_input(
        source,
        SignalSource(source.name, source.channels, source.time_column, blocks, None, read_ahead=source.read_ahead),
    )


def same_input(source: SignalSource, wrapper: SignalSource) -> SignalSource:
    """``wrapper`` (a source whose blocks come from ``source``) given ``source``'s counts and notes."""
    wrapper.bad_lines = source.bad_lines
    wrapper.notes = source.notes
    wrapper.time_zone = source.time_zone
    return wrapper


_same_input = same_input


def _reblock(pieces: Iterable[SignalBlock], block_rows: int, full_blocks: bool) -> Iterator[SignalBlock]:
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
        channels = {name: np.concatenate([part.channels[name] for part in parts]) for name in parts[0].channels}
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
