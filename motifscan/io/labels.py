"""Labelled windows for ``motifscan fit``: ``--positives 120,840``, ``--negatives`` and
labels files.

A labels file is a CSV with a header naming the columns ``start``, ``label`` and optionally
``end``; ``label`` is ``positive`` or ``negative`` (any case). A position -- on the command
line or in a ``start``/``end`` cell -- is a row number when it is a whole number (``120``),
and otherwise a value of the signal's time column (``2025-03-14T08:05:00``, ``12.5``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from motifscan.errors import MotifscanError

LABELS = ("positive", "negative")


@dataclass(frozen=True)
class Label:
    """One labelled window as written: positions are still text (rows or times)."""

    start: str
    end: str | None
    positive: bool
    where: str  # for messages: "labels.csv: line 3" or "--positives"


def parse_positions(text: str, option: str, positive: bool) -> list[Label]:
    """``"120, 840,1710"`` (an option's value) as labels; empty items are an error."""
    items = [item.strip() for item in text.split(",")]
    for index, item in enumerate(items, start=1):
        if not item:
            raise MotifscanError(f"{option}: position {index} is missing in {text!r}")
    return [Label(item, None, positive, option) for item in items]


def read_labels(path: str) -> list[Label]:
    """Read a labels CSV (``start,end,label``; ``end`` optional). Errors name file and line."""
    if not os.path.exists(path):
        raise MotifscanError(f"{path}: no such labels file")
    if not os.path.isfile(path):
        # A device such as /dev/zero would be read forever.
        raise MotifscanError(f"{path}: not a regular file (a labels file is a CSV file)")
    try:
        # utf-8-sig: spreadsheets save CSV with a byte-order mark, which is no part of "start".
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise MotifscanError(f"{path}: cannot read labels file ({error})") from None
    lines = [(number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not lines:
        raise MotifscanError(f"{path}: labels file is empty")
    header = [cell.strip().lower() for cell in lines[0][1]]
    for needed in ("start", "label"):
        if needed not in header:
            raise MotifscanError(f"{path}: line 1: a labels file needs a {needed!r} column (has: {', '.join(header)})")
    start, label = header.index("start"), header.index("label")
    end = header.index("end") if "end" in header else None
    labels = []
    for number, row in lines[1:]:
        where = f"{path}: line {number}"
        if len(row) != len(header):
            raise MotifscanError(f"{where}: expected {len(header)} fields, found {len(row)}")
        kind = row[label].strip().lower()
        if kind not in LABELS:
            raise MotifscanError(f"{where}: label must be positive or negative, got {row[label].strip()!r}")
        labels.append(Label(row[start].strip(), None if end is None else row[end].strip(), kind == "positive", where))
    if not labels:
        raise MotifscanError(f"{path}: labels file has a header but no labels")
    return labels


def resolve_position(text: str, time: np.ndarray | None, rows: int, where: str) -> int:
    """The row a position names: a whole number is a row, anything else a time value.

    Parameters
    ----------
    text : str
        As written.
    time : array, shape (rows,), or None
        The signal's time column (float64 or datetime64), if it has one.
    rows : int
        Rows in the signal.
    where : str
        For messages.
    """
    try:
        row = int(text)
    except ValueError:
        row = None
    if row is not None:
        if not 0 <= row < rows:
            raise MotifscanError(f"{where}: row {row} is outside the signal (rows 0 to {rows - 1})")
        return row
    if time is None:
        raise MotifscanError(f"{where}: {text!r} is not a row number, and the signal has no time column")
    try:
        value = np.datetime64(text) if time.dtype.kind == "M" else float(text)
    except ValueError:
        raise MotifscanError(f"{where}: {text!r} is neither a row number nor a time") from None
    matches = np.flatnonzero(time == value)
    if matches.size == 0:
        raise MotifscanError(f"{where}: no row has the time {text}")
    return int(matches[0])
