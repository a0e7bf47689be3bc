"""Numba CPU backend: a blocked direct scan, runs of positions dealt into ``prange`` tasks.

Layout of the work
    The output positions are cut into runs of :data:`BLOCK` positions (:data:`SHORT_RUN`
    for the fused scan of short kernels); each of at most :data:`TASKS` ``prange`` tasks
    computes its share of the runs, in order, into small buffers it allocates once and that
    stay in the L1/L2 cache. Inside a run the
    kernel taps are the *outer* loop and the positions the inner one, so the inner loop is
    ``acc[i] += k0 * x[a + i] + k1 * x[b + i] + ...``: contiguous loads, no dependency
    between iterations, which LLVM turns into AVX2 fused multiply-adds. Four taps are taken
    per pass, so each accumulator load/store is shared by four multiply-adds.

Window norms, without drift
    Each window's sum of squares is computed from its own samples, never by a running
    sum. Up to :data:`FUSED_TAPS` taps the squares are summed in the dot product's own
    passes; for longer kernels the sums are rebuilt inside each run from the squared samples
    by doubling: ``s1 = x**2``, ``s2[i] = s1[i] + s1[i + d]``, ``s4[i] = s2[i] + s2[i + 2d]``,
    ... and the pieces named by the binary digits of ``m`` are added up. Every term is
    non-negative, so nothing cancels: each window's sum carries a relative error of at most
    about ``(log2(m) + 1) * eps`` whatever the signal did before it (an offset of 1e6, a
    random walk, a loud segment next to a quiet one), and it costs ``O(log m)`` passes
    instead of ``m``. There is no running sum across windows or runs.

Rescue
    A window whose sum of squares is not a comfortable normal number (overflow,
    underflow, zero, NaN or inf) is finished by
    :func:`motifscan.similarity.window.finish_window`, the rule every compiled backend
    shares, which rescales the window by its largest magnitude.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import config, get_num_threads, njit, prange, set_num_threads

from motifscan.similarity import CandidateTrack, ScoreTrack, span
from motifscan.similarity.reference import unit_kernel
from motifscan.similarity.window import FUSED_LOWEST, FUSED_MARGIN, SAFE_SUMSQ, finish_window, fused_test

#: Positions per prange task. 2048 float64 accumulators (16 KiB) and the squares of the
#: samples they need stay in the cache, and n = 1e6 still gives hundreds of tasks to balance.
BLOCK = 2048

#: Integer sharpening exponents ``p * p`` up to this are raised by repeated squaring (a few
#: multiplications, vectorised, relative error ~ 2 * log2(p*p) * eps); others use ``pow``.
MAX_INTEGER_POWER = 1 << 16

#: Up to this many taps the squares are summed in the dot product's own passes (m adds per
#: window, fewer memory passes than doubling); longer kernels use doubling (2 log2(m) adds).
#: Measured, n = 1e7, the fused scan in runs of :data:`SHORT_RUN`: 12.5 against 16.3 ms by
#: doubling at m = 20, 17.7 against 19.8 ms at m = 32; at 48 and 64 taps the two were even
#: (and the full scan's were at every m from 17 to 32).
FUSED_TAPS = 32

#: Positions per task of the fused scan (detection) of kernels up to :data:`FUSED_TAPS`
#: taps, whose squares are summed in the dot product's passes: the run's dot products and
#: sums of squares (8 KiB together) and the samples they read stay in the L1 cache.
#: Measured, n = 1e7: 7.5-8.1 ms against 9.5-9.9 ms in runs of :data:`BLOCK` at m = 3,
#: 11.6-12.1 against 13.6-15.0 ms at m = 16. Doubling (longer kernels) was 2-8 % slower in
#: such short runs, and the full scan (three tracks written) 0-1 ms slower.
SHORT_RUN = 512

#: ``starts`` of :func:`finish_run` for consecutive windows.
CONSECUTIVE = np.empty(0, dtype=np.int64)

_finish = njit(cache=True, nogil=True, inline="always")(finish_window)
_fused = njit(cache=True, nogil=True, inline="always")(fused_test)

# error_model="numpy": a float division by zero gives inf/NaN instead of a Python exception,
# which removes a branch from every division and lets the loops vectorise.
# "contract" lets LLVM fuse a*b+c into one FMA (one rounding instead of two: never less
# accurate); it does not allow reassociation, so sums keep their tap-by-tap order.
_FAST = {"contract"}


@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _dot_run(x, kernel, dilation, start, count, acc):
    """``acc[i] = sum_j kernel[j] * x[start + i + j * dilation]`` for ``i < count``."""
    m = kernel.shape[0]
    for i in range(count):
        acc[i] = 0.0
    j = 0
    while j + 4 <= m:
        k0, k1, k2, k3 = kernel[j], kernel[j + 1], kernel[j + 2], kernel[j + 3]
        x0 = x[start + j * dilation : start + j * dilation + count]
        x1 = x[start + (j + 1) * dilation : start + (j + 1) * dilation + count]
        x2 = x[start + (j + 2) * dilation : start + (j + 2) * dilation + count]
        x3 = x[start + (j + 3) * dilation : start + (j + 3) * dilation + count]
        for i in range(count):
            acc[i] = acc[i] + k0 * x0[i] + k1 * x1[i] + k2 * x2[i] + k3 * x3[i]
        j += 4
    while j < m:
        k0 = kernel[j]
        x0 = x[start + j * dilation : start + j * dilation + count]
        for i in range(count):
            acc[i] = acc[i] + k0 * x0[i]
        j += 1


@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _dot_sumsq_run(x, kernel, dilation, start, count, acc, sumsq):
    """:func:`_dot_run` and the windows' plain sums of squares in the same passes (small m)."""
    m = kernel.shape[0]
    for i in range(count):
        acc[i] = 0.0
        sumsq[i] = 0.0
    j = 0
    while j + 4 <= m:
        k0, k1, k2, k3 = kernel[j], kernel[j + 1], kernel[j + 2], kernel[j + 3]
        x0 = x[start + j * dilation : start + j * dilation + count]
        x1 = x[start + (j + 1) * dilation : start + (j + 1) * dilation + count]
        x2 = x[start + (j + 2) * dilation : start + (j + 2) * dilation + count]
        x3 = x[start + (j + 3) * dilation : start + (j + 3) * dilation + count]
        for i in range(count):
            a, b, c, d = x0[i], x1[i], x2[i], x3[i]
            acc[i] = acc[i] + k0 * a + k1 * b + k2 * c + k3 * d
            sumsq[i] = sumsq[i] + a * a + b * b + c * c + d * d
        j += 4
    while j + 2 <= m:
        k0, k1 = kernel[j], kernel[j + 1]
        x0 = x[start + j * dilation : start + j * dilation + count]
        x1 = x[start + (j + 1) * dilation : start + (j + 1) * dilation + count]
        for i in range(count):
            a, b = x0[i], x1[i]
            acc[i] = acc[i] + k0 * a + k1 * b
            sumsq[i] = sumsq[i] + a * a + b * b
        j += 2
    if j < m:
        k0 = kernel[j]
        x0 = x[start + j * dilation : start + j * dilation + count]
        for i in range(count):
            a = x0[i]
            acc[i] = acc[i] + k0 * a
            sumsq[i] = sumsq[i] + a * a


@njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_squares(x, first, dilation, width, count, out, add):
    """``out[i] (+)= `` the sum of squares of the ``width`` taps (1, 2, 4 or 8) from sample
    ``first + i``, added in the pairs doubling adds them in, so the bits are those of the
    doubling passes; one pass over the samples instead of one per level."""
    s0 = x[first : first + count]
    if width == 1:
        for i in range(count):
            v = s0[i] * s0[i]
            out[i] = out[i] + v if add else v
        return
    s1 = x[first + dilation : first + dilation + count]
    if width == 2:
        for i in range(count):
            v = s0[i] * s0[i] + s1[i] * s1[i]
            out[i] = out[i] + v if add else v
        return
    s2 = x[first + 2 * dilation : first + 2 * dilation + count]
    s3 = x[first + 3 * dilation : first + 3 * dilation + count]
    if width == 4:
        for i in range(count):
            v = (s0[i] * s0[i] + s1[i] * s1[i]) + (s2[i] * s2[i] + s3[i] * s3[i])
            out[i] = out[i] + v if add else v
        return
    s4 = x[first + 4 * dilation : first + 4 * dilation + count]
    s5 = x[first + 5 * dilation : first + 5 * dilation + count]
    s6 = x[first + 6 * dilation : first + 6 * dilation + count]
    s7 = x[first + 7 * dilation : first + 7 * dilation + count]
    for i in range(count):
        v = ((s0[i] * s0[i] + s1[i] * s1[i]) + (s2[i] * s2[i] + s3[i] * s3[i])) + (
            (s4[i] * s4[i] + s5[i] * s5[i]) + (s6[i] * s6[i] + s7[i] * s7[i])
        )
        out[i] = out[i] + v if add else v


@njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_sums(level, first, shift, width, count, out, add):
    """``out[i] (+)=`` the sum of the ``width`` (1, 2 or 4) entries of a doubling ``level``
    ``shift`` apart from ``first + i``, in the pairs the next levels add them in: those
    levels at these positions only."""
    a = level[first : first + count]
    if width == 1:
        for i in range(count):
            out[i] = out[i] + a[i] if add else a[i]
        return
    b = level[first + shift : first + shift + count]
    if width == 2:
        for i in range(count):
            v = a[i] + b[i]
            out[i] = out[i] + v if add else v
        return
    c = level[first + 2 * shift : first + 2 * shift + count]
    d = level[first + 3 * shift : first + 3 * shift + count]
    for i in range(count):
        v = (a[i] + b[i]) + (c[i] + d[i])
        out[i] = out[i] + v if add else v


#: The widest sums of squares :func:`_sumsq_run` takes straight from the samples.
DIRECT_WIDTH = 8


@njit(cache=True, nogil=True, error_model="numpy")
def _sumsq_run(x, m, dilation, start, count, out, work, spare):
    """``out[i] = sum_j x[start + i + j * dilation] ** 2`` for ``i < count``, by doubling.

    ``work`` and ``spare`` hold at least ``count + (m - 1) * dilation`` floats each. Every
    loop runs over equal-length slices of distinct buffers: that is what lets LLVM
    vectorise them (an in-place update reading ahead would not be). The first levels (sums
    of up to :data:`DIRECT_WIDTH` taps) are added straight from the samples in the same
    pairs (:func:`_pairwise_squares`): the same bits, fewer passes over the run's buffers.
    """
    samples = x[start : start + count + (m - 1) * dilation]
    result = out[:count]
    # The pieces named by the binary digits of m, narrowest first; `taken` taps are in out
    # (the first piece is written, not added to zeros: the same bits, one pass fewer).
    taken = 0
    width = 1
    rest = m
    while width < DIRECT_WIDTH:
        if rest & 1:
            _pairwise_squares(samples, taken * dilation, dilation, width, count, result, taken > 0)
            taken += width
        rest >>= 1
        if rest == 0:
            return
        width *= 2
    # current[i] holds the sum of `width` taps starting at sample i.
    length = count + (m - width) * dilation
    current = work[:length]
    _pairwise_squares(samples, 0, dilation, width, length, current, False)
    other = spare
    while True:
        if rest & 1:
            _pairwise_sums(current, taken * dilation, 0, 1, count, result, taken > 0)
            taken += width
        rest >>= 1
        if rest == 0:
            break
        shift = width * dilation
        if rest < 4:
            # The one or two widest levels are only needed where their pieces lie: summed
            # straight into out (the same additions, without the levels' buffers).
            if rest == 3:  # the narrower level's piece, then the widest one's
                _pairwise_sums(current, taken * dilation, shift, 2, count, result, taken > 0)
                taken += 2 * width
                _pairwise_sums(current, taken * dilation, shift, 4, count, result, True)
            else:
                _pairwise_sums(current, taken * dilation, shift, 2 * rest, count, result, taken > 0)
            break
        length -= shift
        head = current[:length]
        tail = current[shift : shift + length]
        doubled = other[:length]
        for i in range(length):
            doubled[i] = head[i] + tail[i]
        other = current
        current = doubled
        width *= 2


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def window_sumsq(x, m, dilation, out):
    """Sum of squares of every window (see the module notes), into ``out`` (shape (n_out,))."""
    n_out = out.shape[0]
    # Runs at least 4 spans long, so the span - 1 samples each run squares for its last
    # windows are a small part of its work.
    run = max(BLOCK, 4 * (m - 1) * dilation)
    n_runs = (n_out + run - 1) // run
    for r in prange(n_runs):
        start = r * run
        count = min(run, n_out - start)
        work = np.empty(count + (m - 1) * dilation)
        spare = np.empty(count + (m - 1) * dilation)
        _sumsq_run(x, m, dilation, start, count, out[start : start + count], work, spare)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _sliding_dot(x, kernel, dilation, out):
    n_out = out.shape[0]
    n_runs = (n_out + BLOCK - 1) // BLOCK
    for r in prange(n_runs):
        start = r * BLOCK
        count = min(BLOCK, n_out - start)
        _dot_run(x, kernel, dilation, start, count, out[start : start + count])


