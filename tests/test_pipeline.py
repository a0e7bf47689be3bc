"""The streaming pipeline: results never depend on how the input is cut into blocks."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.config import DetectConfig
from motifscan.detection import detect_track
from motifscan.errors import MotifscanError
from motifscan.kernel import Kernel
from motifscan.io.signals import read_signal
from motifscan.signal import SignalBlock, signal_from_arrays
from motifscan.pipeline import Detection, detect_all
from motifscan.scan_plan import RunSummary
from motifscan.scanning import StreamScanner, read_ahead, score_blocks
from motifscan.similarity import CandidateTrack, sliding_cosine


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


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(5, 3000),
    st.integers(1, 700),
    st.integers(1, 3),
    st.sampled_from([None, 0, 3, 25, "0.25span", "1span"]),
    st.sampled_from([None, 1, 5]),
    st.sampled_from(["cosine", "conv"]),
)
def test_block_size_never_changes_motifs(seed, n, block_rows, dilation, min_gap, top, method):
    channels = planted_signal(seed, n)
    config = DetectConfig(
        kernel=(1, 2, 3, 2), p=2, dilation=dilation, threshold=0.6, min_gap=min_gap, top=top, method=method
    )
    if n < config.span:
        return
    whole, whole_summary = detect_all(signal_from_arrays(channels), config)
    cut, cut_summary = detect_all(signal_from_arrays(channels, block_rows=block_rows), config)
    assert cut == whole
    assert (cut_summary.samples, cut_summary.positions, cut_summary.skipped_windows, cut_summary.suppressed_peaks) == (
        whole_summary.samples,
        whole_summary.positions,
        whole_summary.skipped_windows,
        whole_summary.suppressed_peaks,
    )


def test_pipeline_equals_scanning_and_detecting_the_whole_track():
    channels = planted_signal(3, 5000)
    config = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.5, backend="numpy")
    motifs, summary = detect_all(signal_from_arrays(channels, block_rows=333), config)
    expected = []
    for name, x in channels.items():
        track = sliding_cosine(x, np.array(config.kernel), config.p, 1, "numpy")
        expected += detect_track(track, channel=name, span=4, threshold=0.5, min_gap=config.gap)
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


# --- Matching real shapes: several kernels, dilation ranges, normalisation, joint channels

BUMP = np.array([0.0, 2, 4, 2, 0])
RAMP = np.array([0.0, 1, 2, 3, 4])
WIGGLE = np.array([0.0, 3, 0, -3, 0])


def slowed(kernel, dilation):
    """The kernel played ``dilation`` times slower (linear interpolation between taps)."""
    return np.interp(np.arange((kernel.size - 1) * dilation + 1) / dilation, np.arange(kernel.size), kernel)


def planted_recording(n=2400, seed=11):
    """Three channels on drifting baselines with motifs at two sizes and two speeds on x,
    a joint event on x, y and z at 1700, and a decoy on y alone at 1900."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    channels = {
        name: offset + 0.004 * t + 2 * np.sin(t / 250 + offset) + 0.02 * rng.standard_normal(n)
        for name, offset in (("x", 20.0), ("y", -5.0), ("z", 3.0))
    }
    planted = [  # (start, kernel, amplitude, dilation)
        (200, "bump", 1.0, 1),
        (400, "bump", 0.3, 1),
        (600, "ramp", 1.0, 1),
        (800, "bump", -1.0, 3),
        (1000, "ramp", 0.3, 3),
        (1200, "ramp", -1.0, 3),
        (1400, "bump", 1.0, 3),
    ]
    shapes = {"bump": BUMP, "ramp": RAMP}
    for start, name, amplitude, dilation in planted:
        shape = amplitude * slowed(shapes[name], dilation)
        channels["x"][start : start + shape.size] += shape
    for name, shape in (("x", WIGGLE), ("y", RAMP), ("z", -BUMP)):
        channels[name][1700:1705] += shape
    channels["y"][1900:1905] += RAMP
    return channels, planted


