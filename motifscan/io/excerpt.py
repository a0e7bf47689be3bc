"""``--kernel-from``: a kernel cut from an example in a recording.

``[NAME=]FILE[:COLUMN]@START:END`` takes rows ``START .. END-1`` (0-based, END excluded) of
COLUMN of FILE, whatever columns FILE has. ``[NAME=]FILE[:COLUMN]@time=START:END`` takes the
rows whose time ``t`` satisfies ``START <= t < END``: numbers for a numeric time column,
ISO 8601 text for a timestamp column. The range says which it is, so renaming a column
never turns rows into seconds.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.kernel import Kernel, check_kernel
from motifscan.signal import SignalBlock


def _split_spec(spec: str) -> tuple[str | None, str, str | None, str]:
    """``(name, file, column, range text)`` of a ``--kernel-from`` spec."""
    rest, at, limits = spec.rpartition("@")
    if not at or not rest or not limits:
        raise MotifscanError(f"--kernel-from: expected [NAME=]FILE[:COLUMN]@START:END, got {spec!r}")
    name = None
    if "=" in rest and not os.path.exists(rest):
        name, rest = rest.split("=", 1)
        if not name.strip():
            raise MotifscanError(f"--kernel-from: the name before '=' is empty in {spec!r}")
    path, column = rest, None
    if not os.path.exists(rest) and ":" in rest:
        path, column = rest.rsplit(":", 1)
    return name, path, column, limits


def _parse_limits(text: str, parse, spec: str):
    """Split ``START:END`` at the one colon where both sides parse (timestamps hold colons)."""
    for index, char in enumerate(text):
        if char != ":":
            continue
        try:
            return parse(text[:index]), parse(text[index + 1 :])
        except ValueError:
            continue
    raise MotifscanError(f"--kernel-from: cannot read {text!r} as START:END in {spec!r}")


def _rows(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _time_parser(sample, zone):
    """A parser of range limits for a time column like ``sample``, read in the file's ``zone``."""
    if not np.issubdtype(np.asarray(sample).dtype, np.datetime64):
        return lambda text: float(text)
    return lambda text: _parse_timestamp(text, zone)


def _parse_timestamp(text: str, zone) -> np.datetime64:
    """ISO 8601 ``text`` as the naive UTC ``datetime64[ns]`` the signal's times are stored as.

    A time without an offset is in ``zone``, the zone of the file's times (None: naive).
    """
    import datetime as dt

    text = text.strip()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        if any(mark in text[10:] for mark in "Z+-") or not text:
            raise
        return np.datetime64(text, "ns")  # finer than microseconds, without an offset
    if moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(moment, "ns")


def _split_kind(limits: str, spec: str) -> tuple[str, str]:
    """``("rows" | "time", START:END text)`` of a range: rows unless it starts with ``time=``."""
    kind, equals, rest = limits.partition("=")
    if not equals:
        return "rows", limits
    if kind.strip() not in ("rows", "time"):
        raise MotifscanError(
            f"--kernel-from: a range is START:END (rows) or time=START:END, got {limits!r} in {spec!r}"
        )
    return kind.strip(), rest


def _format_limit(value, zone) -> str:
    """A time of the file as the output writes it: in the file's zone."""
    from motifscan.io.times import format_time, zoned_time

    return str(format_time(zoned_time(value, zone)))


