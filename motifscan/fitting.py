"""Learning a kernel, its sharpness, its threshold and a metric from labelled windows.

Pure functions on NumPy arrays (no I/O, no printing); ``motifscan fit`` reads the files and
calls :func:`fit_kernel`.

The model. A window ``w`` (m samples) and the kernel ``k`` are compared under a linear map
``M`` (the identity, per-tap weights ``diag(d)``, or a full m x m matrix) with the cosine
distance ``D(k, w) = 1 - cos(M k, M w)``. With positives ``P`` (windows of the shape) and
negatives ``N`` (look-alikes, labelled or mined) the triplet loss with margin ``mu`` is::

    L(k, M) = mean over (i, j) of  max(0, mu + D(k, P_i) - D(k, N_j)) ** 2
              + lam / 2 * |M - I|^2 / m

The kernel is the anchor of every triplet. The hinge is squared so that the loss has a
continuous gradient (L-BFGS converges on it, and finite differences check it); the small
pull of ``M`` towards the identity keeps a metric fitted on a few examples from wandering
where nothing constrains it. The gradients are analytic (:func:`triplet_loss`); the
optimiser is SciPy's L-BFGS.

Hard negatives are *mined*: after each round of optimisation the training signal is
scanned with the current kernel and metric, and the strongest windows that overlap no
labelled positive join the negatives. The cosine is monotone in the sharpened score, so
``p`` and the threshold together only set one cut-off on the cosine: :func:`choose_cutoff`
picks the cut-off with the best F1 on the training labels (the middle of the widest gap
among equals), and :func:`sharpness_for` the ``p`` that maps it to the score 0.5, the
default threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from motifscan.choices import METRICS, NORMALIZE, check_choice
from motifscan.errors import MotifscanError
from motifscan.similarity.metric import project

#: Window normalisations a detector can be fitted for (those of ``detect --normalize``).
#: ``zscore`` scores exactly as ``center`` (the cosine does not see a window's size); it
#: only adds ``detect``'s distance column.
NORMALIZATIONS = NORMALIZE
#: Margin of the triplet loss, in cosine distance (1 - cosine).
DEFAULT_MARGIN = 0.1
#: Hard negatives mined from the training signal after each round.
DEFAULT_MINED = 20
#: Rounds of (optimise, mine).
DEFAULT_ROUNDS = 3
#: Weight of the pull of the metric towards the identity.
DEFAULT_METRIC_PULL = 0.01
#: The score a window at the fitted cut-off gets: the default threshold of ``detect``.
CUTOFF_SCORE = 0.5


# --------------------------------------------------------------------------------------
# Windows


def windows_at(signal: np.ndarray, starts, length: int) -> np.ndarray:
    """The windows ``signal[s : s + length]``, shape (len(starts), length).

    Raises MotifscanError for a window that leaves the signal or holds NaN/inf.
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    out = np.empty((starts.size, length))
    for row, start in enumerate(starts):
        if start < 0 or start + length > signal.shape[0]:
            raise MotifscanError(
                f"the window at row {start} (length {length}) does not fit in the signal of {signal.shape[0]} rows"
            )
        window = signal[start : start + length]
        if not np.all(np.isfinite(window)):
            raise MotifscanError(f"the window at row {start} holds NaN or inf")
        out[row] = window
    return out


def centred(vectors: np.ndarray, normalize: str) -> np.ndarray:
    """``vectors`` (shape (..., m)) with each row's mean removed when ``normalize`` centres
    (``center``, ``zscore``); unchanged for ``none``. The map is linear, ``C v`` with
    ``C = I - 1 1^T / m``, and symmetric, so a gradient taken after it is pulled back by
    centring it too."""
    if normalize == "none":
        return vectors
    return vectors - vectors.mean(axis=-1, keepdims=True)


