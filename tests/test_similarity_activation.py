"""The plain convolution (``--method conv``) against numpy.correlate."""

import numpy as np
from hypothesis import given, settings, strategies as st

from motifscan.similarity import span
from motifscan.similarity.activation import sliding_activation
from motifscan.similarity.reference import sliding_cosine_reference

from strategies import EPS, kernels, signals

SEED = np.array(
    [
        0,
        0,
        0,
        0,
        1,
        2,
        3,
        0,
        0,
        0,
        0,
        -1,
        -2,
        -3,
        0,
        0,
        0,
        0,
        0.2,
        0.4,
        0.6,
        0,
        0,
        0,
        0,
        2,
        2,
        2,
        0,
        0,
        0,
        0,
        3,
        2,
        1,
        0,
        0,
        0,
        0,
    ],
    dtype=float,
)


def dilated(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """The kernel with ``dilation - 1`` zeros between taps, for numpy.correlate."""
    spread = np.zeros(span(kernel.shape[0], dilation))
    spread[::dilation] = kernel
    return spread


def test_seed_activations_reward_loud_windows():
    activation = sliding_activation(SEED, np.array([1.0, 2, 3]))
    # A, B, C, D, E: C (the shape at a fifth of the size) is weaker than flat D and reversed E.
    np.testing.assert_allclose([activation[i] for i in (4, 11, 18, 25, 32)], [14, -14, 2.8, 12, 10], rtol=1e-15)
    np.testing.assert_allclose(activation, np.correlate(SEED, [1.0, 2, 3], "valid"), rtol=1e-15)


@settings(max_examples=150, deadline=None)
@given(signals(max_size=400), kernels(max_size=12), st.integers(1, 5), st.sampled_from(["numpy", "numba"]))
def test_equals_numpy_correlate_with_the_dilated_kernel(x, kernel, dilation, backend):
    m = kernel.shape[0]
    if x.shape[0] < span(m, dilation):
        assert sliding_activation(x, kernel, dilation, backend).shape == (0,)
        return
    finite = np.isfinite(x)
    clean = np.where(finite, x, 0.0)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        expected = np.correlate(clean, dilated(kernel, dilation), "valid")
        # sum_j |w_j k_j|: the scale of a dot product's round-off (Higham's gamma_m bound).
        magnitude = np.correlate(np.abs(clean), dilated(np.abs(kernel), dilation), "valid")
    got = sliding_activation(x, kernel, dilation, backend)

    unscored = np.isnan(sliding_cosine_reference(x, kernel, 1.0, dilation).score)
    assert np.all(np.isnan(got[unscored]))  # a window with NaN/inf has no activation
    # Two correct float64 dot products of m terms differ by at most 2 m eps sum|w_j k_j|;
    # 4 (m + 4) eps leaves a margin, and m * 2**-1074 covers products that underflow.
    tolerance = 4 * (m + 4) * EPS * magnitude + m * 2.0**-1074
    comparable = ~unscored & np.isfinite(tolerance) & np.isfinite(expected)
    assert np.all(np.abs(got[comparable] - expected[comparable]) <= tolerance[comparable])


@settings(max_examples=60, deadline=None)
@given(
    signals(min_size=20, max_size=3000),
    kernels(max_size=9),
    st.integers(1, 3),
    st.integers(1, 2500),
    st.sampled_from(["numpy", "numba"]),
)
def test_a_window_has_the_same_activation_in_every_block(x, kernel, dilation, cut, backend):
    whole = sliding_activation(x, kernel, dilation, backend)
    cut = min(cut, whole.shape[0])
    np.testing.assert_array_equal(sliding_activation(x[cut:], kernel, dilation, backend), whole[cut:])