def kernel_from_recording(spec: str, joint: bool = False, channels=(), time_column: str | None = None) -> Kernel:
    """The kernel a ``--kernel-from`` spec cuts out of a recording.

    Parameters
    ----------
    spec : str
        ``[NAME=]FILE[:COLUMN]@START:END`` (rows ``START .. END-1``, 0-based) or
        ``[NAME=]FILE[:COLUMN]@time=START:END`` (the rows whose time ``t`` has
        ``START <= t < END``: numbers for a numeric time column, ISO 8601 for timestamps,
        read in the file's zone when they have no offset).
    joint : bool
        Without COLUMN, take every channel of FILE (or those of ``channels`` it has) as one
        joint kernel.
    channels : sequence of str
        The signal channels asked for with ``--column``.
    time_column : str, optional
        The ``--time-column`` of the run: FILE's time column when FILE has that column.

    Returns
    -------
    Kernel
        Named NAME, else ``COLUMN@START:END`` (``FILE@START:END`` for a joint kernel); its
        ``origin`` says what was cut, e.g. ``180 samples, rows 60-240 of ecg.csv:ecg_mv``.
    """
    from motifscan.io.signals import read_signal

    name, path, column, limits = _split_spec(spec)
    kind, bounds = _split_kind(limits, spec)
    if time_column is not None:
        try:
            probe = read_signal(path)
        except MotifscanError:
            probe = None
        if probe is not None and time_column not in probe.channels and time_column != probe.time_column:
            time_column = None  # the signal's time column; this file has none of that name
    if column is not None:
        source = read_signal(path, columns=[column], time_column=time_column)
    else:
        source = read_signal(path, time_column=time_column)
        if joint and channels and all(c in source.channels for c in channels):
            source = read_signal(path, columns=list(channels), time_column=time_column)
    picked = list(source.channels)
    if not joint and len(picked) > 1:
        raise MotifscanError(
            f"--kernel-from: {path} has several channels ({', '.join(picked)}); name one as {path}:COLUMN@{limits}"
        )
    by_time = kind == "time"
    if by_time and source.time_column is None:
        raise MotifscanError(
            f"--kernel-from: {path} has no time column for the range {limits} "
            f"(--time-column names one; a plain START:END counts rows)"
        )
    zone = source.time_zone
    blocks: list[SignalBlock] = []
    rows = 0
    start: Any = None  # row numbers, or times in the time column's type
    stop: Any = None
    if not by_time:
        try:
            start, stop = _parse_limits(bounds, _rows, spec)
        except MotifscanError:
            raise MotifscanError(
                f"--kernel-from: {bounds!r} are not rows START:END (whole numbers) in {spec!r}; "
                f"a time range is written FILE:COLUMN@time=START:END"
            ) from None
    for block in source:
        if by_time and not blocks:
            start, stop = _parse_limits(bounds, _time_parser(block.time, source.time_zone), spec)
        blocks.append(block)
        rows += block.rows
        if not by_time and rows >= stop:  # enough rows read
            break
    if stop is not None and not start < stop:
        raise MotifscanError(f"--kernel-from: the range {limits} is empty (START must be before END)")
    values = {c: np.concatenate([b.channels[c] for b in blocks]) if blocks else np.empty(0) for c in picked}
    if by_time:
        time = np.concatenate([b.time for b in blocks]) if blocks else np.empty(0)
        inside = np.flatnonzero((time >= start) & (time < stop))
        if inside.size == 0:
            raise MotifscanError(
                f"--kernel-from: no row of {path} has {source.time_column} in "
                f"[{_format_limit(start, zone)}, {_format_limit(stop, zone)})"
            )
        selection = slice(int(inside[0]), int(inside[-1]) + 1)
    else:
        if stop > rows:
            raise MotifscanError(f"--kernel-from: rows {bounds} run past the end of {path} ({rows} rows)")
        selection = slice(start, stop)
    where = f"--kernel-from {spec}"
    cut = tuple(tuple(float(v) for v in check_kernel(values[c][selection], where, allow_zeros=joint)) for c in picked)
    if name is None:
        name = f"{picked[0] if not joint else os.path.basename(path)}@{limits}"
    taken = selection.stop - selection.start
    origin = f"{taken} samples, rows {selection.start}-{selection.stop}"
    if by_time:
        origin += (
            f" ({source.time_column} {_format_limit(time[selection.start], zone)} to "
            f"{_format_limit(time[selection.stop - 1], zone)})"
        )
    origin += f" of {path}:{'+'.join(picked)}"
    return Kernel(name, cut, tuple(picked) if joint else (), origin=origin)