@overload
def scan_metric(metric: np.ndarray, normalize: str, length: int) -> np.ndarray: ...
@overload
def scan_metric(metric: None, normalize: str, length: int) -> None: ...
def scan_metric(metric: np.ndarray | None, normalize: str, length: int) -> np.ndarray | None:
    """The linear map a plain metric scan needs to score as ``detect --normalize`` with
    ``metric``: ``M C`` (shape (r, m), full) when windows are centred, ``M`` otherwise.

    Centring is the linear map ``C``, so ``cos(M C k, M C w)`` is the metric cosine under
    ``M C``; a window that is constant gives ``M C w = 0`` and scores 0, as in the centred
    scan.
    """
    if normalize == "none" or metric is None:
        return metric
    centring = np.eye(length) - 1.0 / length
    return metric[:, None] * centring if metric.ndim == 1 else metric @ centring


def _unit_rows(windows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(windows, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise MotifscanError("a labelled window is all zeros, so it has no shape")
    return windows / norms


def align_positives(
    signal: np.ndarray, starts, length: int, shift: int, rounds: int = 5, normalize: str = "none"
) -> np.ndarray:
    """Move each positive by up to ``shift`` samples to best match the mean of the others.

    Parameters
    ----------
    signal : float64 array, shape (n,)
    starts : int array, shape (P,)
        Labelled starts of the positives.
    length, shift : int
        Window length; largest move in samples.
    normalize : {"none", "center", "zscore"}
        Compare the windows centred, as the detector will.

    Returns
    -------
    int64 array, shape (P,)
        The aligned starts. The template is the mean of the unit-length positives, so a
        loud example does not outweigh a quiet one; each positive is compared with the
        mean of the others (leave one out) so it cannot just agree with itself. The result
        is defined up to a common shift of all positives.
    """
    starts = np.asarray(starts, dtype=np.int64)
    aligned = starts.copy()
    if starts.size < 2 or shift <= 0:
        return aligned
    for _ in range(rounds):
        units = _unit_rows(centred(windows_at(signal, aligned, length), normalize))
        total = units.sum(axis=0)
        moved = False
        for i, start in enumerate(starts):
            template = total - units[i]
            best, best_cosine = aligned[i], -math.inf
            for candidate in range(max(0, start - shift), min(signal.shape[0] - length, start + shift) + 1):
                window = centred(signal[candidate : candidate + length], normalize)
                norm = np.linalg.norm(window)
                if not np.isfinite(norm) or norm == 0:
                    continue
                cosine = float(window @ template) / float(norm)
                # Ties keep the labelled start, then the earlier one.
                if cosine > best_cosine + 1e-12 or (abs(cosine - best_cosine) <= 1e-12 and candidate == start):
                    best, best_cosine = candidate, cosine
            moved |= best != aligned[i]
            aligned[i] = best
            # Coordinate ascent on the summed similarity of all pairs: with the template
            # updated at once, every move raises it, so the loop cannot cycle.
            window = centred(signal[best : best + length], normalize)
            total += window / np.linalg.norm(window) - units[i]
            units[i] = window / np.linalg.norm(window)
        if not moved:
            break
    return aligned


def starting_kernel(positives: np.ndarray) -> np.ndarray:
    """The mean of the positives (shape (P, m)) in direction, their mean length in size.

    Each positive counts with unit length, so the shape is not dominated by the loudest
    example; the result is scaled to the positives' mean norm so that ``scale`` in the
    output stays near 1 for a typical example.
    """
    units = _unit_rows(positives)
    direction = units.mean(axis=0)
    norm = np.linalg.norm(direction)
    if norm == 0:
        raise MotifscanError("the positives cancel out: their mean has no shape")
    return direction / norm * float(np.mean(np.linalg.norm(positives, axis=1)))


# --------------------------------------------------------------------------------------
# The loss and its gradient


def cosines(kernel: np.ndarray, windows: np.ndarray, metric: np.ndarray | None, normalize: str = "none") -> np.ndarray:
    """``cos(M C k, M C w)`` for each window (shape (c, m)), ``C`` the centring of
    ``normalize`` (the identity for ``none``); 0 for a window with ``M C w = 0``."""
    anchor = project(centred(kernel, normalize), metric)
    projected = project(centred(windows, normalize), metric)
    norms = np.linalg.norm(projected, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, projected @ anchor / (norms * np.linalg.norm(anchor)), 0.0)


def triplet_loss(
    kernel: np.ndarray,
    metric: np.ndarray | None,
    positives: np.ndarray,
    negatives: np.ndarray,
    margin: float = DEFAULT_MARGIN,
    metric_pull: float = DEFAULT_METRIC_PULL,
    normalize: str = "none",
):
    """The triplet loss of the module docstring and its analytic gradient.

    With ``normalize`` ``center`` (or ``zscore``, which scores the same) the kernel and
    every window are centred first, ``D(k, w) = 1 - cos(M C k, M C w)``: the windows
    ``detect --normalize center`` scores.

    Parameters
    ----------
    kernel : float64 array, shape (m,)
        The anchor.
    metric : None, float64 array of shape (m,) (diagonal), or (r, m) (full)
    positives, negatives : float64 arrays, shapes (P, m) and (N, m)
    margin : float
        In cosine distance.
    metric_pull : float
        Weight of ``|M - I|^2 / (2 m)`` (for a diagonal metric, ``|d - 1|^2 / (2 m)``).
    normalize : {"none", "center", "zscore"}

    Returns
    -------
    loss : float
    grad_kernel : float64 array, shape (m,)
    grad_metric : None or float64 array with the metric's shape
    """
    m = kernel.shape[0]
    # Centring is linear and symmetric (C = C^T): work on C k and C w, and pull the
    # kernel's gradient back through C at the end.
    kernel = centred(kernel, normalize)
    windows = centred(np.concatenate([positives, negatives]), normalize)
    anchor = project(kernel, metric)  # a = M k, shape (r,)
    projected = project(windows, metric)  # b_i = M w_i, shape (c, r)
    anchor_norm = np.linalg.norm(anchor)
    norms = np.linalg.norm(projected, axis=1)
    if anchor_norm == 0:
        raise MotifscanError("the metric maps the kernel to zero")
    live = norms > 0
    safe = np.where(live, norms, 1.0)
    cos = np.where(live, projected @ anchor / (safe * anchor_norm), 0.0)

    n_pos = positives.shape[0]
    # z_ij = margin + D(k, P_i) - D(k, N_j) = margin - cos_i + cos_j
    z = margin - cos[:n_pos, None] + cos[None, n_pos:]
    hinge = np.maximum(z, 0.0)
    count = hinge.size
    loss = float(np.sum(hinge * hinge)) / count
    # dL/dcos for every window: -2 sum_j hinge_ij / count for positives, +2 sum_i for negatives.
    weight = np.concatenate([-2.0 * hinge.sum(axis=1), 2.0 * hinge.sum(axis=0)]) / count
    weight = np.where(live, weight, 0.0)

    unit_anchor = anchor / anchor_norm
    unit_windows = projected / safe[:, None]
    # d cos_i / d a = (b_i/|b_i| - cos_i a/|a|) / |a|;  d cos_i / d b_i = (a/|a| - cos_i b_i/|b_i|) / |b_i|
    grad_anchor = (weight @ unit_windows - np.sum(weight * cos) * unit_anchor) / anchor_norm
    grad_projected = (weight / safe)[:, None] * (unit_anchor[None, :] - cos[:, None] * unit_windows)

    if metric is None:
        return loss, centred(grad_anchor, normalize), None
    if metric.ndim == 1:
        grad_kernel = metric * grad_anchor
        grad_metric = grad_anchor * kernel + np.sum(grad_projected * windows, axis=0)
        pull = metric - 1.0
    else:
        grad_kernel = metric.T @ grad_anchor
        grad_metric = np.outer(grad_anchor, kernel) + grad_projected.T @ windows
        pull = metric - np.eye(*metric.shape)
    loss += metric_pull * float(np.sum(pull * pull)) / (2 * m)
    grad_metric = grad_metric + metric_pull * pull / m
    return loss, centred(grad_kernel, normalize), grad_metric


# --------------------------------------------------------------------------------------
# Scanning the training signal, mining, the cut-off


def cosine_track(
    signal: np.ndarray, kernel: np.ndarray, metric: np.ndarray | None, normalize: str = "none"
) -> np.ndarray:
    """``cos(M C k, M C w_i)`` at every valid position of ``signal``: the cosine ``detect``
    computes with this kernel, metric and ``--normalize`` (NaN where a window holds NaN)."""
    from motifscan.similarity import sliding_cosine
    from motifscan.similarity.metric import sliding_metric_cosine
    from motifscan.similarity.multi import scan_kernels

    if signal.shape[0] < kernel.shape[0]:
        return np.zeros(0)
    if metric is None:
        if normalize == "none":
            return sliding_cosine(signal, kernel, 1.0, 1).cosine
        return scan_kernels(signal[None, :], kernel[None, None, :], 1.0, 1, "center", 0.0)[0].cosine
    return sliding_metric_cosine(signal, kernel, scan_metric(metric, normalize, kernel.shape[0]), 1.0, 1).cosine


def peaks(track: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Strongest-first non-max suppression of the positive part of ``track`` (what
    ``detect --sign positive`` reports at threshold 0): ``(positions, cosine)`` in
    position order.

    A fitted detector looks for the shape, not for its inverse (a fitted kernel file says
    ``"sign": "positive"``): an inverted window is no match, so it is neither a candidate
    nor a negative to learn from.
    """
    from motifscan.suppression import candidate_mask, suppress_overlaps

    positions = np.flatnonzero(candidate_mask(track, 0.0, "positive"))
    accepted = suppress_overlaps(positions, track[positions], gap)
    return positions[accepted], track[positions[accepted]]


def _strongest(track: np.ndarray) -> float:
    """The largest positive cosine of a stretch of the track; unscored (NaN) windows and
    inverted ones count 0."""
    return float(np.max(np.where(track > 0, track, 0.0), initial=0.0))


def near(positions: np.ndarray, labels: np.ndarray, distance: int) -> np.ndarray:
    """True for each position closer than ``distance`` to some label."""
    if labels.size == 0 or positions.size == 0:
        return np.zeros(positions.shape, dtype=bool)
    return np.min(np.abs(positions[:, None] - labels[None, :]), axis=1) < distance


def mine_negatives(track: np.ndarray, length: int, positives: np.ndarray, count: int) -> np.ndarray:
    """Starts of the ``count`` strongest detector peaks (at least half a window apart) that
    would be false positives: further than half a window from every positive, the
    tolerance of :func:`match_detections`. A window that overlaps a positive by less than
    half is such a false positive, so it is mined too."""
    positions, strength = peaks(track, max(1, length // 2))
    keep = ~near(positions, positives, length // 2 + 1)
    positions, strength = positions[keep], strength[keep]
    order = np.lexsort((positions, -strength))[:count]
    return np.sort(positions[order])


def peak_values(track: np.ndarray, positives: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """What a cut-off is chosen from: the strongest cosine within half a window of each
    labelled positive (shape (P,)), and the peaks further from every positive (the false
    positives a cut-off below them lets in)."""
    half = length // 2
    positive_values = np.array([_strongest(track[max(0, s - half) : s + half + 1]) for s in positives])
    positions, strength = peaks(track, length)
    return positive_values, strength[~near(positions, positives, half + 1)]


def choose_cutoff(positive_values: np.ndarray, negative_values: np.ndarray, floor: float = 0.0) -> float:
    """The cut-off with the best F1 on labelled peaks.

    ``positive_values`` are the detector's strongest cosine near each labelled positive,
    ``negative_values`` its peaks elsewhere (:func:`peak_values`). Among cut-offs of equal
    F1 the one in the widest gap between neighbouring values wins, and the cut-off is the
    middle of that gap, as far as possible from both sides. Below the lowest value the gap
    reaches down to ``floor``: what a cosine of 0 is on the values' scale (0 for cosines;
    cross-validation passes values on another scale).
    """
    values = np.concatenate([positive_values, negative_values])
    is_positive = np.concatenate([np.ones(positive_values.size), np.zeros(negative_values.size)])
    order = np.argsort(-values, kind="stable")
    values, is_positive = values[order], is_positive[order]
    true_pos = np.cumsum(is_positive)
    false_pos = np.cumsum(1 - is_positive)
    f1 = 2 * true_pos / (true_pos + false_pos + positive_values.size)
    below = np.append(values[1:], min(floor, values[-1]))  # the next value down: the gap is (below, value]
    gap = values - below
    best = max(range(values.size), key=lambda i: (round(float(f1[i]), 12), float(gap[i])))
    return float((values[best] + below[best]) / 2)


def sharpness_for(cutoff: float, score: float = CUTOFF_SCORE) -> float:
    """The ``p`` with ``cutoff ** (p*p) == score``, so the fitted cut-off meets the threshold."""
    if not 0 < cutoff < 1:
        return 1.0
    return math.sqrt(math.log(score) / math.log(cutoff))


# --------------------------------------------------------------------------------------
# Fitting


@dataclass
class FitResult:
    """What :func:`fit_kernel` learned.

    Attributes
    ----------
    kernel : float64 array, shape (m,)
    metric : None or float64 array, shape (m,) or (m, m)
    p, threshold : float
        Sharpness and threshold: ``threshold = cutoff ** (p*p)``.
    cutoff : float
        The cut-off on the cosine chosen on the training labels.
    start_kernel : float64 array, shape (m,)
        The mean of the aligned positives, where the fit started.
    positives, mined : int64 arrays
        Aligned starts of the positives; starts of the mined hard negatives.
    losses : list of float
        The loss before and after each round.
    """

    kernel: np.ndarray
    metric: np.ndarray | None
    p: float
    threshold: float
    cutoff: float
    start_kernel: np.ndarray
    positives: np.ndarray
    mined: np.ndarray
    losses: list = field(default_factory=list)


def _pack(kernel, metric):
    return np.concatenate([kernel, np.zeros(0) if metric is None else metric.ravel()])


def _unpack(theta, m, metric_shape):
    kernel = theta[:m]
    metric = None if metric_shape is None else theta[m:].reshape(metric_shape)
    return kernel, metric


def _optimise(kernel, metric, positives, negatives, margin, metric_pull, iterations, normalize="none"):
    from scipy.optimize import minimize

    m = kernel.shape[0]
    shape = None if metric is None else metric.shape

    def objective(theta):
        k, metric_now = _unpack(theta, m, shape)
        loss, grad_k, grad_m = triplet_loss(k, metric_now, positives, negatives, margin, metric_pull, normalize)
        return loss, _pack(grad_k, grad_m)

    # Cosines do not depend on the kernel's size; optimising at unit size keeps the steps
    # of the kernel and of the metric on one scale.
    norm = np.linalg.norm(kernel)
    result = minimize(
        objective, _pack(kernel / norm, metric), jac=True, method="L-BFGS-B", options={"maxiter": iterations}
    )
    k, metric_now = _unpack(result.x, m, shape)
    return k * norm / np.linalg.norm(k), metric_now, float(result.fun)


def fit_kernel(
    signal: np.ndarray,
    positive_starts,
    negative_starts,
    length: int,
    metric: str = "none",
    margin: float = DEFAULT_MARGIN,
    mined: int = DEFAULT_MINED,
    rounds: int = DEFAULT_ROUNDS,
    shift: int | None = None,
    metric_pull: float = DEFAULT_METRIC_PULL,
    iterations: int = 200,
    normalize: str = "none",
    cutoff: float | None = None,
) -> FitResult:
    """Learn a kernel, a metric, ``p`` and a threshold from labelled windows of ``signal``.

    Parameters
    ----------
    signal : float64 array, shape (n,)
        The training signal (one channel). Every occurrence of the shape in it should be
        labelled: the windows that overlap no labelled positive are where hard negatives
        are mined.
    positive_starts, negative_starts : sequences of int
        First rows of the labelled windows (at least one positive).
    length : int
        Window (kernel) length ``m`` in samples, >= 2.
    metric : {"none", "diagonal", "full"}
    margin : float
        Triplet margin in cosine distance, in (0, 2].
    mined : int
        Hard negatives mined per round (0: only the labelled ones).
    rounds : int
        Rounds of optimisation and mining.
    shift : int, optional
        How far positives may move when aligned; default ``length // 8``.
    metric_pull, iterations
        Weight of the metric's pull towards the identity; L-BFGS iterations per round.
    normalize : {"none", "center", "zscore"}
        Learn on the windows ``detect --normalize`` scores (centred for ``center`` and
        ``zscore``).
    cutoff : float, optional
        The cut-off on the cosine, chosen elsewhere (on validation folds); default: the one
        with the best F1 on the training labels (:func:`choose_cutoff`).

    Returns
    -------
    FitResult
    """
    check_choice("metric", metric, METRICS)
    check_choice("normalize", normalize, NORMALIZATIONS)
    signal = np.asarray(signal, dtype=np.float64)
    positive_starts = np.asarray(positive_starts, dtype=np.int64).reshape(-1)
    negative_starts = np.asarray(negative_starts, dtype=np.int64).reshape(-1)
    if positive_starts.size == 0:
        raise MotifscanError("at least one positive example is needed")
    shift = max(1, length // 8) if shift is None else shift
    aligned = align_positives(signal, positive_starts, length, shift, normalize=normalize)
    positives = windows_at(signal, aligned, length)
    labelled_negatives = windows_at(signal, negative_starts, length)
    kernel = start = starting_kernel(centred(positives, normalize))
    weights = {"none": None, "diagonal": np.ones(length), "full": np.eye(length)}[metric]

    mined_starts = np.zeros(0, dtype=np.int64)
    losses = []
    for round_number in range(max(1, rounds)):
        if mined > 0:
            track = cosine_track(signal, kernel, weights, normalize)
            found = mine_negatives(track, length, aligned, mined)
            # A window within a few samples of a known negative adds nothing; one shifted
            # further from it is a different window (and a false positive of its own).
            known = np.concatenate([negative_starts, mined_starts])
            mined_starts = np.union1d(mined_starts, found[~near(found, known, length // 32 + 1)])
        negatives = np.concatenate([labelled_negatives, windows_at(signal, mined_starts, length)])
        if negatives.shape[0] == 0:
            break  # nothing to tell the shape from: keep the mean of the positives
        before = triplet_loss(
            kernel / np.linalg.norm(kernel), weights, positives, negatives, margin, metric_pull, normalize
        )[0]
        kernel, weights, after = _optimise(
            kernel, weights, positives, negatives, margin, metric_pull, iterations, normalize
        )
        losses.append([before, after])

    if cutoff is None:
        track = cosine_track(signal, kernel, weights, normalize)
        positive_values, negative_values = peak_values(track, aligned, length)
        cutoff = choose_cutoff(positive_values, negative_values)
    p = sharpness_for(cutoff)
    threshold = CUTOFF_SCORE if 0 < cutoff < 1 else min(max(cutoff, 0.0), 1.0)
    return FitResult(kernel, weights, p, threshold, cutoff, start, aligned, mined_starts, losses)


# --------------------------------------------------------------------------------------
# Judging a detector on labels


def match_detections(starts: np.ndarray, strengths: np.ndarray, positives: np.ndarray, tolerance: int) -> dict:
    """Precision, recall and F1 of detected windows against labelled positives.

    Parameters
    ----------
    starts, strengths : arrays, shape (d,)
        Detected window starts and their ``|score|``.
    positives : int array, shape (P,), P >= 1
        Labelled starts of every occurrence in the judged signal.
    tolerance : int
        A detection within this many samples of a label's start finds it. Detections are
        taken strongest first, each finding the nearest label not yet found; the rest are
        false positives.

    Returns
    -------
    dict
        ``found``, ``true_positives``, ``false_positives``, ``false_negatives``,
        ``precision`` (0 when nothing was found), ``recall``, ``f1``.
    """
    found = np.zeros(positives.size, dtype=bool)
    true_pos = 0
    for index in np.lexsort((starts, -np.asarray(strengths))):
        distance = np.abs(positives - starts[index]).astype(float)
        distance[found] = np.inf
        nearest = int(np.argmin(distance)) if positives.size else -1
        if nearest >= 0 and distance[nearest] <= tolerance:
            found[nearest] = True
            true_pos += 1
    false_pos = int(starts.size - true_pos)
    false_neg = int(positives.size - true_pos)
    return {
        "found": int(starts.size),
        "true_positives": true_pos,
        "false_positives": false_pos,
        "false_negatives": false_neg,
        "precision": true_pos / starts.size if starts.size else 0.0,
        "recall": true_pos / positives.size,
        "f1": 2 * true_pos / (2 * true_pos + false_pos + false_neg),
    }
