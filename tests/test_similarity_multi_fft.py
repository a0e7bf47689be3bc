"""The FFT path of the batch scan (any normalisation, noise floor, joint channels) against
the NumPy oracle, STUMPY and exact Pearson r, on hostile inputs and at the seams of its
blocks."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from motifscan.similarity import CENTERED_FFT_MIN_TAPS, FFT_MIN_TAPS, fft, span
from motifscan.similarity import multi_fft, spectra
from motifscan.similarity.multi import scan_kernels
from motifscan.similarity.multi_cpu import scan_kernels_numba
from motifscan.similarity.reference import scan_kernels_reference
from strategies import signals
from test_similarity_multi import (
    NORMALIZE,
    assert_scans_close,
    centring_condition,
    kernel_banks,
    pearson_exact,
    stumpy_inputs,
)

#: Cosine tolerance of the FFT path. Its dot products err by about eps * log2(N) times the
#: shifted segment's norm, and a window below 1/QUIET_RATIO of that norm is recomputed, so
#: <= 2.2e-16 * 20 * 1e4 ~ 5e-11 of |w||k|; the rolling centred norms err by at most
#: 1/CANCEL_RATIO = 1e-10 relative before a window is recomputed. 1e-9 is that sum with a
#: margin of about seven, and far below what a wrong formula or a lost digit of a 1e6
#: offset costs (~1e-6 and more).
COSINE_TOL = 1e-9


def small_segments():
    """Short FFT segments and batches, so small hypothesis inputs cross their seams."""
    return mock.patch.multiple(fft, MIN_FFT=16, BATCH_SAMPLES=1024)


def constant_windows(x, m, dilation):
    windows = sliding_window_view(x, span(m, dilation))[:, ::dilation]
    return np.isfinite(windows).all(axis=1) & (windows.max(axis=1) == windows.min(axis=1))


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 3),
    st.data(),
    st.integers(1, 3),
    st.sampled_from(NORMALIZE),
    st.sampled_from([0.0, 0.5, 1e-3]),
    st.sampled_from([1.0, 3.0]),
)
def test_fft_equals_reference(channels, data, dilation, normalize, noise_floor, p):
    size = data.draw(st.integers(1, 2000 // channels))
    signal = np.stack([data.draw(signals(min_size=size, max_size=size)) for _ in range(channels)])
    bank = data.draw(kernel_banks(channels))
    m = bank.shape[2]
    if size < span(m, dilation):
        return
    with small_segments():
        fast = multi_fft.scan_kernels_fft(signal, bank, p, dilation, normalize, noise_floor)
    ref = scan_kernels_reference(signal, bank, p, dilation, normalize, noise_floor)
    # Centring: the oracle rounds each window's mean relative to its magnitude (see
    # centring_condition); the FFT path's centred sums do not depend on that rounding.
    condition = 1.0 if normalize == "none" else centring_condition(signal, m, dilation)
    assert_scans_close(fast, ref, channels * m, p, COSINE_TOL, condition)
    if normalize != "none":
        constant = np.all([constant_windows(x, m, dilation) for x in signal], axis=0)
        for track in fast:  # exactly 0, as the direct scan gives them
            assert np.all(track.score[constant] == 0) and np.all(track.cosine[constant] == 0)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(stumpy_inputs())
def test_zscore_distance_equals_stumpy_mass(data):
    stumpy = pytest.importorskip("stumpy")
    x, kernel = data
    with small_segments():
        (track,) = scan_kernels(x, kernel[None, :], 1.0, 1, "zscore", 0.0, "fft")
    expected = stumpy.mass(kernel, x, normalize=True)
    (oracle,) = scan_kernels(x, kernel[None, :], 1.0, 1, "zscore", 0.0, "numpy")
    # The promise of docs/method.md. Near d = 0 STUMPY's own rolling statistics err by
    # about 1e-8 (a drawn window of 1e3 + noise: 9.39665e-5 where exact rational arithmetic
    # gives 9.39547e-5, as do all our backends), so there the NumPy oracle is the judge.
    far = expected > 1e-3
    np.testing.assert_allclose(track.distance[far], expected[far], rtol=0, atol=1e-8)
    np.testing.assert_allclose(track.distance, oracle.distance, rtol=0, atol=1e-8)


def test_center_is_pearson_r_on_a_large_offset():
    # 1e6 + noise: an FFT of the raw samples would keep only ~6 digits of the noise's dot
    # products; the median shift keeps them all.
    rng = np.random.default_rng(3)
    x = 1e6 + rng.standard_normal(3000) + np.linspace(0, 50, 3000)
    kernel = rng.standard_normal(40)
    with small_segments():
        (track,) = scan_kernels(x, kernel[None, :], 1.0, 2, "center", 0.0, "fft")
    for i in range(0, track.cosine.size, 41):
        window = x[i : i + span(40, 2) : 2]
        assert track.cosine[i] == pytest.approx(pearson_exact(window, kernel), abs=COSINE_TOL)


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("m, dilation", [(700, 2), (1500, 1)])
def test_segments_a_million_apart_at_the_seams(normalize, m, dilation):
    # Real segment lengths (FFT of 2**14): a level jump of 1e6, a part scaled by 1e6, NaN,
    # inf, constant runs and 1e+-300 values across the FFT segments' and rolling blocks' seams
    # (blocks of 256 positions, and of m / 4 = 375 for 1500 taps).
    rng = np.random.default_rng(8)
    x = np.cumsum(rng.standard_normal(60_000)) + rng.standard_normal(60_000)
    step = fft.fft_length(span(m, dilation)) - span(m, dilation) + 1
    x[step - 3000 : step + 2000] += 1e6
    x[2 * step - 500 : 2 * step + 4000] *= 1e6
    x[step + 5000] = np.nan
    x[2 * step + 7000] = np.inf
    x[3 * step - 2000 : 3 * step + 1500] = 1e6 + 0.1
    x[52_000:54_000] *= 1e-300
    x[56_000:57_000] = 1e300 * rng.standard_normal(1000)
    bank = rng.standard_normal((3, 1, m))
    fast = scan_kernels(x, bank, 3.0, dilation, normalize, 0.0, "fft")
    # The direct scan is the oracle here (it equals the NumPy one, test_similarity_multi,
    # which would need gigabytes for 60 000 windows of 700 taps).
    direct = scan_kernels_numba(x[None, :], bank, 3.0, dilation, normalize, 0.0)
    assert_scans_close(fast, direct, m, 3.0, COSINE_TOL)
    if normalize != "none":
        assert np.all(fast[0].cosine[constant_windows(x, m, dilation)] == 0)


@pytest.mark.slow
def test_joint_channels_a_million_apart_with_a_noise_floor():
    # A loud channel beside a quiet one, a zero channel, NaN in one channel only, across
    # real FFT segments: every channel's dot products keep their own precision.
    rng = np.random.default_rng(11)
    m, n = 700, 40_000
    x = np.stack([np.cumsum(rng.standard_normal(n)), 1e-6 * rng.standard_normal(n), np.zeros(n)])
    x[0, 20_000:23_000] *= 1e6
    x[1, 30_000] = np.nan
    x[2, 5_000:9_000] = rng.standard_normal(4000)
    bank = rng.standard_normal((2, 3, m))
    for normalize in NORMALIZE:
        fast = scan_kernels(x, bank, 3.0, 1, normalize, 0.25, "fft")
        direct = scan_kernels_numba(x, bank, 3.0, 1, normalize, 0.25)
        assert_scans_close(fast, direct, 3 * m, 3.0, COSINE_TOL)


def test_auto_takes_the_fft_from_the_taps_per_channel():
    rng = np.random.default_rng(9)
    x = rng.standard_normal(5000)
    bank = rng.standard_normal((2, 1, FFT_MIN_TAPS))
    with mock.patch.object(multi_fft, "scan_kernels_fft", wraps=multi_fft.scan_kernels_fft) as spy:
        for normalize in NORMALIZE:
            scan_kernels(x, bank, 2.0, 1, normalize, 0.1, "auto")
        scan_kernels(np.stack([x, x]), np.concatenate([bank, bank], axis=1), 2.0, 1, "center", 0.0, "auto")
        assert spy.call_count == 4
        scan_kernels(x, bank[:, :, :64], 2.0, 1, "center", 0.0, "auto")  # short: direct
        scan_kernels(x, bank[:, :, :128], 2.0, 1, "none", 0.1, "auto")  # plain: direct below 256
        # Two channels of fewer taps than FFT_MIN_TAPS, more together: each channel's FFT
        # costs as much as a direct scan of FFT_MIN_TAPS taps, so the direct scan is cheaper.
        short = bank[:, :, : FFT_MIN_TAPS * 5 // 8]
        scan_kernels(np.stack([x, x]), np.concatenate([short, short], axis=1), 2.0, 1, "none", 0.1, "auto")
        assert spy.call_count == 4
        # Centred scans take the FFT from fewer taps (their direct scan costs more per tap).
        scan_kernels(x, bank[:, :, :CENTERED_FFT_MIN_TAPS], 2.0, 1, "center", 0.0, "auto")
        scan_kernels(x, bank[:, :, :CENTERED_FFT_MIN_TAPS], 2.0, 1, "zscore", 0.0, "auto")
        assert spy.call_count == 6


def test_segments_are_shifted_by_their_mean():
    # What keeps 1e6 + noise on the FFT (not recomputed directly as too quiet for its
    # segment): the transformed segment holds the deviations from its mean (of all shifts
    # the one with the smallest sum of squares).
    x = 1e6 + np.random.default_rng(10).standard_normal(20_000)
    plan = fft._Plan(np.ones(8), 1, 1000, 1)
    segment = x[: plan.length]
    for shifted, expected in [(True, np.sum((segment - np.mean(segment)) ** 2)), (False, np.sum(segment**2))]:
        plan.segment_spectra(x, 0, 1, shifted)
        assert plan.energies[0] * 4.0 ** plan.exponents[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("backend, m", [("numba", 20), ("fft", 160), ("fft", 300)])
def test_a_bank_gives_each_kernel_exactly_its_own_scan(normalize, backend, m):
    # K kernels share each segment's forward FFT and the window norms; each kernel's track
    # must be bit for bit the track of a scan of that kernel alone, so a run with a bank
    # finds exactly the motifs of K separate runs. Planted near-copies put some windows of
    # one kernel (not the others) close enough to need the direct recomputation (zscore).
    rng = np.random.default_rng(m)
    bank = rng.standard_normal((5, 1, m))
    x = np.cumsum(rng.standard_normal(30_000)) + 1e3
    x[5000 : 5000 + m] = 1e3 + 2 * bank[1, 0] + 1e-7 * rng.standard_normal(m)
    x[9000 : 9000 + m] = 1e3 - 3 * bank[3, 0]
    x[12_000:12_100] = np.nan
    together = scan_kernels(x, bank, 3.0, 1, normalize, 0.0, backend)
    for k in range(bank.shape[0]):
        (alone,) = scan_kernels(x, bank[k : k + 1], 3.0, 1, normalize, 0.0, backend)
        for name in alone._fields:
            np.testing.assert_array_equal(getattr(together[k], name), getattr(alone, name), err_msg=(k, name))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2),
    st.data(),
    st.integers(1, 2),
    st.sampled_from(NORMALIZE),
    st.sampled_from([0.0, 1e-3]),
    st.sampled_from([1 << 6, 1 << 8, 1 << 22]),
    st.sampled_from([0, 1 << 30]),
)
def test_bank_chunks_give_each_kernel_exactly_its_own_scan(
    channels, data, dilation, normalize, noise_floor, bank_samples, serial_outputs
):
    # The bank's products, inverse transforms and dot products run a chunk of kernels at a
    # time (one kernel per chunk up to all of them), serially or in parallel: whatever the
    # cut, each kernel's track is bit for bit that of a scan of the kernel alone, on
    # hostile signals (NaN, inf, constant stretches, 1e+-300) with several channels.
    size = data.draw(st.integers(1, 1500 // channels))
    signal = np.stack([data.draw(signals(min_size=size, max_size=size)) for _ in range(channels)])
    first = data.draw(kernel_banks(channels))
    m = first.shape[2]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    bank = np.concatenate([first, rng.standard_normal((data.draw(st.integers(0, 6)), channels, m))])
    if size < span(m, dilation):
        return
    patches = mock.patch.multiple(multi_fft, BANK_SAMPLES=bank_samples, SERIAL_OUTPUTS=serial_outputs)
    with small_segments(), patches, np.errstate(all="ignore"):
        together = multi_fft.scan_kernels_fft(signal, bank, 3.0, dilation, normalize, noise_floor)
        for k in range(bank.shape[0]):
            (alone,) = multi_fft.scan_kernels_fft(signal, bank[k : k + 1], 3.0, dilation, normalize, noise_floor)
            for name in alone._fields:
                np.testing.assert_array_equal(getattr(together[k], name), getattr(alone, name), err_msg=(k, name))


def test_bank_spectra_are_kept_between_calls_and_bounded():
    # A stream is scanned piece by piece with one bank: its kernel spectra are transformed
    # once, a scan with them cached gives the same track, and the cache stays within its
    # bytes (banks that do not fit are not kept).
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal(40_000))
    bank = rng.standard_normal((3, 1, 300))
    spectra._spectra_cache.clear()
    first = multi_fft.scan_kernels_fft(x[None], bank, 3.0, 1, "center", 0.0)
    assert len(spectra._spectra_cache) == 1
    (cached,) = spectra._spectra_cache.values()
    assert not cached[0].flags.writeable
    again = multi_fft.scan_kernels_fft(x[None], bank, 3.0, 1, "center", 0.0)
    assert len(spectra._spectra_cache) == 1
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.score, b.score)
    other = bank.copy()
    other[1, 0, 7] += 1.0  # one tap differs: another bank
    changed = multi_fft.scan_kernels_fft(x[None], other, 3.0, 1, "center", 0.0)
    assert len(spectra._spectra_cache) == 2
    assert not np.array_equal(changed[1].score, first[1].score)
    np.testing.assert_array_equal(changed[0].score, first[0].score)
    with mock.patch.object(spectra, "SPECTRA_CACHE_BYTES", cached[0].nbytes):
        multi_fft.scan_kernels_fft(x[None], bank[:2], 3.0, 1, "center", 0.0)
        assert sum(entry[0].nbytes for entry in spectra._spectra_cache.values()) <= cached[0].nbytes
        spectra._spectra_cache.clear()
        multi_fft.scan_kernels_fft(x[None], np.concatenate([bank, bank]), 3.0, 1, "center", 0.0)
        assert not spectra._spectra_cache
