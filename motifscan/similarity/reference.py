"""The NumPy oracle: obviously correct, float64, no cleverness.

Each window is divided by its own largest magnitude before anything is squared, so
values from 1e-300 to 1e300 neither underflow nor overflow; every window is computed on
its own, so there is no running sum to drift.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from motifscan.similarity import ScoreTrack, span


def unit_kernel(kernel: np.ndarray) -> tuple[np.ndarray, float]:
    """Return ``(kernel / |kernel|, |kernel|)`` without overflow or underflow.

    Parameters
    ----------
    kernel : float64 array, shape (m,)
        Finite and not all zero (checked by the caller).
    """
    largest = np.max(np.abs(kernel))
    shrunk = kernel / largest
    shrunk_norm = np.sqrt(np.dot(shrunk, shrunk))
    return shrunk / shrunk_norm, float(largest * shrunk_norm)


def sharpen(cosine: np.ndarray, p: float) -> np.ndarray:
    """``sign(cosine) * |cosine| ** (p * p)``, NaN where ``cosine`` is NaN."""
    return np.sign(cosine) * np.abs(cosine) ** (p * p)


def sliding_cosine_reference(
    signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int
) -> ScoreTrack:
    """Score every valid window of ``signal`` (shape (n,)) against ``kernel`` (shape (m,)).

    See :func:`motifscan.similarity.sliding_cosine` for the meaning of the arguments and
    the result; this function assumes ``n >= span``.
    """
    m = kernel.shape[0]
    windows = sliding_window_view(signal, span(m, dilation))[:, ::dilation]
    finite = np.isfinite(windows).all(axis=1)
    windows = np.where(finite[:, None], windows, 0.0)

    largest = np.max(np.abs(windows), axis=1)
    largest[largest == 0] = 1.0
    shrunk = windows / largest[:, None]
    unit, kernel_norm = unit_kernel(kernel)
    # Sums run tap by tap, in the same order for every window, so a window scores
    # bit-identically whatever block it is in (BLAS and einsum change their summation
    # order with the array's shape).
    shrunk_sumsq = np.zeros(windows.shape[0])
    shrunk_dot = np.zeros(windows.shape[0])
    for j in range(m):
        shrunk_sumsq += shrunk[:, j] * shrunk[:, j]
        shrunk_dot += shrunk[:, j] * unit[j]
    shrunk_norm = np.sqrt(shrunk_sumsq)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(shrunk_norm > 0, shrunk_dot / shrunk_norm, 0.0)
    # Round-off can push |cosine| a hair past 1; the sharpened power would amplify it.
    cosine = np.clip(cosine, -1.0, 1.0)
    with np.errstate(over="ignore"):
        scale = shrunk_dot / kernel_norm * largest

    cosine[~finite] = np.nan
    scale[~finite] = np.nan
    return ScoreTrack(sharpen(cosine, p), cosine, scale)
