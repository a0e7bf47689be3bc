"""The x axis of figures: sample positions placed at the time column's values when it has
increasing finite times, else at the sample index; the axis label carries the time unit.
"""

from __future__ import annotations

import numpy as np

from motifscan.envelope import RunRecorder


class SampleAxis:
    """Where sample positions go on the x axis: the time column's values when it has
    increasing finite times (interpolated between the recorded ones, so exact at every
    bucket edge of the envelope and linear in between), else the sample index.

    Parameters
    ----------
    recorder : RunRecorder
    time_column : str or None
        The time column's name (None: the signal has none).
    """

    def __init__(self, recorder: RunRecorder, time_column: str | None):
        self.is_datetime = False
        self._index: np.ndarray | None = None
        self._values: np.ndarray | None = None
        time = recorder.time
        if time_column is None or time is None or not recorder.time_increasing or time.length < 2:
            self.label = (
                "sample"
                if time_column is None or time is None
                else (f"sample ({time_column} is not increasing everywhere)")
            )
            return
        _, lo, hi = time.buckets()
        # An increasing series: a bucket's min is the time of its first sample, its max of its last.
        first = np.arange(lo.shape[0]) * time.size
        last = np.minimum(first + time.size - 1, time.length - 1)
        index = np.stack([first, last], axis=1).ravel().astype(np.float64)
        values = np.stack([lo, hi], axis=1).ravel()
        keep = np.concatenate([[True], np.diff(index) > 0])
        self._index, values = index[keep], values[keep]
        if recorder.time_is_datetime:
            from matplotlib import dates

            # matplotlib counts days since its epoch (1970 unless configured otherwise).
            epoch = dates.date2num(np.datetime64(0, "ns"))
            values = epoch + values / 86_400e9
            self.is_datetime = True
            self.label = time_column
        else:
            self.label = _with_unit(time_column)
        self._values = values

    def __call__(self, positions) -> np.ndarray:
        """The x coordinates of sample ``positions`` (array-like, fractional allowed)."""
        positions = np.asarray(positions, dtype=np.float64)
        if self._index is None:
            return positions
        if positions.ndim == 0:
            return np.asarray(self(positions[None])[0])
        index, values = self._index, np.asarray(self._values)
        x = np.asarray(np.interp(positions, index, values))
        # Linear beyond the ends too (half a sample before the first, the end of the last window).
        before, after = positions < index[0], positions > index[-1]
        if before.any():
            x[before] = values[0] + (positions[before] - index[0]) * (values[1] - values[0]) / (index[1] - index[0])
        if after.any():
            x[after] = values[-1] + (positions[after] - index[-1]) * (values[-1] - values[-2]) / (index[-1] - index[-2])
        return x

    def widths(self, starts, ends) -> np.ndarray:
        """Widths on the x axis of the sample ranges ``[starts, ends)`` (edges at half samples)."""
        return self(np.asarray(ends) - 0.5) - self(np.asarray(starts) - 0.5)


#: Unit suffixes of numeric time columns (``time_s`` is in seconds) and how they are shown.
TIME_UNITS = {
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "ms": "ms",
    "us": "µs",
    "ns": "ns",
    "min": "min",
    "h": "h",
    "hours": "h",
    "d": "d",
    "days": "days",
    "years": "years",
    "yr": "years",
}


def _with_unit(column: str) -> str:
    """The axis label of a numeric time column: ``time_s`` is ``time (s)``; other names as they are."""
    stem, _, suffix = column.rpartition("_")
    if stem and suffix.lower() in TIME_UNITS:
        return f"{stem} ({TIME_UNITS[suffix.lower()]})"
    return column
