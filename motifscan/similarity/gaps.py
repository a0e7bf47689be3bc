"""Gap-aware joint scores: a joint window with missing channels scored over those present.

A joint window ``w`` (shape (C, m)) whose channel ``c`` holds NaN or +-inf has no score in
the plain joint scan. With ``min_channels`` the window is scored over the set ``P`` of its
channels that are whole (every sample finite), when ``|P| >= min_channels``: the rows of
the missing channels are dropped from the window *and* from the kernel, and the score is
the joint scan's over the channels of ``P`` only:

    cosine_P = sum_{c in P} w_c·k_c / (sqrt(sum_{c in P} |w_c|²) sqrt(sum_{c in P} |k_c|²))

(with ``center``/``zscore`` each channel of window and kernel centred first, as in the
joint scan; ``scale_P = sum_{c in P} w_c·k_c / sum_{c in P} |k_c|²``; the noise floor ``q``
is added to the norm of the present channels unchanged; the z-normalised distance counts
``|P| m`` taps). A window whose present kernel rows are all zero scores 0, as a window of
norm 0 does. Each window also reports the channels it used, a bit mask (bit ``c`` set for
channel ``c`` of the group; 0 for an unscored window).

Windows whose channels are all present are scored by the joint scan of
:func:`motifscan.similarity.multi.scan_kernels` (any backend, FFT included); only the
windows that scan leaves unscored are redone here, each on its own, so the result is the
same whatever block a window falls in.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from motifscan.similarity import DistanceTrack, span
from motifscan.similarity.multi import EXACT_SQUARED_DISTANCE, prepare_kernels, scan_kernels


class GapScoreTrack(NamedTuple):
    """A :class:`~motifscan.similarity.ScoreTrack` plus ``present``: the channels each
    window was scored over, an int64 bit mask per position (bit c: channel c of the joint
    group; 0 where the window has no score)."""

    score: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    present: np.ndarray


class GapDistanceTrack(NamedTuple):
    """A :class:`~motifscan.similarity.DistanceTrack` plus ``present`` (as
    :class:`GapScoreTrack`)."""

    score: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    distance: np.ndarray
    present: np.ndarray


def whole_channels(signal: np.ndarray, m: int, dilation: int) -> np.ndarray:
    """Which channels of each window are whole (all ``m`` taps finite).

    Parameters
    ----------
    signal : float64 array, shape (C, n)
    m, dilation : int
        Taps and gap between taps; ``n >= span``.

    Returns
    -------
    bool array, shape (n - span + 1, C)
    """
    n_channels, n = signal.shape
    n_out = n - span(m, dilation) + 1
    whole = np.empty((n_out, n_channels), dtype=bool)
    rows = -(-n // dilation)
    for c, channel in enumerate(signal):
        bad = np.zeros(rows * dilation + dilation, dtype=np.int64)
        bad[dilation : dilation + n] = ~np.isfinite(channel)
        # Counts of bad samples along every residue class mod dilation: taps of one window.
        counts = np.cumsum(bad.reshape(-1, dilation), axis=0).ravel()
        # Bad taps of window i: counts at its last tap minus counts before its first.
        last = counts[dilation + (m - 1) * dilation : dilation + (m - 1) * dilation + n_out]
        whole[:, c] = (last - counts[:n_out]) == 0
    return whole


@njit(parallel=True, cache=True, nogil=True)
def whole_channels_at(x, positions, m, dilation):
    """:func:`whole_channels` of the windows at ``positions`` only (int64, shape (P,)):
    bool array of shape (P, C). The scan needs it for the few windows left unscored, so it
    looks at their taps rather than counting over the whole signal."""
    n_channels = x.shape[0]
    whole = np.empty((positions.shape[0], n_channels), dtype=np.bool_)
    for index in prange(positions.shape[0]):
        i = positions[index]
        for c in range(n_channels):
            ok = True
            for j in range(m):
                v = x[c, i + j * dilation]
                if v - v != 0.0:  # NaN or +-inf (both give NaN)
                    ok = False
                    break
            whole[index, c] = ok
    return whole


def channel_masks(whole: np.ndarray) -> np.ndarray:
    """Bit masks (int64, shape (P,)) from ``whole`` (bool, shape (P, C)): bit c for channel c."""
    return (whole.astype(np.int64) << np.arange(whole.shape[1], dtype=np.int64)).sum(axis=1)


@njit(cache=True, nogil=True)
def _factor(exponent):
    """``2**-exponent`` when it is a normal number (then multiplying by it is exact, and far
    faster than ``ldexp``), else 0: :func:`_scaled` then calls ``ldexp``."""
    return math.ldexp(1.0, -exponent) if -1000 < exponent < 1000 else 0.0


@njit(cache=True, nogil=True)
def _scaled(value, factor, exponent):
    """``value * 2**-exponent``, exactly (``factor`` from :func:`_factor`)."""
    return value * factor if factor != 0.0 else math.ldexp(value, -exponent)


#: Windows per task of the gap-aware rescoring (its scratch arrays are made once per task).
_GAP_CHUNK = 256


@njit(parallel=True, cache=True, nogil=True)
def _gap_windows(
    x,
    units,
    unit_squares,
    kernel_norms,
    positions,
    whole,
    dilation,
    center,
    zscore,
    floor,
    p2,
    score,
    cosine,
    scale,
    distance,
):
    """Score the windows at ``positions`` over their ``whole`` channels.

    ``units`` (K, C, m) are the unit kernels (centred per channel with ``center``) and
    ``unit_squares`` (K, C) their squared norm per channel. Every window is brought to
    [-1, 1] by powers of two (exact), so nothing overflows or underflows when squared:
    first by its largest |sample| over the present channels, then, after centring, by its
    largest deviation.
    """
    n_kernels, n_channels, _ = units.shape
    n_chunks = (positions.shape[0] + _GAP_CHUNK - 1) // _GAP_CHUNK
    for chunk in prange(n_chunks):
        means = np.zeros(n_channels)
        dots = np.zeros(n_kernels)
        kernel_sq = np.zeros(n_kernels)
        for index in range(chunk * _GAP_CHUNK, min(positions.shape[0], (chunk + 1) * _GAP_CHUNK)):
            _gap_window(
                x,
                units,
                unit_squares,
                kernel_norms,
                positions[index],
                whole[index],
                index,
                dilation,
                center,
                zscore,
                floor,
                p2,
                score,
                cosine,
                scale,
                distance,
                means,
                dots,
                kernel_sq,
            )


@njit(cache=True, nogil=True)
def _gap_window(
    x,
    units,
    unit_squares,
    kernel_norms,
    i,
    whole,
    index,
    dilation,
    center,
    zscore,
    floor,
    p2,
    score,
    cosine,
    scale,
    distance,
    means,
    dots,
    kernel_sq,
):
    """One window of :func:`_gap_windows` (``means``, ``dots``, ``kernel_sq``: scratch)."""
    n_kernels, n_channels, m = units.shape
    level = 0.0
    present = 0
    for c in range(n_channels):
        if whole[c]:
            present += 1
            for j in range(m):
                level = max(level, abs(x[c, i + j * dilation]))
    taps = present * m
    if level == 0.0:
        for k in range(n_kernels):
            score[k, index] = cosine[k, index] = scale[k, index] = 0.0
            if zscore:
                distance[k, index] = math.sqrt(taps)
        return
    _, exponent = math.frexp(level)
    factor = _factor(exponent)
    spread = 0.0
    for c in range(n_channels):
        means[c] = 0.0
        if not whole[c]:
            continue
        lo = math.inf
        hi = -math.inf
        total = 0.0
        for j in range(m):
            y = _scaled(x[c, i + j * dilation], factor, exponent)
            total += y
            lo = min(lo, y)
            hi = max(hi, y)
        if center:
            means[c] = lo if hi == lo else total / m  # a flat channel: exactly zero deviations
            spread = max(spread, hi - means[c], means[c] - lo)
        else:
            spread = max(spread, abs(hi), abs(lo))
    if spread == 0.0:  # every present channel flat (centred): nothing to compare
        for k in range(n_kernels):
            score[k, index] = cosine[k, index] = scale[k, index] = 0.0
            if zscore:
                distance[k, index] = math.sqrt(taps)
        return
    _, shift = math.frexp(spread)
    shift_factor = _factor(shift)
    sumsq = 0.0
    for k in range(n_kernels):
        dots[k] = 0.0
        kernel_sq[k] = 0.0
    for c in range(n_channels):
        if not whole[c]:
            continue
        for k in range(n_kernels):
            kernel_sq[k] += unit_squares[k, c]
        for j in range(m):
            v = _scaled(_scaled(x[c, i + j * dilation], factor, exponent) - means[c], shift_factor, shift)
            sumsq += v * v
            for k in range(n_kernels):
                dots[k] += v * units[k, c, j]
    norm = math.sqrt(sumsq)
    floored_norm = norm + math.ldexp(floor, -(exponent + shift))
    for k in range(n_kernels):
        if kernel_sq[k] == 0.0:  # the present kernel rows are all zero
            score[k, index] = cosine[k, index] = scale[k, index] = 0.0
            if zscore:
                distance[k, index] = math.sqrt(taps)
            continue
        kernel_norm = math.sqrt(kernel_sq[k])
        d = dots[k] / kernel_norm
        r = min(1.0, max(-1.0, d / norm))
        f = r if floor == 0.0 else min(1.0, max(-1.0, d / floored_norm))
        s = abs(f) ** p2
        score[k, index] = s if f >= 0.0 else -s
        cosine[k, index] = r
        scale[k, index] = math.ldexp(dots[k] / (kernel_norms[k] * kernel_sq[k]), exponent + shift)
        if zscore:
            squared = 2.0 * taps * (1.0 - r)
            distance[k, index] = 0.0 if squared < EXACT_SQUARED_DISTANCE else math.sqrt(squared)


def score_gap_windows(
    signal: np.ndarray,
    kernels: np.ndarray,
    positions: np.ndarray,
    whole: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
) -> tuple:
    """The Numba scores of the windows at ``positions`` over their ``whole`` channels.

    Parameters
    ----------
    signal : float64 array, shape (C, n)
    kernels : float64 array, shape (K, C, m)
    positions : int64 array, shape (P,)
        Window starts.
    whole : bool array, shape (P, C)
        The channels each window is scored over.

    Returns
    -------
    score, cosine, scale, distance : float64 arrays, shape (K, P)
        ``distance`` is of shape (K, 0) unless ``normalize="zscore"``.
    """
    center = normalize in ("center", "zscore")
    zscore = normalize == "zscore"
    units, kernel_norms = prepare_kernels(kernels, center)
    unit_squares = np.einsum("kcm,kcm->kc", units, units)
    n_kernels = kernels.shape[0]
    count = positions.shape[0]
    score, cosine, scale = (np.empty((n_kernels, count)) for _ in range(3))
    distance = np.empty((n_kernels, count if zscore else 0))
    from motifscan.similarity.cpu import integer_power

    p2, _ = integer_power(p)
    _gap_windows(
        np.ascontiguousarray(signal),
        np.ascontiguousarray(units),
        unit_squares,
        kernel_norms,
        np.ascontiguousarray(positions, dtype=np.int64),
        np.ascontiguousarray(whole),
        dilation,
        center,
        zscore,
        float(noise_floor),
        p2,
        score,
        cosine,
        scale,
        distance,
    )
    return score, cosine, scale, distance


def scan_kernels_gaps(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float = 1.0,
    dilation: int = 1,
    normalize: str = "none",
    noise_floor: float = 0.0,
    min_channels: int | None = None,
    backend: str = "auto",
) -> list:
    """:func:`motifscan.similarity.multi.scan_kernels`, scoring windows with missing
    channels over the channels present (module notes).

    Parameters
    ----------
    signal, kernels, p, dilation, normalize, noise_floor, backend
        As :func:`motifscan.similarity.multi.scan_kernels`; ``signal`` has shape (C, n).
    min_channels : int or None
        Fewest whole channels a window is scored over, 1 to C; None means C (every
        window with a missing channel stays unscored, as in the plain joint scan).

    Returns
    -------
    list of GapScoreTrack, or of GapDistanceTrack for ``normalize="zscore"``
        One per kernel, arrays of shape ``(max(n - span + 1, 0),)``.
    """
    x = np.ascontiguousarray(np.atleast_2d(signal), dtype=np.float64)
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 2:
        k = k[:, None, :]
    n_channels = x.shape[0]
    least = n_channels if min_channels is None else min(int(min_channels), n_channels)
    if backend == "numpy":
        from motifscan.similarity.reference import scan_kernels_gaps_reference

        return scan_kernels_gaps_reference(x, k, p, dilation, normalize, noise_floor, least)
    tracks = scan_kernels(x, k, p, dilation, normalize, noise_floor, backend)
    n_out = tracks[0].score.shape[0]
    everything = (1 << n_channels) - 1
    present = np.where(np.isnan(tracks[0].score), 0, everything).astype(np.int64)
    if n_out and least < n_channels and not present.all():
        unscored = np.flatnonzero(present == 0)
        whole = whole_channels_at(x, unscored.astype(np.int64), k.shape[2], dilation)
        enough = whole.sum(axis=1) >= least
        positions, whole = unscored[enough], whole[enough]
        if positions.size:
            score, cosine, scale, distance = score_gap_windows(
                x, k, positions, whole, p, dilation, normalize, noise_floor
            )
            for index, track in enumerate(tracks):
                track.score[positions] = score[index]
                track.cosine[positions] = cosine[index]
                track.scale[positions] = scale[index]
                if isinstance(track, DistanceTrack):  # normalize == "zscore"
                    track.distance[positions] = distance[index]
            present[positions] = channel_masks(whole)
    return [
        GapDistanceTrack(*track, present) if isinstance(track, DistanceTrack) else GapScoreTrack(*track, present)
        for track in tracks
    ]


def scan_joint(
    signal: np.ndarray,
    kernels: np.ndarray,
    weights=None,
    p: float = 1.0,
    dilation: int = 1,
    normalize: str = "none",
    noise_floor: float = 0.0,
    min_channels: int | None = None,
    backend: str = "auto",
) -> list:
    """The joint scan with channel weights and, with ``min_channels``, missing channels.

    With weights ``a_c >= 0`` every sum over a window's channels is weighted:
    ``cosine = sum_c a_c w_c·k_c / (sqrt(sum_c a_c |w_c|²) sqrt(sum_c a_c |k_c|²))`` and
    ``scale = sum_c a_c w_c·k_c / sum_c a_c |k_c|²`` (over the present channels only, with
    ``min_channels``). That is the unweighted scan of window and kernel with channel ``c``
    multiplied by ``sqrt(a_c)``, which is how it is computed.

    Parameters
    ----------
    signal : float64 array, shape (C, n)
    kernels : float64 array, shape (K, C, m)
    weights : array_like, shape (K, C), or None
        Each kernel's channel weights; None: all 1.
    p, dilation, normalize, noise_floor, backend
        As :func:`motifscan.similarity.multi.scan_kernels`.
    min_channels : int or None
        As :func:`scan_kernels_gaps`; None scans as the plain joint scan (no ``present``).

    Returns
    -------
    list of track tuples, one per kernel, in the order of ``kernels``
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if weights is None:
        weights = np.ones(kernels.shape[:2])
    weights = np.asarray(weights, dtype=np.float64)
    found: list = [None] * kernels.shape[0]
    groups: dict = {}
    for index, row in enumerate(weights):
        groups.setdefault(tuple(row.tolist()), []).append(index)
    for row, members in groups.items():
        root = np.sqrt(np.asarray(row))
        weighted = not np.all(root == 1.0)
        with np.errstate(invalid="ignore"):  # inf times a weight of 0 is NaN: missing either way
            x = signal * root[:, None] if weighted else signal
        bank = kernels[members] * root[None, :, None] if weighted else kernels[members]
        if min_channels is None:
            tracks = scan_kernels(x, bank, p, dilation, normalize, noise_floor, backend)
        else:
            tracks = scan_kernels_gaps(x, bank, p, dilation, normalize, noise_floor, min_channels, backend)
        for index, track in zip(members, tracks):
            found[index] = track
    return found