@pytest.mark.parametrize("block_rows", [None, 97])
def test_planted_motifs_are_found_once_with_kernel_sign_and_dilation(block_rows):
    channels, planted = planted_recording()
    config = DetectConfig(
        kernels={"bump": BUMP, "ramp": RAMP},
        p=3,
        dilation="1..3",
        normalize="center",
        noise_floor="auto",
        threshold=0.5,
    )
    motifs, summary = detect_all(signal_from_arrays({"x": channels["x"]}, block_rows=block_rows), config)
    found = [(m.start, m.kernel, m.sign, m.dilation) for m in motifs]
    expected = [(start, name, 1 if amplitude > 0 else -1, dilation) for start, name, amplitude, dilation in planted]
    # The joint event's x part (a wiggle) is neither a bump nor a ramp: not found here.
    assert found == expected
    assert summary.skipped_windows == 0

    joint = DetectConfig(
        kernels=[Kernel("wave", (tuple(WIGGLE), tuple(RAMP), tuple(-BUMP)), ("x", "y", "z"))],
        joint=True,
        p=3,
        dilation="1..3",
        normalize="center",
        noise_floor="auto",
    )
    motifs, _ = detect_all(signal_from_arrays(channels, block_rows=block_rows), joint)
    assert [(m.channel, m.start, m.sign, m.dilation, m.kernel) for m in motifs] == [("x+y+z", 1700, 1, 1, None)]


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(30, 1500),
    st.integers(1, 400),
    st.sampled_from(["keep", "best"]),
    st.sampled_from(["none", "center", "zscore"]),
    st.sampled_from([0.0, "auto"]),
)
def test_block_size_never_changes_motifs_of_many_kernels(seed, n, block_rows, overlap, normalize, floor):
    channels = planted_signal(seed, n)
    config = DetectConfig(
        kernels={"up": (1, 2, 3, 2), "down": (3, 1, 0), "long": (1, 2, 3, 2, 1, 0, 0)},
        p=2,
        dilation=(1, 2, 4),
        threshold=0.6,
        overlap=overlap,
        normalize=normalize,
        noise_floor=floor,
    )
    if n < config.shortest_span:
        return
    whole, whole_summary = detect_all(signal_from_arrays(channels), config)
    cut, cut_summary = detect_all(signal_from_arrays(channels, block_rows=block_rows), config)
    assert cut == whole
    assert (cut_summary.positions, cut_summary.skipped_windows, cut_summary.suppressed_peaks) == (
        whole_summary.positions,
        whole_summary.skipped_windows,
        whole_summary.suppressed_peaks,
    )


def test_overlap_keep_and_best():
    x = np.zeros(40)
    x[10:13] = [1, 2, 3]
    kernels = {"rise": (1, 2, 3), "flat_rise": (1, 2, 2.5)}
    best, _ = detect_all(signal_from_arrays({"x": x}), DetectConfig(kernels=kernels, p=1, threshold=0.9))
    assert [(m.kernel, m.start) for m in best] == [("rise", 10)]
    kept, _ = detect_all(
        signal_from_arrays({"x": x}), DetectConfig(kernels=kernels, p=1, threshold=0.9, overlap="keep")
    )
    assert sorted((m.kernel, m.start) for m in kept) == [("flat_rise", 10), ("rise", 10)]


def test_shorter_windows_are_scored_to_the_end_of_the_signal():
    x = np.zeros(30)
    x[25:28] = [1, 2, 3]  # fits dilation 1 only: dilation 3 spans 7 samples
    config = DetectConfig(kernel=(1, 2, 3), dilation="1..3", p=9)
    for block_rows in (None, 4):
        motifs, summary = detect_all(signal_from_arrays({"x": x}, block_rows=block_rows), config)
        assert [(m.start, m.dilation) for m in motifs] == [(25, 1)]
        assert summary.positions == 28


def test_joint_kernel_channels_must_match_the_signal():
    signal = {"a": np.ones(20), "b": np.arange(20.0), "c": np.zeros(20)}
    kernel = Kernel("k", ((1, 2), (2, 1)), ("a", "nope"))
    with pytest.raises(MotifscanError, match="channel 'nope'"):
        detect_all(signal_from_arrays(signal), DetectConfig(kernels=[kernel], joint=True))
    positional = Kernel("k", ((1, 2), (2, 1)), ("column1", "column2"))
    with pytest.raises(MotifscanError, match="has 2 channels but .* has 3"):
        detect_all(signal_from_arrays(signal), DetectConfig(kernels=[positional], joint=True))
    motifs, _ = detect_all(
        signal_from_arrays({"a": signal["a"], "b": signal["b"]}),
        DetectConfig(kernels=[positional], joint=True, threshold=0.1),
    )
    assert {m.channel for m in motifs} == {"a+b"}


def test_noise_floor_auto_is_estimated_from_the_first_samples():
    rng = np.random.default_rng(0)
    x = 0.1 * rng.standard_normal(1000)
    x[500:503] += [1, 2, 3]
    plain, _ = detect_all(signal_from_arrays({"x": x}), DetectConfig(kernel=(1, 2, 3), p=2))
    floored, _ = detect_all(
        signal_from_arrays({"x": x}, block_rows=7), DetectConfig(kernel=(1, 2, 3), p=2, noise_floor="auto")
    )
    assert len(plain) > 20 and [m.start for m in floored] == [500]


