"""Sharpened cosine similarity under a learned linear metric ``M``.

A fitted kernel file may carry a linear map ``M`` (see ``motifscan fit --metric``): each
window ``w`` and the kernel ``k`` are compared as ``M w`` and ``M k``::

    cosine_i = (M w_i) . (M k) / (|M w_i| |M k|)      (0 where M w_i = 0)
    score_i  = sign(cosine_i) * |cosine_i| ** (p*p)
    scale_i  = (M w_i) . (M k) / |M k|^2              (the amplitude a in M w ~ a M k)

``M`` is either *diagonal*, a weight per kernel tap (shape ``(m,)``), or *full*, a matrix of
shape ``(r, m)``. The cosine, the score and the scale do not change when ``M`` is multiplied
by a number, so ``M`` is divided by its largest magnitude first; the identity matrix gives
back the plain scan of :mod:`motifscan.similarity`.

Two implementations with one signature: :func:`metric_cosine_reference` (NumPy, tap by tap,
obviously correct) and :func:`metric_cosine_numba` (a ``prange`` loop over windows). As in
the plain scan, every window is computed from its own samples, in the same order whatever
block it is in, so detection does not depend on where the blocks were cut.
"""

from __future__ import annotations

import math

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.similarity import SMALL_WORK, ScoreTrack, empty_track, scan_inputs
from motifscan.similarity.reference import finish_tracks, scaled_windows

#: Backends that can scan with a learned metric.
METRIC_BACKENDS = ("auto", "numpy", "numba")


def resolve_metric_backend(backend: str, rows: int | None, metric: np.ndarray) -> str:
    """``"numpy"`` or ``"numba"`` for a whole run with a learned metric.

    ``auto`` takes the NumPy reference for small work, as the plain scan does; the work
    per window grows with the metric's size (``m`` or ``r * m``), not with the kernel's.
    """
    if backend not in METRIC_BACKENDS:
        raise MotifscanError(f"backend {backend}: a learned metric is scanned with numpy or numba", ("backend",))
    if backend != "auto":
        return backend
    return "numpy" if rows is not None and rows * np.size(metric) < SMALL_WORK else "numba"


def check_metric(metric, kernel_length: int, where: str) -> np.ndarray:
    """Return ``metric`` as a float64 array of shape ``(m,)`` or ``(r, m)``, or raise.

    Parameters
    ----------
    metric : array_like
        Diagonal weights, shape (m,), or a matrix, shape (r, m); finite, not all zero.
    kernel_length : int
        ``m``, the number of kernel taps.
    where : str
        What to name in messages (the option or file the metric came from).
    """
    try:
        matrix = np.asarray(metric, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotifscanError(f"{where}: the metric must be a list of numbers or a list of rows") from None
    if matrix.ndim not in (1, 2) or matrix.shape[-1] != kernel_length or matrix.size == 0:
        raise MotifscanError(
            f"{where}: the metric must have {kernel_length} values (diagonal) or rows of "
            f"{kernel_length} values (full) for a kernel of {kernel_length} values, got shape "
            f"{'x'.join(str(s) for s in matrix.shape)}"
        )
    if not np.all(np.isfinite(matrix)):
        raise MotifscanError(f"{where}: every metric value must be finite")
    if not np.any(matrix):
        raise MotifscanError(f"{where}: the metric is all zeros, so it compares nothing")
    return matrix


def metric_kind(metric: np.ndarray) -> str:
    """``"diagonal"`` for weights of shape (m,), ``"full"`` for a matrix of shape (r, m)."""
    return "diagonal" if np.ndim(metric) == 1 else "full"


def project(vectors: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """``M v`` for each row ``v`` of ``vectors`` (shape (..., m)); result shape (..., r).

    ``metric`` is diagonal weights (m,), a matrix (r, m), or None for the identity.
    """
    if metric is None:
        return vectors
    if metric.ndim == 1:
        return vectors * metric
    return vectors @ metric.T


def _prepared(kernel: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The metric scaled to largest magnitude 1, and ``(M k / |M k|, |M k|)``."""
    metric = np.asarray(metric, dtype=np.float64)
    metric = metric / np.max(np.abs(metric))
    projected = project(np.asarray(kernel, dtype=np.float64), metric)
    largest = np.max(np.abs(projected))
    if largest == 0:
        raise MotifscanError("the metric maps the kernel to zero, so it has no shape to match")
    shrunk = projected / largest
    shrunk_norm = math.sqrt(float(np.dot(shrunk, shrunk)))
    return metric, shrunk / shrunk_norm, float(largest * shrunk_norm)


def metric_cosine_reference(
    signal: np.ndarray, kernel: np.ndarray, metric: np.ndarray, p: float, dilation: int
) -> ScoreTrack:
    """Score every valid window of ``signal`` (shape (n,)) against ``kernel`` (shape (m,))
    under ``metric`` (shape (m,) or (r, m)); assumes ``n >= span``.

    Each window is divided by its largest magnitude before it is projected and squared, so
    1e-300 and 1e300 neither underflow nor overflow.
    """
    metric, unit, kernel_norm = _prepared(kernel, metric)
    m = kernel.shape[0]
    shrunk, largest, finite = scaled_windows(signal, m, dilation)
    # Tap by tap, in a fixed order, so a window scores bit-identically in any block
    # (a matrix product changes its summation order with the array's shape).
    sumsq = np.zeros(shrunk.shape[0])
    dot = np.zeros(shrunk.shape[0])
    for r in range(unit.shape[0]):
        if metric.ndim == 1:
            projected = shrunk[:, r] * metric[r]
        else:
            projected = np.zeros(shrunk.shape[0])
            for j in range(m):
                projected += metric[r, j] * shrunk[:, j]
        sumsq += projected * projected
        dot += projected * unit[r]
    return finish_tracks(dot, sumsq, largest, finite, kernel_norm, p)


def sliding_metric_cosine(
    signal: np.ndarray, kernel: np.ndarray, metric: np.ndarray, p: float = 1.0, dilation: int = 1, backend: str = "auto"
) -> ScoreTrack:
    """Scan ``signal`` with ``kernel`` compared under ``metric``; see the module docstring.

    Parameters
    ----------
    signal : float64 array, shape (n,)
    kernel : float64 array, shape (m,)
    metric : float64 array, shape (m,) (diagonal) or (r, m) (full)
    p : float
        Sharpness, > 0.
    dilation : int
        Gap between kernel taps in samples, >= 1.
    backend : {"auto", "numpy", "numba"}
        As for :func:`motifscan.similarity.sliding_cosine`; there is no GPU version.

    Returns
    -------
    ScoreTrack
        ``score``, ``cosine``, ``scale``, each of shape ``(max(n - span + 1, 0),)``.
    """
    x, k, n_out = scan_inputs(signal, kernel, dilation)
    if n_out <= 0:
        return empty_track()
    metric = np.asarray(metric, dtype=np.float64)
    backend = resolve_metric_backend(backend, n_out, metric)
    if backend == "numpy":
        return metric_cosine_reference(x, k, metric, p, dilation)
    from motifscan.similarity.metric_cpu import metric_cosine_numba

    return metric_cosine_numba(x, k, metric, p, dilation)
