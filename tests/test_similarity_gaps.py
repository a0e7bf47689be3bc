"""Gap-aware joint scores: the Numba path against the NumPy oracle with NaN runs in random
channels, the oracle against first principles, and block invariance."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import cosine_tolerance, score_tolerance

from motifscan.similarity import span
from motifscan.similarity.gaps import channel_masks, scan_kernels_gaps, whole_channels
from motifscan.similarity.multi import scan_kernels

NORMALIZE = ["none", "center", "zscore"]


@st.composite
def gappy_signals(draw):
    """A (C, n) signal of noise at a random scale and offset, with NaN or inf runs placed in
    random channels, and a bank of K kernels (C, m) that are never constant."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = draw(st.integers(2, 4))
    m = draw(st.integers(2, 10))
    dilation = draw(st.integers(1, 3))
    n = span(m, dilation) + draw(st.integers(0, 300))
    level = 10.0 ** draw(st.integers(-200, 200))
    signal = (rng.standard_normal((channels, n)) + draw(st.sampled_from([0.0, 3.0]))) * level
    for _ in range(draw(st.integers(0, 6))):
        c = int(rng.integers(channels))
        start = int(rng.integers(n))
        signal[c, start : start + int(rng.integers(1, 40))] = rng.choice([np.nan, np.inf, -np.inf])
    kernels = rng.standard_normal((draw(st.integers(1, 3)), channels, m))
    kernels[:, :, 0] += 2 * np.abs(kernels).max()
    return signal, kernels, dilation


