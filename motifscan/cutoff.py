"""The cut-off of a fitted detector, checked on held-out folds (pure compute).

A fitted detector's cut-off on the cosine is first chosen on its own training labels
(:func:`motifscan.fitting.choose_cutoff`: the best F1, in the middle of the widest gap).
Cross-validation then checks it: each fold's detector, fitted without the fold, chooses its
own training cut-off the same way and scores the fold, so every label is scored by a
detector that did not see it. The folds' peaks are pooled on a common scale,
:func:`relative_to_cutoff`, and :func:`validated_shift` says how far the pooled held-out
labels ask the cut-off to move. With a handful of labels a single fold's peak is noise, so
the training cut-off stays unless another cut-off makes clearly fewer mistakes on the
pooled folds (``DEFAULT_FEWER_ERRORS``).
"""

from __future__ import annotations

import numpy as np

#: How many fewer pooled mistakes (missed positives plus false peaks) another cut-off must
#: make than the training cut-off before the folds move it: one mistake is one label, which
#: a few folds of one or two positives each give or take by chance.
DEFAULT_FEWER_ERRORS = 2


def relative_to_cutoff(values: np.ndarray, cutoff: float, spread: float) -> np.ndarray:
    """Cosines as distances above a detector's own training cut-off, in units of its
    ``spread`` (the median ``1 - cos`` of its training positives).

    Parameters
    ----------
    values : float64 array, any shape
        Cosines the detector gave.
    cutoff : float
        The detector's cut-off chosen on its training labels.
    spread : float, > 0
        How far its training positives lie from a perfect match.

    Returns
    -------
    float64 array, the shape of ``values``: 0 at the training cut-off, 1 one spread above.
    """
    return (np.asarray(values, dtype=np.float64) - cutoff) / spread


def pooled_errors(positive_values: np.ndarray, negative_values: np.ndarray, cutoff: float) -> int:
    """Positives below ``cutoff`` plus negative peaks at or above it."""
    return int(np.sum(positive_values < cutoff) + np.sum(negative_values >= cutoff))


def pooled_f1(positive_values: np.ndarray, negative_values: np.ndarray, cutoff: float) -> float:
    """F1 of the peaks at ``cutoff`` (0 without positives)."""
    true_pos = int(np.sum(positive_values >= cutoff))
    false_pos = int(np.sum(negative_values >= cutoff))
    total = true_pos + false_pos + positive_values.size
    return 2 * true_pos / total if positive_values.size else 0.0


def validated_shift(
    positive_values: np.ndarray, negative_values: np.ndarray, fewer_errors: int = DEFAULT_FEWER_ERRORS
) -> float:
    """How far the pooled held-out folds move the training cut-off, on the common scale.

    Parameters
    ----------
    positive_values, negative_values : float64 arrays, shapes (P,) and (N,)
        The folds' peaks near held-out positives and elsewhere, each fold's on its own
        detector's scale (:func:`relative_to_cutoff`), pooled.
    fewer_errors : int, >= 1
        The margin: how many fewer pooled mistakes another cut-off must make.

    Returns
    -------
    float
        0 (keep the training cut-off) unless a cut-off with at least ``fewer_errors`` fewer
        pooled mistakes exists; then the middle of the gap between neighbouring values
        with the fewest mistakes (among equals the best F1, then the one nearest to 0).
        Beyond the lowest and highest values the gap is one unit wide.
    """
    values = np.unique(np.concatenate([positive_values, negative_values]))
    if values.size == 0:
        return 0.0
    # Every distinct cut-off lies in one gap between neighbouring values (the values
    # themselves are the edges); the middle of each gap stands for it.
    edges = np.concatenate([[values[0] - 1.0], values, [values[-1] + 1.0]])
    middles = (edges[1:] + edges[:-1]) / 2
    errors = np.array([pooled_errors(positive_values, negative_values, at) for at in middles])
    if errors.min() > pooled_errors(positive_values, negative_values, 0.0) - fewer_errors:
        return 0.0
    f1 = np.array([pooled_f1(positive_values, negative_values, at) for at in middles])
    better = middles[(errors == errors.min()) & (f1 >= f1[errors == errors.min()].max() - 1e-12)]
    return float(better[np.argmin(np.abs(better))])
