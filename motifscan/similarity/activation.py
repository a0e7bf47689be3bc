"""The plain convolution (the comparison method): the dot product of each window with the kernel.

``activation_i = sum_j x[i + j*d] * k[j]`` (DESIGN.md section 2: cross-correlation, no
kernel flip) is what a convolution layer of a deep-learning framework computes and what
``numpy.correlate(x, k, "valid")`` gives for ``d = 1``. It is unbounded: it grows with the
window's loudness, which is exactly why motifscan does not detect on it by default.
"""

from __future__ import annotations

import numpy as np

from motifscan.similarity import span


def sliding_activation(signal: np.ndarray, kernel: np.ndarray, dilation: int = 1) -> np.ndarray:
    """Dot product of ``kernel`` with every valid window of ``signal``.

    Parameters
    ----------
    signal : float64 array, shape (n,)
        One channel. A window holding NaN or +-inf has no activation (NaN), as it has no
        score.
    kernel : float64 array, shape (m,)
        The template.
    dilation : int
        Gap between kernel taps in samples, >= 1.

    Returns
    -------
    float64 array, shape (max(n - span + 1, 0),)
        ``numpy.correlate(signal, dilated_kernel, "valid")`` within round-off, where the
        dilated kernel has ``dilation - 1`` zeros between taps. A finite window whose dot
        product exceeds the float64 range is +-inf.
    """
    x = np.asarray(signal, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    n_out = x.shape[0] - span(k.shape[0], dilation) + 1
    if n_out <= 0:
        return np.empty(0)
    finite = np.isfinite(x)
    clean = np.where(finite, x, 0.0)
    activation = np.zeros(n_out)
    unscored = np.zeros(n_out, dtype=bool)
    # Tap by tap, in the same order for every window, so a window's activation is
    # bit-identical whatever block it falls in (np.correlate's dot may use SIMD paths that
    # depend on the array's alignment, and detection ties must not depend on block cuts).
    with np.errstate(over="ignore", invalid="ignore"):
        for j, tap in enumerate(k):
            offset = j * dilation
            activation += clean[offset:offset + n_out] * tap
            unscored |= ~finite[offset:offset + n_out]
    activation[unscored] = np.nan
    return activation
