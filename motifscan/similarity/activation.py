"""The plain convolution (the comparison method): the dot product of each window with the kernel.

``activation_i = sum_j x[i + j*d] * k[j]`` (docs/architecture.md, "Definitions": cross-correlation, no
kernel flip) is what a convolution layer of a deep-learning framework computes and what
``numpy.correlate(x, k, "valid")`` gives for ``d = 1``. It is unbounded: it grows with the
window's loudness, which is exactly why motifscan does not detect on it by default.
"""

from __future__ import annotations

import numpy as np

from motifscan.similarity import scan_inputs, sliding_dot


def sliding_activation(signal: np.ndarray, kernel: np.ndarray, dilation: int = 1, backend: str = "numpy") -> np.ndarray:
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
    backend : {"numpy", "numba"}
        The direct sums of :func:`motifscan.similarity.sliding_dot`. Both add up each
        window tap by tap in a fixed order, so a window's activation is bit-identical
        whatever block it falls in, and detection never depends on where blocks were cut
        (the FFT's round-off depends on the segment, so it is not used here).

    Returns
    -------
    float64 array, shape (max(n - span + 1, 0),)
        ``numpy.correlate(signal, dilated_kernel, "valid")`` within round-off, where the
        dilated kernel has ``dilation - 1`` zeros between taps. A finite window whose dot
        product exceeds the float64 range is +-inf (or NaN when it overflows both ways).
    """
    x, k, n_out = scan_inputs(signal, kernel, dilation)
    if n_out <= 0:
        return np.empty(0)
    finite = np.isfinite(x)
    # NaN in place of every non-finite sample carries through each tap's product into the
    # sum of every window holding one: those windows come out NaN in the one scan.
    values = x if finite.all() else np.where(finite, x, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        return sliding_dot(values, k, dilation, backend)