def test_noise_floor_auto_of_a_weighted_joint_kernel_is_added_to_the_weighted_norm():
    """Issue 18: with channel weights a_c the window norm is sqrt(sum a_c |w_c|²), so the
    floor of a window of pure noise is sqrt(m × sum a_c sigma_c²), not the unweighted one."""
    from motifscan.similarity.reference import scan_joint_reference

    rng = np.random.default_rng(18)
    n, m = 3000, 8
    signal = np.stack([0.1 * rng.standard_normal(n), 0.4 * rng.standard_normal(n)])
    rows = np.stack([np.hanning(m), -np.hanning(m)])
    signal[:, 1000 : 1000 + m] += rows
    weights = (1.0, 0.25)
    kernel = Kernel("k", tuple(map(tuple, rows)), ("a", "b"), weights)
    config = DetectConfig(kernels=[kernel], joint=True, p=2, noise_floor="auto")
    source = signal_from_arrays({"a": signal[0], "b": signal[1]}, block_rows=700)
    tracks = list(score_blocks(source, config, RunSummary.of(source)))
    score = np.concatenate([block.tracks["a+b"].score for block in tracks])
    # The reference: each channel's sigma from its first differences, weighted as the norm.
    from scipy.stats import norm

    # (the quartile of the normal distribution: median |diff| of white noise is 0.6745 × sqrt(2) sigma)
    sigma = np.median(np.abs(np.diff(signal, axis=1)), axis=1) / (norm.ppf(0.75) * np.sqrt(2))
    floor = np.sqrt(m * np.sum(np.array(weights) * sigma**2))
    assert floor < 0.9 * np.sqrt(m * np.sum(sigma**2))  # the unweighted floor is another
    (expected,) = scan_joint_reference(signal, rows[None], np.array([weights]), 2.0, 1, "none", floor, 2)
    np.testing.assert_allclose(score, expected.score, rtol=1e-9, atol=1e-12)  # round-off only


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


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(20, 2000),
    st.integers(1, 500),
    st.sampled_from(["numpy", "numba"]),
    st.booleans(),
)
def test_block_size_never_changes_motifs_with_a_learned_metric(seed, n, block_rows, backend, diagonal):
    channels = planted_signal(seed, n)
    rng = np.random.default_rng(seed)
    metric = rng.uniform(0.2, 1, 4) if diagonal else np.eye(4) + 0.2 * rng.standard_normal((4, 4))
    config = DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6, backend=backend, metric=metric.tolist())
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


def test_read_ahead_reads_in_the_callers_thread_when_no_thread_can_start(monkeypatch):
    import threading

    def refused(self):
        raise RuntimeError("can't start new thread")  # what `ulimit -v` leads to

    monkeypatch.setattr(threading.Thread, "start", refused)
    threads = []

    def blocks():
        for i in range(5):
            threads.append(threading.current_thread())
            yield i

    assert list(read_ahead(blocks())) == list(range(5))
    assert threads == [threading.main_thread()] * 5


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
    with pytest.raises(MotifscanError, match="^threads must be at least 1"):
        DetectConfig(kernel=(1, 2), threads=0)
    channels = planted_signal(4, 30_000)
    results = [
        detect_all(
            signal_from_arrays(channels),
            DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6, backend="numba", threads=threads),
        )[0]
        for threads in (None, 1, 2)
    ]
    assert results[0] == results[1] == results[2]


@pytest.mark.slow
@pytest.mark.parametrize("normalize", ["none", "center"])
def test_long_kernels_on_the_fft_backend(normalize):
    # Long kernels take the FFT backend: each kernel alone by FFT for the plain scan, the
    # direct batch scan for the normalised one; both find what the NumPy oracle finds.
    rng = np.random.default_rng(8)
    shapes = {"a": rng.standard_normal(520), "b": rng.standard_normal(520)}
    x = 0.2 * rng.standard_normal(4000)
    x[700:1220] += 3 * shapes["a"]
    x[2500:3020] -= shapes["b"]
    found = {}
    for backend in ("fft", "numpy"):
        config = DetectConfig(kernels=shapes, p=2, threshold=0.5, backend=backend, normalize=normalize)
        motifs, _ = detect_all(signal_from_arrays({"x": x}), config)
        found[backend] = [(m.kernel, m.start, m.sign) for m in motifs]
    assert found["fft"] == found["numpy"] == [("a", 700, 1), ("b", 2500, -1)]


def test_a_run_takes_the_crossover_of_its_normalisation():
    # A run picks its backend once; a centred run of 192 to 255 taps takes the FFT (its
    # direct scan costs more per tap), a plain run of the same kernel the direct scan.
    from motifscan.scan_plan import scan_backend
    from motifscan.similarity import CENTERED_FFT_MIN_TAPS, FFT_MIN_TAPS

    kernel = tuple(np.random.default_rng(1).standard_normal(CENTERED_FFT_MIN_TAPS))
    assert CENTERED_FFT_MIN_TAPS < FFT_MIN_TAPS
    for normalize, expected in (("none", "numba"), ("center", "fft"), ("zscore", "fft")):
        config = DetectConfig(kernel=kernel, normalize=normalize)
        assert scan_backend(config, 10**7) == expected


