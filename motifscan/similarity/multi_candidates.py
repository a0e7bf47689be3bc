"""Fused detection for the batch scans (:func:`motifscan.similarity.multi.scan_candidates`):
centred, z-normalised, floored and joint scans of one kernel or a bank, direct or FFT.

A run that only detects needs, of each kernel's scan, the windows whose ``|score|`` may
reach the threshold and every window without a score (docs/method.md, "Fused detection").
Both batch backends compute each window's dot products with the unit kernels and its
(centred) sum of squares first; :func:`finish_candidates` then tests them as the plain
fused scan does (:func:`motifscan.similarity.window.fused_test`: no square root, division or
power) and finishes only the chosen windows, with the code that finishes every window of
a full scan (:func:`motifscan.similarity.multi_cpu.finish_block`, and the per-window
redo of :func:`motifscan.similarity.multi_cpu._window` for the windows the common path
cannot take), so each finished window's results are those of the full scan bit for bit.

Every window is tested from the values the full scan finishes it from, except where the
full scan redoes a window directly: windows it rescues (constant, non-finite, extreme or
cancelling sums) are always finished, and the FFT's z-normalised windows whose distance
it redoes are finished under a test widened by twice the FFT's cosine error (see
:func:`motifscan.similarity.cpu.candidate_bounds`).

Results are gathered a stretch of positions at a time (each block writes its chosen
windows at the start of its own slice of the stretch's arrays, then they are moved to
the front), so memory follows the candidates, not the windows times the kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from motifscan.similarity import CandidateTrack, span
from motifscan.similarity.cpu import candidate_bounds, candidate_buffers, gather_candidates, integer_power
from motifscan.similarity.multi_cpu import block_sums, direct_inputs, finish_block, positions_per_block, _window
from motifscan.similarity.window import SAFE_SUMSQ, fused_test

_fused = njit(cache=True, nogil=True, inline="always")(fused_test)

#: Positions the direct candidate scan handles per stretch, at most, divided by the number
#: of kernels: the stretch's arrays (five floats per window and kernel, untouched where no
#: window is chosen) stay within ~160 MiB of address space.
STRETCH_WINDOWS = 1 << 22


@njit(cache=True, nogil=True, error_model="numpy")
def finish_candidates(
    x,
    units,
    kernel_norms,
    dilation,
    center,
    zscore,
    floor,
    p2,
    power,
    bounds,
    acc,
    sumsq,
    rescue,
    first,
    out_first,
    position,
    score,
    cosine,
    scale,
    distance,
    counts,
    near,
    block,
    redo_scale,
    redo_limit,
):
    """Test windows ``first .. first + count - 1`` (``count = sumsq.shape[0]``) for every
    kernel and finish the chosen ones.

    Parameters
    ----------
    x : float64 array, shape (C, n)
        The samples; window ``i`` starts at ``x[:, i]``.
    units, kernel_norms, dilation, center, zscore, floor, p2, power
        As for :func:`motifscan.similarity.multi_cpu._scan` (``units`` of shape (C, m, K)).
    bounds : float64 array, shape (3,)
        ``lower``, ``near_lower``, ``near_upper`` of :func:`fused_test`.
    acc : float64 array, shape (K, count)
        The windows' dot products with the unit kernels.
    sumsq : float64 array, shape (count,)
        Their (centred) sums of squares.
    rescue : bool array, shape (count,)
        Windows the full scan redoes directly (always finished).
    out_first : int
        Where this block's slice starts in the output arrays.
    position, score, cosine, scale, distance : arrays, shape (K, stretch)
        Kernel ``k``'s chosen windows go to ``[k, out_first ..]`` (``distance`` of shape
        (K, 0) unless ``zscore``).
    counts, near : int64 arrays, shape (K, blocks)
        ``[k, block]`` gets how many windows were chosen, and how many of the others had a
        squared cosine above ``near_upper``.
    redo_scale, redo_limit : float
        A z-normalised window with ``distance * redo_scale < redo_limit`` is redone
        directly, as the full FFT scan does (``redo_limit = 0``: never).
    """
    n_channels, m, n_kernels = units.shape
    count = sumsq.shape[0]
    lower, near_lower, near_upper = bounds[0], bounds[1], bounds[2]
    dots = np.empty((1, count))
    squares = np.empty(count)
    norm = np.empty(count)
    work = np.empty(count)
    one = np.empty(1)
    means = np.empty(n_channels)
    single = np.empty((4, 1, 1))
    for k in range(n_kernels):
        taken = 0
        close = 0
        for i in range(count):
            q = sumsq[i]
            d = acc[k, i]
            finish, is_near = _fused(d, q, lower, near_lower, near_upper)
            if finish or rescue[i] or not (q >= SAFE_SUMSQ and q < math.inf):
                position[k, out_first + taken] = first + i
                dots[0, taken] = d
                squares[taken] = q
                taken += 1
            elif is_near:
                close += 1
        counts[k, block] = taken
        near[k, block] = close
        if taken == 0:
            continue
        finish_block(
            dots,
            out_first,
            taken,
            squares,
            norm,
            work,
            kernel_norms[k : k + 1],
            n_channels * m,
            floor,
            p2,
            power,
            zscore,
            score[k : k + 1],
            cosine[k : k + 1],
            scale[k : k + 1],
            distance[k : k + 1],
        )
        for j in range(taken):
            i = position[k, out_first + j]
            q = squares[j]
            redo = rescue[i - first] or not (q >= SAFE_SUMSQ and q < math.inf)
            if not redo and zscore:
                redo = distance[k, out_first + j] * redo_scale < redo_limit
            if redo:
                _window(
                    x[:, i:],
                    units[:, :, k : k + 1],
                    kernel_norms[k : k + 1],
                    0,
                    dilation,
                    center,
                    zscore,
                    floor,
                    p2,
                    one,
                    means,
                    single[0],
                    single[1],
                    single[2],
                    single[3],
                )
                score[k, out_first + j] = single[0, 0, 0]
                cosine[k, out_first + j] = single[1, 0, 0]
                scale[k, out_first + j] = single[2, 0, 0]
                if zscore:
                    distance[k, out_first + j] = single[3, 0, 0]


class CandidateLists:
    """Each kernel's chosen windows, stretch by stretch, joined into CandidateTracks."""

    def __init__(self, n_kernels: int, zscore: bool):
        self.zscore = zscore
        self.parts: list[list[tuple]] = [[] for _ in range(n_kernels)]
        self.near = np.zeros(n_kernels, dtype=np.int64)

    def add(self, k0: int, arrays: tuple, counts: np.ndarray, near: np.ndarray, starts: np.ndarray) -> None:
        """Take the chosen windows of kernels ``k0 ..`` from a stretch's arrays (copies)."""
        totals = gather_candidates(counts, starts, *arrays)
        self.near[k0 : k0 + counts.shape[0]] += near.sum(axis=1)
        for k, total in enumerate(totals):
            self.parts[k0 + k].append(tuple(column[k, :total].copy() for column in arrays))

    def tracks(self, n_out: int) -> list[CandidateTrack]:
        """One CandidateTrack per kernel over ``n_out`` positions."""
        found = []
        for k, parts in enumerate(self.parts):
            columns = [np.concatenate([part[c] for part in parts]) if parts else np.empty(0) for c in range(5)]
            position = columns[0].astype(np.int64, copy=False)
            found.append(
                CandidateTrack(
                    position,
                    columns[1],
                    columns[2],
                    columns[3],
                    n_out,
                    int(self.near[k]),
                    columns[4] if self.zscore else None,
                )
            )
        return found


