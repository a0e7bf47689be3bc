"""FFT backend of the centred one-channel scan (``--normalize center|zscore``, long kernels).

The centred cosine needs, per window ``w`` and centred unit kernel ``k_c`` (sum 0):

Dot products
    ``(w - mean w)·k_c = (w - c)·k_c`` for any constant ``c``. The overlap-save FFT of
    :mod:`motifscan.similarity.fft` runs on each segment minus its median, so its
    round-off (``eps log2(N)`` of the segment's norm) scales with the deviations of the
    samples, not with an offset such as 1e6. As in the plain FFT scan, a window whose
    centred norm is below its segment's norm divided by ``QUIET_RATIO`` is recomputed
    directly.

Centred norms
    ``q = sum (w - mean w)² = s2 - s1² / m`` with ``s1 = sum (w - c)``, ``s2 = sum (w -
    c)²`` kept as rolling sums over a short block of positions, ``c`` the block's mean: the
    sums never run over the whole signal. Their round-off is at most about ``4 eps (m + 2t)
    max s2`` (``t`` rolling steps, ``max s2`` the largest ``s2`` of the block; the ``s1²/m``
    term obeys the same bound as ``s1² / m <= s2``); a window whose ``q`` is not
    :data:`CANCEL_RATIO` times that bound might have lost more than ~1e-10 of its norm to
    cancellation and is recomputed directly. So are the windows of any block that holds NaN,
    +-inf, or deviations outside [1e-100, 1e100] (their squares would overflow or lose digits
    to underflow), and constant windows (``q`` within round-off of 0), so that those come out
    exactly as in the direct scan: NaN, or score 0.

Every recomputed window, and the last step of the others (cosine, sharpening, scale, noise
floor, z-normalised distance), is the code of the direct scan
(:mod:`motifscan.similarity.multi_cpu`). Away from recomputed windows the cosine errs by
about ``eps log2(N) QUIET_RATIO`` (~4e-11) from the dot product plus ~1e-10 from the norm;
for ``zscore``, the windows nearest to the kernel (whose distance ``sqrt(2M(1 - r))`` that
error would move by more than :data:`DISTANCE_ERROR`) are recomputed directly too.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import DistanceTrack, ScoreTrack, span
from motifscan.similarity.fft import QUIET_RATIO, _Plan, _power_of_two
from motifscan.similarity.multi import prepare_kernels
from motifscan.similarity.multi_cpu import _BIG, _SMALL, _window, finish_position
from motifscan.similarity.window import SAFE_SUMSQ

#: Windows whose centred sum of squares is below this many times the round-off bound of
#: the rolling sums are recomputed directly: the norm then errs by at most ~1 / CANCEL_RATIO
#: relative (1e-10, under the 1e-9 the tests allow for the cosine).
CANCEL_RATIO = 1e10

#: Bound on the cosine's error of a window left to the FFT path: ~5e-11 from the dot
#: product, 1e-10 from the norm (module notes).
COSINE_ERROR = 1.5e-10

#: The error ``|dd| <= M dr / d`` of a z-normalised distance ``d = sqrt(2 M (1 - r))``
#: grows near ``d = 0`` (the best matches): windows whose distance could err by more than
#: this are recomputed directly (for M = 1024 taps those with r > 0.89: the near matches).
DISTANCE_ERROR = 1e-8

#: Rolling steps per chain (positions per block = this times the dilation).
_ROLL = 256

_EPS = np.finfo(np.float64).eps


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _centred_sumsq(x, m, dilation, sumsq, sums, rescue):
    """Centred sums of squares of every window into ``sumsq``; ``rescue`` marks the
    windows to recompute directly (``sums`` is work space of the same shape)."""
    n_out = sumsq.shape[0]
    block = _ROLL * dilation
    for r in prange((n_out + block - 1) // block):
        first = r * block
        stop = min(n_out, first + block)
        end = stop + (m - 1) * dilation  # one past the block's last sample
        total = 0.0
        for t in range(first, end):
            total += x[t]
        c = total / (end - first)
        biggest = 0.0
        for t in range(first, end):
            a = abs(x[t] - c)
            if not a < _BIG:  # NaN, inf, an overflowed mean or a huge deviation
                biggest = math.inf
                break
            biggest = max(biggest, a)
        if not (biggest >= _SMALL and biggest < _BIG):  # also a constant block (0)
            for i in range(first, stop):
                sumsq[i] = 0.0
                rescue[i] = True
            continue
        largest = 0.0
        for i in range(first, stop):
            if i < first + dilation:  # the first window of each chain, summed directly
                s1 = 0.0
                s2 = 0.0
                for j in range(m):
                    y = x[i + j * dilation] - c
                    s1 += y
                    s2 += y * y
            else:  # slide the chain's window by one tap
                old = x[i - dilation] - c
                new = x[i + (m - 1) * dilation] - c
                s1 = sums[i - dilation] + new - old
                s2 = sumsq[i - dilation] + new * new - old * old
            sums[i] = s1
            sumsq[i] = s2
            largest = max(largest, s2)
        bound = CANCEL_RATIO * 4.0 * _EPS * (m + 2 * _ROLL + 4) * largest
        for i in range(first, stop):
            q = sumsq[i] - sums[i] * sums[i] / m
            sumsq[i] = q
            rescue[i] = not (q > bound and q >= SAFE_SUMSQ)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _collect_centred(correlation, exponents, energies, kernel_exponent, first, segment_step, segments,
                     n_out, sumsq, rescue, dots):
    """Unscale a batch's dot products into ``dots[first ..]``; mark the quiet windows."""
    quiet2 = QUIET_RATIO * QUIET_RATIO
    for g in prange(segments):
        start = first + g * segment_step
        count = min(segment_step, n_out - start)
        u1, u2 = _power_of_two(exponents[g] + kernel_exponent)
        d1, d2 = _power_of_two(-exponents[g])
        energy = energies[g]
        row = correlation[g]
        for i in range(count):
            dots[start + i] = row[i] * u1 * u2
            if not (sumsq[start + i] * d1 * d1 * d2 * d2 * quiet2 >= energy):
                rescue[start + i] = True


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _finish(x, units, kernel_norms, dilation, zscore, floor, p2, sumsq, rescue, dots, score, cosine,
            scale, distance):
    n_out = sumsq.shape[0]
    m = units.shape[1]
    block = 4096
    for r in prange((n_out + block - 1) // block):
        scratch = np.empty(units.shape[2])
        means = np.empty(1)
        for i in range(r * block, min(n_out, (r + 1) * block)):
            if rescue[i]:
                _window(x, units, kernel_norms, i, dilation, True, zscore, floor, p2, scratch, means,
                        score, cosine, scale, distance)
                continue
            finish_position(dots, i, i, sumsq[i], kernel_norms, m, floor, p2, zscore, score, cosine, scale,
                            distance, 1.0)
            if zscore:
                for k in range(units.shape[2]):
                    if distance[k, i] * DISTANCE_ERROR < m * COSINE_ERROR:
                        _window(x, units, kernel_norms, i, dilation, True, zscore, floor, p2, scratch, means,
                                score, cosine, scale, distance)
                        break


def scan_kernels_fft(
    signal: np.ndarray, kernels: np.ndarray, p: float, dilation: int, normalize: str, noise_floor: float,
    workers: int | None = None,
) -> list[ScoreTrack]:
    """FFT version of :func:`motifscan.similarity.reference.scan_kernels_reference` for one
    channel and ``normalize`` ``"center"`` or ``"zscore"``.

    Parameters
    ----------
    signal : float64 array, shape (1, n), contiguous, ``n >= span``
    kernels : float64 array, shape (K, 1, m)
    p, dilation, normalize, noise_floor
        As for :func:`motifscan.similarity.multi.scan_kernels`.
    workers : int, optional
        Threads for the transforms; default: as many as the Numba kernels use.

    Returns
    -------
    list of ScoreTrack or DistanceTrack, as the reference; equal within the tolerance of
    the module notes.
    """
    zscore = normalize == "zscore"
    n_kernels, _, m = kernels.shape
    x = np.ascontiguousarray(signal[0])
    units, kernel_norms = prepare_kernels(kernels, center=True)
    n_out = x.shape[0] - span(m, dilation) + 1
    sumsq, sums = np.empty(n_out), np.empty(n_out)
    rescue = np.empty(n_out, dtype=np.bool_)
    _centred_sumsq(x, m, dilation, sumsq, sums, rescue)
    del sums
    plan = _Plan(units[0, 0], dilation, n_out, workers)
    spectra = [plan.kernel_spectrum(unit[0], dilation) for unit in units]
    dots = np.empty((n_kernels, n_out))
    for first, segments in plan.batches(n_out):
        transformed = plan.segment_spectra(x, first, segments, shifted=True)
        for k, (spectrum, exponent) in enumerate(spectra):
            correlation = plan.correlate(transformed, spectrum, overwrite=k == n_kernels - 1)
            _collect_centred(correlation, plan.exponents, plan.energies, exponent, first, plan.step, segments,
                             n_out, sumsq, rescue, dots[k])
    score, cosine, scale = (np.empty((n_kernels, n_out)) for _ in range(3))
    distance = np.empty((n_kernels, n_out) if zscore else (n_kernels, 0))
    # (1, m, K): the layout of the direct scan, whose per-window code finishes the scan.
    units_by_tap = np.ascontiguousarray(units.transpose(1, 2, 0))
    _finish(x[None, :], units_by_tap, kernel_norms, dilation, zscore, float(noise_floor), float(p) * float(p),
            sumsq, rescue, dots, score, cosine, scale, distance)
    if zscore:
        return [DistanceTrack(score[k], cosine[k], scale[k], distance[k]) for k in range(n_kernels)]
    return [ScoreTrack(score[k], cosine[k], scale[k]) for k in range(n_kernels)]
