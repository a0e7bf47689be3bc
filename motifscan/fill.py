"""Short gaps filled before scanning (``--fill linear|previous --max-gap G``).

A *gap* is a run of missing samples (NaN: empty cells) in one channel. A gap of at most
``G`` samples with a sample before it and one after it is filled:

- ``linear``: the k-th of L missing samples after value ``a`` and before value ``b``
  becomes ``a + (b - a) * k / (L + 1)`` (straight line by sample index);
- ``previous``: every missing sample becomes ``a``, the last value before the gap.

Longer gaps, and gaps at the very start or end of the signal (no sample on one side),
stay missing. +-inf is a bad value, not a missing one, and is never filled.

Streaming: a gap still open at the end of a block might close within ``G`` samples, so
:class:`GapFiller` holds back the rows from the start of such a gap (in any channel) until
it is decided; every sample is filled from the same neighbours by the same expression
whatever the block size, so the result is identical for every ``--block-rows``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motifscan.signal import SignalBlock


@dataclass
class _Channel:
    """What one channel's next rows need from those released before them."""

    before: float = np.nan  # the last finite value released (NaN: none yet)
    run: int = 0  # missing samples released since then (a long gap going on)


def _fill_channel(values: np.ndarray, state: _Channel, method: str, max_gap: int, final: bool) -> tuple:
    """Fill the gaps of one channel's buffer.

    Returns ``(filled values, filled mask, decided)``: the rows before ``decided`` are
    final; from there a gap of at most ``max_gap`` samples is open at the end of the
    buffer (all rows are final when ``final``).
    """
    out = values.copy()
    mask = np.zeros(values.shape[0], dtype=bool)
    missing = np.isnan(values)
    decided = values.shape[0]
    if not missing.any():
        return out, mask, decided
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.view(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        before = state.before if start == 0 else values[start - 1]
        offset = state.run if start == 0 else 0  # missing samples of this gap already released
        length = offset + stop - start
        if stop == values.shape[0]:  # open at the end of the buffer
            if not final and length <= max_gap:
                decided = start
            break
        if length > max_gap or not np.isfinite(before) or (start == 0 and np.isnan(state.before)):
            continue
        after = values[stop]
        if not np.isfinite(after):
            continue
        k = np.arange(offset + 1, offset + stop - start + 1, dtype=np.float64)
        if method == "linear":
            out[start:stop] = before + (after - before) * (k / (length + 1))
        else:
            out[start:stop] = before
        mask[start:stop] = True
    return out, mask, decided


@dataclass
class GapFiller:
    """Fills short gaps of every channel of a stream of blocks (module notes).

    Parameters
    ----------
    method : {"linear", "previous"}
    max_gap : int
        Longest gap filled, in samples (>= 1).
    first_row : int
        Global index of the first row pushed.

    Attributes
    ----------
    filled_samples : int
        Samples filled so far (all channels).
    filled_by_channel : dict of str -> int
    filled_runs : list of (int, int)
        ``[start, stop)`` global row ranges holding a filled sample (merged, in order).
    """

    method: str
    max_gap: int
    first_row: int = 0
    filled_samples: int = 0
    filled_by_channel: dict = field(default_factory=dict)
    filled_runs: list = field(default_factory=list)
    _held: SignalBlock | None = None
    _channels: dict = field(default_factory=dict)

    def push(self, block: SignalBlock) -> SignalBlock:
        """Add ``block``; return the rows now final, filled (possibly none)."""
        if self._held is not None and self._held.rows:
            block = SignalBlock(
                {name: np.concatenate([self._held.channels[name], values]) for name, values in block.channels.items()},
                None if block.time is None else np.concatenate([self._held.time, block.time]),
            )
        return self._release(block, final=False)

    def finish(self) -> SignalBlock | None:
        """The rows still held at the end of the signal (gaps open there stay missing)."""
        if self._held is None or not self._held.rows:
            return None
        return self._release(self._held, final=True)

    def _release(self, block: SignalBlock, final: bool) -> SignalBlock:
        filled = {}
        masks = {}
        ready = block.rows
        for name, values in block.channels.items():
            state = self._channels.setdefault(name, _Channel())
            filled[name], masks[name], decided = _fill_channel(values, state, self.method, self.max_gap, final)
            ready = min(ready, decided)
        any_filled = np.zeros(ready, dtype=bool)
        for name, values in block.channels.items():
            released = values[:ready]
            state = self._channels[name]
            finite = np.flatnonzero(~np.isnan(released))
            if finite.size:
                state.before = float(released[finite[-1]])
                state.run = ready - 1 - int(finite[-1])
            else:
                state.run += ready
            count = int(np.count_nonzero(masks[name][:ready]))
            self.filled_samples += count
            self.filled_by_channel[name] = self.filled_by_channel.get(name, 0) + count
            any_filled |= masks[name][:ready]
        self._record_runs(any_filled)
        self.first_row += ready
        # Copies: the held rows must not pin the caller's whole block.
        self._held = SignalBlock(
            {name: values[ready:].copy() for name, values in block.channels.items()},
            None if block.time is None else block.time[ready:].copy(),
        )
        return SignalBlock(
            {name: values[:ready] for name, values in filled.items()},
            None if block.time is None else block.time[:ready],
        )

    def _record_runs(self, any_filled: np.ndarray) -> None:
        if not any_filled.any():
            return
        edges = np.flatnonzero(np.diff(np.concatenate([[0], any_filled.view(np.int8), [0]])))
        for start, stop in zip(edges[::2] + self.first_row, edges[1::2] + self.first_row):
            if self.filled_runs and self.filled_runs[-1][1] == start:
                self.filled_runs[-1] = (self.filled_runs[-1][0], int(stop))
            else:
                self.filled_runs.append((int(start), int(stop)))

    def holds_filled(self, start: int, end: int) -> bool:
        """Whether rows ``[start, end)`` (global, already released) hold a filled sample."""
        import bisect

        index = bisect.bisect_right(self.filled_runs, (end, end)) - 1
        while index >= 0 and self.filled_runs[index][1] > start:
            if self.filled_runs[index][0] < end:
                return True
            index -= 1
        return False


def fill_gaps_reference(values: np.ndarray, method: str, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole channel at once, sample by sample: the oracle of :class:`GapFiller`.

    Parameters
    ----------
    values : float64 array, shape (n,)

    Returns
    -------
    filled : float64 array, shape (n,)
    mask : bool array, shape (n,)
        True where a sample was filled.
    """
    out = np.array(values, dtype=np.float64)
    mask = np.zeros(out.shape[0], dtype=bool)
    i = 0
    while i < out.shape[0]:
        if not np.isnan(values[i]):
            i += 1
            continue
        stop = i
        while stop < out.shape[0] and np.isnan(values[stop]):
            stop += 1
        length = stop - i
        if (
            0 < i
            and stop < out.shape[0]
            and length <= max_gap
            and np.isfinite(values[i - 1])
            and np.isfinite(values[stop])
        ):
            before, after = values[i - 1], values[stop]
            for k in range(1, length + 1):
                out[i + k - 1] = before + (after - before) * (k / (length + 1)) if method == "linear" else before
                mask[i + k - 1] = True
        i = stop
    return out, mask