@pytest.mark.slow
def test_a_bank_finds_exactly_the_motifs_of_separate_runs_in_bounded_pieces(monkeypatch):
    # K kernels of one length in one run (shared FFT segments and window norms) find what K
    # runs of one kernel find; and a bank is pushed in pieces that bound its tracks' memory
    # (here forced small), which changes nothing.
    import dataclasses

    from motifscan import scanning
    from motifscan.similarity import CENTERED_FFT_MIN_TAPS

    rng = np.random.default_rng(21)
    m = CENTERED_FFT_MIN_TAPS + 8  # centred: the FFT path
    bank = {f"k{i}": rng.standard_normal(m) for i in range(4)}
    x = np.cumsum(rng.standard_normal(40_000)) * 0.05
    for i, (name, shape) in enumerate(bank.items()):
        for start in (3000 + 9000 * i, 6000 + 9000 * i):
            x[start : start + m] += (i + 1) * shape * (-1) ** start
    found = {}
    default = scanning.TRACK_BYTES
    for cut in (default, 48 * 4 * 3000):
        monkeypatch.setattr(scanning, "TRACK_BYTES", cut)
        for normalize in ("center", "zscore"):
            config = DetectConfig(kernels=bank, p=2, threshold=0.8, normalize=normalize, overlap="keep")
            together = detect_all(signal_from_arrays({"x": x}, block_rows=17_000), config)[0]
            apart = []
            for name, shape in bank.items():
                one = DetectConfig(kernels={name: shape}, p=2, threshold=0.8, normalize=normalize)
                apart += [
                    dataclasses.replace(motif, kernel=name)  # (one kernel's run names none)
                    for motif in detect_all(signal_from_arrays({"x": x}, block_rows=17_000), one)[0]
                ]
            if cut == default:  # (the same pieces for both: bit for bit equal)
                key = lambda motif: (motif.start, motif.kernel)  # noqa: E731
                assert sorted(together, key=key) == sorted(apart, key=key)
            assert len(together) >= 6  # most planted copies (the equality is what counts)
            found[cut, normalize] = together
    # (The FFT's round-off depends on where its segments fall, so scores may differ in the
    # last digits between cuts; which windows are motifs does not.)
    for normalize in ("center", "zscore"):
        assert [(m.start, m.kernel, m.sign) for m in found[default, normalize]] == [
            (m.start, m.kernel, m.sign) for m in found[48 * 4 * 3000, normalize]
        ]


def test_block_pieces_cut_without_copying():
    from motifscan.signal import SignalBlock
    from motifscan.scanning import block_pieces

    values = np.arange(10.0)
    block = SignalBlock({"x": values}, np.arange(10))
    pieces = list(block_pieces(block, 4))
    assert [piece.rows for piece in pieces] == [4, 4, 2]
    assert np.shares_memory(pieces[1].channels["x"], values)
    np.testing.assert_array_equal(np.concatenate([piece.time for piece in pieces]), np.arange(10))
    assert list(block_pieces(block, 10)) == [block]


def offset_signal(seed: int, n: int, offset: float) -> np.ndarray:
    """A seasonal wiggle of +-3 around ``offset`` with noise (like CO2 around 315 ppm)."""
    rng = np.random.default_rng(seed)
    return offset + 3 * np.sin(np.arange(n) * 2 * np.pi / 52) + rng.normal(0, 0.3, n)


def near_unit_share_reference(x: np.ndarray, kernel: np.ndarray) -> tuple[int, int]:
    """(windows with a cosine, of which |cosine| > 0.99), from the whole-track oracle."""
    track = sliding_cosine(x, kernel, p=1)
    scored = ~np.isnan(track.cosine)
    return int(scored.sum()), int(np.count_nonzero(np.abs(track.cosine[scored]) > 0.99))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(60, 1500), st.integers(1, 400), st.sampled_from([0.0, 5.0, 315.0]))
def test_large_offset_counts_never_depend_on_the_block_size(seed, n, block_rows, offset):
    x = offset_signal(seed, n, offset)
    x[seed % n] = np.nan
    kernel = x[:52].copy() if np.all(np.isfinite(x[:52])) else offset_signal(seed, 52, offset)
    config = DetectConfig(kernel=tuple(kernel), threshold=0.5)
    _, summary = detect_all(signal_from_arrays({"co2": x}, block_rows=block_rows), config)
    assert (summary.scored_windows, summary.near_unit_cosine_windows) == near_unit_share_reference(x, kernel)
    assert summary.large_offset == (summary.near_unit_cosine_windows > 0.5 * summary.scored_windows)


def test_large_offset_is_flagged_only_without_normalize():
    x = offset_signal(0, 2000, 315.0)
    kernel = tuple(x[100:152])
    _, raw = detect_all(signal_from_arrays({"co2": x}), DetectConfig(kernel=kernel))
    assert raw.large_offset and raw.near_unit_cosine_windows == raw.scored_windows
    _, centred = detect_all(signal_from_arrays({"co2": x}), DetectConfig(kernel=kernel, normalize="center"))
    assert not centred.large_offset and centred.scored_windows == 0
    _, near_zero = detect_all(
        signal_from_arrays({"co2": x - 315.0}), DetectConfig(kernel=tuple(np.array(kernel) - 315))
    )
    assert not near_zero.large_offset


# Noise-adaptive threshold (--threshold mad:K) -------------------------------------------