@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def sharpen_run(c, s, p2, power):
    """``s[i] = sign(c[i]) * |c[i]| ** p2`` over a run (``c`` and ``s`` distinct arrays of
    one length); ``power`` as :func:`integer_power` gives it: > 0 a whole ``p2``, < 0 a
    whole ``4 * p2``, 0 ``pow``."""
    count = c.shape[0]
    if power == 1:
        for i in range(count):
            s[i] = c[i]
    elif power != 0:
        # |c| ** power by binary powering, pass by pass over the run (vectorised).
        base = np.empty(count)
        for i in range(count):
            base[i] = abs(c[i])
        if power < 0:
            for i in range(count):
                base[i] = math.sqrt(math.sqrt(base[i]))
        for i in range(count):
            s[i] = 1.0
        e = abs(power)
        while True:
            if e & 1:
                for i in range(count):
                    s[i] *= base[i]
            e >>= 1
            if e == 0:
                break
            for i in range(count):
                base[i] *= base[i]
        for i in range(count):
            s[i] = math.copysign(s[i], c[i])
    else:
        for i in range(count):
            v = abs(c[i]) ** p2
            s[i] = v if c[i] >= 0.0 else -v


@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def finish_run(x, unit, dilation, kernel_norm, p2, power, first, dot, sumsq, score, cosine, scale, starts):
    """Turn a run's ``dot`` (against the unit kernel) and ``sumsq`` into the three results.

    Writes positions ``first .. first + len(dot)`` of ``score``, ``cosine`` and ``scale``.
    ``power`` > 0 is ``p2`` as an integer (repeated squaring); ``power`` < 0 is ``-4 * p2``
    as an integer (the same powering of ``|cosine| ** 0.25``, two square roots); 0 means
    use ``pow`` (see :func:`integer_power`). ``starts`` holds each window's first sample
    when the windows are not consecutive (the chosen windows of the fused scan, gathered),
    or is empty (:data:`CONSECUTIVE`): window ``i`` starts at ``first + i``.
    """
    count = dot.shape[0]
    c_out = cosine[first : first + count]
    s_out = score[first : first + count]
    a_out = scale[first : first + count]
    # The common case, vectorised: plain sums, no branches but the clip.
    for i in range(count):
        c = dot[i] / math.sqrt(sumsq[i])
        # Round-off can push |c| a hair past 1 (written as selects, which vectorise).
        c = 1.0 if c > 1.0 else c
        c_out[i] = -1.0 if c < -1.0 else c
        a_out[i] = dot[i] / kernel_norm
    sharpen_run(c_out, s_out, p2, power)
    # The rare window that needs rescaling (or has no score) is redone by the shared rule.
    for i in range(count):
        q = sumsq[i]
        if not (q >= SAFE_SUMSQ and q < math.inf):
            start = first + i if starts.shape[0] == 0 else starts[i]
            s_out[i], c_out[i], a_out[i] = _finish(x, start, dilation, unit, dot[i], q, kernel_norm, p2)


@njit(cache=True, nogil=True, error_model="numpy")
def _run_sums(x, unit, dilation, start, count, dot, sumsq, work, spare):
    """The dot products and window sums of squares of the ``count`` windows from ``start``,
    into ``dot[:count]`` and ``sumsq[:count]``: in one pass for kernels up to ``FUSED_TAPS``
    taps, else the dots and the sums of squares (by doubling, in ``work`` and ``spare``,
    :func:`run_scratch`) apart."""
    m = unit.shape[0]
    if m <= FUSED_TAPS:
        _dot_sumsq_run(x, unit, dilation, start, count, dot, sumsq)
    else:
        _dot_run(x, unit, dilation, start, count, dot)
        _sumsq_run(x, m, dilation, start, count, sumsq, work, spare)


