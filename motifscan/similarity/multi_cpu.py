"""Numba CPU backend of :func:`motifscan.similarity.multi.scan_kernels`.

One ``prange`` loop over blocks of window positions; inside a block every loop runs over
the positions (contiguous, so it vectorises) with taps and kernels outside. Each window is
computed from its own samples, never from running sums across windows, so nothing drifts
on long or offset signals:

- ``none``: one pass accumulates the window's sum of squares and the K dot products at
  once (the samples are loaded once for all kernels); a window whose sum of squares is not
  a comfortable normal number is recomputed scaled by its largest magnitude.
- ``center``/``zscore``: one pass accumulates, per channel, the sum and the sum of squares
  of each sample's deviation from a reference sample of the same window, and the K dot
  products of those deviations; the centred sum of squares and dot products follow from
  them (see :func:`_block`). Subtracting a sample of the window itself before squaring is
  what keeps the precision on a signal such as ``1e6 + noise``: a running ``sum(x**2) -
  n * mean**2`` would cancel away every digit of the noise. Windows where even that could
  cancel, constant, non-finite and extreme ones take the two-pass rule of
  :func:`_window` (mean first, then the centred samples).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import DistanceTrack, ScoreTrack, Track, span
from motifscan.similarity.cpu import integer_power, sharpen_run
from motifscan.similarity.multi import EXACT_SQUARED_DISTANCE, prepare_kernels
from motifscan.similarity.window import SAFE_SUMSQ

# Centred windows whose largest deviation lies outside [_SMALL, _BIG] are divided by it
# before squaring, so C * m squares neither overflow nor lose anything to underflow.
_BIG = 1e100
_SMALL = 1e-100


@njit(cache=True, nogil=True, fastmath={"contract"})
def _window(
    x, units, kernel_norms, i, dilation, center, zscore, floor, p2, dots, means, score, cosine, scale, distance
):
    n_channels, m, n_kernels = units.shape
    taps = n_channels * m
    largest = 1.0
    sumsq = 0.0
    if center:
        constant = True
        finite = True
        spread = 0.0  # the largest deviation from a channel's mean
        magnitude = 0.0  # the largest |sample|
        for c in range(n_channels):
            lo = x[c, i]
            hi = lo
            total = 0.0
            for j in range(m):
                v = x[c, i + j * dilation]
                total += v
                lo = min(lo, v)
                hi = max(hi, v)
            if not (lo > -math.inf and hi < math.inf and total == total):
                finite = False
                break
            mean = total / m
            if hi == lo:  # a flat channel: exactly zero deviations, whatever the rounding
                mean = lo
            elif not abs(mean) < math.inf:  # the sum overflowed: average scaled values
                mean = 0.0
                for j in range(m):
                    mean += x[c, i + j * dilation] / m
            means[c] = mean
            if hi > lo:
                constant = False
            spread = max(spread, hi - mean, mean - lo)  # inf when it overflows
            magnitude = max(magnitude, abs(hi), abs(lo))
        if not finite:
            for k in range(n_kernels):
                score[k, i] = cosine[k, i] = scale[k, i] = math.nan
                if zscore:
                    distance[k, i] = math.nan
            return
        if constant:
            for k in range(n_kernels):
                score[k, i] = cosine[k, i] = scale[k, i] = 0.0
                if zscore:
                    distance[k, i] = math.sqrt(taps)
            return
        # Subtract first (exact for close values: 1e6 + noise keeps its digits), then scale
        # when the squares would overflow or underflow. Only when a deviation itself
        # overflows (samples near +-1e308 of both signs) divide before subtracting.
        overflow = not spread < math.inf
        if overflow:
            largest = magnitude
        elif spread > _BIG or spread < _SMALL:
            largest = spread
        for k in range(n_kernels):
            dots[k] = 0.0
        for c in range(n_channels):
            scaled_mean = means[c] / largest
            for j in range(m):
                # (Divisions, not a reciprocal: 1 / 5e-309 overflows. The common window
                # has largest == 1 and takes the first branch.)
                if largest == 1.0:
                    v = x[c, i + j * dilation] - means[c]
                elif overflow:
                    v = x[c, i + j * dilation] / largest - scaled_mean
                else:
                    v = (x[c, i + j * dilation] - means[c]) / largest
                sumsq += v * v
                for k in range(n_kernels):
                    dots[k] += v * units[c, j, k]
    else:
        for k in range(n_kernels):
            dots[k] = 0.0
        for c in range(n_channels):
            for j in range(m):
                v = x[c, i + j * dilation]
                sumsq += v * v
                for k in range(n_kernels):
                    dots[k] += v * units[c, j, k]
        if not (sumsq >= SAFE_SUMSQ and sumsq < math.inf):
            # Overflow, underflow, zeros or non-finite samples: rescue as the reference does.
            largest = 0.0
            for c in range(n_channels):
                for j in range(m):
                    a = abs(x[c, i + j * dilation])
                    if not a < math.inf:
                        for k in range(n_kernels):
                            score[k, i] = cosine[k, i] = scale[k, i] = math.nan
                        return
                    largest = max(largest, a)
            if largest == 0.0:
                for k in range(n_kernels):
                    score[k, i] = cosine[k, i] = scale[k, i] = 0.0
                return
            sumsq = 0.0
            for k in range(n_kernels):
                dots[k] = 0.0
            for c in range(n_channels):
                for j in range(m):
                    v = x[c, i + j * dilation] / largest
                    sumsq += v * v
                    for k in range(n_kernels):
                        dots[k] += v * units[c, j, k]
    finish_position(dots, i, sumsq, kernel_norms, taps, floor, p2, zscore, score, cosine, scale, distance, largest)


# Positions per block of the vectorised pass: its per-position sums stay in L1 cache.
_BLOCK = 256
#: Positions per block with few kernels: the K accumulators of ``_BLOCK_FLOATS`` floats in
#: all stay in L1, and the block's scratch arrays are allocated once per that many positions
#: (eight allocations per 256 positions cost a few ns a window on short kernels).
_BLOCK_FLOATS = 2048


def positions_per_block(n_kernels: int) -> int:
    """Positions per block of :func:`_scan` for ``n_kernels`` kernels (results do not depend
    on it: every window is computed from its own samples)."""
    return max(_BLOCK, _BLOCK_FLOATS // max(1, n_kernels))


#: Largest relative error the one-pass centred sum of squares may carry. Its terms ``s2``
#: (m non-negative squares) and ``s1**2 / m`` (at most ``s2``) err by at most about
#: ``m eps s2`` and ``(m + 2) eps s2``, so ``q = s2 - s1**2 / m`` errs by at most
#: ``(2 m + 3) eps s2 / q`` relative. As the reference is a sample of the window,
#: ``s2 / q = 1 + m (mean - r)**2 / q <= m`` (``q >= (r - mean)**2 m / (m - 1)``): the bound
#: is at most ``(2 m + 3) m eps`` (7e-12 at m = 128). A window is taken by the one-pass
#: rule only when ``s2 / q <= NORM_ERROR / ((2 m + 3) eps)`` (the cancel limit), which keeps
#: the cosine's error from the norm below 5e-11; that can exclude windows only from about
#: 470 taps on (a direct scan forced on a long kernel), which the two-pass rule of
#: :func:`_window` redoes.
NORM_ERROR = 1e-10

# Centred one-pass sums of squared deviations outside [_SMALL**2, _BIG**2] (their squares
# might overflow or lose digits to underflow) go to the careful path.
_SMALL_SQUARED = _SMALL * _SMALL
_BIG_SQUARED = _BIG * _BIG


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def block_sums(x, units, unit_sums, cancel_limit, first, stop, dilation, center, sums, sumsq, lo, hi, acc, rescue):
    """The sums of windows ``first .. stop-1`` at once: every loop runs over positions
    (contiguous, SIMD), taps and kernels outside. Window ``first + i`` gets its K dot
    products with the unit kernels in ``acc[:, i]`` and its (centred) sum of squares in
    ``sumsq[i]``; ``rescue[i]`` marks the windows the common path cannot take exactly
    (constant, non-finite, or with sums that overflow, underflow or cancel), which
    :func:`_window` redoes. ``sums``, ``lo`` and ``hi`` are scratch of the block's length.

    Centred windows take one pass over their samples: with ``r`` a reference sample of the
    window (its middle one) and ``d_j = w_j - r``, the sums ``s1 = sum d``, ``s2 = sum d**2``
    and ``a_k = sum d u_k`` give the centred sum of squares ``s2 - s1**2 / m`` and the
    centred dot product ``a_k - (s1 / m) sum(u_k)`` (``sum(u_k)``, ``unit_sums``, is zero
    up to round-off, the kernels being centred). Deviations from a sample of the window
    are as small as the window's own spread, so an offset such as 1e6 never enters the
    squares; windows where the subtraction could cancel (``cancel_limit``, see
    :data:`NORM_ERROR`) are redone.
    """
    n_channels, m, n_kernels = units.shape
    b = stop - first
    middle = (m // 2) * dilation
    for i in range(b):
        sumsq[i] = 0.0
        rescue[i] = False
    for k in range(n_kernels):
        for i in range(b):
            acc[k, i] = 0.0
    for c in range(n_channels):
        if center:
            ref = x[c, first + middle : first + middle + b]
            for i in range(b):
                sums[i] = 0.0
                hi[i] = 0.0  # (hi: the sum of squared deviations from the reference)
            if n_kernels == 1:
                # One kernel: its dot product in the same loop, four (then two) taps per pass
                # (fewer loads and stores of the three sums per tap). Each sum
                # is still added tap by tap in the same order (a + v0 + v1 is (a + v0) + v1),
                # so the result is bit for bit that of the loop below.
                out = acc[0]
                j = 0
                while j + 4 <= m:
                    samples0 = x[c, first + j * dilation : first + j * dilation + b]
                    samples1 = x[c, first + (j + 1) * dilation : first + (j + 1) * dilation + b]
                    samples2 = x[c, first + (j + 2) * dilation : first + (j + 2) * dilation + b]
                    samples3 = x[c, first + (j + 3) * dilation : first + (j + 3) * dilation + b]
                    u0 = units[c, j, 0]
                    u1 = units[c, j + 1, 0]
                    u2 = units[c, j + 2, 0]
                    u3 = units[c, j + 3, 0]
                    for i in range(b):
                        middle_sample = ref[i]
                        v0 = samples0[i] - middle_sample
                        v1 = samples1[i] - middle_sample
                        v2 = samples2[i] - middle_sample
                        v3 = samples3[i] - middle_sample
                        sums[i] = sums[i] + v0 + v1 + v2 + v3
                        hi[i] = hi[i] + v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3
                        out[i] = out[i] + v0 * u0 + v1 * u1 + v2 * u2 + v3 * u3
                    j += 4
                if j + 2 <= m:
                    samples0 = x[c, first + j * dilation : first + j * dilation + b]
                    samples1 = x[c, first + (j + 1) * dilation : first + (j + 1) * dilation + b]
                    u0 = units[c, j, 0]
                    u1 = units[c, j + 1, 0]
                    for i in range(b):
                        v0 = samples0[i] - ref[i]
                        v1 = samples1[i] - ref[i]
                        sums[i] = sums[i] + v0 + v1
                        hi[i] = hi[i] + v0 * v0 + v1 * v1
                        out[i] = out[i] + v0 * u0 + v1 * u1
                    j += 2
                if j < m:
                    samples0 = x[c, first + j * dilation : first + j * dilation + b]
                    u0 = units[c, j, 0]
                    for i in range(b):
                        v0 = samples0[i] - ref[i]
                        sums[i] = sums[i] + v0
                        hi[i] = hi[i] + v0 * v0
                        out[i] = out[i] + v0 * u0
            for j in range(m if n_kernels > 1 else 0):
                offset = first + j * dilation
                samples = x[c, offset : offset + b]
                for i in range(b):
                    v = samples[i] - ref[i]
                    lo[i] = v  # (lo: this tap's deviations, for the K dot products)
                    sums[i] += v
                    hi[i] += v * v
                for k in range(n_kernels):
                    u = units[c, j, k]
                    for i in range(b):
                        acc[k, i] += lo[i] * u
            for i in range(b):
                s1 = sums[i]
                s2 = hi[i]
                mean = s1 / m
                q = s2 - s1 * mean
                # Constant (s2 == 0), non-finite (NaN), extreme and cancelling windows go to
                # the careful path; written so NaN fails every test.
                if not (s2 >= _SMALL_SQUARED and s2 <= _BIG_SQUARED and q * cancel_limit >= s2):
                    rescue[i] = True
                sumsq[i] += q
                sums[i] = mean
            for k in range(n_kernels):
                total = unit_sums[c, k]
                for i in range(b):
                    acc[k, i] -= sums[i] * total
        else:
            for j in range(m):
                offset = first + j * dilation
                samples = x[c, offset : offset + b]
                for i in range(b):
                    sumsq[i] += samples[i] * samples[i]
                for k in range(n_kernels):
                    u = units[c, j, k]
                    for i in range(b):
                        acc[k, i] += samples[i] * u


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _block(
    x,
    units,
    unit_sums,
    cancel_limit,
    kernel_norms,
    first,
    stop,
    dilation,
    center,
    zscore,
    floor,
    p2,
    power,
    score,
    cosine,
    scale,
    distance,
    dots,
    means,
    sums,
    sumsq,
    lo,
    hi,
    acc,
    rescue,
):
    """Windows ``first .. stop-1`` at once: :func:`block_sums`, then every window finished
    at once (vectorised), then the few the common path cannot take exactly redone one by
    one."""
    n_channels, m = units.shape[0], units.shape[1]
    b = stop - first
    block_sums(x, units, unit_sums, cancel_limit, first, stop, dilation, center, sums, sumsq, lo, hi, acc, rescue)
    finish_block(
        acc,
        first,
        b,
        sumsq,
        hi,
        lo,
        kernel_norms,
        n_channels * m,
        floor,
        p2,
        power,
        zscore,
        score,
        cosine,
        scale,
        distance,
    )
    for i in range(b):
        q = sumsq[i]
        if rescue[i] or not (q >= SAFE_SUMSQ and q < math.inf):
            _window(
                x,
                units,
                kernel_norms,
                first + i,
                dilation,
                center,
                zscore,
                floor,
                p2,
                dots,
                means,
                score,
                cosine,
                scale,
                distance,
            )


@njit(cache=True, nogil=True, error_model="numpy")
def finish_block(
    acc, first, count, sumsq, norm, work, kernel_norms, taps, floor, p2, power, zscore, score, cosine, scale, distance
):
    """:func:`finish_position` for positions ``first .. first + count`` at once, with the
    loops over positions (``norm`` and ``work``: scratch of at least ``count``; ``power``
    as :func:`motifscan.similarity.cpu.integer_power` gives it)."""
    for i in range(count):
        norm[i] = math.sqrt(sumsq[i])
    for k in range(kernel_norms.shape[0]):
        c_out = cosine[k, first : first + count]
        a_out = scale[k, first : first + count]
        for i in range(count):
            d = acc[k, i]
            r = d / norm[i]
            # Round-off can push |cosine| a hair past 1 (selects, which vectorise).
            r = 1.0 if r > 1.0 else r
            c_out[i] = -1.0 if r < -1.0 else r
            a_out[i] = d / kernel_norms[k]
        floored = c_out
        if floor != 0.0:
            floored = work[:count]
            for i in range(count):
                f = acc[k, i] / (norm[i] + floor)
                f = 1.0 if f > 1.0 else f
                floored[i] = -1.0 if f < -1.0 else f
        sharpen_run(floored, score[k, first : first + count], p2, power)
        if zscore:
            d_out = distance[k, first : first + count]
            for i in range(count):
                squared = 2.0 * taps * (1.0 - c_out[i])
                d_out[i] = 0.0 if squared < EXACT_SQUARED_DISTANCE else math.sqrt(squared)


@njit(cache=True, nogil=True)
def finish_position(
    dots, position, sumsq, kernel_norms, taps, floor, p2, zscore, score, cosine, scale, distance, largest
):
    """The last step of a window: from its K dot products ``dots`` with the unit
    kernels and its (centred) sum of squares, both of the window divided by ``largest``
    (1 unless it had to be scaled), write the cosine, sharpened score, scale and
    (``zscore``) distance of every kernel at ``position``."""
    norm = math.sqrt(sumsq)
    floored_norm = norm + floor / largest
    for k in range(kernel_norms.shape[0]):
        d = dots[k]
        # Round-off can push |cosine| a hair past 1; the sharpened power would amplify it.
        r = min(1.0, max(-1.0, d / norm))
        f = r if floor == 0.0 else min(1.0, max(-1.0, d / floored_norm))
        s = abs(f) ** p2
        score[k, position] = s if f >= 0.0 else -s
        cosine[k, position] = r
        scale[k, position] = d / kernel_norms[k] * largest
        if zscore:
            squared = 2.0 * taps * (1.0 - r)
            distance[k, position] = 0.0 if squared < EXACT_SQUARED_DISTANCE else math.sqrt(squared)


@njit(parallel=True, cache=True, nogil=True)
def _scan(
    x,
    units,
    unit_sums,
    cancel_limit,
    kernel_norms,
    dilation,
    center,
    zscore,
    floor,
    p2,
    power,
    score,
    cosine,
    scale,
    distance,
    block,
):
    n_out = score.shape[1]
    n_kernels = units.shape[2]
    n_blocks = (n_out + block - 1) // block
    for r in prange(n_blocks):
        dots = np.empty(n_kernels)
        means = np.empty(units.shape[0])
        sums = np.empty(block)
        sumsq = np.empty(block)
        lo = np.empty(block)
        hi = np.empty(block)
        acc = np.empty((n_kernels, block))
        rescue = np.empty(block, dtype=np.bool_)
        first = r * block
        _block(
            x,
            units,
            unit_sums,
            cancel_limit,
            kernel_norms,
            first,
            min(n_out, first + block),
            dilation,
            center,
            zscore,
            floor,
            p2,
            power,
            score,
            cosine,
            scale,
            distance,
            dots,
            means,
            sums,
            sumsq,
            lo,
            hi,
            acc,
            rescue,
        )


def direct_inputs(kernels: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """What the direct scan of ``kernels`` (K, C, m) needs of them: the unit kernels in its
    layout (C, m, K), their norms (K,), each unit kernel channel's sum (C, K) and the
    cancel limit of :data:`NORM_ERROR`."""
    n_kernels, _, m = kernels.shape
    units, kernel_norms = prepare_kernels(kernels, center)
    # (C, m, K): the K weights of one sample lie side by side for the innermost loop.
    units = np.ascontiguousarray(units.transpose(1, 2, 0))
    # (C, K): zero up to round-off when centred. Correctly rounded sums (math.fsum), so a
    # kernel's sum, and with it its track, is the same whatever kernels share its bank.
    unit_sums = np.array([[math.fsum(units[c, :, k]) for k in range(n_kernels)] for c in range(units.shape[0])])
    cancel_limit = NORM_ERROR / ((2 * m + 3) * np.finfo(np.float64).eps)
    return units, kernel_norms, unit_sums, cancel_limit


def scan_kernels_numba(
    signal: np.ndarray, kernels: np.ndarray, p: float, dilation: int, normalize: str, noise_floor: float
) -> list[Track]:
    """Numba version of :func:`motifscan.similarity.reference.scan_kernels_reference`.

    Same arguments and result; assumes ``n >= span``. Agrees with the reference within
    round-off (see ``docs/method.md``, "Tolerances").
    """
    n_kernels, _, m = kernels.shape
    center = normalize in ("center", "zscore")
    zscore = normalize == "zscore"
    units, kernel_norms, unit_sums, cancel_limit = direct_inputs(kernels, center)
    n_out = signal.shape[1] - span(m, dilation) + 1
    score, cosine, scale = (np.empty((n_kernels, n_out)) for _ in range(3))
    distance = np.empty((n_kernels, n_out) if zscore else (n_kernels, 0))
    p2, power = integer_power(p)
    _scan(
        signal,
        units,
        unit_sums,
        cancel_limit,
        kernel_norms,
        dilation,
        center,
        zscore,
        float(noise_floor),
        p2,
        power,
        score,
        cosine,
        scale,
        distance,
        positions_per_block(n_kernels),
    )
    if zscore:
        return [DistanceTrack(score[k], cosine[k], scale[k], distance[k]) for k in range(n_kernels)]
    return [ScoreTrack(score[k], cosine[k], scale[k]) for k in range(n_kernels)]
