"""Numba CPU version of :func:`motifscan.similarity.metric.metric_cosine_reference`.

A ``prange`` loop over windows; each window is projected and summed from its own samples,
squared directly in the common case and rescued, like the plain Numba backend, by a
recomputation scaled by its largest magnitude when its sum of squares is not a comfortable
normal number (huge, tiny, zero, or holding NaN/inf).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import ScoreTrack, span
from motifscan.similarity.metric import _prepared
from motifscan.similarity.window import SAFE_SUMSQ


@njit(cache=True, nogil=True, inline="always")
def _window_sums(x, start, dilation, metric, diagonal, unit, divisor):
    """``(sum (M w / divisor)^2, (M w / divisor) . unit)`` of the window at ``start``."""
    sumsq = 0.0
    dot = 0.0
    m = metric.shape[1]
    if diagonal:  # the weights are the one row of ``metric``
        for j in range(m):
            y = metric[0, j] * (x[start + j * dilation] / divisor)
            sumsq += y * y
            dot += y * unit[j]
        return sumsq, dot
    for r in range(unit.shape[0]):
        y = 0.0
        for j in range(m):
            y += metric[r, j] * (x[start + j * dilation] / divisor)
        sumsq += y * y
        dot += y * unit[r]
    return sumsq, dot


@njit(cache=True, nogil=True)
def _metric_window(x, start, dilation, metric, diagonal, unit, kernel_norm, p2):
    sumsq, dot = _window_sums(x, start, dilation, metric, diagonal, unit, 1.0)
    largest = 1.0
    if not (sumsq >= SAFE_SUMSQ and sumsq < math.inf):
        largest = 0.0
        for j in range(metric.shape[1]):
            a = abs(x[start + j * dilation])
            if not a < math.inf:  # NaN or inf: the window has no score
                return math.nan, math.nan, math.nan
            if a > largest:
                largest = a
        if largest == 0.0:
            return 0.0, 0.0, 0.0
        sumsq, dot = _window_sums(x, start, dilation, metric, diagonal, unit, largest)
        if sumsq == 0.0:  # the window lies in the metric's null space
            return 0.0, 0.0, 0.0
    c = dot / math.sqrt(sumsq)
    # Round-off can push |cosine| a hair past 1; the sharpened power would amplify it.
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    s = abs(c) ** p2
    return (s if c >= 0.0 else -s), c, dot / kernel_norm * largest


@njit(parallel=True, cache=True, nogil=True)
def _scan(x, dilation, metric, diagonal, unit, kernel_norm, p2, score, cosine, scale):
    for i in prange(score.shape[0]):
        score[i], cosine[i], scale[i] = _metric_window(x, i, dilation, metric, diagonal, unit, kernel_norm, p2)


def metric_cosine_numba(
    signal: np.ndarray, kernel: np.ndarray, metric: np.ndarray, p: float, dilation: int
) -> ScoreTrack:
    """Same arguments and result as the reference; assumes ``n >= span``. Agrees with it
    within round-off (see ``docs/method.md``, "Tolerances")."""
    metric, unit, kernel_norm = _prepared(kernel, metric)
    n_out = signal.shape[0] - span(kernel.shape[0], dilation) + 1
    rows = np.ascontiguousarray(metric.reshape(1, -1) if metric.ndim == 1 else metric)
    score = np.empty(n_out)
    cosine = np.empty(n_out)
    scale = np.empty(n_out)
    _scan(signal, dilation, rows, metric.ndim == 1, unit, kernel_norm, float(p) * float(p), score, cosine, scale)
    return ScoreTrack(score, cosine, scale)