@njit(parallel=True, cache=True, nogil=True)
def _scan_candidates(
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
    bounds,
    begin,
    end,
    position,
    score,
    cosine,
    scale,
    distance,
    counts,
    near,
    block,
):
    """The direct scan of positions ``begin .. end - 1`` (blocks of ``block``), fused:
    :func:`block_sums`, then :func:`finish_candidates`."""
    n_kernels = units.shape[2]
    for r in prange((end - begin + block - 1) // block):
        first = begin + r * block
        stop = min(end, first + block)
        sums = np.empty(block)
        sumsq = np.empty(block)
        lo = np.empty(block)
        hi = np.empty(block)
        acc = np.empty((n_kernels, block))
        rescue = np.empty(block, dtype=np.bool_)
        block_sums(x, units, unit_sums, cancel_limit, first, stop, dilation, center, sums, sumsq, lo, hi, acc, rescue)
        b = stop - first
        finish_candidates(
            x,
            units,
            kernel_norms,
            dilation,
            center,
            zscore,
            floor,
            p2,
            power,
            bounds,
            acc[:, :b],
            sumsq[:b],
            rescue[:b],
            first,
            first - begin,
            position,
            score,
            cosine,
            scale,
            distance,
            counts,
            near,
            r,
            1.0,
            0.0,
        )


def scan_candidates_numba(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    threshold: float,
    near_cosine: float,
) -> list[CandidateTrack]:
    """The direct batch scan, fused (:func:`motifscan.similarity.multi.scan_candidates`;
    same arguments and result; assumes ``n >= span``)."""
    n_kernels, _, m = kernels.shape
    center = normalize in ("center", "zscore")
    zscore = normalize == "zscore"
    units, kernel_norms, unit_sums, cancel_limit = direct_inputs(kernels, center)
    n_out = signal.shape[1] - span(m, dilation) + 1
    p2, power = integer_power(p)
    bounds = candidate_bounds(threshold, p2, near_cosine)
    block = positions_per_block(n_kernels)
    stretch = max(block, STRETCH_WINDOWS // n_kernels // block * block)
    found = CandidateLists(n_kernels, zscore)
    for begin in range(0, n_out, stretch):
        end = min(n_out, begin + stretch)
        arrays = candidate_buffers(n_kernels, end - begin, zscore)
        n_blocks = -(-(end - begin) // block)
        counts = np.zeros((n_kernels, n_blocks), dtype=np.int64)
        near = np.zeros((n_kernels, n_blocks), dtype=np.int64)
        _scan_candidates(
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
            bounds,
            begin,
            end,
            arrays[0],
            arrays[1],
            arrays[2],
            arrays[3],
            arrays[4],
            counts,
            near,
            block,
        )
        found.add(0, arrays, counts, near, np.arange(n_blocks, dtype=np.int64) * block)
    return found.tracks(n_out)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def finish_fft_candidates(
    x,
    units,
    kernel_norms,
    dilation,
    center,
    zscore,
    floor,
    p2,
    power,
    bounds,
    sumsq,
    rescue,
    dots,
    begin,
    end,
    position,
    score,
    cosine,
    scale,
    distance,
    counts,
    near,
    block,
    redo_scale,
    redo_limit,
):
    """The fused test and last step of :func:`finish_candidates` on positions ``begin ..
    end`` of the FFT's batch scan (:func:`motifscan.similarity.multi_fft._finish` for
    detection only), block by block; a block's chosen windows go to its own slice of ``position`` ..
    ``distance`` (position ``i`` at column ``i - begin``), ``counts`` and ``near`` get one
    column per block (of ``block`` positions)."""
    for r in prange((end - begin + block - 1) // block):
        first = begin + r * block
        stop = min(end, first + block)
        finish_candidates(
            x,
            units,
            kernel_norms,
            dilation,
            center,
            zscore,
            floor,
            p2,
            power,
            bounds,
            dots[:, first - begin : stop - begin],
            sumsq[first:stop],
            rescue[first:stop],
            first,
            first - begin,
            position,
            score,
            cosine,
            scale,
            distance,
            counts,
            near,
            r,
            redo_scale,
            redo_limit,
        )
