"""FFT backend of the batch scan (:func:`motifscan.similarity.multi.scan_kernels`) for
long kernels: any normalisation, noise floor, one channel or several scored jointly.

A window ``w`` of C channels is compared with unit kernels ``k`` of the same shape; with
``center`` both are centred per channel (each kernel channel then sums to 0).

Dot products
    ``w·k = sum_c w_c·k_c``: one overlap-save FFT per channel
    (:mod:`motifscan.similarity.fft`), summed. When centring, ``(w_c - mean w_c)·k_c =
    (w_c - s)·k_c`` for any constant ``s``, so each segment is transformed minus its mean
    and the round-off (``eps log2(N)`` of the segment's norm) scales with the deviations of
    the samples, not with an offset such as 1e6. As in the plain FFT scan, a window whose
    norm in some channel is below that channel's segment norm divided by ``QUIET_RATIO`` is
    recomputed directly; every channel's error is then below ``eps log2(N) QUIET_RATIO
    |w_c| |k_c|``, and their sum below that fraction of ``|w| |k|``.

Norms
    Per channel, ``q = s2 - s1² / m`` (centred) or ``q = s2`` (plain), with ``s1 = sum
    (w - c)`` and ``s2 = sum (w - c)²`` kept as rolling sums over a short block of
    positions (``max(256, m / 4)`` per chain; ``c`` the block's mean when centring, else 0): the sums never run over the
    whole signal. Their round-off is at most about ``4 eps (m + 2t) max s2`` (``t`` rolling
    steps, ``max s2`` the largest ``s2`` of the block; the ``s1²/m`` term obeys the same
    bound as ``s1² / m <= s2``); a window whose ``q`` is not :data:`CANCEL_RATIO` times that
    bound might have lost more than ~1e-10 of its norm to cancellation and is recomputed
    directly. So are the windows of any block that holds NaN, +-inf, or (nonzero) values
    outside [1e-100, 1e100] (their squares would overflow or lose digits to underflow),
    constant centred blocks and windows whose total ``q`` is within round-off of 0, so that
    those come out exactly as in the direct scan: NaN, or score 0.

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

from motifscan.similarity import CandidateTrack, DistanceTrack, ScoreTrack, Track, span
from motifscan.similarity.fft import QUIET_RATIO, _Plan, _power_of_two
from motifscan.similarity.spectra import bank_spectra, multiply_spectra
from motifscan.similarity.multi import prepare_kernels
from motifscan.similarity.cpu import candidate_bounds, candidate_buffers, integer_power, serial_twin
from motifscan.similarity.multi_candidates import CandidateLists, finish_fft_candidates
from motifscan.similarity.multi_cpu import _BIG, _SMALL, finish_block, _window
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

#: Positions finished per parallel task.
FINISH_BLOCK = 4096

#: Rolling steps per chain, at least (positions per block = the steps times the
#: dilation). Long kernels take m / 4: each block also sums its mean, its range and each
#: chain's first window directly, about ``3 (steps + m)`` operations, which at 256 steps
#: and m = 4096 cost 50 per position, more than everything else together. (As many steps
#: as taps cost 6, but the longer blocks' larger sums and bound sent 5% of a random walk's
#: windows of 4096 taps to the direct recomputation; m / 4 sent none.)
_ROLL = 256

_EPS = np.finfo(np.float64).eps


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _window_sumsq(x, m, dilation, center, sumsq, sums, rescue):
    """(With ``center``, centred) sums of squares of every window of one channel into
    ``sumsq``; marks in ``rescue`` the windows to recompute directly (and never unmarks:
    the channels of a joint scan mark the same array). ``sums`` is work space."""
    n_out = sumsq.shape[0]
    steps = max(_ROLL, m // 4)
    block = steps * dilation
    for r in prange((n_out + block - 1) // block):
        first = r * block
        stop = min(n_out, first + block)
        end = stop + (m - 1) * dilation  # one past the block's last sample
        # One pass for the mean and the range: the largest deviation from the mean is at
        # the smallest or the largest sample.
        total = 0.0
        lo = x[first]
        hi = lo
        for t in range(first, end):
            v = x[t]
            total += v
            lo = min(lo, v)
            hi = max(hi, v)
        c = total / (end - first) if center else 0.0
        biggest = max(hi - c, c - lo)
        # NaN (in the sum, whatever min and max made of it), inf, an overflowed mean or a
        # huge deviation.
        if not (biggest < _BIG and abs(total) < math.inf):
            biggest = math.inf
        if not center and biggest == 0.0:  # zeros: exact sums, the finish sees q = 0
            for i in range(first, stop):
                sumsq[i] = 0.0
            continue
        if not (biggest >= _SMALL and biggest < _BIG):  # also a constant centred block (0)
            for i in range(first, stop):
                sumsq[i] = 0.0
                rescue[i] = True
            continue
        largest = 0.0
        # Chain by chain, the running sums held in registers: each step adds one difference
        # (computed off the chain), so a step waits for one addition, not for a store.
        for chain in range(first, min(stop, first + dilation)):
            s1 = 0.0
            s2 = 0.0
            for j in range(m):  # the chain's first window, summed directly
                y = x[chain + j * dilation] - c
                s1 += y
                s2 += y * y
            sums[chain] = s1
            sumsq[chain] = s2
            largest = max(largest, s2)
            for i in range(chain + dilation, stop, dilation):  # slide by one tap
                old = x[i - dilation] - c
                new = x[i + (m - 1) * dilation] - c
                s1 += new - old
                s2 += new * new - old * old
                sums[i] = s1
                sumsq[i] = s2
                largest = max(largest, s2)
        bound = CANCEL_RATIO * 4.0 * _EPS * (m + 2 * steps + 4) * largest
        for i in range(first, stop):
            q = sumsq[i] - sums[i] * sums[i] / m if center else sumsq[i]
            sumsq[i] = q
            if not (q > bound and q >= SAFE_SUMSQ):
                rescue[i] = True


@njit(cache=True, nogil=True, error_model="numpy")
def _collect_pair(
    correlation,
    pair,
    exponents,
    energies,
    kernel_exponents,
    first,
    segment_step,
    n_out,
    sumsq,
    rescue,
    dots,
    accumulate,
    mark,
):
    """Unscale the dot products of one (kernel, segment) pair of a batch (``pair = k *
    segments + g``) into ``dots[k, ..]`` (position ``first + i`` at column ``i``; added to them with ``accumulate``); with
    ``mark`` (one kernel per segment is enough: the test does not depend on the kernel),
    mark the segment's windows that are quiet for it (``sumsq``: the channel's)."""
    segments = correlation.shape[1]
    k = pair // segments
    g = pair - k * segments
    start = first + g * segment_step
    count = min(segment_step, n_out - start)
    if mark:
        quiet2 = QUIET_RATIO * QUIET_RATIO
        d1, d2 = _power_of_two(-exponents[g])
        energy = energies[g]
        for i in range(count):
            if not (sumsq[start + i] * d1 * d1 * d2 * d2 * quiet2 >= energy):
                rescue[start + i] = True
    u1, u2 = _power_of_two(exponents[g] + kernel_exponents[k])
    row = correlation[k, g]
    out = dots[k]
    at = start - first  # ``dots`` holds the batch's positions only
    if accumulate:
        for i in range(count):
            out[at + i] += row[i] * u1 * u2
    else:
        for i in range(count):
            out[at + i] = row[i] * u1 * u2


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _collect_dots(
    correlation,
    exponents,
    energies,
    kernel_exponents,
    first,
    segment_step,
    n_out,
    sumsq,
    rescue,
    dots,
    accumulate,
    mark,
):
    """:func:`_collect_pair` for every (kernel, segment) pair of a chunk of kernels: one
    parallel region per batch and chunk, whatever the number of kernels."""
    n_kernels, segments = correlation.shape[0], correlation.shape[1]
    for pair in prange(n_kernels * segments):
        _collect_pair(
            correlation,
            pair,
            exponents,
            energies,
            kernel_exponents,
            first,
            segment_step,
            n_out,
            sumsq,
            rescue,
            dots,
            accumulate,
            mark and pair < segments,
        )


#: :func:`_collect_dots` on the calling thread, for chunks too small to be worth waking the
#: other threads (on a busy machine each parallel region waits for all).
_collect_dots_serial = serial_twin(_collect_dots)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _finish(
    x,
    units,
    kernel_norms,
    dilation,
    center,
    zscore,
    floor,
    p2,
    power,
    sumsq,
    rescue,
    dots,
    begin,
    end,
    score,
    cosine,
    scale,
    distance,
):
    """The last step of positions ``begin .. end`` for the kernels of ``units`` (their dot
    products in ``dots[:, 0 : end - begin]``; ``score`` .. ``distance`` those kernels' rows)."""
    taps = units.shape[0] * units.shape[1]
    n_kernels = units.shape[2]
    block = FINISH_BLOCK
    for r in prange((end - begin + block - 1) // block):
        scratch = np.empty(units.shape[2])
        flagged = np.empty(n_kernels, dtype=np.bool_)
        kept = np.empty((4, n_kernels))
        means = np.empty(units.shape[0])
        norm = np.empty(block)
        work = np.empty(block)
        first = begin + r * block
        stop = min(end, first + block)
        finish_block(
            dots[:, first - begin : stop - begin],
            first,
            stop - first,
            sumsq[first:stop],
            norm,
            work,
            kernel_norms,
            taps,
            floor,
            p2,
            power,
            zscore,
            score,
            cosine,
            scale,
            distance,
        )
        for i in range(first, stop):
            if rescue[i] or not sumsq[i] >= SAFE_SUMSQ:
                _window(
                    x,
                    units,
                    kernel_norms,
                    i,
                    dilation,
                    center,
                    zscore,
                    floor,
                    p2,
                    scratch,
                    means,
                    score,
                    cosine,
                    scale,
                    distance,
                )
                continue
            if zscore:
                # Only the kernels whose distance needs it take the direct result: the others
                # keep theirs, so a kernel's track never depends on the rest of its bank.
                redo = False
                for k in range(n_kernels):
                    flagged[k] = distance[k, i] * DISTANCE_ERROR < taps * COSINE_ERROR
                    redo = redo or flagged[k]
                if redo:
                    for k in range(n_kernels):
                        kept[0, k], kept[1, k] = score[k, i], cosine[k, i]
                        kept[2, k], kept[3, k] = scale[k, i], distance[k, i]
                    _window(
                        x,
                        units,
                        kernel_norms,
                        i,
                        dilation,
                        center,
                        zscore,
                        floor,
                        p2,
                        scratch,
                        means,
                        score,
                        cosine,
                        scale,
                        distance,
                    )
                    for k in range(n_kernels):
                        if not flagged[k]:
                            score[k, i], cosine[k, i] = kept[0, k], kept[1, k]
                            scale[k, i], distance[k, i] = kept[2, k], kept[3, k]


#: Inverse-transformed samples per call (all kernels of a chunk, all segments of a batch):
#: 2**21 float64 is 16 MiB of correlations and as much of products, whatever the bank;
#: below the 32 MiB from which the C library maps every allocation afresh (and the
#: kernel zeroes its pages again: most of a large bank's time went there).
BANK_SAMPLES = 1 << 21

#: Below this many outputs per chunk the dot products are collected on the calling thread.
SERIAL_OUTPUTS = 1 << 17


def scan_kernels_fft(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    workers: int | None = None,
) -> list[Track]:
    """FFT version of :func:`motifscan.similarity.reference.scan_kernels_reference` (see
    :func:`_scan_fft`)."""
    return _scan_fft(signal, kernels, p, dilation, normalize, noise_floor, workers)


def scan_candidates_fft(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    threshold: float,
    near_cosine: float,
) -> list[CandidateTrack]:
    """The fused FFT scan of :func:`motifscan.similarity.multi.scan_candidates` (see
    :func:`_scan_fft`)."""
    return _scan_fft(signal, kernels, p, dilation, normalize, noise_floor, None, (threshold, near_cosine))


def _scan_fft(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    workers: int | None = None,
    candidates: tuple[float, float] | None = None,
) -> list:
    """FFT version of :func:`motifscan.similarity.reference.scan_kernels_reference`.

    Parameters
    ----------
    signal : float64 array, shape (C, n), ``n >= span``
    kernels : float64 array, shape (K, C, m)
    p, dilation, normalize, noise_floor
        As for :func:`motifscan.similarity.multi.scan_kernels`.
    workers : int, optional
        Threads for the transforms; default: as many as the Numba kernels use.
    candidates : (threshold, near_cosine), optional
        Detect only: return each kernel's CandidateTrack
        (:func:`motifscan.similarity.multi.scan_candidates`), testing the windows before
        their last step (:mod:`motifscan.similarity.multi_candidates`).

    Returns
    -------
    list of ScoreTrack or DistanceTrack, as the reference; equal within the tolerance of
    the module notes (or of CandidateTrack, whose finished windows are those tracks'
    values bit for bit).
    """
    center = normalize in ("center", "zscore")
    zscore = normalize == "zscore"
    n_kernels, n_channels, m = kernels.shape
    x = np.ascontiguousarray(signal, dtype=np.float64)
    units, kernel_norms = prepare_kernels(kernels, center)
    n_out = x.shape[1] - span(m, dilation) + 1
    channel_sumsq, sums = np.empty((n_channels, n_out)), np.empty(n_out)
    rescue = np.zeros(n_out, dtype=np.bool_)
    for c in range(n_channels):
        _window_sumsq(x[c], m, dilation, center, channel_sumsq[c], sums, rescue)
    del sums
    sumsq = channel_sumsq[0] if n_channels == 1 else channel_sumsq.sum(axis=0)
    p2, power = integer_power(p)
    if candidates is None:
        score, cosine, scale = (np.empty((n_kernels, n_out)) for _ in range(3))
        distance = np.empty((n_kernels, n_out) if zscore else (n_kernels, 0))
    else:
        found = CandidateLists(n_kernels, zscore)
        bounds = candidate_bounds(candidates[0], p2, candidates[1], COSINE_ERROR)
    plan = _Plan(units[0, 0], dilation, n_out, workers)
    spectra, kernel_exponents = bank_spectra(units, dilation, plan.length)
    chunk = max(1, BANK_SAMPLES // (plan.batch * plan.length))  # kernels per inverse transform
    # (C, m, chunk): the layout of the direct scan, whose per-window code finishes the scan.
    units_by_tap = [
        np.ascontiguousarray(units[k0 : k0 + chunk].transpose(1, 2, 0)) for k0 in range(0, n_kernels, chunk)
    ]
    product = np.empty((min(chunk, n_kernels) * plan.batch, spectra.shape[2]), dtype=np.complex128)
    dots = np.empty((min(chunk, n_kernels), plan.batch * plan.step))
    exponents = np.empty((n_channels, plan.batch), dtype=np.int64)
    energies = np.empty((n_channels, plan.batch))
    for first, segments in plan.batches(n_out):
        count = min(n_out - first, segments * plan.step)
        transformed = []
        for c in range(n_channels):
            transformed.append(plan.segment_spectra(x[c], first, segments, shifted=center))
            exponents[c, :segments] = plan.exponents[:segments]
            energies[c, :segments] = plan.energies[:segments]
        for k0 in range(0, n_kernels, chunk):
            k1 = min(n_kernels, k0 + chunk)
            rows = product[: (k1 - k0) * segments]
            for c in range(n_channels):
                # The chunk's products and inverse transforms at once: one call each.
                multiply_spectra(transformed[c], spectra[k0:k1, c], rows.reshape(k1 - k0, segments, -1))
                correlation = plan.fft.irfft(rows, n=plan.length, axis=1, workers=plan.workers, overwrite_x=True)
                collect = _collect_dots_serial if rows.shape[0] * plan.step < SERIAL_OUTPUTS else _collect_dots
                collect(
                    correlation.reshape(k1 - k0, segments, plan.length),
                    exponents[c],
                    energies[c],
                    kernel_exponents[k0:k1, c],
                    first,
                    plan.step,
                    n_out,
                    channel_sumsq[c],
                    rescue,
                    dots[: k1 - k0],
                    c > 0,
                    k0 == 0,  # the first chunk marks the quiet windows of every channel
                )
            # The chunk's last step while its dot products are in cache (each kernel's
            # track does not depend on the others of its chunk or bank).
            if candidates is not None:
                arrays = candidate_buffers(k1 - k0, count, zscore)
                n_blocks = -(-count // FINISH_BLOCK)
                counts = np.zeros((k1 - k0, n_blocks), dtype=np.int64)
                near = np.zeros((k1 - k0, n_blocks), dtype=np.int64)
                finish_fft_candidates(
                    x,
                    units_by_tap[k0 // chunk],
                    kernel_norms[k0:k1],
                    dilation,
                    center,
                    zscore,
                    float(noise_floor),
                    p2,
                    power,
                    bounds,
                    sumsq,
                    rescue,
                    dots[: k1 - k0],
                    first,
                    first + count,
                    arrays[0],
                    arrays[1],
                    arrays[2],
                    arrays[3],
                    arrays[4],
                    counts,
                    near,
                    FINISH_BLOCK,
                    DISTANCE_ERROR,
                    n_channels * m * COSINE_ERROR,
                )
                found.add(k0, arrays, counts, near, np.arange(n_blocks, dtype=np.int64) * FINISH_BLOCK)
                continue
            _finish(
                x,
                units_by_tap[k0 // chunk],
                kernel_norms[k0:k1],
                dilation,
                center,
                zscore,
                float(noise_floor),
                p2,
                power,
                sumsq,
                rescue,
                dots[: k1 - k0],
                first,
                first + count,
                score[k0:k1],
                cosine[k0:k1],
                scale[k0:k1],
                distance[k0:k1],
            )
    if candidates is not None:
        return found.tracks(n_out)
    if zscore:
        return [DistanceTrack(score[k], cosine[k], scale[k], distance[k]) for k in range(n_kernels)]
    return [ScoreTrack(score[k], cosine[k], scale[k]) for k in range(n_kernels)]
