"""The FFT overlap-save backend against the NumPy oracle and a long-double reference."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.similarity import (
    CENTERED_FFT_MIN_TAPS,
    FFT_MIN_TAPS,
    PLAIN_FFT_MIN_TAPS,
    fft,
    resolve_backend,
    sliding_cosine,
    sliding_dot,
    span,
)
from motifscan.similarity.fft import sliding_cosine_fft, sliding_dot_fft
from motifscan.similarity.reference import (
    precision_signals,
    sliding_cosine_longdouble,
    sliding_cosine_reference,
    sliding_dot_reference,
)
from strategies import assert_dots_close, assert_tracks_close, kernels, signals

# The FFT's round-off in a dot product is ~ eps * log2(N) of |segment| * |kernel|, and
# windows quieter than their segment by more than QUIET_RATIO are recomputed directly,
# so relative to a window it is at most ~ eps * log2(N) * QUIET_RATIO ~ 4e-11 (module
# notes of fft.py). 1e-9 is the project's promise for every backend and leaves a margin
# of 25 for the constant of the FFT's error bound; bugs err by far more.
FFT_COSINE_TOL = 1e-9


@pytest.fixture
def small_batches(monkeypatch):
    # Several segments per batch and several batches, on inputs a test can afford.
    monkeypatch.setattr(fft, "MIN_FFT", 64)
    monkeypatch.setattr(fft, "BATCH_SAMPLES", 512)


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(signals(), kernels(), st.integers(1, 5), st.sampled_from([0.5, 0.7, 1.0, 1.5, 3.0, 9.0]))
def test_fft_equals_reference(x, kernel, dilation, p):
    if x.size < span(kernel.size, dilation):
        return
    fast = sliding_cosine_fft(x, kernel, p, dilation)
    ref = sliding_cosine_reference(x, kernel, p, dilation)
    assert_tracks_close(fast, ref, x, kernel, p, dilation, cosine_tol=FFT_COSINE_TOL)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(signals(max_size=1500), kernels(max_size=20), st.integers(1, 3))
def test_segment_and_batch_boundaries_do_not_matter(x, kernel, dilation):
    if x.size < span(kernel.size, dilation):
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fft, "MIN_FFT", 64)
        patch.setattr(fft, "BATCH_SAMPLES", 512)
        fast = sliding_cosine_fft(x, kernel, 2.0, dilation)
        dots = sliding_dot_fft(x, kernel, dilation)
    ref = sliding_cosine_reference(x, kernel, 2.0, dilation)
    assert_tracks_close(fast, ref, x, kernel, 2.0, dilation, cosine_tol=FFT_COSINE_TOL)
    # The FFT errs in units of |w| * |k| (its cosine tolerance, before dividing by them).
    assert_dots_close(
        dots, sliding_dot_reference(x, kernel, dilation), x, kernel, dilation, relative=FFT_COSINE_TOL, norms=True
    )


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(signals(), kernels(), st.integers(1, 5))
def test_fft_dot_equals_reference(x, kernel, dilation):
    if x.size < span(kernel.size, dilation):
        return
    assert_dots_close(
        sliding_dot_fft(x, kernel, dilation),
        sliding_dot_reference(x, kernel, dilation),
        x,
        kernel,
        dilation,
        relative=FFT_COSINE_TOL,
        norms=True,
    )


def test_a_window_whose_terms_overflow_but_cancel():
    # 1e46 * 2e262 - 2e46 * 1e262 is exactly 0, but each term overflows: the reference's
    # tap-by-tap sum gives inf - inf = NaN, the scaled FFT a finite value near 0 (found by
    # the property test above). Both are accepted; a finite value where |w| |k| is within
    # range and the reference overflowed would not be.
    x = np.array([2e46, 1e46, 0.0, -2e46])
    kernel = np.array([2e262, 1e262])
    dots, ref = sliding_dot_fft(x, kernel, 2), sliding_dot_reference(x, kernel, 2)
    assert np.isnan(ref[1]) and np.isfinite(dots[1])
    assert_dots_close(dots, ref, x, kernel, 2, relative=FFT_COSINE_TOL, norms=True)


def test_quiet_window_next_to_a_loud_burst(small_batches):
    # A burst 1e8 times louder than the rest shares FFT segments with quiet windows; those
    # are recomputed directly, so their cosine keeps its own scale's precision.
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3000) * 1e-3
    x[1000:1100] *= 1e11
    kernel = rng.standard_normal(24)
    err = np.max(np.abs(sliding_cosine_fft(x, kernel, 1.0, 1).cosine - sliding_cosine_longdouble(x, kernel)))
    assert err <= 1e-12


@pytest.mark.parametrize("m", [3, 16, 64, 256, 1024])
def test_precision_signals(m):
    # The three signals of docs/method.md against a long-double reference.
    kernel = np.random.default_rng(m).standard_normal(m)
    n = 5000 if m < 1024 else 3000
    for name, x in precision_signals(n, seed=m).items():
        err = np.max(np.abs(sliding_cosine_fft(x, kernel, 1.0, 1).cosine - sliding_cosine_longdouble(x, kernel)))
        assert err <= FFT_COSINE_TOL, (name, err)


def test_auto_choice_by_kernel_length():
    assert resolve_backend("auto", 10, 3) == "numpy"
    assert resolve_backend("auto", None, 3) == "numba"
    assert resolve_backend("auto", 10**7, FFT_MIN_TAPS - 1) == "numba"
    assert resolve_backend("auto", 10**7, FFT_MIN_TAPS) == "fft"
    # The plain scan of one kernel (read-only samples, vectorised) keeps the direct scan
    # longer: through the public sliding_cosine too.
    assert FFT_MIN_TAPS < PLAIN_FFT_MIN_TAPS
    assert resolve_backend("auto", 10**7, PLAIN_FFT_MIN_TAPS - 1, plain=True) == "numba"
    assert resolve_backend("auto", 10**7, PLAIN_FFT_MIN_TAPS, plain=True) == "fft"
    assert resolve_backend("auto", None, FFT_MIN_TAPS, "center", plain=True) == "fft"
    assert resolve_backend("fft", 10, 3) == "fft"


def test_centred_scans_take_the_fft_from_their_own_crossover():
    # The centred direct scan costs more per tap than the plain one, so its FFT starts earlier.
    assert CENTERED_FFT_MIN_TAPS < FFT_MIN_TAPS
    for normalize in ("center", "zscore"):
        assert resolve_backend("auto", 10**7, CENTERED_FFT_MIN_TAPS - 1, normalize) == "numba"
        assert resolve_backend("auto", 10**7, CENTERED_FFT_MIN_TAPS, normalize) == "fft"
        assert resolve_backend("auto", None, CENTERED_FFT_MIN_TAPS, normalize) == "fft"
    assert resolve_backend("auto", 10**7, CENTERED_FFT_MIN_TAPS, "none") == "numba"


@pytest.mark.parametrize("backend", ["auto", "numpy", "numba", "fft"])
def test_public_functions_agree(backend):
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.standard_normal(4000))
    kernel = rng.standard_normal(300)
    ref = sliding_cosine_reference(x, kernel, 3.0, 2)
    assert_tracks_close(sliding_cosine(x, kernel, 3.0, 2, backend), ref, x, kernel, 3.0, 2, cosine_tol=FFT_COSINE_TOL)
    assert_dots_close(
        sliding_dot(x, kernel, 2, backend),
        sliding_dot_reference(x, kernel, 2),
        x,
        kernel,
        2,
        relative=FFT_COSINE_TOL,
        norms=True,
    )
    assert sliding_dot(x[:10], kernel, 2, backend).shape == (0,)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 10**7))
def test_fft_length_transforms_the_fewest_samples(window_span, n_out):
    # Given the outputs, the length is the power of two between MIN_FFT / 2 (and 8 spans)
    # and the longest that transforms the fewest samples in all, the longest on a tie.
    from motifscan.similarity import fft

    def transformed(length):
        return -(-n_out // (length - window_span + 1)) * length

    longest = fft.fft_length(window_span)
    chosen = fft.fft_length(window_span, n_out)
    candidates = [2**e for e in range(40) if max(fft.MIN_FFT // 2, 8 * window_span) <= 2**e <= longest] or [longest]
    best = min(transformed(length) for length in candidates)
    assert chosen in candidates and transformed(chosen) == best
    assert chosen == max(length for length in candidates if transformed(length) == best)


def test_a_short_piece_takes_a_shorter_transform():
    # The 21 000-row pieces of a 256-kernel bank of 200 taps: 3 segments of 2**13 instead
    # of 2 of 2**14; a long signal keeps 2**14.
    from motifscan.similarity import fft

    assert fft.fft_length(200, 21_845) == 1 << 13
    assert fft.fft_length(200, 2_000_000) == 1 << 14
    assert fft.fft_length(200) == 1 << 14


@settings(max_examples=80, deadline=None)
@given(
    signals(max_size=2500),
    kernels(max_size=24),
    st.integers(1, 3),
    st.sampled_from([0.5, 1.0, 3.0, 9.0]),
    st.sampled_from([0.0, 1e-300, 0.3, 0.9, 1.0]),
    st.integers(0, 2**32 - 1),
)
def test_fused_fft_candidates_equal_the_full_track(x, kernel, dilation, p, threshold, seed):
    # The fused FFT scan (detect on kernels of 256 taps and more) against the FFT's own
    # full track, across segments and batches made short, and at ties of the threshold.
    from test_similarity_cpu import fused_against_full

    if x.size < span(kernel.size, dilation):
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fft, "MIN_FFT", 64)
        patch.setattr(fft, "BATCH_SAMPLES", 512)
        full = fused_against_full(x, kernel, p, dilation, threshold, "fft")
        scored = np.abs(full.score[np.isfinite(full.score) & (full.score != 0)])
        if scored.size:
            tie = float(np.random.default_rng(seed).choice(scored))
            for t in (tie, np.nextafter(tie, 0.0), np.nextafter(tie, 2.0)):
                fused_against_full(x, kernel, p, dilation, float(t), "fft")


def test_fused_fft_candidates_on_a_long_kernel():
    # 300 taps over 2e5 samples with planted copies, NaN and a quiet stretch (recomputed
    # directly): the default segments and batches.
    from test_similarity_cpu import fused_against_full

    rng = np.random.default_rng(3)
    kernel = rng.standard_normal(300)
    x = np.cumsum(rng.standard_normal(200_000))
    for start in (1000, 70_000, 150_000):
        x[start : start + 300] = 40.0 * kernel
    x[5000:5100] = np.nan
    x[90_000:91_000] *= 1e-9
    full = fused_against_full(x, kernel, 3.0, 1, 0.5, "fft")
    assert np.count_nonzero(np.abs(full.score) >= 0.5) >= 3
