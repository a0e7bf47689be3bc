"""Numba CPU backend: a ``prange`` loop over runs of window positions.

Each window is computed from its own samples (no running sums across windows), so the
result does not drift on long or offset signals. The common case squares the samples
directly; :func:`motifscan.similarity.window.finish_window` rescues the rare window whose
sum of squares is not a comfortable normal number.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from motifscan.similarity import ScoreTrack, span
from motifscan.similarity.reference import unit_kernel
from motifscan.similarity.window import finish_window

# Positions per prange task: large enough to amortise scheduling, small enough to balance.
_RUN = 4096

_finish = njit(cache=True, nogil=True, inline="always")(finish_window)


@njit(cache=True, nogil=True)
def _window(x, unit, start, dilation, p2, kernel_norm, score, cosine, scale, i):
    sumsq = 0.0
    dot = 0.0
    for j in range(unit.shape[0]):
        v = x[start + j * dilation]
        sumsq += v * v
        dot += v * unit[j]
    score[i], cosine[i], scale[i] = _finish(x, start, dilation, unit, dot, sumsq, kernel_norm, p2)


@njit(parallel=True, cache=True, nogil=True)
def _sliding_cosine(x, unit, kernel_norm, dilation, p2, score, cosine, scale):
    n_out = score.shape[0]
    n_runs = (n_out + _RUN - 1) // _RUN
    for r in prange(n_runs):
        stop = min(n_out, (r + 1) * _RUN)
        for i in range(r * _RUN, stop):
            _window(x, unit, i, dilation, p2, kernel_norm, score, cosine, scale, i)


def sliding_cosine_numba(
    signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int
) -> ScoreTrack:
    """Numba version of :func:`motifscan.similarity.reference.sliding_cosine_reference`.

    Same arguments and result; assumes ``n >= span``. Agrees with the reference within
    round-off (see ``docs/method.md``, "Tolerances").
    """
    n_out = signal.shape[0] - span(kernel.shape[0], dilation) + 1
    unit, kernel_norm = unit_kernel(kernel)
    score = np.empty(n_out)
    cosine = np.empty(n_out)
    scale = np.empty(n_out)
    _sliding_cosine(signal, unit, kernel_norm, dilation, float(p) * float(p), score, cosine, scale)
    return ScoreTrack(score, cosine, scale)
