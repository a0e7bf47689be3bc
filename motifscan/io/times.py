"""Times in every output: ISO 8601 text to the finest non-zero unit, in the input's own zone
with its offset (``Z`` for UTC), one value at a time or a whole score track at once.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Iterable, Iterator, Literal

import numpy as np

from motifscan.motif import Motif
from motifscan.io.csv_layout import zone_to_arrow


def format_time(value):
    """A time value as JSON-ready text or number.

    Timestamps are ISO 8601 to the finest non-zero unit (s, ms, us or ns); a zoned one
    (a ``datetime``/``pandas.Timestamp`` with its zone, see :func:`in_zone`) ends with its
    offset, ``Z`` for UTC: ``2024-05-01T10:00:03.900+02:00``.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return _iso(np.datetime64(value, "ns"))
        offset = value.utcoffset()
        wall = value.replace(tzinfo=None)
        local = wall.to_datetime64() if hasattr(wall, "to_datetime64") else np.datetime64(wall, "ns")
        return _iso(local) + offset_text(offset, value.tzinfo)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _iso(value)
    number = float(value)
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


#: The units a time is written in, each with its size in nanoseconds.
_TimeUnit = Literal["s", "ms", "us", "ns"]


def _iso(value: np.datetime64) -> str:
    nanoseconds = int(value.astype("datetime64[ns]").astype(np.int64))
    units: tuple[tuple[_TimeUnit, int], ...] = (("s", 10**9), ("ms", 10**6), ("us", 10**3))
    for unit, size in units:
        if nanoseconds % size == 0:
            return np.datetime_as_string(value, unit=unit)
    return np.datetime_as_string(value, unit="ns")


def offset_text(offset: dt.timedelta, zone) -> str:
    """``Z`` for UTC itself, else ``+HH:MM`` (``+HH:MM:SS`` for an offset of odd seconds)."""
    if not offset and zone_to_arrow(zone) == "UTC":
        return "Z"
    seconds = int(offset.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}"
    return text + f":{rest % 60:02d}" if rest % 60 else text


def in_zone(motifs: Iterable[Motif], zone) -> Iterator[Motif]:
    """The motifs with their time (naive UTC ``datetime64``) as a ``pandas.Timestamp`` in
    ``zone``, so that outputs show the input's own offset; unchanged when ``zone`` is None."""
    if zone is None:
        yield from motifs
        return
    import dataclasses

    for motif in motifs:
        if isinstance(motif.time, np.datetime64):
            motif = dataclasses.replace(motif, time=zoned_time(motif.time, zone))
        yield motif


def zoned_time(value, zone):
    """A naive UTC ``datetime64`` as a ``pandas.Timestamp`` in ``zone``; anything else as it is."""
    if zone is None or not isinstance(value, np.datetime64) or np.isnat(value):
        return value
    import pandas as pd

    return pd.Timestamp(value).tz_localize("UTC").tz_convert(zone)


def iso_times(values: np.ndarray, zone) -> np.ndarray:
    """:func:`format_time` of many naive UTC ``datetime64`` values at once, in ``zone``.

    Returns an object array of str, None where a value is NaT.
    """
    utc = values.astype("datetime64[ns]")
    missing = np.isnat(utc)
    local = utc
    suffixes = np.full(utc.shape, "", dtype=object)
    if zone is not None:
        offsets = _offsets(utc, zone)
        local = utc + offsets
        for offset in np.unique(offsets[~missing]):
            suffixes[offsets == offset] = offset_text(dt.timedelta(microseconds=int(offset) / 1000), zone)
    ns = local.astype(np.int64)
    text = np.datetime_as_string(local, unit="ns").astype(object)
    units: tuple[tuple[_TimeUnit, int], ...] = (("us", 10**3), ("ms", 10**6), ("s", 10**9))
    for unit, size in units:  # coarsest exact unit wins
        exact = ns % size == 0
        text[exact] = np.datetime_as_string(local[exact], unit=unit)
    text = text + suffixes
    text[missing] = None
    return text


def _offsets(utc: np.ndarray, zone) -> np.ndarray:
    """The offset of ``zone`` at each instant, as ``timedelta64[ns]``."""
    fixed = zone.utcoffset(None)
    if fixed is not None:
        return np.full(
            utc.shape, np.timedelta64(int(fixed / dt.timedelta(microseconds=1)), "us"), dtype="timedelta64[ns]"
        )
    import pandas as pd

    instants = pd.DatetimeIndex(utc).tz_localize("UTC")
    wall = instants.tz_convert(zone).tz_localize(None)
    return (wall - instants.tz_localize(None)).to_numpy().astype("timedelta64[ns]")
