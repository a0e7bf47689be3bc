"""The learned-metric scan: the Numba version against the NumPy reference, and both
against the plain scan and a direct computation of cos(M w, M k)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from motifscan.errors import MotifscanError
from motifscan.similarity import span
from motifscan.similarity.metric import check_metric, metric_cosine_reference, project, sliding_metric_cosine
from motifscan.similarity.metric_cpu import metric_cosine_numba
from motifscan.similarity.reference import sliding_cosine_reference
from strategies import EPS, kernels, score_tolerance, signals


@st.composite
def metrics(draw, m: int) -> np.ndarray:
    """Well-conditioned metrics (condition number below about 10): positive or negative
    diagonal weights in [0.1, 1], or a square matrix near the identity. An ill-conditioned
    metric amplifies round-off in proportion to its condition number, which would make any
    fixed tolerance either loose or flaky."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        weights = rng.uniform(0.1, 1.0, m) * rng.choice([-1.0, 1.0], m)
        return weights * 10.0 ** draw(st.integers(-100, 100))
    matrix = np.eye(m) + 0.3 * rng.standard_normal((m, m)) / np.sqrt(m)
    return matrix * 10.0 ** draw(st.integers(-100, 100))


def condition(metric: np.ndarray) -> float:
    if metric.ndim == 1:
        return float(np.max(np.abs(metric)) / np.min(np.abs(metric)))
    return float(np.linalg.cond(metric))


def assert_metric_tracks_close(fast, ref, x, kernel, metric, p, dilation):
    m = kernel.size
    unscored = np.isnan(ref.score)
    for name in ("score", "cosine", "scale"):
        np.testing.assert_array_equal(np.isnan(getattr(fast, name)), unscored, err_msg=name)
    ok = ~unscored
    # Each projected value M w is a sum of m terms (about m*eps of |M||w|), then come the r
    # sums of the dot and the norm, as in the plain scan; relative to |M w| >= |w|/|M^-1|
    # the error grows by the condition number. A margin of four, as for the plain scan.
    r = 1 if metric.ndim == 1 else metric.shape[0]
    tol_c = 4 * (m + r + 4) * EPS * condition(metric)
    assert np.all(np.abs(fast.cosine[ok] - ref.cosine[ok]) <= tol_c)
    tol_s = tol_c * p * p if p >= 1 else tol_c ** (p * p)
    assert np.all(np.abs(fast.score[ok] - ref.score[ok]) <= max(tol_s, score_tolerance(m, p)))
    # scale = cosine * |M w| / |M k|, so its error is the cosine's in units of |M w| / |M k|.
    windows = sliding_window_view(np.where(np.isfinite(x), x, 0.0), span(m, dilation))[:, ::dilation][ok]
    largest = np.max(np.abs(windows), axis=1, keepdims=True)
    largest[largest == 0] = 1.0
    unit_m = metric / np.max(np.abs(metric))
    norms = largest[:, 0] * np.linalg.norm(project(windows / largest, unit_m), axis=1)
    kernel_norm = np.linalg.norm(project(kernel / np.max(np.abs(kernel)), unit_m)) * np.max(np.abs(kernel))
    with np.errstate(over="ignore", invalid="ignore"):
        units = norms / kernel_norm
        finite = np.isfinite(units) & np.isfinite(ref.scale[ok])
        err = np.abs(fast.scale[ok] - ref.scale[ok])[finite]
    assert np.all(err <= 4 * tol_c * units[finite])


@settings(max_examples=80, deadline=None)
@given(st.data(), signals(max_size=800), kernels(max_size=16), st.integers(1, 3), st.sampled_from([0.5, 1.0, 3.0]))
def test_numba_equals_reference(data, x, kernel, dilation, p):
    if x.size < span(kernel.size, dilation):
        return
    metric = data.draw(metrics(kernel.size))
    fast = metric_cosine_numba(x, kernel, metric, p, dilation)
    ref = metric_cosine_reference(x, kernel, metric, p, dilation)
    assert_metric_tracks_close(fast, ref, x, kernel, metric, p, dilation)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(signals(max_size=500), kernels(max_size=12), st.integers(1, 3))
def test_identity_metric_is_the_plain_scan(x, kernel, dilation):
    if x.size < span(kernel.size, dilation):
        return
    plain = sliding_cosine_reference(x, kernel, 2.0, dilation)
    for metric in (np.ones(kernel.size), np.eye(kernel.size), 7.5 * np.eye(kernel.size)):
        for track in (
            metric_cosine_reference(x, kernel, metric, 2.0, dilation),
            metric_cosine_numba(x, kernel, metric, 2.0, dilation),
        ):
            np.testing.assert_array_equal(np.isnan(track.score), np.isnan(plain.score))
            ok = ~np.isnan(plain.score)
            # Same sums in the same order for the identity, up to the rescue branch.
            assert np.all(np.abs(track.cosine[ok] - plain.cosine[ok]) <= 4 * (kernel.size + 5) * EPS)


