"""FFT overlap-save backend for long kernels (scipy.fft), block by block.

The output positions are cut into segments of ``B = N - L + 1`` positions (``N`` the FFT
length, ``L`` the kernel's span); segment ``g`` needs the samples ``x[s_g : s_g + N]``,
and its ``B`` dot products are the first ``B`` values of the circular cross-correlation
``irfft(rfft(segment) * conj(rfft(dilated kernel)))``, which never wrap. Segments are
transformed a batch at a time (a 2-D ``rfft`` with ``workers`` threads over the rows), so
the work buffers are bounded by :data:`BATCH_SAMPLES` whatever the signal's length.

Round-off
    Each segment is scaled by a power of two (exact) so that its largest finite sample
    lies in [0.5, 1); non-finite samples enter the transform as 0. The FFT's error in a dot
    product is then about ``eps * log2(N)`` times ``|segment| * |kernel|``: the *segment's*
    scale, not the window's. A window whose own norm is far below its segment's (a quiet
    stretch next to a loud burst) would lose digits, so every window with
    ``|w| < |segment| / QUIET_RATIO`` is recomputed directly, as is every window holding
    NaN or +-inf or whose sum of squares is not a safe normal number (overflow,
    underflow). The remaining windows err by at most about ``eps * log2(N) * QUIET_RATIO``
    of ``|w| * |k|``: ~4e-11 in cosine.

Window norms and the last step (cosine, scale, sharpening, rescue of odd windows) are
those of the direct backend (:mod:`motifscan.similarity.cpu`), so both backends treat
zero, constant, huge and tiny windows with the same code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import CandidateTrack, ScoreTrack, span
from motifscan.similarity.cpu import (
    CONSECUTIVE,
    SAFE_SUMSQ,
    candidate_bounds,
    candidate_buffers,
    finish_run,
    integer_power,
    one_kernel_candidates,
    test_and_finish,
    threads,
    window_sumsq,
)
from motifscan.similarity.reference import unit_kernel
from motifscan.similarity.spectra import multiply_spectra

#: A window is recomputed directly when its norm is below its segment's norm divided by
#: this. The FFT's error, relative to the window, is ~ eps * log2(N) * (segment / window),
#: so this bounds it by ~ 2.2e-16 * 16 * 1e4 ~ 4e-11. On ordinary signals no window comes
#: near it (for m >= 3, a window's share of a segment's energy is rarely below 1e-8).
QUIET_RATIO = 1e4

#: Samples transformed per batch (all segments of a batch together): 2**20 float64 is 8 MiB
#: per buffer, so the work memory stays below ~40 MiB for any signal length.
BATCH_SAMPLES = 1 << 20

#: Smallest FFT length. Measured on the development machine (one thread, n = 2e6): the
#: cost per output is flat from 2**13 to 2**15 for m <= 1024 and rises on either side.
MIN_FFT = 1 << 14


def fft_length(window_span: int, n_out: int | None = None) -> int:
    """FFT length for a kernel spanning ``window_span`` samples.

    A power of two at least ``8 * span`` (so at least 7/8 of each transform yields
    outputs) and at least :data:`MIN_FFT`. Given ``n_out``, the number of outputs, a
    shorter power of two (down to ``MIN_FFT / 2``, where the cost per output is still
    flat) is taken when it transforms fewer samples in all: a short piece of a stream, such
    as the 21 000 rows a bank of 256 kernels is scanned at a time, then transforms 3 * 2**13
    samples instead of 2 * 2**14.
    """
    shortest = 1 << (8 * window_span - 1).bit_length()
    longest = max(MIN_FFT, shortest)
    if n_out is None:
        return longest

    def transformed(length: int) -> int:
        return -(-n_out // (length - window_span + 1)) * length

    best = longest
    length = longest // 2
    while length >= max(MIN_FFT // 2, shortest):
        if transformed(length) < transformed(best):
            best = length
        length //= 2
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def _power_of_two(exponent):
    """``2.0 ** exponent`` as two factors, each within the normal range for |exponent| < 2100."""
    half = exponent // 2
    return math.ldexp(1.0, half), math.ldexp(1.0, exponent - half)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _fill(x, first, segment_step, segments, buffer, exponents, energies, shifted):
    """Copy segment g (samples ``first + g * step ..``) scaled into ``buffer[g]``.

    With ``shifted`` the mean of the segment's finite samples is subtracted first, so the
    transform's round-off scales with the samples' deviations, not with an offset such as
    1e6 (used with kernels of sum 0, whose dot products the shift does not change). Of all
    shifts the mean leaves the smallest sum of squares, which is what the round-off scales
    with (a sum that overflows leaves the samples unshifted). A
    deviation that overflows makes the segment's energy infinite: all its windows are then
    recomputed directly.
    """
    n = x.shape[0]
    width = buffer.shape[1]
    for g in prange(segments):
        start = first + g * segment_step
        take = min(width, n - start)
        row = buffer[g]
        shift = 0.0
        if shifted:
            total = 0.0
            count = 0
            for i in range(take):
                v = x[start + i]
                finite = abs(v) < math.inf
                total += v if finite else 0.0
                count += finite
            if count > 0 and abs(total) < math.inf:
                shift = total / count
        largest = 0.0
        for i in range(take):
            a = abs(x[start + i] - shift)
            if a < math.inf and a > largest:
                largest = a
        exponent = math.frexp(largest)[1] if largest > 0.0 else 0
        f1, f2 = _power_of_two(-exponent)
        energy = 0.0
        for i in range(take):
            v = x[start + i]
            d = v - shift
            if abs(d) < math.inf:
                y = d * f1 * f2
            else:
                y = 0.0
                if abs(v) < math.inf:  # finite, but its deviation overflows
                    energy = math.inf
            row[i] = y
            energy += y * y
        for i in range(take, width):
            row[i] = 0.0
        exponents[g] = exponent
        energies[g] = energy


@njit(cache=True, nogil=True, error_model="numpy")
def _segment_dots(
    x, kernel, dilation, kernel_exponent, first, start, count, row, exponent, energy, sumsq, dot, odd_later
):
    """Unscale one segment's dot products into ``dot[start : start + count]`` and fix the
    windows the FFT cannot (positions are ``first + start + i``; ``dot`` and ``sumsq`` hold
    positions ``first ..``).

    With ``odd_later`` the windows whose sum of squares is not a safe normal number are
    left alone (the caller's finishing step recomputes them); otherwise they are
    recomputed here, like the quiet ones.
    """
    m = kernel.shape[0]
    quiet2 = QUIET_RATIO * QUIET_RATIO
    u1, u2 = _power_of_two(exponent + kernel_exponent)
    d1, d2 = _power_of_two(-exponent)
    out = dot[start : start + count]
    sums = sumsq[start : start + count]
    for i in range(count):
        out[i] = row[i] * u1 * u2
    for i in range(count):
        q = sums[i]
        safe = q >= SAFE_SUMSQ and q < math.inf
        if safe:
            if not (q * d1 * d1 * d2 * d2 * quiet2 < energy):
                continue
        elif odd_later:
            continue
        # Quiet, or (for plain dot products) holding NaN, inf, huge or tiny values:
        # the direct sum, tap by tap, in IEEE arithmetic.
        base = first + start + i
        total = 0.0
        for j in range(m):
            total += kernel[j] * x[base + j * dilation]
        out[i] = total


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _collect(
    x,
    kernel,
    dilation,
    kernel_exponent,
    first,
    segment_step,
    segments,
    n_out,
    correlation,
    exponents,
    energies,
    sumsq,
    dot,
):
    """Plain dot products of a batch: :func:`_segment_dots` for every segment."""
    for g in prange(segments):
        start = g * segment_step
        count = min(segment_step, n_out - first - start)
        _segment_dots(
            x,
            kernel,
            dilation,
            kernel_exponent,
            first,
            start,
            count,
            correlation[g],
            exponents[g],
            energies[g],
            sumsq,
            dot,
            False,
        )


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _collect_and_finish(
    x,
    unit,
    dilation,
    kernel_exponent,
    first,
    segment_step,
    segments,
    n_out,
    correlation,
    exponents,
    energies,
    sumsq,
    dot,
    kernel_norm,
    p2,
    power,
    score,
    cosine,
    scale,
):
    """Scores of a batch: each segment's dot products, then its last step while in cache."""
    for g in prange(segments):
        start = g * segment_step
        count = min(segment_step, n_out - first - start)
        _segment_dots(
            x,
            unit,
            dilation,
            kernel_exponent,
            first,
            start,
            count,
            correlation[g],
            exponents[g],
            energies[g],
            sumsq,
            dot,
            True,
        )
        finish_run(
            x,
            unit,
            dilation,
            kernel_norm,
            p2,
            power,
            first + start,
            dot[start : start + count],
            sumsq[start : start + count],
            score,
            cosine,
            scale,
            CONSECUTIVE,
        )


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _collect_and_test(
    x,
    unit,
    dilation,
    kernel_exponent,
    first,
    segment_step,
    segments,
    n_out,
    correlation,
    exponents,
    energies,
    sumsq,
    dot,
    kernel_norm,
    p2,
    power,
    lower,
    near_lower,
    near_upper,
    position,
    score,
    cosine,
    scale,
    counts,
    near,
):
    """:func:`_collect_and_finish` for detection only: each segment's dot products, then
    the fused test and the last step of the chosen windows only
    (:func:`motifscan.similarity.cpu.test_and_finish`), written from the segment's first position on; ``counts[g]`` and
    ``near[g]`` get how many were chosen and how many others count as near."""
    for g in prange(segments):
        start = g * segment_step
        count = min(segment_step, n_out - first - start)
        _segment_dots(
            x,
            unit,
            dilation,
            kernel_exponent,
            first,
            start,
            count,
            correlation[g],
            exponents[g],
            energies[g],
            sumsq,
            dot,
            True,
        )
        chosen = np.empty(count, dtype=np.uint8)
        counts[g], near[g] = test_and_finish(
            x,
            unit,
            dilation,
            kernel_norm,
            p2,
            power,
            first + start,
            dot[start : start + count],
            sumsq[start : start + count],
            lower,
            near_lower,
            near_upper,
            chosen,
            position,
            score,
            cosine,
            scale,
        )


class _Plan:
    """The FFT length, the kernel's spectrum and the batch buffers of one scan."""

    def __init__(self, kernel: np.ndarray, dilation: int, n_out: int, workers: int | None):
        import scipy.fft

        self.fft = scipy.fft
        m = kernel.shape[0]
        self.span = span(m, dilation)
        self.length = fft_length(self.span, n_out)
        self.step = self.length - self.span + 1  # outputs per segment
        self.workers = threads() if workers is None else workers
        self.spectrum, self.kernel_exponent = self.kernel_spectrum(kernel, dilation)
        total_segments = -(-n_out // self.step)
        self.batch = max(1, min(total_segments, BATCH_SAMPLES // self.length))
        self.buffer = np.empty((self.batch, self.length))
        self.exponents = np.empty(self.batch, dtype=np.int64)
        self.energies = np.empty(self.batch)

    def batches(self, n_out: int):
        """``(first position, segments)`` of each batch."""
        per_batch = self.batch * self.step
        for first in range(0, n_out, per_batch):
            yield first, min(self.batch, -(-(n_out - first) // self.step))

    def kernel_spectrum(self, kernel, dilation):
        """``(conj(rfft(dilated kernel)), exponent)``: the kernel is scaled by ``2**-exponent``
        (exact) so that its largest tap lies in [0.5, 1)."""
        largest = float(np.max(np.abs(kernel)))
        exponent = math.frexp(largest)[1] if largest > 0 else 0
        dilated = np.zeros(self.length)
        dilated[: self.span : dilation] = np.ldexp(kernel, -exponent)
        return np.conj(self.fft.rfft(dilated)), exponent

    def segment_spectra(self, x, first, segments, shifted=False):
        """The spectra of this batch's (scaled, with ``shifted`` mean-shifted) segments."""
        buffer = self.buffer[:segments]
        _fill(x, first, self.step, segments, buffer, self.exponents, self.energies, shifted)
        return self.fft.rfft(buffer, axis=1, workers=self.workers)

    def correlate(self, spectra, spectrum, overwrite=False):
        """Circular cross-correlations of the segments with a kernel, shape (segments, N)."""
        product = spectra if overwrite else np.empty_like(spectra)
        multiply_spectra(spectra, spectrum[None, :], product[None])
        return self.fft.irfft(product, n=self.length, axis=1, workers=self.workers, overwrite_x=True)

    def transform(self, x, first, segments):
        """The circular cross-correlations of this batch's segments, shape (segments, N)."""
        return self.correlate(self.segment_spectra(x, first, segments), self.spectrum, overwrite=True)


def sliding_dot_fft(signal: np.ndarray, kernel: np.ndarray, dilation: int, workers: int | None = None) -> np.ndarray:
    """Plain dot products by overlap-save FFT; same result as the direct backend within round-off.

    Parameters
    ----------
    signal : float64 array, shape (n,), contiguous
    kernel : float64 array, shape (m,), finite
    dilation : int
    workers : int, optional
        Threads for the transforms; default: as many as the Numba kernels use.

    Returns
    -------
    float64 array, shape (n - span + 1,)
        Windows holding NaN or +-inf, and windows too quiet for the FFT (see the module
        notes), are summed directly in IEEE arithmetic, as the direct backend does.
    """
    m = kernel.shape[0]
    n_out = signal.shape[0] - span(m, dilation) + 1
    dot = np.empty(max(n_out, 0))
    if n_out <= 0:
        return dot
    plan = _Plan(kernel, dilation, n_out, workers)
    sumsq = np.empty(min(n_out, plan.batch * plan.step))
    for first, segments in plan.batches(n_out):
        count = min(n_out - first, segments * plan.step)
        window_sumsq(signal[first:], m, dilation, sumsq[:count])
        correlation = plan.transform(signal, first, segments)
        _collect(
            signal,
            kernel,
            dilation,
            plan.kernel_exponent,
            first,
            plan.step,
            segments,
            n_out,
            correlation,
            plan.exponents,
            plan.energies,
            sumsq,
            dot[first : first + count],
        )
    return dot


def sliding_cosine_fft(
    signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int, workers: int | None = None
) -> ScoreTrack:
    """FFT version of :func:`motifscan.similarity.reference.sliding_cosine_reference`.

    Same arguments and result; assumes ``n >= span``. Agrees with the reference within
    the FFT tolerance of ``docs/method.md`` ("Tolerances"). ``workers`` as in
    :func:`sliding_dot_fft`.
    """
    m = kernel.shape[0]
    n_out = signal.shape[0] - span(m, dilation) + 1
    unit, kernel_norm = unit_kernel(kernel)
    p2, power = integer_power(p)
    score, cosine, scale = np.empty(n_out), np.empty(n_out), np.empty(n_out)
    plan = _Plan(unit, dilation, n_out, workers)
    size = min(n_out, plan.batch * plan.step)
    sumsq, dot = np.empty(size), np.empty(size)
    for first, segments in plan.batches(n_out):
        count = min(n_out - first, segments * plan.step)
        window_sumsq(signal[first:], m, dilation, sumsq[:count])
        correlation = plan.transform(signal, first, segments)
        _collect_and_finish(
            signal,
            unit,
            dilation,
            plan.kernel_exponent,
            first,
            plan.step,
            segments,
            n_out,
            correlation,
            plan.exponents,
            plan.energies,
            sumsq,
            dot,
            kernel_norm,
            p2,
            power,
            score,
            cosine,
            scale,
        )
    return ScoreTrack(score, cosine, scale)


def sliding_candidates_fft(
    signal: np.ndarray,
    kernel: np.ndarray,
    p: float,
    dilation: int,
    threshold: float,
    near_cosine: float,
    workers: int | None = None,
) -> CandidateTrack:
    """The fused FFT scan of :func:`motifscan.similarity.sliding_candidates` (same
    arguments and result; assumes ``n >= span``): the windows of :func:`sliding_cosine_fft`
    that may reach ``threshold``, and every unscored one, finished by its very operations."""
    m = kernel.shape[0]
    n_out = signal.shape[0] - span(m, dilation) + 1
    unit, kernel_norm = unit_kernel(kernel)
    p2, power = integer_power(p)
    lower, near_lower, near_upper = candidate_bounds(threshold, p2, near_cosine)
    # Written from each segment's first position on; only the chosen windows' pages are
    # ever touched.
    arrays = candidate_buffers(1, n_out, False)
    position, score, cosine, scale = (column[0] for column in arrays[:4])
    plan = _Plan(unit, dilation, n_out, workers)
    size = min(n_out, plan.batch * plan.step)
    sumsq, dot = np.empty(size), np.empty(size)
    total_segments = -(-n_out // plan.step)
    counts = np.zeros(total_segments, dtype=np.int64)
    near = np.zeros(total_segments, dtype=np.int64)
    for first, segments in plan.batches(n_out):
        count = min(n_out - first, segments * plan.step)
        window_sumsq(signal[first:], m, dilation, sumsq[:count])
        correlation = plan.transform(signal, first, segments)
        at = first // plan.step
        _collect_and_test(
            signal,
            unit,
            dilation,
            plan.kernel_exponent,
            first,
            plan.step,
            segments,
            n_out,
            correlation,
            plan.exponents,
            plan.energies,
            sumsq,
            dot,
            kernel_norm,
            p2,
            power,
            lower,
            near_lower,
            near_upper,
            position,
            score,
            cosine,
            scale,
            counts[at : at + segments],
            near[at : at + segments],
        )
    starts = np.arange(total_segments, dtype=np.int64) * plan.step
    return one_kernel_candidates(arrays, counts, starts, n_out, int(near.sum()))
