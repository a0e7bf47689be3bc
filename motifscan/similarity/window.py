"""The last step of every compiled backend: from a window's plain sums to its three results.

A backend accumulates, for the window starting at ``start``, ``dot = sum(w[j] * unit[j])``
and ``sumsq = sum(w[j] ** 2)`` from the raw samples, however it likes (a CPU loop, a GPU
tile in shared memory). :func:`finish_window` turns them into ``(score, cosine, scale)``.
When ``sumsq`` is not a comfortable normal number (it overflowed, underflowed, is zero, or
holds inf/NaN) it rescues the window by recomputing it scaled by its largest magnitude,
exactly as the NumPy reference does for every window.

The function is plain Python so that the CPU backend compiles it with ``numba.njit`` and
the GPU backend with ``numba.cuda.jit(device=True)``: both apply the very same rule. So is
:func:`fused_test`, the candidate test of a scan that only detects (docs/method.md, "Fused
detection"), which decides from the same two sums which windows to finish.
"""

from __future__ import annotations

import math

# A sum of squares at least this large has lost nothing that matters to underflow: every
# square below the normal range errs by < 2**-1074, i.e. < 1e-30 relative to this floor.
SAFE_SUMSQ = 1e-290

#: Relative margin of the fused candidate test (docs/method.md, "Fused detection"): a window
#: whose squared cosine lies within this fraction below the threshold's is finished by the
#: full formula, so the test can only add windows to finish, never lose a candidate. The
#: full computation's decision differs from the exact one by a few tens of ulps in the
#: squared cosine (division, square root, powering), far inside 1e-9.
FUSED_MARGIN = 1e-9

#: Sums of squares outside ``[FUSED_SMALLEST, FUSED_LARGEST]`` are always finished: inside
#: it, ``dot**2`` and ``lower * sumsq`` (``lower`` >= :data:`FUSED_LOWEST` or 0) are normal
#: numbers or clearly below each other, so the test rounds like any product.
FUSED_SMALLEST = 1e-200
FUSED_LARGEST = 1e200
#: Smaller squared-cosine bounds are taken as 0: every window with a sum of squares in range
#: is then finished.
FUSED_LOWEST = 1e-100


def fused_test(dot, sumsq, lower, near_lower, near_upper):
    """Whether a window must be finished, and whether, unfinished, it counts as near.

    Parameters
    ----------
    dot, sumsq : float
        ``sum(w * unit)`` and ``sum(w * w)`` of the window (unit kernel).
    lower : float
        The threshold's squared cosine lowered by :data:`FUSED_MARGIN` (0: finish all).
    near_lower, near_upper : float
        A squared cosine and the same raised; windows between them are finished, those
        above ``near_upper`` counted.

    Returns
    -------
    tuple of bool
        ``(finish, near)``. Two multiplications and comparisons: no square root, division,
        power or branch, so a loop over windows vectorises. A NaN sum fails both range
        tests, so its window is finished.
    """
    d2 = dot * dot
    in_range = (sumsq >= FUSED_SMALLEST) & (sumsq <= FUSED_LARGEST)
    finish = (not in_range) | (d2 >= lower * sumsq) | ((d2 >= near_lower * sumsq) & (d2 <= near_upper * sumsq))
    near = (not finish) & (d2 > near_upper * sumsq)
    return finish, near


def finish_window(x, start, dilation, unit, dot, sumsq, kernel_norm, p2):
    """``(score, cosine, scale)`` of the window ``x[start + j * dilation]``, j < len(unit).

    Parameters
    ----------
    x : float64 array
        The samples (on whichever device runs the function).
    start, dilation : int
        The window's first sample and the gap between its taps.
    unit : float64 array, shape (m,)
        The kernel divided by its norm.
    dot, sumsq : float
        ``sum(w * unit)`` and ``sum(w * w)`` of the unscaled window.
    kernel_norm : float
        ``|kernel|``.
    p2 : float
        The sharpness squared.

    Returns
    -------
    tuple of float
        NaN, NaN, NaN for a window holding NaN or +-inf; 0, 0, 0 for an all-zero window.
    """
    largest = 1.0
    if not (sumsq >= SAFE_SUMSQ and sumsq < math.inf):
        m = unit.shape[0]
        largest = 0.0
        for j in range(m):
            a = abs(x[start + j * dilation])
            if not a < math.inf:  # NaN or inf: the window has no score
                return math.nan, math.nan, math.nan
            if a > largest:
                largest = a
        if largest == 0.0:
            return 0.0, 0.0, 0.0
        sumsq = 0.0
        dot = 0.0
        for j in range(m):
            v = x[start + j * dilation] / largest
            sumsq += v * v
            dot += v * unit[j]
    c = dot / math.sqrt(sumsq)
    # Round-off can push |cosine| a hair past 1; the sharpened power would amplify it.
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    s = abs(c) ** p2
    return (s if c >= 0.0 else -s), c, dot / kernel_norm * largest