def assert_gap_tracks_close(fast, ref, taps):
    tol = cosine_tolerance(taps)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a.present, b.present)
        np.testing.assert_array_equal(np.isnan(a.score), np.isnan(b.score))
        np.testing.assert_allclose(a.cosine, b.cosine, rtol=0, atol=tol, equal_nan=True)
        np.testing.assert_allclose(a.score, b.score, rtol=0, atol=score_tolerance(taps, 2.0, tol), equal_nan=True)
        # scale = (w·k) / |k_P|²: relative to the window's size in kernel units
        bound = np.nanmax(np.abs(b.scale)) if np.isfinite(b.scale).any() else 1.0
        np.testing.assert_allclose(a.scale, b.scale, rtol=1e-9, atol=tol * bound, equal_nan=True)
        if hasattr(b, "distance"):
            np.testing.assert_allclose(a.distance, b.distance, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(gappy_signals(), st.sampled_from(NORMALIZE), st.integers(1, 4), st.sampled_from([0.0, 0.5]))
def test_numba_matches_reference(drawn, normalize, least, floor):
    signal, kernels, dilation = drawn
    least = min(least, signal.shape[0])
    floor *= np.nanmax(np.abs(signal[np.isfinite(signal)]), initial=1.0)
    fast = scan_kernels_gaps(signal, kernels, 2.0, dilation, normalize, floor, least, "numba")
    ref = scan_kernels_gaps(signal, kernels, 2.0, dilation, normalize, floor, least, "numpy")
    assert_gap_tracks_close(fast, ref, kernels.shape[1] * kernels.shape[2])


@settings(max_examples=25, deadline=None)
@given(gappy_signals(), st.sampled_from(NORMALIZE), st.integers(1, 3), st.data())
def test_block_invariant(drawn, normalize, least, data):
    """Scanning any cut of the signal (keeping span - 1 samples) gives the same windows."""
    signal, kernels, dilation = drawn
    whole = scan_kernels_gaps(signal, kernels, 1.0, dilation, normalize, 0.0, least, "numba")
    keep = span(kernels.shape[2], dilation) - 1
    n_out = whole[0].score.shape[0]
    cut = data.draw(st.integers(1, max(1, n_out)))
    first = scan_kernels_gaps(signal[:, : cut + keep], kernels, 1.0, dilation, normalize, 0.0, least, "numba")
    second = scan_kernels_gaps(signal[:, cut:], kernels, 1.0, dilation, normalize, 0.0, least, "numba")
    for joined, a, b in zip(whole, first, second):
        for field in range(len(joined)):
            np.testing.assert_array_equal(np.concatenate([a[field], b[field]]), joined[field])


@settings(max_examples=30, deadline=None)
@given(gappy_signals())
def test_whole_channels_at_positions_equals_the_counting_version(drawn):
    from motifscan.similarity.gaps import whole_channels_at

    signal, kernels, dilation = drawn
    m = kernels.shape[2]
    whole = whole_channels(signal, m, dilation)
    positions = np.arange(whole.shape[0], dtype=np.int64)[::2]
    np.testing.assert_array_equal(whole_channels_at(signal, positions, m, dilation), whole[positions])


def test_whole_channels_counts_dilated_taps():
    signal = np.arange(2 * 20, dtype=float).reshape(2, 20)
    signal[0, 7] = np.nan
    whole = whole_channels(signal, 3, 2)  # taps i, i + 2, i + 4
    bad = [i for i in range(whole.shape[0]) if 7 in (i, i + 2, i + 4)]
    assert sorted(np.flatnonzero(~whole[:, 0]).tolist()) == bad == [3, 5, 7]
    assert whole[:, 1].all()
    assert channel_masks(whole)[3] == 0b10 and channel_masks(whole)[0] == 0b11


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_missing_channel_scores_present_ones(backend):
    """From first principles: the cosine of the concatenated present channels with the
    kernel rows of the same channels; a kernel row of the missing channel does not count."""
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((1, 3, 8))
    signal = rng.standard_normal((3, 40))
    signal[:, 10:18] = 0.5 * kernel[0]
    signal[1, 12] = np.nan
    (track,) = scan_kernels_gaps(signal, kernel, 1.0, 1, "none", 0.0, 2, backend)
    assert track.present[10] == 0b101
    assert track.cosine[10] == pytest.approx(1.0, abs=1e-12)
    assert track.scale[10] == pytest.approx(0.5, rel=1e-12)
    window = signal[[0, 2], 6:14].ravel()
    rows = kernel[0, [0, 2]].ravel()
    expected = window @ rows / (np.linalg.norm(window) * np.linalg.norm(rows))
    assert track.cosine[6] == pytest.approx(expected, abs=1e-12)
    assert track.present[6] == 0b101
    assert track.present[2] == 0b111
    # Fewer than two channels whole: unscored.
    signal[0:2, 30] = np.nan
    (track,) = scan_kernels_gaps(signal, kernel, 1.0, 1, "none", 0.0, 2, backend)
    assert math.isnan(track.score[25]) and track.present[25] == 0


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_default_is_the_plain_joint_scan(normalize):
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((3, 200))
    signal[1, 50:60] = np.nan
    kernels = rng.standard_normal((2, 3, 6))
    plain = scan_kernels(signal, kernels, 2.0, 2, normalize, 0.0, "numba")
    for least in (None, 3):
        gapped = scan_kernels_gaps(signal, kernels, 2.0, 2, normalize, 0.0, least, "numba")
        for a, b in zip(gapped, plain):
            for field in range(len(b)):
                np.testing.assert_array_equal(a[field], b[field])
            np.testing.assert_array_equal(a.present, np.where(np.isnan(b.score), 0, 0b111))


def test_fft_scan_with_gaps_matches_reference():
    """Long kernels take the FFT for whole windows; windows with gaps are redone directly."""
    rng = np.random.default_rng(9)
    signal = rng.standard_normal((2, 3000))
    signal[0, 1000:1100] = np.nan
    kernels = rng.standard_normal((1, 2, 300))
    fast = scan_kernels_gaps(signal, kernels, 1.0, 1, "center", 0.0, 1, "fft")
    ref = scan_kernels_gaps(signal, kernels, 1.0, 1, "center", 0.0, 1, "numpy")
    assert not np.isnan(ref[0].score).any()
    np.testing.assert_array_equal(fast[0].present, ref[0].present)
    np.testing.assert_allclose(fast[0].cosine, ref[0].cosine, atol=1e-9)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(gappy_signals(), st.sampled_from(NORMALIZE), st.integers(1, 4), st.data())
def test_weighted_scan_matches_the_definition(drawn, normalize, least, data):
    """Channel weights (some 0) with missing channels, against the window-by-window oracle."""
    from motifscan.similarity.gaps import scan_joint
    from motifscan.similarity.reference import scan_joint_reference

    signal, kernels, dilation = drawn
    least = min(least, signal.shape[0])
    signal = signal / np.nanmax(np.abs(np.where(np.isfinite(signal), signal, 0)), initial=1.0)  # (loop oracle)
    weights = np.array(
        data.draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.25, 1.0, 3.0]), min_size=signal.shape[0], max_size=signal.shape[0]),
                min_size=kernels.shape[0],
                max_size=kernels.shape[0],
            )
        )
    )
    weights[:, 0] += 0.5  # never all zero
    fast = scan_joint(signal, kernels, weights, 2.0, dilation, normalize, 0.1, least, "numba")
    ref = scan_joint_reference(signal, kernels, weights, 2.0, dilation, normalize, 0.1, least)
    assert_gap_tracks_close(fast, ref, kernels.shape[1] * kernels.shape[2])


def test_weights_change_scores_as_defined():
    """Weight 0 removes a channel; weighting a channel up pulls the cosine towards its own."""
    from motifscan.similarity.gaps import scan_joint

    rng = np.random.default_rng(11)
    signal = rng.standard_normal((2, 30))
    kernel = rng.standard_normal((1, 2, 5))
    (only_first,) = scan_joint(signal, kernel, [[1.0, 0.0]], 1.0, 1, "none", 0.0, None, "numba")
    (alone,) = scan_kernels(signal[:1], kernel[:, :1], 1.0, 1, "none", 0.0, "numba")
    np.testing.assert_allclose(only_first.cosine, alone.cosine, atol=1e-14)
    np.testing.assert_allclose(only_first.scale, alone.scale, rtol=1e-13)
    (weighted,) = scan_joint(signal, kernel, [[4.0, 1.0]], 1.0, 1, "none", 0.0, None, "numba")
    (doubled,) = scan_kernels(signal * [[2.0], [1.0]], kernel * [[[2.0], [1.0]]], 1.0, 1, "none", 0.0, "numba")
    np.testing.assert_allclose(weighted.cosine, doubled.cosine, atol=1e-14)
    w = signal[:, 3:8]
    k = kernel[0]
    a = np.array([[4.0], [1.0]])
    expected = np.sum(a * w * k) / np.sqrt(np.sum(a * w * w) * np.sum(a * k * k))
    assert weighted.cosine[3] == pytest.approx(expected, abs=1e-14)