@njit(cache=True, nogil=True)
def run_scratch(run, m, dilation):
    """A task's arrays for :func:`_run_sums` over runs of up to ``run`` windows: dot
    products, sums of squares, and the doubling's two buffers (empty up to ``FUSED_TAPS``
    taps)."""
    doubling = run + (m - 1) * dilation if m > FUSED_TAPS else 0
    return np.empty(run), np.empty(run), np.empty(doubling), np.empty(doubling)


#: The tasks a parallel scan deals its runs into, in order: each takes its scratch arrays
#: once for all its runs (one allocation per run cost 1-3 ms of 9 at n = 1e7, m = 3), and
#: 64 are enough to balance the threads.
TASKS = 64


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _sliding_cosine(x, unit, kernel_norm, dilation, p2, power, score, cosine, scale):
    n_out = score.shape[0]
    n_runs = (n_out + BLOCK - 1) // BLOCK
    tasks = min(n_runs, TASKS)
    for t in prange(tasks):
        dot, sumsq, work, spare = run_scratch(BLOCK, unit.shape[0], dilation)
        for r in range(t * n_runs // tasks, (t + 1) * n_runs // tasks):
            start = r * BLOCK
            count = min(BLOCK, n_out - start)
            _run_sums(x, unit, dilation, start, count, dot, sumsq, work, spare)
            finish_run(
                x,
                unit,
                dilation,
                kernel_norm,
                p2,
                power,
                start,
                dot[:count],
                sumsq[:count],
                score,
                cosine,
                scale,
                CONSECUTIVE,
            )


@njit(cache=True, nogil=True)
def fused_run(m):
    """Positions per task of the fused scan of a kernel of ``m`` taps (:data:`SHORT_RUN` or
    :data:`BLOCK`)."""
    return SHORT_RUN if m <= FUSED_TAPS else BLOCK


@njit(cache=True, nogil=True, error_model="numpy")
def _fused_test(dot, sumsq, lower, near_lower, near_upper, chosen):
    """:func:`motifscan.similarity.window.fused_test` over a run: mark in ``chosen`` (1 or
    0) the windows to finish; return how many are marked plus, times 2**32, how many of the
    others count as near. The loop has no branch, so it vectorises."""
    marked = 0
    near = 0
    for i in range(dot.shape[0]):
        finish, close = _fused(dot[i], sumsq[i], lower, near_lower, near_upper)
        flag = np.uint8(finish)
        chosen[i] = flag
        marked += flag
        near += np.uint8(close)
    return marked + (near << 32)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _sliding_candidates(
    x, unit, kernel_norm, dilation, p2, power, lower, near_lower, near_upper, position, score, cosine, scale, counts
):
    """The fused scan: each run's dot products and sums of squares (as :func:`_sliding_cosine`
    computes them), the candidate test, and the full last step for the chosen windows only.

    Run ``r`` writes its finished windows at the start of its own slice of ``position``,
    ``score``, ``cosine`` and ``scale`` (``r * fused_run(m) ..``); ``counts[r]`` is how many, and
    ``counts[n_runs + r]`` how many unfinished windows had a squared cosine above
    ``near_upper``.
    """
    n_out = score.shape[0]
    run = fused_run(unit.shape[0])
    n_runs = (n_out + run - 1) // run
    tasks = min(n_runs, TASKS)
    for t in prange(tasks):
        dot, sumsq, work, spare = run_scratch(run, unit.shape[0], dilation)
        chosen = np.empty(run, dtype=np.uint8)
        for r in range(t * n_runs // tasks, (t + 1) * n_runs // tasks):
            start = r * run
            count = min(run, n_out - start)
            _run_sums(x, unit, dilation, start, count, dot, sumsq, work, spare)
            counts[r], counts[n_runs + r] = test_and_finish(
                x,
                unit,
                dilation,
                kernel_norm,
                p2,
                power,
                start,
                dot[:count],
                sumsq[:count],
                lower,
                near_lower,
                near_upper,
                chosen,
                position,
                score,
                cosine,
                scale,
            )


@njit(cache=True, nogil=True, error_model="numpy")
def test_and_finish(
    x,
    unit,
    dilation,
    kernel_norm,
    p2,
    power,
    start,
    dot,
    sumsq,
    lower,
    near_lower,
    near_upper,
    chosen,
    position,
    score,
    cosine,
    scale,
):
    """The fused test of the windows ``start ..`` of a run or segment (their ``dot`` and
    ``sumsq``), and the last step for those it chooses (:func:`_gather_and_finish`);
    ``chosen`` is scratch of at least their number. Returns how many were chosen and how
    many of the others count as near."""
    tested = _fused_test(dot, sumsq, lower, near_lower, near_upper, chosen)
    taken = tested & 0xFFFFFFFF
    if taken:
        # A function of its own: written out here, the rarely run gathering and last step
        # made the common path (sums and test) twice as slow (measured: 17 ms against 8.6 ms
        # for n = 1e7, m = 3).
        _gather_and_finish(
            x,
            unit,
            dilation,
            kernel_norm,
            p2,
            power,
            start,
            chosen,
            taken,
            position,
            dot,
            sumsq,
            score,
            cosine,
            scale,
        )
    return taken, tested >> 32


@njit(cache=True, nogil=True, error_model="numpy")
def _gather_and_finish(
    x, unit, dilation, kernel_norm, p2, power, start, chosen, taken, position, dot, sumsq, score, cosine, scale
):
    """Gather a run's ``taken`` chosen windows (``chosen``, of its ``len(dot)`` windows) to
    the front of its sums and of ``position[start ..]``, then finish them
    (:func:`finish_run`, the same operations on each window as for a full track, so the same
    results bit for bit)."""
    kept = 0
    for i in range(dot.shape[0]):
        if chosen[i]:
            position[start + kept] = start + i
            dot[kept] = dot[i]
            sumsq[kept] = sumsq[i]
            kept += 1
    finish_run(
        x,
        unit,
        dilation,
        kernel_norm,
        p2,
        power,
        start,
        dot[:taken],
        sumsq[:taken],
        score,
        cosine,
        scale,
        position[start : start + taken],
    )


@njit(cache=True, nogil=True)
def candidate_buffers(n_kernels, stretch, zscore):
    """Empty ``position``, ``score``, ``cosine``, ``scale`` and ``distance`` for the chosen
    windows of a fused scan over ``stretch`` positions, shape ``(n_kernels, stretch)`` (the
    distance ``(n_kernels, 0)`` unless ``zscore``). Each run or segment writes its few chosen
    windows at its own first position, so only the pages they touch are ever mapped.

    Allocated here, on the C heap, not by NumPy: NumPy asks Linux for 2 MiB pages on arrays
    from 4 MiB on (transparent huge pages), and each scattered write then made the kernel
    zero 2 MiB instead of 4 KiB (measured: 512 scattered writes into four fresh arrays of
    4.2e6 floats, 10.0 ms from NumPy against 1.0 ms from here).
    """
    return (
        np.empty((n_kernels, stretch), dtype=np.int64),
        np.empty((n_kernels, stretch)),
        np.empty((n_kernels, stretch)),
        np.empty((n_kernels, stretch)),
        np.empty((n_kernels, stretch if zscore else 0)),
    )


@njit(cache=True, nogil=True)
def gather_candidates(counts, starts, position, score, cosine, scale, distance):
    """Move each kernel's chosen windows (``counts[k, b]`` of them at ``starts[b]`` for each
    block ``b``) to the front of its rows, in order; return how many each kernel has."""
    n_kernels, n_blocks = counts.shape
    totals = np.zeros(n_kernels, dtype=np.int64)
    zscore = distance.shape[1] > 0
    for k in range(n_kernels):
        total = 0
        for b in range(n_blocks):
            start = starts[b]
            for i in range(counts[k, b]):
                position[k, total + i] = position[k, start + i]
                score[k, total + i] = score[k, start + i]
                cosine[k, total + i] = cosine[k, start + i]
                scale[k, total + i] = scale[k, start + i]
                if zscore:
                    distance[k, total + i] = distance[k, start + i]
            total += counts[k, b]
        totals[k] = total
    return totals


#: Below this many positions the scans run on the calling thread alone. A parallel region
#: waits for every thread of the pool; on a busy machine one of them may wait for a time
#: slice (measured: 8 ms instead of 0.25 ms for 1e5 positions while other programs ran),
#: and a single thread scans 1e5 positions of a short kernel in well under a millisecond.
SERIAL_POSITIONS = 1 << 17


def serial_twin(scan):
    """``scan``, a ``parallel=True`` kernel, compiled to run on the calling thread alone and
    cached apart from it.

    Numba's cache keys a kernel by its Python function's name, source line and argument
    types, not by its options (numba/numba#6845): two dispatchers of one function, one
    parallel and one not, would share one cache entry, and whichever compiled first would be
    what the other loads. So it was: a first run on a small signal (the warm-up's, a test's)
    cached the serial machine code, and from then on every large scan ran on one thread
    (n = 1e7, m = 3 on 2 cores: 66 ms against 33 ms). The twin is a copy of the function
    under its own name, so it gets its own cache entry.
    """
    function = scan.py_func
    twin = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__ + "_serial",
        function.__defaults__,
        function.__closure__,
    )
    twin.__qualname__ = function.__qualname__ + "_serial"
    twin.__module__ = function.__module__
    twin.__doc__ = function.__doc__
    options = {name: value for name, value in scan.targetoptions.items() if name not in ("parallel", "nopython")}
    return njit(cache=True, **options)(twin)


_sliding_dot_serial = serial_twin(_sliding_dot)
_sliding_cosine_serial = serial_twin(_sliding_cosine)
_sliding_candidates_serial = serial_twin(_sliding_candidates)


def integer_power(p: float) -> tuple[float, int]:
    """``(p * p, power)`` for :func:`finish_run`.

    ``power`` is ``p * p`` when that is a small whole number; else ``-4 * p * p`` when that
    is one (``p`` a multiple of 1/2, such as 0.5 or 1.5: ``|c| ** (p * p)`` is then the
    ``4 p²``-th power of ``|c| ** 0.25``, which vectorises where ``pow`` does not); else 0.
    The relative error of the powering is a few ulps times ``4 p²``, inside the score's
    round-off bound ``4 (m + 4) eps p²`` (docs/method.md).
    """
    p2 = float(p) * float(p)
    if p2.is_integer() and 1 <= p2 <= MAX_INTEGER_POWER:
        return p2, int(p2)
    quarters = 4.0 * p2
    if quarters.is_integer() and 1 <= quarters <= MAX_INTEGER_POWER:
        return p2, -int(quarters)
    return p2, 0


def sliding_dot_numba(signal: np.ndarray, kernel: np.ndarray, dilation: int) -> np.ndarray:
    """Plain dot products ``sum_j kernel[j] * signal[i + j * dilation]``, blocked and parallel.

    Parameters
    ----------
    signal : float64 array, shape (n,), contiguous
    kernel : float64 array, shape (m,)
    dilation : int

    Returns
    -------
    float64 array, shape (n - span + 1,)
        IEEE arithmetic: a window holding NaN gives NaN, huge values may give +-inf.
        Each sum runs tap by tap (four taps per pass, fused multiply-adds), so its error is
        at most about ``m * eps * sum_j |kernel[j] * w[j]|``.
    """
    n_out = signal.shape[0] - span(kernel.shape[0], dilation) + 1
    out = np.empty(max(n_out, 0))
    if n_out > 0:
        scan = _sliding_dot_serial if n_out < SERIAL_POSITIONS else _sliding_dot
        scan(signal, kernel, int(dilation), out)
    return out


def sliding_cosine_numba(signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int) -> ScoreTrack:
    """Numba version of :func:`motifscan.similarity.reference.sliding_cosine_reference`.

    Same arguments and result; assumes ``n >= span``. Agrees with the reference within
    round-off (see ``docs/method.md``, "Tolerances").
    """
    n_out = signal.shape[0] - span(kernel.shape[0], dilation) + 1
    unit, kernel_norm = unit_kernel(kernel)
    score = np.empty(n_out)
    cosine = np.empty(n_out)
    scale = np.empty(n_out)
    p2, power = integer_power(p)
    scan = _sliding_cosine_serial if n_out < SERIAL_POSITIONS else _sliding_cosine
    scan(signal, unit, kernel_norm, int(dilation), p2, power, score, cosine, scale)
    return ScoreTrack(score, cosine, scale)


def fused_bounds(threshold: float, p2: float) -> float:
    """The squared-cosine bound of the fused test for ``|score| >= threshold``: ``c**2`` with
    ``c = threshold ** (1 / p2)``, lowered by :data:`FUSED_MARGIN`; 0 below
    :data:`FUSED_LOWEST` (every window finished)."""
    if threshold <= 0.0:
        return 0.0
    lower = threshold ** (2.0 / p2) * (1.0 - FUSED_MARGIN)
    return lower if lower >= FUSED_LOWEST else 0.0


def candidate_bounds(threshold: float, p2: float, near_cosine: float, cosine_error: float = 0.0) -> np.ndarray:
    """``lower``, ``near_lower``, ``near_upper`` of the fused test
    (:func:`motifscan.similarity.window.fused_test`) for ``|score| >= threshold`` and the
    count of ``|cosine| > near_cosine``. With ``cosine_error`` (a scan whose full track
    redoes some windows by another computation, which may move their cosine by that much:
    the FFT's batch scan), the threshold's cosine is first lowered by twice that."""
    near = near_cosine * near_cosine
    lower = fused_bounds(threshold, p2)
    if cosine_error > 0.0 and lower > 0.0:
        widened = threshold ** (1.0 / p2) - 2.0 * cosine_error
        lower = widened * widened * (1.0 - FUSED_MARGIN) if widened > 0.0 else 0.0
        lower = lower if lower >= FUSED_LOWEST else 0.0
    return np.array([lower, near * (1.0 - FUSED_MARGIN), near * (1.0 + FUSED_MARGIN)])


def sliding_candidates_numba(
    signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int, threshold: float, near_cosine: float
) -> CandidateTrack:
    """The fused scan of :func:`motifscan.similarity.sliding_candidates` (same arguments and
    result; assumes ``n >= span``)."""
    n_out = signal.shape[0] - span(kernel.shape[0], dilation) + 1
    unit, kernel_norm = unit_kernel(kernel)
    p2, power = integer_power(p)
    lower, near_lower, near_upper = candidate_bounds(threshold, p2, near_cosine)
    arrays = candidate_buffers(1, n_out, False)
    position, score, cosine, scale = (column[0] for column in arrays[:4])
    run = fused_run(unit.shape[0])
    n_runs = (n_out + run - 1) // run
    counts = np.zeros(2 * n_runs, dtype=np.int64)
    scan = _sliding_candidates_serial if n_out < SERIAL_POSITIONS else _sliding_candidates
    scan(
        signal,
        unit,
        kernel_norm,
        int(dilation),
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
    )
    starts = np.arange(n_runs, dtype=np.int64) * run
    return one_kernel_candidates(arrays, counts[:n_runs], starts, n_out, int(counts[n_runs:].sum()))


def one_kernel_candidates(
    arrays: tuple, counts: np.ndarray, starts: np.ndarray, n_out: int, near: int
) -> CandidateTrack:
    """The :class:`CandidateTrack` of a fused scan of one kernel over ``n_out`` positions,
    from its :func:`candidate_buffers` (``arrays``), where run or segment ``b`` wrote
    ``counts[b]`` chosen windows from ``starts[b]`` on; ``near`` unfinished windows counted."""
    (total,) = gather_candidates(counts[None], starts, *arrays)
    # Copies: the slices would otherwise pin the n_out-long buffers.
    position, score, cosine, scale = (column[0, :total].copy() for column in arrays[:4])
    return CandidateTrack(position, score, cosine, scale, n_out, near)


def threads() -> int:
    """Threads the Numba kernels use now (``--threads``, ``NUMBA_NUM_THREADS`` or the cores)."""
    return get_num_threads()


def use_threads(count: int) -> None:
    """Run the compiled scans of the calling thread on ``count`` threads.

    Capped at ``NUMBA_NUM_THREADS`` (the size of Numba's pool, by default the number of
    cores); the FFT backend gives scipy.fft the same number of workers.
    """
    # numba.config sets its options at import time, so mypy sees no NUMBA_NUM_THREADS.
    set_num_threads(max(1, min(int(count), config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
