"""Numba CPU backend: a ``prange`` loop over runs of window positions.

Each window is computed from its own samples (no running sums across windows), so the
result does not drift on long or offset signals. The common case squares the samples
directly; only a window whose sum of squares is not a comfortable normal number (it
overflowed, underflowed, is zero, or holds inf/NaN) is recomputed scaled by its largest
magnitude, exactly as the reference does for every window.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import ScoreTrack, span
from motifscan.similarity.reference import unit_kernel

# A sum of squares at least this large has lost nothing that matters to underflow: every
# square below the normal range errs by < 2**-1074, i.e. < 1e-30 relative to this floor.
_SAFE_SUMSQ = 1e-290

# Positions per prange task: large enough to amortise scheduling, small enough to balance.
_RUN = 4096


@njit(cache=True, nogil=True)
def _window(x, unit, start, dilation, p2, kernel_norm, score, cosine, scale, i):
    m = unit.shape[0]
    sumsq = 0.0
    dot = 0.0
    for j in range(m):
        v = x[start + j * dilation]
        sumsq += v * v
        dot += v * unit[j]
    largest = 1.0
    if not (sumsq >= _SAFE_SUMSQ and sumsq < math.inf):
        largest = 0.0
        for j in range(m):
            a = abs(x[start + j * dilation])
            if not a < math.inf:  # NaN or inf: the window has no score
                score[i] = math.nan
                cosine[i] = math.nan
                scale[i] = math.nan
                return
            if a > largest:
                largest = a
        if largest == 0.0:
            score[i] = 0.0
            cosine[i] = 0.0
            scale[i] = 0.0
            return
        sumsq = 0.0
        dot = 0.0
        for j in range(m):
            v = x[start + j * dilation] / largest
            sumsq += v * v
            dot += v * unit[j]
    c = dot / math.sqrt(sumsq)
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    cosine[i] = c
    s = abs(c) ** p2
    score[i] = s if c >= 0.0 else -s
    scale[i] = dot / kernel_norm * largest


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
