"""The NumPy oracle: obviously correct, float64, no cleverness.

Each window is divided by its own largest magnitude before anything is squared, so
values from 1e-300 to 1e300 neither underflow nor overflow; every window is computed on
its own, so there is no running sum to drift.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from motifscan.similarity import CandidateTrack, DistanceTrack, ScoreTrack, Track, span


def unit_kernel(kernel: np.ndarray) -> tuple[np.ndarray, float]:
    """Return ``(kernel / |kernel|, |kernel|)`` without overflow or underflow.

    Parameters
    ----------
    kernel : float64 array, shape (m,)
        Finite and not all zero (checked by the caller).
    """
    largest = np.max(np.abs(kernel))
    shrunk = kernel / largest
    shrunk_norm = np.sqrt(np.dot(shrunk, shrunk))
    return shrunk / shrunk_norm, float(largest * shrunk_norm)


def sharpen(cosine: np.ndarray, p: float) -> np.ndarray:
    """``sign(cosine) * |cosine| ** (p * p)``, NaN where ``cosine`` is NaN."""
    return np.sign(cosine) * np.abs(cosine) ** (p * p)


def sliding_dot_reference(signal: np.ndarray, kernel: np.ndarray, dilation: int) -> np.ndarray:
    """``sum_j kernel[j] * signal[i + j * dilation]`` for every valid ``i``, tap by tap.

    Shape (n - span + 1,); assumes ``n >= span``. IEEE arithmetic, as the fast backends.
    """
    m = kernel.shape[0]
    windows = sliding_window_view(signal, span(m, dilation))[:, ::dilation]
    dot = np.zeros(windows.shape[0])
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(m):
            dot += windows[:, j] * kernel[j]
    return dot


def scaled_windows(signal: np.ndarray, m: int, dilation: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every valid window divided by its largest magnitude, so nothing overflows when squared.

    Returns
    -------
    shrunk : float64 array, shape (n - span + 1, m)
        The windows scaled into [-1, 1]; windows holding NaN or inf are zeros.
    largest : float64 array, shape (n - span + 1,)
        Each window's largest magnitude (1 for an all-zero or non-finite window).
    finite : bool array, shape (n - span + 1,)
        False where the window holds NaN or inf.
    """
    windows = sliding_window_view(signal, span(m, dilation))[:, ::dilation]
    finite = np.isfinite(windows).all(axis=1)
    windows = np.where(finite[:, None], windows, 0.0)
    largest = np.max(np.abs(windows), axis=1)
    largest[largest == 0] = 1.0
    return windows / largest[:, None], largest, finite


def finish_tracks(
    shrunk_dot: np.ndarray,
    shrunk_sumsq: np.ndarray,
    largest: np.ndarray,
    finite: np.ndarray,
    kernel_norm: float,
    p: float,
) -> ScoreTrack:
    """The score track from each scaled window's ``dot`` with the unit kernel and ``sumsq``
    (see :func:`scaled_windows`); 0 for a window of norm 0, NaN where not ``finite``."""
    shrunk_norm = np.sqrt(shrunk_sumsq)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(shrunk_norm > 0, shrunk_dot / shrunk_norm, 0.0)
    # Round-off can push |cosine| a hair past 1; the sharpened power would amplify it.
    cosine = np.clip(cosine, -1.0, 1.0)
    with np.errstate(over="ignore"):
        scale = shrunk_dot / kernel_norm * largest
    cosine[~finite] = np.nan
    scale[~finite] = np.nan
    return ScoreTrack(sharpen(cosine, p), cosine, scale)


def sliding_cosine_reference(signal: np.ndarray, kernel: np.ndarray, p: float, dilation: int) -> ScoreTrack:
    """Score every valid window of ``signal`` (shape (n,)) against ``kernel`` (shape (m,)).

    See :func:`motifscan.similarity.sliding_cosine` for the meaning of the arguments and
    the result; this function assumes ``n >= span``.
    """
    m = kernel.shape[0]
    shrunk, largest, finite = scaled_windows(signal, m, dilation)
    unit, kernel_norm = unit_kernel(kernel)
    # Sums run tap by tap, in the same order for every window, so a window scores
    # bit-identically whatever block it is in (BLAS and einsum change their summation
    # order with the array's shape).
    shrunk_sumsq = np.zeros(shrunk.shape[0])
    shrunk_dot = np.zeros(shrunk.shape[0])
    for j in range(m):
        shrunk_sumsq += shrunk[:, j] * shrunk[:, j]
        shrunk_dot += shrunk[:, j] * unit[j]
    return finish_tracks(shrunk_dot, shrunk_sumsq, largest, finite, kernel_norm, p)


