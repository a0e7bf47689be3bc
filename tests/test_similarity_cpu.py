"""The Numba backend against the NumPy oracle on hostile inputs."""

import numpy as np
from hypothesis import given, settings, strategies as st

from motifscan.similarity import span
from motifscan.similarity.cpu import _RUN, sliding_cosine_numba
from motifscan.similarity.reference import sliding_cosine_reference
from strategies import assert_tracks_close, kernels, signals


@settings(max_examples=150, deadline=None)
@given(signals(), kernels(), st.integers(1, 5), st.sampled_from([0.5, 1.0, 2.0, 3.0, 9.0]))
def test_numba_equals_reference(x, kernel, dilation, p):
    if x.size < span(kernel.size, dilation):
        return
    fast = sliding_cosine_numba(x, kernel, p, dilation)
    ref = sliding_cosine_reference(x, kernel, p, dilation)
    assert_tracks_close(fast, ref, x, kernel, p, dilation)


def test_run_boundaries_do_not_matter():
    # Outputs are computed in runs of _RUN positions by separate prange tasks.
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal(3 * _RUN + 17))
    x[_RUN - 1] = np.nan
    x[2 * _RUN : 2 * _RUN + 40] = 0.0
    kernel = rng.standard_normal(9)
    fast = sliding_cosine_numba(x, kernel, 2.0, 3)
    ref = sliding_cosine_reference(x, kernel, 2.0, 3)
    assert_tracks_close(fast, ref, x, kernel, 2.0, 3)


def test_mixed_magnitudes_inside_one_window():
    x = np.array([1e300, 1e-300, 1.0, -1e300, 5e-324, 0.0, 1e-200, 1e-200], dtype=float)
    kernel = np.array([1.0, -2.0])
    fast = sliding_cosine_numba(x, kernel, 1.0, 1)
    ref = sliding_cosine_reference(x, kernel, 1.0, 1)
    assert np.isfinite(fast.cosine).all()
    assert_tracks_close(fast, ref, x, kernel, 1.0, 1)
    # The last window, (1e-200, 1e-200), underflows when squared: it must still score.
    assert fast.cosine[-1] == np.float64(-1 / np.sqrt(10)).round(15) or abs(fast.cosine[-1] + 1 / np.sqrt(10)) < 1e-15
