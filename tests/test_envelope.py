"""Min/max envelopes for drawing: every peak survives, whatever the pieces the stream comes in."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.envelope import MinMaxEnvelope, RunRecorder


def by_hand(x: np.ndarray, size: int):
    """Buckets of ``size`` samples (the last may be shorter): their nan-min and nan-max."""
    lo, hi = [], []
    for start in range(0, len(x), size):
        part = x[start : start + size]
        finite = part[~np.isnan(part)]
        lo.append(finite.min() if finite.size else np.nan)
        hi.append(finite.max() if finite.size else np.nan)
    return np.array(lo), np.array(hi)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 3000),
    st.sampled_from([2, 4, 6, 16, 64]),
    st.lists(st.integers(0, 400), min_size=1, max_size=30),
)
def test_streamed_buckets_equal_the_buckets_of_the_whole_series(seed, n, max_buckets, cuts):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x[rng.random(n) < 0.05] = np.nan
    envelope = MinMaxEnvelope(max_buckets)
    cuts = cuts + [1]  # pieces of any size, empty ones too, and progress guaranteed
    start, i = 0, 0
    while start < n:
        stop = min(n, start + cuts[i % len(cuts)])
        envelope.push(x[start:stop])
        start, i = stop, i + 1
    assert envelope.length == n
    centre, lo, hi = envelope.buckets()
    expected_lo, expected_hi = by_hand(x, envelope.size)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)
    assert lo.shape[0] <= max_buckets + 1  # complete buckets, plus one being filled
    if n > 2 * max_buckets:
        assert lo.shape[0] >= max_buckets // 2
    size = envelope.size
    np.testing.assert_array_equal(centre[: n // size], np.arange(n // size) * size + (size - 1) / 2)


def test_a_single_sample_peak_in_ten_million_survives():
    x = np.zeros(10_000_000)
    x[7_654_321] = 5.0
    x[1_234_567] = -3.0
    envelope = MinMaxEnvelope()
    for start in range(0, x.shape[0], 1 << 20):
        envelope.push(x[start : start + (1 << 20)])
    centre, lo, hi = envelope.buckets()
    assert hi.max() == 5.0 and lo.min() == -3.0 and lo.shape[0] <= 2049
    peak = int(np.argmax(hi))
    assert abs(centre[peak] - 7_654_321) <= envelope.size / 2


def test_bad_bucket_counts_are_refused():
    with pytest.raises(ValueError):
        MinMaxEnvelope(3)


def test_recorder_learns_the_channels_from_the_blocks():
    from motifscan.config import DetectConfig
    from motifscan.signal import signal_from_arrays
    from motifscan.scan_plan import RunSummary
    from motifscan.scanning import watched_blocks

    recorder = RunRecorder()
    source = signal_from_arrays({"a": np.arange(50.0), "b": -np.arange(50.0)}, block_rows=7)
    config = DetectConfig(kernel=(1, 2, 3), method="conv")
    list(watched_blocks(source, config, RunSummary("s", ["a", "b"], None), recorder))
    assert recorder.channels == ["a", "b"]
    assert recorder.signal["b"].length == 50 and recorder.score["a"].length == 48
    assert recorder.activation["a"].buckets()[2].max() == 47 + 2 * 48 + 3 * 49


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 400),
    st.booleans(),
    st.sampled_from(["sorted", "tie", "nan", "back"]),
    st.lists(st.integers(1, 60), min_size=1, max_size=10),
)
def test_the_recorder_knows_whether_the_time_increases_however_the_blocks_are_cut(seed, n, as_dates, kind, cuts):
    from motifscan.signal import SignalBlock

    rng = np.random.default_rng(seed)
    steps = rng.integers(1, 1000, n).astype(np.float64)
    if kind == "tie" and n > 1:
        steps[rng.integers(1, n)] = 0
    if kind == "back" and n > 1:
        steps[rng.integers(1, n)] = -1
    times = 10.0 + np.cumsum(steps)
    if kind == "nan":
        times[rng.integers(0, n)] = np.nan
    if as_dates:
        stamps = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        finite = ~np.isnan(times)
        stamps[finite] = np.datetime64("2024-01-01T00:00:00", "ns") + times[finite].astype(np.int64)
        column = stamps
    else:
        column = times
    recorder = RunRecorder(max_buckets=8)
    start = 0
    for i in range(n):
        if start >= n:
            break
        stop = min(n, start + cuts[i % len(cuts)])
        recorder.signal_block(SignalBlock({"v": np.zeros(stop - start)}, column[start:stop]))
        start = stop
    # The reference: every time finite and each larger than the one before, on the whole column.
    expected = not np.isnan(times).any() and bool(np.all(np.diff(times) > 0))
    assert recorder.time_increasing == expected
    assert recorder.time.length == n and recorder.time_is_datetime == as_dates


def test_more_channels_than_a_figure_holds_are_refused_at_the_first_block():
    from motifscan.errors import MotifscanError
    from motifscan.signal import SignalBlock

    wide = SignalBlock({f"c{i}": np.zeros(3) for i in range(13)})
    with pytest.raises(MotifscanError, match="13 channels are too many for one figure"):
        RunRecorder().signal_block(wide)
    RunRecorder(with_signal=False).signal_block(wide)  # a sparkline draws no signal: no limit
