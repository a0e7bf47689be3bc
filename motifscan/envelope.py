"""Min/max envelopes of long streams, for drawing them (figures, sparklines), never for detecting.

A 10-million-sample signal cannot be drawn point by point, and taking every k-th sample
would drop exactly the narrow peaks a user is looking for. :class:`MinMaxEnvelope` keeps,
for consecutive buckets of samples, the smallest and the largest value, so every peak
survives; it streams (memory bounded by ``max_buckets``, whatever the length) by doubling
the bucket size and merging neighbours whenever the buckets become too many.
:class:`RunRecorder` keeps such envelopes of every channel's signal, score and activation
while a run streams by.
"""

from __future__ import annotations

import numpy as np

#: Buckets kept at most: about two per pixel column of a 10-inch figure at 100 dpi.
MAX_BUCKETS = 2048
#: Signal channels a figure draws at most (each takes a row of panels); a recorder that
#: keeps the signal for a figure refuses more at the first block, before anything is scanned.
MAX_FIGURE_CHANNELS = 12


class MinMaxEnvelope:
    """Streaming min/max decimation of one series.

    Bucket ``j`` covers samples ``[j * size, (j + 1) * size)``; ``size`` starts at 1 and
    doubles whenever more than ``max_buckets`` buckets are complete, so between
    ``max_buckets / 2`` and ``max_buckets`` buckets describe any series longer than that.
    NaN values are ignored (a bucket of NaN only is NaN).

    Parameters
    ----------
    max_buckets : int
        Even, at least 2.
    """

    def __init__(self, max_buckets: int = MAX_BUCKETS):
        if max_buckets < 2 or max_buckets % 2:
            raise ValueError("max_buckets must be even and at least 2")
        self.max_buckets = max_buckets
        self.size = 1
        self.length = 0
        self._lo: list[np.ndarray] = []  # complete buckets, in pieces
        self._hi: list[np.ndarray] = []
        self._complete = 0
        self._part: tuple | None = None  # (lo, hi, samples) of the bucket being filled

    def push(self, values: np.ndarray) -> None:
        """Append ``values`` (shape (k,)) to the series."""
        values = np.asarray(values, dtype=np.float64)
        self.length += values.shape[0]
        if self._part is not None:
            lo, hi, count = self._part
            take = min(self.size - count, values.shape[0])
            if take:
                head = values[:take]
                lo, hi, count = np.fmin(lo, np.fmin.reduce(head)), np.fmax(hi, np.fmax.reduce(head)), count + take
            values = values[take:]
            if count == self.size:
                self._append(np.array([lo]), np.array([hi]))
                self._part = None
            else:
                self._part = (lo, hi, count)
        whole = values.shape[0] // self.size * self.size
        if whole:
            buckets = values[:whole].reshape(-1, self.size)
            self._append(np.fmin.reduce(buckets, axis=1), np.fmax.reduce(buckets, axis=1))
        rest = values[whole:]
        if rest.shape[0]:
            self._part = (np.fmin.reduce(rest), np.fmax.reduce(rest), rest.shape[0])
        while self._complete > self.max_buckets:
            self._halve()

    def _append(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self._lo.append(lo)
        self._hi.append(hi)
        self._complete += lo.shape[0]

    def _halve(self) -> None:
        """Double the bucket size: merge buckets 2j and 2j+1 into j."""
        lo, hi = np.concatenate(self._lo), np.concatenate(self._hi)
        if lo.shape[0] % 2:
            # The odd last bucket becomes the start of the new, larger bucket being filled.
            last_lo, last_hi = lo[-1], hi[-1]
            count = self.size
            if self._part is not None:
                last_lo, last_hi = np.fmin(last_lo, self._part[0]), np.fmax(last_hi, self._part[1])
                count += self._part[2]
            self._part = (last_lo, last_hi, count)
            lo, hi = lo[:-1], hi[:-1]
        self._lo = [np.fmin(lo[0::2], lo[1::2])]
        self._hi = [np.fmax(hi[0::2], hi[1::2])]
        self._complete = self._lo[0].shape[0]
        self.size *= 2

    def buckets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(centre, lo, hi)``, each of shape (b,): the buckets' middle sample index and their
        smallest and largest value; the last bucket may be partly filled."""
        lo = list(self._lo)
        hi = list(self._hi)
        centre = np.arange(self._complete) * float(self.size) + (self.size - 1) / 2
        if self._part is not None:
            lo.append(np.array([self._part[0]]))
            hi.append(np.array([self._part[1]]))
            centre = np.append(centre, self._complete * self.size + (self._part[2] - 1) / 2)
        if not lo:
            return np.empty(0), np.empty(0), np.empty(0)
        return centre, np.concatenate(lo), np.concatenate(hi)


class RunRecorder:
    """Envelopes of a run's signal and tracks, per channel, filled while the run streams.

    Give :meth:`signal_block` every :class:`~motifscan.signal.SignalBlock` and
    :meth:`score_block` every :class:`~motifscan.scan_plan.ScoreBlock` (a run's ``watch``
    does); then ``signal[channel]``, ``score[channel]`` and ``activation[channel]`` are
    :class:`MinMaxEnvelope` objects (the last only when the blocks carry activations), and
    :attr:`channels` lists the channels in input order. ``with_signal=False`` keeps only
    the tracks (for a sparkline).

    With the signal (for a figure) it also keeps the time column: :attr:`time` is the
    envelope of its values as float64 (seconds or whatever unit a numeric column has;
    nanoseconds since 1970 for timestamps, :attr:`time_is_datetime`), and
    :attr:`time_increasing` says whether every time was finite and larger than the one
    before, the condition for drawing against time. A signal of more than
    :data:`MAX_FIGURE_CHANNELS` channels is refused at its first block.
    """

    def __init__(self, max_buckets: int = MAX_BUCKETS, with_signal: bool = True):
        self.max_buckets = max_buckets
        self.with_signal = with_signal
        self.signal: dict[str, MinMaxEnvelope] = {}
        self.score: dict[str, MinMaxEnvelope] = {}
        self.activation: dict[str, MinMaxEnvelope] = {}
        self.time: MinMaxEnvelope | None = None
        self.time_is_datetime = False
        self.time_increasing = True
        self._last_time = None  # the exact last time seen (int64 ns for timestamps)

    @property
    def channels(self) -> list[str]:
        """The channels seen so far, in input order."""
        return list(self.score or self.signal)

    def _push(self, envelopes: dict, name: str, values) -> None:
        if name not in envelopes:
            envelopes[name] = MinMaxEnvelope(self.max_buckets)
        envelopes[name].push(values)

    def signal_block(self, block) -> None:
        """Add a :class:`~motifscan.signal.SignalBlock`'s samples (unless ``with_signal`` is off)."""
        if not self.with_signal:
            return
        if not self.signal and len(block.channels) > MAX_FIGURE_CHANNELS:
            from motifscan.errors import MotifscanError

            raise MotifscanError(
                f"--plot: {len(block.channels)} channels are too many for one figure "
                f"(at most {MAX_FIGURE_CHANNELS}); choose some with --column"
            )
        for name, values in block.channels.items():
            self._push(self.signal, name, values)
        if block.time is not None:
            self._push_time(block.time)

    def _push_time(self, time: np.ndarray) -> None:
        if time.shape[0] == 0:
            return
        if np.issubdtype(time.dtype, np.datetime64):
            self.time_is_datetime = True
            # Ordered on the exact int64 nanoseconds: as float64 they are rounded to 256 ns.
            exact: np.ndarray = time.astype("datetime64[ns]").view(np.int64)
            values = exact.astype(np.float64)
            values[np.isnat(time)] = np.nan
            increasing = not np.isnat(time).any()
        else:
            values = np.asarray(time, dtype=np.float64)
            exact = values
            # NaN compares false, so a missing time also ends drawing against time.
            increasing = not np.isnan(values).any()
        if self.time is None:
            self.time = MinMaxEnvelope(self.max_buckets)
        self.time.push(values)
        increasing = (
            increasing
            and bool(np.all(np.diff(exact) > 0))
            and (self._last_time is None or bool(exact[0] > self._last_time))
        )
        self.time_increasing = self.time_increasing and increasing
        self._last_time = exact[-1]

    def score_block(self, block) -> None:
        """Add a :class:`~motifscan.scan_plan.ScoreBlock`'s scores (and activations)."""
        for name, track in block.tracks.items():
            self._push(self.score, name, track.score)
        for name, values in (block.activations or {}).items():
            self._push(self.activation, name, values)