def test_mad_threshold_is_k_times_the_median_absolute_deviation_of_finite_scores():
    from motifscan.pipeline import mad_threshold

    scores = np.array([0.1, -0.2, np.nan, 0.3, 0.0, 0.5])
    finite = scores[np.isfinite(scores)]
    expected = 3 * np.median(np.abs(finite - np.median(finite)))
    assert mad_threshold(scores, 3.0) == pytest.approx(expected, rel=1e-15)
    assert mad_threshold(scores, 1e6) == 1.0  # capped at 1: scores lie in [-1, 1]
    assert mad_threshold(np.full(3, np.nan), 3.0) == 1.0


def test_mad_threshold_is_measured_on_the_first_positions_whatever_the_block_size(tmp_path):
    import motifscan
    from motifscan.scan_plan import REFERENCE_POSITIONS

    rng = np.random.default_rng(4)
    n = REFERENCE_POSITIONS + 20_000
    signal = rng.standard_normal(n)
    signal[n - 5000 :] *= 0.2  # the end differs: it must not move the threshold
    pulse = np.hanning(16)
    for start in range(1000, n - 100, 7919):
        signal[start : start + 16] += 3 * pulse
    runs = [
        motifscan.detect(signal, pulse, threshold="mad:4", block_rows=rows, summary=True)
        for rows in (1000, 65_536, None)
    ]
    reference = sliding_cosine(signal, pulse, 1.0, 1).score[:REFERENCE_POSITIONS]
    expected = 4 * np.median(np.abs(reference - np.median(reference)))
    for motifs, summary in runs:
        assert summary.thresholds == {"signal": pytest.approx(expected, rel=1e-12)}
        assert motifs == runs[0][0]
        assert all(abs(m.score) >= expected for m in motifs)
    assert len(runs[0][0]) >= (n - 1100) // 7919


def test_mad_threshold_on_the_command_line_reports_it(tmp_path):
    from click.testing import CliRunner

    from motifscan.cli import cli

    rng = np.random.default_rng(5)
    values = rng.standard_normal(3000)
    values[1000:1010] += 5 * np.hanning(10)
    path = tmp_path / "s.csv"
    path.write_text("v\n" + "".join(f"{float(v)!r}\n" for v in values))
    kernel = ",".join(f"{v:.6f}" for v in np.hanning(10))
    documents = []
    for rows in (100, 1000, 65536):
        result = CliRunner().invoke(
            cli,
            [
                "detect",
                str(path),
                "--kernel",
                kernel,
                "--threshold",
                "mad:3",
                "--format",
                "json",
                "--block-rows",
                str(rows),
            ],
        )
        assert result.exit_code in (0, 1), result.stderr
        documents.append(json.loads(result.stdout))
        assert "thresholds from the median absolute deviation" in result.stderr
    assert all(document == documents[0] for document in documents)
    assert documents[0]["parameters"]["threshold"] == "mad:3"
    assert set(documents[0]["thresholds"]) == {"v"} and 0 < documents[0]["thresholds"]["v"] < 1
    for threshold, message in (
        ("mad:x", "'mad:x' is not a number, mad:K or fa:RATE"),
        ("fa:-1", "--threshold fa:RATE needs RATE to be a finite number greater than 0, got -1"),
        ("mad:0", "--threshold mad:K needs K to be a finite number greater than 0, got 0"),
    ):
        result = CliRunner().invoke(cli, ["detect", str(path), "--kernel", kernel, "--threshold", threshold])
        assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_fa_threshold_is_just_above_the_allowed_share_of_the_strongest_scores():
    from motifscan.pipeline import fa_threshold

    scores = np.array([0.1, -0.9, np.nan, 0.3, 0.5, -0.2, 0.7, 0.0, 0.4, -0.6, 0.8])
    # 10 finite scores, a rate of 0.3 per window: 3 may reach the threshold (0.9, 0.8, 0.7).
    threshold = fa_threshold(scores, 0.3)
    assert threshold == np.nextafter(0.6, 1) and np.count_nonzero(np.abs(scores) >= threshold) == 3
    assert fa_threshold(scores, 0.05) == np.nextafter(0.9, 1)  # none may
    assert fa_threshold(scores, 1.0) == 0.0 and fa_threshold(np.full(3, np.nan), 0.1) == 1.0


def test_fa_threshold_is_measured_on_the_first_positions_whatever_the_block_size():
    import motifscan
    from motifscan.pipeline import fa_threshold
    from motifscan.scan_plan import REFERENCE_POSITIONS

    rng = np.random.default_rng(6)
    n = REFERENCE_POSITIONS + 20_000
    signal = rng.standard_normal(n)
    signal[n - 5000 :] = np.sin(np.arange(5000) / 3)  # the end differs: it must not move the threshold
    kernel = rng.standard_normal(12)
    runs = [
        motifscan.detect(signal, kernel, threshold="fa:500", block_rows=rows, summary=True)
        for rows in (1000, 65_536, None)
    ]
    reference = sliding_cosine(signal, kernel, 1.0, 1).score[:REFERENCE_POSITIONS]
    expected = fa_threshold(reference, 500 / 1e6)
    assert np.count_nonzero(np.abs(reference) >= expected) == 50
    for motifs, summary in runs:
        assert summary.thresholds == {"signal": pytest.approx(expected, rel=1e-12)}
        assert motifs == runs[0][0] and len(motifs) > 0


