"""``--kernel-from``: a kernel cut from an example in a recording.

``[NAME=]FILE[:COLUMN]@START:END`` takes rows ``START .. END-1`` (0-based, END excluded) of
COLUMN of FILE, or, when FILE has a time column, the rows whose time ``t`` satisfies
``START <= t < END``: numbers for a numeric time column, ISO 8601 text for a timestamp
column (where plain whole numbers still mean rows: nobody means the year 300).
"""

from __future__ import annotations

import os

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.io.kernels import Kernel, check_kernel


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
            return parse(text[:index]), parse(text[index + 1:])
        except ValueError:
            continue
    raise MotifscanError(f"--kernel-from: cannot read {text!r} as START:END in {spec!r}")


def _rows(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _whole_numbers(limits: str) -> bool:
    low, _, high = limits.partition(":")
    return low.strip().isdigit() and high.strip().isdigit()


def _time_parser(sample):
    if np.issubdtype(np.asarray(sample).dtype, np.datetime64):
        return lambda text: np.datetime64(text.strip())
    return lambda text: float(text)


def kernel_from_recording(spec: str, joint: bool = False, channels=()) -> Kernel:
    """The kernel a ``--kernel-from`` spec cuts out of a recording.

    Parameters
    ----------
    spec : str
        ``[NAME=]FILE[:COLUMN]@START:END``.
    joint : bool
        Without COLUMN, take every channel of FILE (or those of ``channels`` it has) as one
        joint kernel.
    channels : sequence of str
        The signal channels asked for with ``--column``.

    Returns
    -------
    Kernel
        Named NAME, else ``COLUMN@START:END`` (``FILE@START:END`` for a joint kernel).
    """
    from motifscan.io.signals import read_signal

    name, path, column, limits = _split_spec(spec)
    if column is not None:
        source = read_signal(path, columns=[column])
    else:
        source = read_signal(path)
        if joint and channels and all(c in source.channels for c in channels):
            source = read_signal(path, columns=list(channels))
    picked = list(source.channels)
    if not joint and len(picked) > 1:
        raise MotifscanError(f"--kernel-from: {path} has several channels ({', '.join(picked)}); "
                             f"name one as {path}:COLUMN@{limits}")
    blocks = []
    rows = 0
    by_time = source.time_column is not None
    stop = None
    if not by_time:
        start, stop = _parse_limits(limits, _rows, spec)
    for block in source:
        if by_time and not blocks:
            if np.issubdtype(block.time.dtype, np.datetime64) and _whole_numbers(limits):
                by_time = False
                start, stop = _parse_limits(limits, _rows, spec)
            else:
                start, stop = _parse_limits(limits, _time_parser(block.time), spec)
        blocks.append(block)
        rows += block.rows
        if not by_time and rows >= stop:  # enough rows read
            break
    if stop is not None and not start < stop:
        raise MotifscanError(f"--kernel-from: the range {limits} is empty (START must be before END)")
    values = {c: np.concatenate([b.channels[c] for b in blocks]) if blocks else np.empty(0) for c in picked}
    if by_time:
        time = np.concatenate([b.time for b in blocks])
        inside = np.flatnonzero((time >= start) & (time < stop))
        if inside.size == 0:
            raise MotifscanError(f"--kernel-from: no row of {path} has {source.time_column} in "
                                 f"[{limits.replace(':', ', ', 1) if limits.count(':') == 1 else limits})")
        selection = slice(int(inside[0]), int(inside[-1]) + 1)
    else:
        if stop > rows:
            raise MotifscanError(f"--kernel-from: rows {limits} run past the end of {path} ({rows} rows)")
        selection = slice(start, stop)
    where = f"--kernel-from {spec}"
    cut = tuple(tuple(float(v) for v in check_kernel(values[c][selection], where, allow_zeros=joint)) for c in picked)
    if name is None:
        name = f"{picked[0] if not joint else os.path.basename(path)}@{limits}"
    return Kernel(name, cut, tuple(picked) if joint else ())