def test_matches_a_direct_computation_of_cos_mw_mk():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300)
    kernel = rng.standard_normal(6)
    for metric in (rng.uniform(0.2, 2, 6), rng.standard_normal((6, 6)), rng.standard_normal((3, 6))):
        windows = sliding_window_view(x, 11)[:, ::2]
        mw, mk = project(windows, metric), project(kernel, metric)
        cosine = mw @ mk / np.linalg.norm(mw, axis=1) / np.linalg.norm(mk)
        scale = mw @ mk / (mk @ mk)
        for track in (
            metric_cosine_reference(x, kernel, metric, 3.0, 2),
            sliding_metric_cosine(x, kernel, metric, 3.0, 2, backend="numba"),
        ):
            np.testing.assert_allclose(track.cosine, cosine, rtol=0, atol=1e-12)
            np.testing.assert_allclose(track.scale, scale, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(track.score, np.sign(cosine) * np.abs(cosine) ** 9, atol=1e-11)


def test_a_diagonal_metric_equals_the_diagonal_matrix():
    rng = np.random.default_rng(4)
    x = np.cumsum(rng.standard_normal(400))
    kernel = rng.standard_normal(9)
    weights = rng.uniform(-1, 1, 9)
    for scan in (metric_cosine_reference, metric_cosine_numba):
        diagonal = scan(x, kernel, weights, 2.0, 1)
        matrix = scan(x, kernel, np.diag(weights), 2.0, 1)
        np.testing.assert_allclose(diagonal.cosine, matrix.cosine, rtol=0, atol=1e-13)


def test_hostile_windows_nan_inf_zero_huge_tiny_and_null_space():
    x = np.array([1e300, 1e300, -1e300, np.nan, 1.0, 2.0, 0.0, 0.0, 0.0, 1e-300, 2e-300, 3e-300, np.inf, 5.0, 5.0, 5.0])
    kernel = np.array([1.0, 2.0, 3.0])
    for metric in (np.array([1.0, 0.5, 2.0]), np.eye(3), np.array([[1.0, -1.0, 0.0]])):
        fast = metric_cosine_numba(x, kernel, metric, 2.0, 1)
        ref = metric_cosine_reference(x, kernel, metric, 2.0, 1)
        assert np.isnan(ref.score[[1, 2, 3, 10, 11, 12]]).all()
        assert ref.score[6] == 0 and ref.cosine[6] == 0  # the all-zero window
        assert_metric_tracks_close(fast, ref, x, kernel, metric, 2.0, 1)
        assert np.isfinite(fast.cosine[[0, 4, 7, 8, 9]]).all()
    # [5, 5, 5] lies in the null space of the row (1, -1, 0): it matches nothing.
    track = metric_cosine_numba(x, kernel, np.array([[1.0, -1.0, 0.0]]), 1.0, 1)
    assert track.cosine[-1] == 0 and track.score[-1] == 0


def test_checks_name_the_problem():
    with pytest.raises(MotifscanError, match="rows of 3 values"):
        check_metric([1.0, 2.0], 3, "metric")
    with pytest.raises(MotifscanError, match="finite"):
        check_metric([1.0, np.nan, 2.0], 3, "metric")
    with pytest.raises(MotifscanError, match="all zeros"):
        check_metric(np.zeros((2, 3)), 3, "metric")
    with pytest.raises(MotifscanError, match="maps the kernel to zero"):
        metric_cosine_reference(np.ones(10), np.array([1.0, 1.0]), np.array([[1.0, -1.0]]), 1.0, 1)


def test_short_signal_gives_empty_tracks_and_gpu_is_refused():
    track = sliding_metric_cosine(np.ones(2), np.ones(3), np.ones(3))
    assert track.score.shape == (0,)
    for backend in ("cuda", "fft"):
        with pytest.raises(MotifscanError, match="scanned with numpy or numba"):
            sliding_metric_cosine(np.ones(5), np.ones(3), np.ones(3), backend=backend)


def test_auto_takes_numpy_for_small_work_and_numba_otherwise():
    from motifscan.similarity.metric import resolve_metric_backend

    assert resolve_metric_backend("auto", 100, np.eye(40)) == "numpy"
    # A full 40 x 40 metric is 1600 multiply-adds a window: never the FFT backend.
    assert resolve_metric_backend("auto", 10_000, np.eye(40)) == "numba"
    assert resolve_metric_backend("auto", None, np.ones(3)) == "numba"