def test_fa_threshold_on_white_noise_gives_the_rate_asked_for():
    """Planted noise where the rate is known: for white Gaussian noise every window points
    in a uniformly random direction, so cosine² of a window with any kernel of m taps is
    Beta(1/2, (m - 1)/2) distributed, and P(|cosine| >= T) is known exactly."""
    import motifscan
    from scipy.stats import beta

    from motifscan.scan_plan import REFERENCE_POSITIONS

    m, rate = 8, 2000.0  # per million windows: 0.002 per window, 200 windows of the stretch
    kernel = np.random.default_rng(1).standard_normal(m)
    noise = np.random.default_rng(2).standard_normal(REFERENCE_POSITIONS + 200_000)
    motifs, summary = motifscan.detect(noise, kernel, threshold=f"fa:{rate:g}", summary=True)
    (threshold,) = summary.thresholds.values()
    exact = beta.sf(threshold**2, 0.5, (m - 1) / 2)  # the true share of windows at or above
    # 200 exceedances, in clusters of overlapping windows: the share is known to ~15 %.
    assert exact == pytest.approx(rate / 1e6, rel=0.3)
    after = sliding_cosine(noise, kernel, 1.0, 1).score[REFERENCE_POSITIONS:]
    assert np.mean(np.abs(after) >= threshold) == pytest.approx(rate / 1e6, rel=0.3)
    # Motifs are at most the windows at or above it (min_gap merges neighbours).
    assert 0 < len(motifs) <= np.count_nonzero(np.abs(sliding_cosine(noise, kernel, 1.0, 1).score) >= threshold)


