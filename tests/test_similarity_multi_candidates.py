"""The fused batch scans (``scan_candidates``, direct and FFT) against the full tracks of
``scan_kernels`` of the same backend: every candidate and every unscored window finished,
with the full scan's values bit for bit, on hostile inputs, at ties and at every seam."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.scan_plan import LARGE_OFFSET_COSINE
from motifscan.similarity import span
from motifscan.similarity import multi_candidates, multi_fft
from motifscan.similarity.multi import scan_candidates, scan_kernels
from motifscan.similarity.cpu import candidate_bounds
from motifscan.similarity.reference import candidates_of_track
from motifscan.suppression import candidate_mask
from motifscan.similarity.window import FUSED_MARGIN
from strategies import signals
from test_similarity_multi import NORMALIZE, kernel_banks
from test_similarity_multi_fft import small_segments


def assert_fused_equals_full(x, bank, p, dilation, normalize, floor, backend, threshold):
    """scan_candidates against candidates_of_track of scan_kernels; returns the full tracks."""
    full = scan_kernels(x, bank, p, dilation, normalize, floor, backend)
    fused = scan_candidates(x, bank, p, dilation, normalize, floor, backend, threshold, LARGE_OFFSET_COSINE)
    assert len(fused) == len(full) == bank.shape[0]
    for k, (got, whole) in enumerate(zip(fused, full)):
        ref = candidates_of_track(whole, threshold, LARGE_OFFSET_COSINE)
        assert got.length == ref.length == whole.score.shape[0]
        assert np.all(np.diff(got.position) > 0), k
        for name in whole._fields:  # bit for bit where finished, NaN where NaN
            assert np.array_equal(getattr(got, name), getattr(whole, name)[got.position], equal_nan=True), (k, name)
        assert (got.distance is None) == (normalize != "zscore")
        assert np.isin(ref.position, got.position).all(), k
        for sign in ("any", "positive", "negative"):
            chosen = got.position[candidate_mask(got.score, threshold, sign)]
            assert np.array_equal(chosen, np.flatnonzero(candidate_mask(whole.score, threshold, sign))), (k, sign)
        with np.errstate(invalid="ignore"):
            near = got.near_unit_cosine + np.count_nonzero(np.abs(got.cosine) > LARGE_OFFSET_COSINE)
            assert near == np.count_nonzero(np.abs(whole.cosine) > LARGE_OFFSET_COSINE), k
    return full


def _ties(full, seed):
    """A threshold equal to some window's |score|, and one ulp either side."""
    scores = np.concatenate([track.score for track in full])
    scored = np.abs(scores[np.isfinite(scores) & (scores != 0)])
    if not scored.size:
        return []
    tie = float(np.random.default_rng(seed).choice(scored))
    return [tie, float(np.nextafter(tie, 0.0)), float(np.nextafter(tie, 2.0))]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 2).flatmap(lambda c: st.tuples(st.just(c), kernel_banks(c))),
    signals(min_size=40, max_size=3000),
    st.sampled_from(NORMALIZE),
    st.integers(1, 3),
    st.sampled_from([0.0, 0.5]),
    st.sampled_from([1.0, 3.0, 0.7]),
    st.sampled_from([0.0, 1e-300, 0.2, 0.6, 0.9, 1.0]),
    st.sampled_from(["numba", "fft"]),
    st.integers(0, 2**32 - 1),
)
def test_fused_batch_scans_equal_their_full_tracks(drawn, x, normalize, dilation, floor, p, threshold, backend, seed):
    channels, bank = drawn
    rng = np.random.default_rng(seed)
    signal = np.stack([x] + [np.roll(x, 7) * 0.5 + rng.standard_normal(x.size) for _ in range(channels - 1)])
    if signal.shape[1] < span(bank.shape[2], dilation):
        return
    # A planted copy of the first kernel: some windows reach any threshold.
    start = int(rng.integers(0, signal.shape[1] - span(bank.shape[2], dilation) + 1))
    signal[:, start : start + span(bank.shape[2], dilation) : dilation] = 3.0 * bank[0] + 1.0
    with small_segments():
        full = assert_fused_equals_full(signal, bank, p, dilation, normalize, floor, backend, threshold)
        for tie in _ties(full, seed):
            assert_fused_equals_full(signal, bank, p, dilation, normalize, floor, backend, tie)


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("backend, m", [("numba", 20), ("numba", 3), ("fft", 300)])
def test_fused_bank_on_a_hostile_walk(normalize, backend, m):
    # NaN, constant stretches, a 1e6 offset, tiny and huge stretches, near-copies of two
    # kernels (the FFT's z-normalised scan redoes the nearest windows directly), a bank of
    # five, across the blocks, FFT batches and stretches (made short) of both backends.
    rng = np.random.default_rng(m)
    bank = rng.standard_normal((5, 1, m))
    x = np.cumsum(rng.standard_normal(60_000)) + 1e6
    x[5000 : 5000 + m] = 1e6 + 2 * bank[1, 0] + 1e-7 * rng.standard_normal(m)
    x[9000 : 9000 + m] = 1e6 - 3 * bank[3, 0]
    x[12_000:12_100] = np.nan
    x[20_000:20_500] = 7.0
    x[30_000:31_000] = 1e-200 * rng.standard_normal(1000)
    x[40_000:41_000] = 1e200 * rng.standard_normal(1000)
    with (
        mock.patch.object(multi_candidates, "STRETCH_WINDOWS", 3000),
        mock.patch.object(multi_fft, "FINISH_BLOCK", 1000),
    ):
        for threshold in (0.0, 0.3, 0.95):
            full = assert_fused_equals_full(x, bank, 3.0, 1, normalize, 0.0, backend, threshold)
        if normalize != "none":  # (uncentred, the 1e6 offset hides every shape)
            assert np.count_nonzero(np.abs(full[1].score) >= 0.95) >= 1
        for tie in _ties(full, m):
            assert_fused_equals_full(x, bank, 3.0, 1, normalize, 0.0, backend, tie)


def test_the_fft_test_is_widened_by_its_cosine_error():
    # Windows the full FFT scan redoes directly may move by up to COSINE_ERROR: the FFT's
    # test lowers the threshold's cosine by twice that before squaring.
    c = 0.5 ** (1 / 9)
    lower, near_lower, near_upper = candidate_bounds(0.5, 9.0, 0.99, multi_fft.COSINE_ERROR)
    assert lower == pytest.approx((c - 2 * multi_fft.COSINE_ERROR) ** 2 * (1 - FUSED_MARGIN), rel=1e-15)
    assert candidate_bounds(0.5, 9.0, 0.99)[0] > lower
    assert near_lower < 0.99**2 < near_upper
    assert candidate_bounds(0.0, 9.0, 0.99, multi_fft.COSINE_ERROR)[0] == 0.0
    assert candidate_bounds(1e-12, 1.0, 0.99, multi_fft.COSINE_ERROR)[0] == 0.0  # below the widening


def test_a_fused_bank_keeps_memory_to_its_candidates():
    # 64 kernels over 2e5 positions: full tracks would be 64 x 2e5 x 4 floats (400 MB);
    # the fused scan returns only the candidates.
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal(200_000))
    bank = rng.standard_normal((64, 1, 200))
    found = scan_candidates(x, bank, 3.0, 1, "center", 0.0, "auto", 0.9, LARGE_OFFSET_COSINE)
    assert len(found) == 64
    assert sum(track.position.size for track in found) < 1000
    assert all(track.length == x.size - 199 for track in found)
