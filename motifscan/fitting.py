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

import numpy as np

from motifscan.choices import METRICS, check_choice
from motifscan.errors import MotifscanError
from motifscan.similarity.metric import project

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
                f"the window at row {start} (length {length}) does not fit in the signal of "
                f"{signal.shape[0]} rows"
            )
        window = signal[start:start + length]
        if not np.all(np.isfinite(window)):
            raise MotifscanError(f"the window at row {start} holds NaN or inf")
        out[row] = window
    return out


def _unit_rows(windows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(windows, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise MotifscanError("a labelled window is all zeros, so it has no shape")
    return windows / norms


def align_positives(signal: np.ndarray, starts, length: int, shift: int, rounds: int = 5) -> np.ndarray:
    """Move each positive by up to ``shift`` samples to best match the mean of the others.

    Parameters
    ----------
    signal : float64 array, shape (n,)
    starts : int array, shape (P,)
        Labelled starts of the positives.
    length, shift : int
        Window length; largest move in samples.

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
        units = _unit_rows(windows_at(signal, aligned, length))
        total = units.sum(axis=0)
        moved = False
        for i, start in enumerate(starts):
            template = total - units[i]
            best, best_cosine = aligned[i], -math.inf
            for candidate in range(max(0, start - shift), min(signal.shape[0] - length, start + shift) + 1):
                window = signal[candidate:candidate + length]
                norm = np.linalg.norm(window)
                if not np.isfinite(norm) or norm == 0:
                    continue
                cosine = float(window @ template) / norm
                # Ties keep the labelled start, then the earlier one.
                if cosine > best_cosine + 1e-12 or (abs(cosine - best_cosine) <= 1e-12 and candidate == start):
                    best, best_cosine = candidate, cosine
            moved |= best != aligned[i]
            aligned[i] = best
            # Coordinate ascent on the summed similarity of all pairs: with the template
            # updated at once, every move raises it, so the loop cannot cycle.
            window = signal[best:best + length]
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


def cosines(kernel: np.ndarray, windows: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """``cos(M k, M w)`` for each window (shape (c, m)); 0 for a window with ``M w = 0``."""
    anchor = project(kernel, metric)
    projected = project(windows, metric)
    norms = np.linalg.norm(projected, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, projected @ anchor / (norms * np.linalg.norm(anchor)), 0.0)


def triplet_loss(kernel: np.ndarray, metric: np.ndarray | None, positives: np.ndarray,
                 negatives: np.ndarray, margin: float = DEFAULT_MARGIN,
                 metric_pull: float = DEFAULT_METRIC_PULL):
    """The triplet loss of the module docstring and its analytic gradient.

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

    Returns
    -------
    loss : float
    grad_kernel : float64 array, shape (m,)
    grad_metric : None or float64 array with the metric's shape
    """
    m = kernel.shape[0]
    windows = np.concatenate([positives, negatives])
    anchor = project(kernel, metric)                 # a = M k, shape (r,)
    projected = project(windows, metric)             # b_i = M w_i, shape (c, r)
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
        return loss, grad_anchor, None
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
    return loss, grad_kernel, grad_metric


# --------------------------------------------------------------------------------------
# Scanning the training signal, mining, the cut-off


def cosine_track(signal: np.ndarray, kernel: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """``cos(M k, M w_i)`` at every valid position of ``signal`` (the detector's cosine)."""
    from motifscan.similarity import sliding_cosine
    from motifscan.similarity.metric import sliding_metric_cosine

    if metric is None:
        return sliding_cosine(signal, kernel, 1.0, 1).cosine
    return sliding_metric_cosine(signal, kernel, metric, 1.0, 1).cosine


def peaks(track: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Strongest-first non-max suppression of ``|track|`` (what ``detect`` would report at
    threshold 0): ``(positions, |cosine|)`` in position order."""
    from motifscan.detection import candidate_mask, suppress_overlaps

    strength = np.abs(track)
    positions = np.flatnonzero(candidate_mask(track, 0.0))
    accepted = suppress_overlaps(positions, strength[positions], gap)
    return positions[accepted], strength[positions[accepted]]


def _strongest(track: np.ndarray) -> float:
    """The largest ``|cosine|`` of a stretch of the track; unscored (NaN) windows count 0."""
    strength = np.abs(track)
    return float(np.max(np.where(np.isnan(strength), 0.0, strength), initial=0.0))


def near(positions: np.ndarray, labels: np.ndarray, distance: int) -> np.ndarray:
    """True for each position closer than ``distance`` to some label."""
    if labels.size == 0 or positions.size == 0:
        return np.zeros(positions.shape, dtype=bool)
    return np.min(np.abs(positions[:, None] - labels[None, :]), axis=1) < distance


def mine_negatives(track: np.ndarray, length: int, positives: np.ndarray, count: int) -> np.ndarray:
    """Starts of the ``count`` strongest detector peaks that overlap no positive."""
    positions, strength = peaks(track, length)
    keep = ~near(positions, positives, length)
    positions, strength = positions[keep], strength[keep]
    order = np.lexsort((positions, -strength))[:count]
    return np.sort(positions[order])


def choose_cutoff(positive_values: np.ndarray, negative_values: np.ndarray) -> float:
    """The cut-off on the cosine with the best F1 on the training labels.

    ``positive_values`` are the detector's strongest ``|cosine|`` near each labelled
    positive, ``negative_values`` its peaks elsewhere. Among cut-offs of equal F1 the one in
    the widest gap between neighbouring values wins, and the cut-off is the middle of that
    gap, as far as possible from both sides.
    """
    values = np.concatenate([positive_values, negative_values])
    is_positive = np.concatenate([np.ones(positive_values.size), np.zeros(negative_values.size)])
    order = np.argsort(-values, kind="stable")
    values, is_positive = values[order], is_positive[order]
    true_pos = np.cumsum(is_positive)
    false_pos = np.cumsum(1 - is_positive)
    f1 = 2 * true_pos / (true_pos + false_pos + positive_values.size)
    below = np.append(values[1:], 0.0)  # the next value down: the gap is (below, value]
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


def _optimise(kernel, metric, positives, negatives, margin, metric_pull, iterations):
    from scipy.optimize import minimize

    m = kernel.shape[0]
    shape = None if metric is None else metric.shape

    def objective(theta):
        k, metric_now = _unpack(theta, m, shape)
        loss, grad_k, grad_m = triplet_loss(k, metric_now, positives, negatives, margin, metric_pull)
        return loss, _pack(grad_k, grad_m)

    # Cosines do not depend on the kernel's size; optimising at unit size keeps the steps
    # of the kernel and of the metric on one scale.
    norm = np.linalg.norm(kernel)
    result = minimize(objective, _pack(kernel / norm, metric), jac=True, method="L-BFGS-B",
                      options={"maxiter": iterations})
    k, metric_now = _unpack(result.x, m, shape)
    return k * norm / np.linalg.norm(k), metric_now, float(result.fun)


def fit_kernel(signal: np.ndarray, positive_starts, negative_starts, length: int, metric: str = "none",
               margin: float = DEFAULT_MARGIN, mined: int = DEFAULT_MINED, rounds: int = DEFAULT_ROUNDS,
               shift: int | None = None, metric_pull: float = DEFAULT_METRIC_PULL,
               iterations: int = 200) -> FitResult:
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

    Returns
    -------
    FitResult
    """
    check_choice("metric", metric, METRICS)
    signal = np.asarray(signal, dtype=np.float64)
    positive_starts = np.asarray(positive_starts, dtype=np.int64).reshape(-1)
    negative_starts = np.asarray(negative_starts, dtype=np.int64).reshape(-1)
    if positive_starts.size == 0:
        raise MotifscanError("at least one positive example is needed")
    shift = max(1, length // 8) if shift is None else shift
    aligned = align_positives(signal, positive_starts, length, shift)
    positives = windows_at(signal, aligned, length)
    labelled_negatives = windows_at(signal, negative_starts, length)
    kernel = start = starting_kernel(positives)
    weights = {"none": None, "diagonal": np.ones(length), "full": np.eye(length)}[metric]

    mined_starts = np.zeros(0, dtype=np.int64)
    losses = []
    for round_number in range(max(1, rounds)):
        if mined > 0:
            track = cosine_track(signal, kernel, weights)
            found = mine_negatives(track, length, aligned, mined)
            # A window already among the negatives (give or take half a window) adds nothing.
            known = np.concatenate([negative_starts, mined_starts])
            mined_starts = np.union1d(mined_starts, found[~near(found, known, length // 2 + 1)])
        negatives = np.concatenate([labelled_negatives, windows_at(signal, mined_starts, length)])
        if negatives.shape[0] == 0:
            break  # nothing to tell the shape from: keep the mean of the positives
        before = triplet_loss(kernel / np.linalg.norm(kernel), weights, positives, negatives,
                              margin, metric_pull)[0]
        kernel, weights, after = _optimise(kernel, weights, positives, negatives, margin, metric_pull,
                                           iterations)
        losses.append([before, after])

    track = cosine_track(signal, kernel, weights)
    positive_values = np.array([_strongest(track[max(0, s - length // 2):s + length // 2 + 1]) for s in aligned])
    positions, strength = peaks(track, length)
    negative_values = strength[~near(positions, aligned, length // 2 + 1)]
    cutoff = choose_cutoff(positive_values, negative_values)
    p = sharpness_for(cutoff)
    threshold = CUTOFF_SCORE if 0 < cutoff < 1 else min(max(cutoff, 0.0), 1.0)
    return FitResult(kernel, weights, p, threshold, cutoff, start, aligned, mined_starts, losses)


# --------------------------------------------------------------------------------------
# Judging a detector on labels


def match_detections(starts: np.ndarray, strengths: np.ndarray, positives: np.ndarray,
                     tolerance: int) -> dict:
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