def scan_kernels_reference(
    signal: np.ndarray, kernels: np.ndarray, p: float, dilation: int, normalize: str, noise_floor: float
) -> list:
    """NumPy oracle of :func:`motifscan.similarity.multi.scan_kernels`.

    ``signal`` has shape (C, n) with ``n >= span``, ``kernels`` shape (K, C, m). Every
    window is built whole (shape (C, m)), centred per channel when asked, divided by its
    largest magnitude, and compared with each unit kernel tap by tap.
    """
    from motifscan.similarity.multi import EXACT_SQUARED_DISTANCE, prepare_kernels

    n_kernels, n_channels, m = kernels.shape
    center = normalize in ("center", "zscore")
    windows = np.stack(
        [sliding_window_view(channel, span(m, dilation))[:, ::dilation] for channel in signal], axis=1
    )  # (n_out, C, m)
    n_out = windows.shape[0]
    finite = np.isfinite(windows).all(axis=(1, 2))
    windows = np.where(finite[:, None, None], windows, 0.0)
    constant = np.zeros(n_out, dtype=bool)
    unit = np.ones(n_out)  # the units of ``windows`` per row, in signal units
    if center:
        flat = windows.max(axis=2) == windows.min(axis=2)  # (n_out, C)
        constant = flat.all(axis=1)
        # Each channel's mean from the channel scaled by its own largest magnitude: it never
        # overflows nor sinks into subnormals. A flat channel's deviations are exactly zero,
        # whatever the mean's rounding.
        channel_level = np.max(np.abs(windows), axis=2, keepdims=True)
        channel_level[channel_level == 0] = 1.0
        means = channel_level * (windows / channel_level).mean(axis=2, keepdims=True)
        means = np.where(flat[:, :, None], windows[:, :, :1], means)
        level = np.max(channel_level, axis=(1, 2))
        with np.errstate(over="ignore", invalid="ignore"):
            deviations = windows - means  # exact for close values: 1e6 + noise keeps its digits
        overflowed = ~np.isfinite(deviations).all(axis=(1, 2))
        # Deviations of samples near +-1e308 of both signs: divide before subtracting.
        scaled = windows[overflowed] / level[overflowed, None, None]
        deviations[overflowed] = scaled - means[overflowed] / level[overflowed, None, None]
        unit[overflowed] = level[overflowed]
        windows = deviations
    windows = windows.reshape(n_out, n_channels * m)
    units, kernel_norms = prepare_kernels(kernels, center)
    units = units.reshape(n_kernels, n_channels * m)

    largest = np.max(np.abs(windows), axis=1)
    largest[largest == 0] = 1.0
    shrunk = windows / largest[:, None]
    largest = largest * unit
    shrunk_sumsq = np.zeros(n_out)
    shrunk_dot = np.zeros((n_out, n_kernels))
    for j in range(n_channels * m):  # tap by tap: the same order for every window
        shrunk_sumsq += shrunk[:, j] * shrunk[:, j]
        shrunk_dot += shrunk[:, j, None] * units[None, :, j]
    shrunk_norm = np.sqrt(shrunk_sumsq)[:, None]
    empty = (shrunk_norm == 0) | constant[:, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cosine = np.where(empty, 0.0, np.clip(shrunk_dot / shrunk_norm, -1.0, 1.0))
        floored = shrunk_dot / (shrunk_norm + noise_floor / largest[:, None])
        floored = np.where(empty, 0.0, np.clip(floored, -1.0, 1.0))
        scale = np.where(empty, 0.0, shrunk_dot / kernel_norms[None, :] * largest[:, None])
    score = sharpen(floored, p)
    distance = None
    if normalize == "zscore":
        taps = n_channels * m
        squared = 2 * taps * (1 - cosine)
        squared[squared < EXACT_SQUARED_DISTANCE] = 0.0
        distance = np.where(constant[:, None], math.sqrt(taps), np.sqrt(squared))
        distance[~finite] = np.nan
    for values in (score, cosine, scale):
        values[~finite] = np.nan
    if distance is not None:
        return [DistanceTrack(score[:, i], cosine[:, i], scale[:, i], distance[:, i]) for i in range(n_kernels)]
    return [ScoreTrack(score[:, i], cosine[:, i], scale[:, i]) for i in range(n_kernels)]


def sliding_cosine_longdouble(signal: np.ndarray, kernel: np.ndarray, dilation: int = 1) -> np.ndarray:
    """Cosine of every window in ``numpy.longdouble`` (80-bit on x86-64 Linux): the yardstick.

    For finite signals of moderate magnitude (no overflow when squared); windows of norm 0
    give 0. Slow (no BLAS): for measuring the error of the float64 backends on test signals.
    Shape (n - span + 1,), float64.
    """
    m = kernel.shape[0]
    x = signal.astype(np.longdouble)
    k = kernel.astype(np.longdouble)
    windows = sliding_window_view(x, span(m, dilation))[:, ::dilation]
    dot = np.zeros(windows.shape[0], dtype=np.longdouble)
    sumsq = np.zeros(windows.shape[0], dtype=np.longdouble)
    for j in range(m):
        dot += windows[:, j] * k[j]
        sumsq += windows[:, j] * windows[:, j]
    norm = np.sqrt(sumsq) * np.sqrt(np.sum(k * k))
    safe = np.where(norm > 0, norm, 1)
    return np.where(norm > 0, dot / safe, 0).astype(np.float64)


def sliding_pearson_longdouble(signal: np.ndarray, kernel: np.ndarray, dilation: int = 1) -> np.ndarray:
    """Centred cosine (Pearson's r, ``normalize="center"``) of every window in
    ``numpy.longdouble``, two passes (means first): the yardstick of the centred scans.

    As :func:`sliding_cosine_longdouble`: finite signals of moderate magnitude; constant
    windows give 0. Shape (n - span + 1,), float64.
    """
    m = kernel.shape[0]
    x = signal.astype(np.longdouble)
    k = kernel.astype(np.longdouble)
    k = k - np.sum(k) / m
    windows = sliding_window_view(x, span(m, dilation))[:, ::dilation]
    mean = np.sum(windows, axis=1) / m
    dot = np.zeros(windows.shape[0], dtype=np.longdouble)
    sumsq = np.zeros(windows.shape[0], dtype=np.longdouble)
    for j in range(m):
        deviation = windows[:, j] - mean
        dot += deviation * k[j]
        sumsq += deviation * deviation
    norm = np.sqrt(sumsq) * np.sqrt(np.sum(k * k))
    safe = np.where(norm > 0, norm, 1)
    return np.where(norm > 0, dot / safe, 0).astype(np.float64)


def precision_signals(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The three signals on which every backend's precision is judged, each of shape (n,).

    ``walk``: a random walk (drifts far from zero: a running sum of squares would cancel);
    ``offset``: ``1e6 + noise`` (the shape rides on a huge constant);
    ``segments``: noise whose segments of 1000 samples alternate between scales 1 and 1e6
    (quiet windows right next to loud ones).
    """
    rng = np.random.default_rng(seed)
    segments = rng.standard_normal(n)
    segments[(np.arange(n) // 1000) % 2 == 1] *= 1e6
    return {
        "walk": np.cumsum(rng.standard_normal(n)),
        "offset": 1e6 + rng.standard_normal(n),
        "segments": segments,
    }


def scan_kernels_gaps_reference(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    min_channels: int,
) -> list:
    """NumPy oracle of :func:`motifscan.similarity.gaps.scan_kernels_gaps`.

    For every set of whole channels that some window has (at least ``min_channels`` of
    them), :func:`scan_kernels_reference` scans the signal and kernels cut down to those
    channels, and each window takes the scores of its own set. A set whose kernel rows are
    all zero (after centring) scores 0.
    """
    from motifscan.similarity.gaps import GapDistanceTrack, GapScoreTrack, channel_masks, whole_channels

    n_kernels, n_channels, m = kernels.shape
    zscore = normalize == "zscore"
    whole = whole_channels(signal, m, dilation)
    masks = channel_masks(whole)
    masks[whole.sum(axis=1) < min_channels] = 0
    n_out = whole.shape[0]
    columns = 4 if zscore else 3
    values = np.full((columns, n_kernels, n_out), np.nan)
    for mask in np.unique(masks[masks > 0]):
        chosen = [c for c in range(n_channels) if mask >> c & 1]
        rows = masks == mask
        part = kernels[:, chosen]
        if normalize != "none":
            part = part - part.mean(axis=2, keepdims=True)
        for index in range(n_kernels):
            if not np.any(part[index]):
                values[:3, index, rows] = 0.0
                if zscore:
                    values[3, index, rows] = math.sqrt(len(chosen) * m)
                continue
            (track,) = scan_kernels_reference(
                signal[chosen], kernels[index : index + 1, chosen], p, dilation, normalize, noise_floor
            )
            for field, array in enumerate(track):
                values[field, index, rows] = array[rows]
    masks[np.isnan(values[0, 0])] = 0
    scores, cosines, scales = values[0], values[1], values[2]
    if zscore:
        distances = values[3]
        return [
            GapDistanceTrack(scores[index], cosines[index], scales[index], distances[index], masks)
            for index in range(n_kernels)
        ]
    return [GapScoreTrack(scores[index], cosines[index], scales[index], masks) for index in range(n_kernels)]


def scan_joint_reference(
    signal: np.ndarray,
    kernels: np.ndarray,
    weights: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    min_channels: int,
) -> list:
    """NumPy oracle of :func:`motifscan.similarity.gaps.scan_joint`, window by window from
    the definition: weighted sums over the whole channels of each window.

    ``signal`` (C, n), ``kernels`` (K, C, m), ``weights`` (K, C). Slow (a Python loop over
    windows): for tests on small inputs.
    """
    from motifscan.similarity.gaps import GapDistanceTrack, GapScoreTrack, channel_masks, whole_channels

    n_kernels, n_channels, m = kernels.shape
    center = normalize != "none"
    zscore = normalize == "zscore"
    whole = whole_channels(signal, m, dilation)
    masks = channel_masks(whole)
    n_out = whole.shape[0]
    values = np.full((4 if zscore else 3, n_kernels, n_out), np.nan)
    for i in range(n_out):
        present = np.flatnonzero(whole[i])
        if present.size < min_channels:
            masks[i] = 0
            continue
        window = signal[present][:, i : i + span(m, dilation) : dilation]
        level = np.max(np.abs(window))
        window = window / (level if level > 0 else 1.0)
        if center:
            flat = window.max(axis=1) == window.min(axis=1)
            window = np.where(flat[:, None], 0.0, window - window.mean(axis=1, keepdims=True))
        for index in range(n_kernels):
            kernel = kernels[index, present]
            if center:
                kernel = kernel - kernel.mean(axis=1, keepdims=True)
            weight = weights[index, present][:, None]
            dot = np.sum(weight * window * kernel)
            window_sq = np.sum(weight * window * window)
            kernel_sq = np.sum(weight * kernel * kernel)
            if window_sq == 0 or kernel_sq == 0:
                values[:3, index, i] = 0.0
                cosine = None
            else:
                cosine = float(np.clip(dot / math.sqrt(window_sq * kernel_sq), -1, 1))
                floored = dot / ((math.sqrt(window_sq) + noise_floor / (level or 1.0)) * math.sqrt(kernel_sq))
                floored = float(np.clip(floored, -1, 1))
                values[0, index, i] = math.copysign(abs(floored) ** (p * p), floored) if floored else 0.0
                values[1, index, i] = cosine
                values[2, index, i] = dot / kernel_sq * (level or 1.0)
            if zscore:
                taps = present.size * m
                # Nothing to compare (a flat window, or kernel rows all 0 or weighed 0): sqrt(taps),
                # the distance of a constant window.
                squared = 2 * taps * (1 - cosine) if cosine is not None else taps
                values[3, index, i] = 0.0 if squared < 1e-14 else math.sqrt(squared)
    scores, cosines, scales = values[0], values[1], values[2]
    if zscore:
        distances = values[3]
        return [
            GapDistanceTrack(scores[index], cosines[index], scales[index], distances[index], masks)
            for index in range(n_kernels)
        ]
    return [GapScoreTrack(scores[index], cosines[index], scales[index], masks) for index in range(n_kernels)]


def candidates_of_track(track: Track, threshold: float, near_cosine: float) -> CandidateTrack:
    """The :class:`~motifscan.similarity.CandidateTrack` of a full score track: the windows
    with ``|score| >= threshold`` or no score, and the count of the others with
    ``|cosine| > near_cosine``. The reference the fused scans are tested against.

    Parameters
    ----------
    track : ScoreTrack or DistanceTrack
        Arrays of shape (n_out,); a DistanceTrack's distances are kept too.
    threshold, near_cosine : float
        As for :func:`motifscan.similarity.sliding_candidates`.
    """
    with np.errstate(invalid="ignore"):
        keep = np.isnan(track.score) | (np.abs(track.score) >= threshold)
        near = int(np.count_nonzero(~keep & (np.abs(track.cosine) > near_cosine)))
    chosen = np.flatnonzero(keep)
    distance = getattr(track, "distance", None)
    return CandidateTrack(
        chosen,
        track.score[chosen],
        track.cosine[chosen],
        track.scale[chosen],
        track.score.shape[0],
        near,
        None if distance is None else distance[chosen],
    )