def test_fa_rate_is_per_hour_with_a_time_column_and_refused_when_not_estimable(tmp_path):
    from click.testing import CliRunner

    from motifscan.cli import cli
    from motifscan.scan_plan import REFERENCE_POSITIONS

    n = REFERENCE_POSITIONS + 1000
    noise = np.round(np.random.default_rng(3).standard_normal(n), 4)
    timed, untimed = tmp_path / "timed.csv", tmp_path / "untimed.csv"
    pd.DataFrame({"t": np.arange(n) / 100, "v": noise}).to_csv(timed, index=False)  # 100 Hz
    pd.DataFrame({"v": noise}).to_csv(untimed, index=False)
    kernel = "1,-2,3,1,-1"
    per_window = {}
    for threshold, path in (("fa:720", timed), ("fa:2000", untimed)):
        result = CliRunner().invoke(
            cli, ["detect", str(path), "--kernel", kernel, "--threshold", threshold, "--format", "json"]
        )
        assert result.exit_code == 0, result.stderr
        assert f"thresholds from the false-alarm rate {threshold}" in result.stderr
        document = json.loads(result.stdout)
        assert document["parameters"]["threshold"] == threshold
        per_window[threshold] = document["thresholds"]["v"]
    # 720 per hour at 100 Hz is 0.002 per window, as is 2000 per million windows.
    assert per_window["fa:720"] == per_window["fa:2000"]
    result = CliRunner().invoke(cli, ["detect", str(untimed), "--kernel", kernel, "--threshold", "fa:10"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "too few to estimate 10 false alarms per million windows" in result.stderr
    assert "error: --threshold fa:10:" in result.stderr and "ask for fa:100 or more" in result.stderr


ROOT = Path(__file__).resolve().parents[1]


def ecg_beats():
    """The sample ECG, its R peaks (baseline-free signal, peaks at least 0.25 s apart), and a
    kernel cut as one full beat: one median R-R interval from 100 samples before the first
    R peak (as benchmarks/min_gap_study.py does)."""
    from scipy.signal import find_peaks, medfilt

    frame = pd.read_csv(ROOT / "sample_data" / "ecg_mitdb_excerpt_360hz.csv")
    signal = frame["ecg_mv"].to_numpy()
    clean = signal - medfilt(medfilt(signal, 71), 215)
    peaks, _ = find_peaks(clean, distance=90, prominence=0.5 * np.percentile(clean, 99.5))
    length = int(np.median(np.diff(peaks)))
    return signal, peaks, signal[peaks[0] - 100 : peaks[0] - 100 + length]


def test_default_gap_keeps_neighbouring_beats_of_a_real_ecg():
    """Beats come faster than the one-beat kernel is long (R-R 278-290 < 295 samples): a
    gap of the span (the old default) hid 7 of them, the default hides none."""
    signal, peaks, kernel = ecg_beats()
    config = DetectConfig(kernel=tuple(kernel), normalize="center")
    motifs, summary = detect_all(signal_from_arrays({"ecg": signal}, block_rows=1000), config)
    on_beat = [any(abs(m.start + 100 - r) <= 36 for m in motifs) for r in peaks]
    # Every beat but the premature one (which scores below the threshold) has its motif.
    assert sum(on_beat) == len(peaks) - 1 == 25
    assert len(motifs) == 25 and summary.suppressed_peaks == 0
    old, old_summary = detect_all(
        signal_from_arrays({"ecg": signal}), DetectConfig(kernel=tuple(kernel), normalize="center", min_gap="1span")
    )
    assert len(old) == 18 and old_summary.suppressed_peaks == 7


def test_a_fraction_of_the_span_applies_to_each_dilation():
    x = np.zeros(120)
    for start in (10, 16, 60, 74):  # two pairs of ramps: 6 apart at dilation 1, 14 apart at dilation 3
        dilation = 1 if start < 50 else 3
        x[start : start + 4 * dilation + 1 : dilation] = [1, 2, 3, 4, 5]
    config = DetectConfig(kernel=(1, 2, 3, 4, 5), dilation=(1, 3), p=9, min_gap="1.2span")
    motifs, summary = detect_all(signal_from_arrays({"x": x}), config)
    # 1.2 spans is 6 samples at dilation 1 (span 5) and 16 at dilation 3 (span 13).
    assert [(m.start, m.dilation) for m in motifs] == [(10, 1), (16, 1), (60, 3)]
    assert summary.suppressed_peaks == 1


@pytest.mark.parametrize("block_rows", [None, 7, 500])
def test_min_gap_as_a_time_uses_the_step_of_the_time_column(block_rows):
    x = np.zeros(3000)
    for start in (100, 130, 1000):
        x[start : start + 3] = [1, 2, 3]
    seconds = np.arange(3000) / 100.0  # 100 Hz
    stamps = np.datetime64("2024-05-01T00:00:00", "ns") + (np.arange(3000) * 10_000_000).astype("timedelta64[ns]")
    for time in (seconds, stamps):
        near, summary = detect_all(
            signal_from_arrays({"x": x}, time=time, block_rows=block_rows),
            DetectConfig(kernel=(1, 2, 3), p=9, min_gap="300ms"),
        )  # 30 samples
        assert [m.start for m in near] == [100, 130, 1000] and summary.suppressed_peaks == 0
        far, summary = detect_all(
            signal_from_arrays({"x": x}, time=time, block_rows=block_rows),
            DetectConfig(kernel=(1, 2, 3), p=9, min_gap="0.31s"),
        )  # 31 samples
        assert [m.start for m in far] == [100, 1000] and summary.suppressed_peaks == 1


def test_min_gap_as_a_time_needs_a_time_column():
    with pytest.raises(MotifscanError, match="^min_gap 2s: a time needs a time column"):
        detect_all(signal_from_arrays({"x": np.arange(10.0)}), DetectConfig(kernel=(1, 2, 3), min_gap="2s"))
    with pytest.raises(MotifscanError, match="does not increase"):
        detect_all(
            signal_from_arrays({"x": np.arange(10.0)}, time=np.zeros(10)), DetectConfig(kernel=(1, 2, 3), min_gap="2s")
        )


class _Onlooker:
    """A watch that looks at nothing: a watched run scans full score tracks."""

    def signal_block(self, block):
        pass

    def score_block(self, block):
        pass


def _summary_counts(summary: RunSummary) -> tuple:
    return (
        summary.samples,
        summary.positions,
        summary.skipped_windows,
        summary.skipped_by_channel,
        summary.suppressed_peaks,
        summary.scored_windows,
        summary.near_unit_cosine_windows,
        summary.large_offset,
        summary.motifs,
    )


def _hostile_channels(seed: int, n: int, offset: float, magnitude: float) -> dict:
    """planted_signal with an offset, a magnitude (1e-300 .. 1e300), constant and zero runs,
    infinities and exact copies of the kernel (windows of |score| exactly 1)."""
    rng = np.random.default_rng(seed)
    channels = planted_signal(seed, n)
    for x in channels.values():
        x += offset
        x *= magnitude
        a = int(rng.integers(0, n))
        x[a : a + int(rng.integers(0, 40))] = rng.choice([0.0, 2.5])
        x[rng.random(n) < 0.001] = rng.choice([np.inf, -np.inf])
        b = int(rng.integers(0, max(1, n - 4)))
        x[b : b + 4] = magnitude * np.array([1.0, 2.0, 3.0, 2.0])[: x[b : b + 4].size]
    return channels


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(5, 6000),
    st.sampled_from([None, 1, 7, 2047, 2048, 2049, 4099]),
    st.sampled_from([1.0, 1e-300, 1e300, 1e-150]),
    st.sampled_from([0.0, 50.0]),
    st.sampled_from([1.0, 2.0, 3.0, 1.5]),
    st.sampled_from([0.0, 0.3, 0.6, 0.95, 1.0]),
    st.sampled_from([{"k": (1, 2, 3, 2)}, {"up": (1, 2, 3, 2), "down": (3, 1, 0), "long": (1, 2, 3, 2, 1, 0, 0)}]),
    st.sampled_from([1, (1, 3)]),
    st.sampled_from(["none", "center", "zscore"]),
    st.sampled_from(["any", "positive", "negative"]),
    st.sampled_from([None, 0, 3, "1span"]),
    st.sampled_from([None, 2]),
    st.sampled_from(["numba", "numba", "auto", "fft"]),
)
def test_fused_detection_equals_detection_on_full_tracks(
    seed, n, block_rows, magnitude, offset, p, threshold, kernels, dilation, normalize, sign, min_gap, top, backend
):
    # A run that only detects scans with the fused candidate test; a watched run scans
    # full score tracks. Motifs and every count of the summary must be the same.
    channels = _hostile_channels(seed, n, offset, magnitude)
    config = DetectConfig(
        kernels=kernels,
        p=p,
        threshold=threshold,
        dilation=dilation,
        normalize=normalize,
        sign=sign,
        min_gap=min_gap,
        top=top,
        backend=backend,
    )
    if n < config.shortest_span:
        return
    fused = Detection(signal_from_arrays(channels, block_rows=block_rows), config)
    full = Detection(signal_from_arrays(channels, block_rows=block_rows), config, watch=_Onlooker())
    assert list(fused) == list(full)
    assert _summary_counts(fused.summary) == _summary_counts(full.summary)


def test_fused_detection_ties_at_the_threshold():
    # The threshold is exactly the |score| of some windows: the fused run keeps them, as the
    # full computation does, and drops those one ulp below.
    channels = _hostile_channels(5, 3000, 0.0, 1.0)
    config = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.5, min_gap=0)
    track = sliding_cosine(channels["a"], np.array(config.kernel), config.p, 1, "numba")
    for tie in np.abs(track.score[np.isfinite(track.score)])[::500]:
        for threshold in (float(tie), float(np.nextafter(tie, 2.0))):
            tied = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=threshold, min_gap=0, backend="numba")
            fused = Detection(signal_from_arrays(channels, block_rows=1000), tied)
            full = Detection(signal_from_arrays(channels, block_rows=1000), tied, watch=_Onlooker())
            assert list(fused) == list(full)
            assert _summary_counts(fused.summary) == _summary_counts(full.summary)


