"""Hypothesis strategies shared by the backend tests: hostile signals and kernels.

Signals are built with NumPy from drawn parameters (fast for n up to 5000) and then get
drawn special values: NaN, +-inf, zeros, constant runs, and magnitudes from 1e-300 to 1e300,
including segments whose magnitudes differ wildly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, 1e300, -1e300, 1e-300, -1e-300]
EPS = np.finfo(np.float64).eps
#: The spacing of float64 numbers in the subnormal range (2**-1074).
SUBNORMAL_STEP = np.finfo(np.float64).smallest_subnormal


@st.composite
def signals(draw, min_size: int = 1, max_size: int = 5000, specials: bool = True) -> np.ndarray:
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "walk", "offset", "integers", "sine"]))
    if kind == "normal":
        x = rng.standard_normal(n)
    elif kind == "walk":
        x = np.cumsum(rng.standard_normal(n))
    elif kind == "offset":
        x = 1e6 + rng.standard_normal(n)
    elif kind == "integers":
        x = rng.integers(-3, 4, n).astype(np.float64)  # many zero and constant windows
    else:
        x = np.sin(np.arange(n) / draw(st.floats(0.5, 50))) + 0.01 * rng.standard_normal(n)
    x = x * 10.0 ** draw(st.integers(-300, 300))
    for _ in range(draw(st.integers(0, 3))):  # segments of another magnitude
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a, n))
        x[a:b] *= 10.0 ** draw(st.integers(-300, 300))
        x[a:b] = np.where(np.isfinite(x[a:b]), x[a:b], 0.0)
    if specials:
        for _ in range(draw(st.integers(0, 6))):
            x[draw(st.integers(0, n - 1))] = draw(st.sampled_from(SPECIALS))
        if draw(st.booleans()):  # a constant run (zero or not)
            a = draw(st.integers(0, n - 1))
            b = draw(st.integers(a, min(n, a + 200)))
            x[a:b] = draw(st.sampled_from([0.0, 1.0, -2.5, 1e200]))
    return x


@st.composite
def kernels(draw, max_size: int = 64) -> np.ndarray:
    m = draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "integers", "constant"]))
    if kind == "normal":
        k = rng.standard_normal(m)
    elif kind == "integers":
        k = rng.integers(-3, 4, m).astype(np.float64)
    else:
        k = np.full(m, draw(st.sampled_from([1.0, -2.0])))
    if not np.any(k):
        k[0] = 1.0
    return k * 10.0 ** draw(st.integers(-300, 300))


def cosine_tolerance(m: int) -> float:
    """Round-off bound for |cosine| between two correct float64 computations.

    A dot product of m terms carries a relative error of at most about m*eps of
    |w|*|k| (Higham, gamma_m), the norms add about (m/2 + 2)*eps each, and scaling the
    window by its largest value adds one rounding per sample. 4*(m+4)*eps covers the sum with
    a margin of about two, so it fails for real bugs (which err by far more) and not for
    round-off.
    """
    return 4 * (m + 4) * EPS


def score_tolerance(m: int, p: float, cosine_tol: float | None = None) -> float:
    """Bound on |score| differences implied by the cosine bound.

    For p >= 1, |d score / d cosine| = p^2 |cosine|^(p^2-1) <= p^2, so the bound grows by
    p^2. For p < 1 the power is steeper than linear at 0 (x -> x^(p^2) is only Hoelder
    continuous), and the best bound is the cosine bound raised to p^2.
    """
    tol = cosine_tolerance(m) if cosine_tol is None else cosine_tol
    return tol * p * p if p >= 1 else tol ** (p * p)


def window_norms(x: np.ndarray, m: int, dilation: int) -> np.ndarray:
    """|w| of every window, computed scaled (no overflow); NaN/inf windows give NaN."""
    from numpy.lib.stride_tricks import sliding_window_view

    w = sliding_window_view(x, (m - 1) * dilation + 1)[:, ::dilation]
    with np.errstate(invalid="ignore", over="ignore"):
        largest = np.max(np.abs(w), axis=1)
        safe = np.where(largest > 0, largest, 1.0)
        norms = largest * np.sqrt(np.sum((w / safe[:, None]) ** 2, axis=1))
    return np.where(np.isfinite(w).all(axis=1), norms, np.nan)


def assert_tracks_close(fast, ref, x, kernel, p, dilation, cosine_tol=None) -> None:
    """Assert a backend's ScoreTrack equals the reference's within the stated tolerances.

    ``cosine_tol`` defaults to :func:`cosine_tolerance` (direct sums); the FFT backend
    states its own.
    """
    m = kernel.shape[0]
    unscored = np.isnan(ref.score)
    for name in ("score", "cosine", "scale"):
        np.testing.assert_array_equal(np.isnan(getattr(fast, name)), unscored, err_msg=name)
    ok = ~unscored
    tol_c = cosine_tolerance(m) if cosine_tol is None else cosine_tol
    assert np.all(np.abs(fast.cosine[ok] - ref.cosine[ok]) <= tol_c), np.max(np.abs(fast.cosine[ok] - ref.cosine[ok]))
    assert np.all(np.abs(fast.score[ok] - ref.score[ok]) <= score_tolerance(m, p, tol_c))
    # scale = cosine * |w| / |k|: its error is the cosine's, in units of |w| / |k|. A scale
    # in the subnormal range (a window of 1e-17 against a kernel of 1e294) is rounded to a
    # multiple of the smallest subnormal, whatever its relative precision: each of the
    # couple of roundings into that range may add up to one such step.
    largest = np.max(np.abs(kernel))
    kernel_norm = largest * np.sqrt(np.sum((kernel / largest) ** 2))
    unit = window_norms(x, m, dilation)[ok] / kernel_norm
    finite = np.isfinite(unit) & np.isfinite(ref.scale[ok])
    err = np.abs(fast.scale[ok] - ref.scale[ok])[finite]
    assert np.all(err <= tol_c * unit[finite] * 4 + 2 * SUBNORMAL_STEP), np.max(err / unit[finite])


def assert_dots_close(fast, ref, x, kernel, dilation, relative=None, norms=False) -> None:
    """Assert plain dot products agree.

    Windows holding NaN are NaN in both. Where the reference is not finite (an inf in the
    window, or an overflow, whose sign or NaN-ness depends on the summation order) the
    fast value is not finite either, or beyond 1e300. Elsewhere they agree within ``relative`` (default
    ``4 * (m + 4) * eps``) of ``sum_j |kernel[j] * w[j]|``, the scale of a dot product's
    round-off (Higham), or within the subnormal range. With ``norms`` the unit is
    ``|w| * |kernel|`` instead, the scale of an FFT's round-off.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    m = kernel.shape[0]
    relative = 4 * (m + 4) * EPS if relative is None else relative
    assert fast.shape == ref.shape
    windows = sliding_window_view(x, (m - 1) * dilation + 1)[:, ::dilation]
    has_nan = np.isnan(windows).any(axis=1)
    assert np.all(np.isnan(fast[has_nan])) and np.all(np.isnan(ref[has_nan]))
    finite = np.isfinite(ref)
    largest = np.max(np.abs(kernel))  # scaled: the norm of 1e-162 must not underflow
    kernel_norm = largest * np.sqrt(np.sum((kernel / largest) ** 2))
    with np.errstate(over="ignore", invalid="ignore"):
        scale = window_norms(x, m, dilation) * kernel_norm  # inf beyond the float range
    # Where the reference overflowed, a finite window's dot product may still be anything
    # up to |w| |k| (2e308 - 2e308 is 0): only when |w| |k| is within range must the fast
    # value be out of range too (a fused multiply-add can keep a sum finite that overflows
    # in the reference's order, hence 1e300).
    settled = np.isfinite(fast[~finite]) & (np.abs(fast[~finite]) < 1e300) & ~(scale[~finite] >= 1e300)
    assert not np.any(settled)
    with np.errstate(over="ignore", invalid="ignore"):
        if norms:
            bound = scale[finite] * relative
        else:
            bound = np.sum(np.abs(windows[finite] * kernel), axis=1) * relative
    bound = np.where(np.isfinite(bound), bound, np.inf)
    err = np.abs(fast[finite] - ref[finite])
    assert np.all((err <= bound) | (err <= 1e-300 * m)), np.max(err - bound)
