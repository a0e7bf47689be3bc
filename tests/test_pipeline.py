"""The streaming pipeline: results never depend on how the input is cut into blocks."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.config import DetectConfig
from motifscan.detection import detect_track
from motifscan.errors import MotifscanError
from motifscan.io.signals import read_signal, signal_from_arrays
from motifscan.pipeline import Detection, RunSummary, detect_all, read_ahead, score_blocks
from motifscan.similarity import sliding_cosine


def planted_signal(seed: int, n: int) -> dict:
    """Two noisy channels with copies of (1, 2, 3, 2) at random sizes and signs."""
    rng = np.random.default_rng(seed)
    channels = {}
    for name in ("a", "b"):
        x = rng.normal(0, 0.3, n)
        for start in rng.choice(max(1, n - 8), size=min(8, n // 20), replace=False):
            x[start : start + 4] += rng.choice([-3, -0.5, 1, 4]) * np.array([1, 2, 3, 2])
        x[rng.random(n) < 0.002] = np.nan
        channels[name] = x
    return channels


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 3000), st.integers(1, 700), st.integers(1, 3),
       st.sampled_from([None, 0, 3, 25]), st.sampled_from([None, 1, 5]), st.sampled_from(["cosine", "conv"]))
def test_block_size_never_changes_motifs(seed, n, block_rows, dilation, min_gap, top, method):
    channels = planted_signal(seed, n)
    config = DetectConfig(kernel=(1, 2, 3, 2), p=2, dilation=dilation, threshold=0.6,
                          min_gap=min_gap, top=top, method=method)
    if n < config.span:
        return
    whole, whole_summary = detect_all(signal_from_arrays(channels), config)
    cut, cut_summary = detect_all(signal_from_arrays(channels, block_rows=block_rows), config)
    assert cut == whole
    assert (cut_summary.samples, cut_summary.positions, cut_summary.skipped_windows) == (
        whole_summary.samples, whole_summary.positions, whole_summary.skipped_windows)


def test_pipeline_equals_scanning_and_detecting_the_whole_track():
    channels = planted_signal(3, 5000)
    config = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.5, backend="numpy")
    motifs, summary = detect_all(signal_from_arrays(channels, block_rows=333), config)
    expected = []
    for name, x in channels.items():
        track = sliding_cosine(x, np.array(config.kernel), config.p, 1, "numpy")
        expected += detect_track(track, channel=name, span=4, threshold=0.5)
    assert motifs == sorted(expected, key=lambda m: (m.start, m.channel))
    nan_windows = sum(int(np.isnan(sliding_cosine(x, np.ones(4), 1).score).sum()) for x in channels.values())
    assert summary.skipped_windows == nan_windows > 0
    assert summary.samples == 5000 and summary.positions == 4997


def test_time_values_follow_the_motif_start_across_blocks():
    x = np.zeros(100)
    x[48:51] = [1, 2, 3]  # straddles the block boundary at 50
    time = np.arange(100) * 0.25
    source = signal_from_arrays({"x": x}, time=time, block_rows=50)
    motifs, _ = detect_all(source, DetectConfig(kernel=(1, 2, 3), p=9))
    assert [(m.start, m.time) for m in motifs] == [(48, 12.0)]


def test_stream_yields_motifs_before_the_end():
    x = np.zeros(10_000)
    x[100:103] = [1, 2, 3]
    run = Detection(signal_from_arrays({"x": x}, block_rows=1000), DetectConfig(kernel=(1, 2, 3), p=9))
    first = next(iter(run))
    assert first.start == 100 and run.summary.samples == 1000  # decided after the first block


def test_signal_shorter_than_span_is_an_error():
    config = DetectConfig(kernel=(1, 2, 3), dilation=5)
    with pytest.raises(MotifscanError, match="spans 11 samples but the signal has only 10"):
        detect_all(signal_from_arrays({"x": np.ones(10)}), config)


def test_score_blocks_from_a_file_cover_every_position(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("v\n" + "\n".join(str(v) for v in np.sin(np.arange(1000) / 7)) + "\n")
    config = DetectConfig(kernel=(1, 2, 3), block_rows=64)
    summary = RunSummary("s", ["v"], None)
    blocks = list(score_blocks(read_signal(str(path), block_rows=64), config, summary))
    starts = [b.first_position for b in blocks]
    assert starts[0] == 0 and sum(b.positions for b in blocks) == 998 == summary.positions
    assert all(b.first_position + b.positions == nxt for b, nxt in zip(blocks, starts[1:]))


def test_conv_method_thresholds_relative_to_each_channels_strongest_activation():
    x = np.zeros(60)
    x[10:13] = [1, 2, 3]
    x[40:43] = [10, 20, 30]
    quiet = x / 100  # the same shapes a hundred times smaller: the same motifs
    config = DetectConfig(kernel=(1, 2, 3), method="conv", threshold=0.5)
    run = Detection(signal_from_arrays({"loud": x, "quiet": quiet}), config)
    motifs = list(run)
    # Only the loud copy at 40: the copy at 10 has a tenth of its activation, and the
    # quiet channel is judged against its own strongest activation, not the loud one's.
    assert [(m.channel, m.start, m.activation) for m in motifs] == [("loud", 40, 140), ("quiet", 40, 1.4)]
    assert run.summary.strongest_activation == pytest.approx({"loud": 140.0, "quiet": 1.4})


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 2000), st.integers(1, 500),
       st.sampled_from(["numpy", "numba"]), st.booleans())
def test_block_size_never_changes_motifs_with_a_learned_metric(seed, n, block_rows, backend, diagonal):
    channels = planted_signal(seed, n)
    rng = np.random.default_rng(seed)
    metric = rng.uniform(0.2, 1, 4) if diagonal else np.eye(4) + 0.2 * rng.standard_normal((4, 4))
    config = DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6, backend=backend,
                          metric=metric.tolist())
    whole, _ = detect_all(signal_from_arrays(channels), config)
    cut, _ = detect_all(signal_from_arrays(channels, block_rows=block_rows), config)
    assert cut == whole


def test_a_learned_metric_changes_what_is_found():
    # Window (1, 2, 3, 0) against kernel (1, 2, 3, 2): cosine 0.85 plainly, but a metric
    # that looks only at the first three taps sees a perfect match.
    x = np.array([0, 0, 1, 2, 3, 0, 0, 0, 0], dtype=float)
    plain = detect_all(signal_from_arrays({"x": x}), DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.9))[0]
    config = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.9, metric=[1, 1, 1, 0])
    weighted, _ = detect_all(signal_from_arrays({"x": x}), config)
    assert plain == [] and [(m.start, round(m.cosine, 12)) for m in weighted] == [(2, 1.0)]
    assert config.parameters()["metric"] == "diagonal"


def test_read_ahead_keeps_order_and_raises_errors_in_place():
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter([]))) == []

    def failing():
        yield 1
        yield 2
        raise MotifscanError("bad cell on line 3")

    seen = []
    with pytest.raises(MotifscanError, match="line 3"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_read_ahead_stops_reading_when_the_consumer_stops():
    import itertools

    consumed = []

    def endless():
        for i in itertools.count():
            consumed.append(i)
            yield i

    ahead = read_ahead(endless())
    assert next(ahead) == 0
    ahead.close()
    import time

    time.sleep(0.3)
    settled = len(consumed)
    time.sleep(0.3)
    assert len(consumed) == settled <= 4  # at most a block or two read ahead, then it stops


def test_threads_option_is_validated_and_keeps_results():
    with pytest.raises(MotifscanError, match="--threads must be at least 1"):
        DetectConfig(kernel=(1, 2), threads=0)
    channels = planted_signal(4, 30_000)
    results = [detect_all(signal_from_arrays(channels), DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6,
                                                                     backend="numba", threads=threads))[0]
               for threads in (None, 1, 2)]
    assert results[0] == results[1] == results[2]