@pytest.mark.parametrize("normalize", ["none", "center"])
def test_fused_fft_detection_scans_the_buffers_of_a_full_run(normalize):
    # The FFT's last bits depend on where its segments start: a fused run on the FFT scans
    # the joined buffers a watched run scans (not the block in place), so the two agree
    # bit for bit. Threshold 0 makes every scored window a candidate; the in-place pieces
    # gave other bits for most of these signals.
    for seed in range(4):
        rng = np.random.default_rng(seed)
        n, block_rows = int(rng.integers(20, 3000)), int(rng.integers(5, 400))
        channels = _hostile_channels(seed, n, 0.0, 1.0)
        config = DetectConfig(
            kernels={"k": (1, 2, 3, 2)}, p=1.0, threshold=0.0, min_gap=0, normalize=normalize, backend="fft"
        )
        fused = Detection(signal_from_arrays(channels, block_rows=block_rows), config)
        full = Detection(signal_from_arrays(channels, block_rows=block_rows), config, watch=_Onlooker())
        assert list(fused) == list(full), seed


def test_a_detect_run_scans_fused_and_keeps_the_offset_count():
    # CO2-like: an offset far above the swing makes almost every window point like a flat
    # kernel; the fused run, which finishes few windows, still counts them.
    rng = np.random.default_rng(2)
    x = 315.0 + np.cumsum(rng.standard_normal(300_000)) * 0.01
    config = DetectConfig(kernel=(1, 1, 1.05, 1), p=3, threshold=0.9999, backend="numba")
    run = Detection(signal_from_arrays({"co2": x}, block_rows=70_000), config)
    watched = Detection(signal_from_arrays({"co2": x}, block_rows=70_000), config, watch=_Onlooker())
    assert list(run) == list(watched)
    assert run.summary.large_offset and watched.summary.large_offset
    assert _summary_counts(run.summary) == _summary_counts(watched.summary)
    scanner = StreamScanner(["co2"], config, candidates_above=run._fused_threshold())
    block = scanner.push(SignalBlock({"co2": x}))
    assert block is not None and isinstance(block.tracks["co2"], CandidateTrack)
    assert block.tracks["co2"].position.size < x.size // 10


def test_a_second_run_in_the_process_starts_no_warm_up(monkeypatch):
    # The warm-up loads the compiled scan while the first block is read; once loaded in this
    # process, a later run (the Python API called again) has nothing to warm.
    import threading

    import motifscan

    x = np.cumsum(np.random.default_rng(4).standard_normal(5000))
    kernel = np.array([1.0, 2.0, 3.0])
    first = motifscan.detect(x, kernel, p=3, threshold=0.9, backend="numba")
    started = []
    start = threading.Thread.start

    def counted(self):
        started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    again = motifscan.detect(x, kernel, p=3, threshold=0.9, backend="numba")
    assert "motifscan-warm-up" not in started
    assert [motif.start for motif in again] == [motif.start for motif in first]
