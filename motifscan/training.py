"""``motifscan fit``: read a signal and its labels, fit, and judge the fit on held-out labels.

The glue between the files and :mod:`motifscan.fitting`; the command line builds a
:class:`FitConfig` and calls :func:`run_fit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from motifscan.choices import METRICS, check_choice
from motifscan.config import DEFAULT_THRESHOLD, DetectConfig
from motifscan.option_values import check_integer, check_number
from motifscan.errors import MotifscanError
from motifscan.fitting import (
    CUTOFF_SCORE,
    DEFAULT_MARGIN,
    DEFAULT_MINED,
    NORMALIZATIONS,
    FitResult,
    fit_kernel,
    match_detections,
)
from motifscan.io.fitted_kernels import FittedKernel
from motifscan.io.labels import Label, parse_positions, read_labels, resolve_position

#: Cross-validation folds over the training labels.
DEFAULT_FOLDS = 5
KEEP = ("best", "fitted")


@dataclass(frozen=True)
class FitConfig:
    """The options of ``motifscan fit``, validated.

    Attributes
    ----------
    file : str
        The training recording.
    labels : str or None
        A labels CSV (``start[,end],label``); or give ``positives`` (and ``negatives``).
    positives, negatives : str or None
        Comma-separated rows or times of labelled window starts.
    length : int or None
        Window (kernel) length in samples; default ``end - start`` of the labels.
    column, time_column, delimiter, header
        As for ``detect``: which channel to learn from and how to read the file.
    metric : str or tuple of str
        The metrics to fit, each of ``none``, ``diagonal``, ``full``, or ``all`` for the three.
    normalize : {"auto", "none", "center", "zscore"}
        The window normalisation to learn and detect with; ``auto`` tries ``none`` and
        ``center`` and keeps the one that validates better.
    folds : int
        Cross-validation folds over the training labels, >= 2.
    keep : {"best", "fitted"}
        What to write when every fitted detector validates worse than the starting point.
    margin : float
        Triplet margin in cosine distance, in (0, 2].
    mine : int
        Hard negatives mined from the training signal per round.
    split : float or None
        Learn from rows before ``split * n``, judge on the rest.
    validate, validate_labels : str or None
        A held-out recording and its labels.
    """

    file: str
    labels: str | None = None
    positives: str | None = None
    negatives: str | None = None
    length: int | None = None
    column: str | None = None
    time_column: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    metric: str | tuple = "none"
    normalize: str = "auto"
    folds: int = DEFAULT_FOLDS
    keep: str = "best"
    margin: float = DEFAULT_MARGIN
    mine: int = DEFAULT_MINED
    split: float | None = None
    validate: str | None = None
    validate_labels: str | None = None

    def __post_init__(self):
        if self.labels is not None and (self.positives is not None or self.negatives is not None):
            raise MotifscanError("give either --labels or --positives/--negatives, not both")
        if self.labels is None and self.positives is None:
            raise MotifscanError("examples are required: give --positives ROWS or --labels FILE")
        if self.length is not None:
            object.__setattr__(self, "length", check_integer("--length", self.length, minimum=2))
        asked = (self.metric,) if isinstance(self.metric, str) else tuple(self.metric)
        for metric in asked:
            check_choice("metric", metric, METRICS + ("all",))
        object.__setattr__(self, "metric", tuple(m for m in METRICS if m in asked or "all" in asked) or ("none",))
        check_choice("normalize", self.normalize, ("auto",) + NORMALIZATIONS)
        object.__setattr__(self, "folds", check_integer("--folds", self.folds, minimum=2))
        check_choice("keep", self.keep, KEEP)
        margin = check_number("--margin", self.margin, minimum=0, inclusive=False)
        if margin > 2:
            raise MotifscanError(f"--margin must be at most 2 (cosine distances lie in [0, 2]), got {self.margin}")
        object.__setattr__(self, "margin", margin)
        object.__setattr__(self, "mine", check_integer("--mine", self.mine, minimum=0))
        if self.split is not None:
            split = check_number("--split", self.split, minimum=0, inclusive=False)
            if split >= 1:
                raise MotifscanError(f"--split must lie between 0 and 1 (the training share), got {self.split}")
            object.__setattr__(self, "split", split)
        if (self.validate is None) != (self.validate_labels is None):
            raise MotifscanError("--validate FILE and --validate-labels FILE go together")
        if self.validate is not None and self.split is not None:
            raise MotifscanError("give either --split or --validate, not both")

    @property
    def metrics(self) -> tuple:
        """The metrics to fit, in the order of ``METRICS``."""
        # Construction turns one metric's name into a tuple.
        return (self.metric,) if isinstance(self.metric, str) else self.metric


@dataclass
class Recording:
    """One channel of a file, whole, with its time column."""

    source: str
    channel: str
    values: np.ndarray
    time: np.ndarray | None


def read_recording(path: str, config: FitConfig, channel: str | None) -> Recording:
    """Read one channel of ``path`` whole (fitting needs all of it at once)."""
    from motifscan.io.signals import read_signal

    source = read_signal(
        path,
        columns=[channel] if channel else None,
        time_column=config.time_column,
        delimiter=config.delimiter,
        header=config.header,
    )
    if len(source.channels) != 1:
        raise MotifscanError(
            f"{source.name}: {len(source.channels)} channels ({', '.join(source.channels)}); "
            "choose the one to learn from with --column"
        )
    name = source.channels[0]
    pieces: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for block in source:
        pieces.append(block.channels[name])
        if block.time is not None:
            times.append(block.time)
    values = np.concatenate(pieces) if pieces else np.zeros(0)
    return Recording(source.name, name, values, np.concatenate(times) if times else None)


def _windows(labels: list[Label], recording: Recording, length: int | None):
    """Resolve labels to ``(starts, is_positive, length, label_lengths)``.

    Labels drawn by hand rarely agree on their length to the sample. When they have ends,
    ``length`` defaults to the median of their lengths, and a labelled window of another
    length is replaced by the ``length``-sample window with the same middle (alignment
    then moves it by up to ``length / 8``). ``label_lengths`` is ``[shortest, longest]``
    of the labels with an end, or None.
    """
    n = recording.values.size
    starts = np.array([resolve_position(label.start, recording.time, n, label.where) for label in labels])
    ends = [
        None if label.end is None else resolve_position(label.end, recording.time, n + 1, label.where)
        for label in labels
    ]
    spans = np.array([end - start for start, end in zip(starts, ends) if end is not None], dtype=np.int64)
    for label, start, end in zip(labels, starts, ends):
        if end is not None and end - start < 2:
            raise MotifscanError(
                f"{label.where}: a labelled window must be at least 2 samples long (start {start}, end {end})"
            )
    if length is None:
        if None in ends:
            raise MotifscanError("--length is required unless every label has an end")
        length = int(np.round(np.median(spans)))
    starts = np.array(
        [start if end is None else start + (end - start - length) // 2 for start, end in zip(starts, ends)],
        dtype=np.int64,
    )
    for label, start in zip(labels, starts):
        if start < 0:
            raise MotifscanError(
                f"{label.where}: the window of length {length} centred on this label starts before row 0"
            )
        if start + length > n:
            raise MotifscanError(
                f"{label.where}: the window at row {start} runs past the end of the signal (row {n - 1})"
            )
    label_lengths = [int(spans.min()), int(spans.max())] if spans.size else None
    return starts, np.array([label.positive for label in labels], dtype=bool), length, label_lengths


def free_cut(row: int, starts: np.ndarray, length: int) -> int:
    """The first row at or after ``row`` that no labelled window straddles: a cut there
    leaves every window whole on one side."""
    cut = row
    while True:
        straddling = (starts < cut) & (starts + length > cut)
        if not np.any(straddling):
            return cut
        cut = int(np.max(starts[straddling] + length))


def fold_cuts(starts: np.ndarray, positive: np.ndarray, length: int, folds: int, n: int) -> list[tuple[int, int]]:
    """Cut rows ``0..n`` into at most ``folds`` contiguous stretches, each holding about the
    same number of positives, at rows no labelled window straddles.

    Returns
    -------
    list of (first row, end row) pairs, in order; stretches without a positive are dropped.
    """
    positive_starts = np.sort(starts[positive])
    groups = np.array_split(positive_starts, min(folds, positive_starts.size))
    edges = [0]
    for group in groups[1:]:
        cut = free_cut(int(group[0]), starts, length)
        if edges[-1] < cut < n:
            edges.append(cut)
    edges.append(n)
    stretches = list(zip(edges[:-1], edges[1:]))
    return [(a, b) for a, b in stretches if np.any(positive & (starts >= a) & (starts < b))]


def _scores(positive_values: np.ndarray, negative_values: np.ndarray, cutoff: float) -> dict:
    """Precision, recall and F1 of the peaks at ``cutoff`` (peaks as in ``peak_values``)."""
    true_pos = int(np.sum(positive_values >= cutoff))
    false_pos = int(np.sum(negative_values >= cutoff))
    false_neg = int(positive_values.size - true_pos)
    found = true_pos + false_pos
    return {
        "found": found,
        "true_positives": true_pos,
        "false_positives": false_pos,
        "false_negatives": false_neg,
        "precision": true_pos / found if found else 0.0,
        "recall": true_pos / positive_values.size if positive_values.size else 0.0,
        "f1": 2 * true_pos / (2 * true_pos + false_pos + false_neg) if positive_values.size else 0.0,
    }


@dataclass
class Candidate:
    """One detector tried: the starting point or a fit, with one metric and normalisation."""

    name: str  # "starting point" or "fitted"
    metric: str
    normalize: str
    kernel: FittedKernel
    result: FitResult | None = None  # of a fit on all training rows (None: the starting point)
    cross_validation: dict | None = None
    held_out: dict | None = None
    seconds: float = 0.0
    training_cutoff: float | None = None  # the cut-off chosen on the training labels

    def score(self) -> float:
        """The F1 candidates are ranked by: held-out when there is held-out data, else
        cross-validated."""
        judged = self.held_out if self.held_out is not None else self.cross_validation
        return -1.0 if judged is None else judged["f1"]

    def row(self) -> dict:
        return {
            "detector": self.name,
            "metric": self.metric,
            "normalize": self.normalize,
            "p": self.kernel.p,
            "threshold": self.kernel.threshold,
            "cutoff_cosine": None if self.result is None else self.result.cutoff,
            "cutoff_training_cosine": self.training_cutoff,
            "cross_validation": self.cross_validation,
            "held_out": self.held_out,
            "seconds": round(self.seconds, 3),
        }


def _starting_detector(kernel: np.ndarray, normalize: str, training: dict) -> FittedKernel:
    """The starting point as a kernel file: the mean of the positives, p = 1, the default
    threshold, any sign, no metric: the plain detector ``detect`` runs with that kernel."""
    return FittedKernel(kernel, 1.0, DEFAULT_THRESHOLD, normalize, None, training, "any")


def _detect(values: np.ndarray, kernel: FittedKernel) -> tuple[np.ndarray, np.ndarray]:
    """Run ``detect`` with a kernel file's settings on ``values``: (starts, |score|)."""
    from motifscan.signal import signal_from_arrays
    from motifscan.pipeline import detect_all

    metric = kernel.scan_metric()
    config = DetectConfig(
        kernel=tuple(kernel.values.tolist()),
        p=kernel.p,
        threshold=kernel.threshold,
        sign=kernel.sign,
        normalize=kernel.normalize if metric is None else "none",
        metric=None if metric is None else metric.tolist(),
    )
    motifs, _ = detect_all(signal_from_arrays({"signal": values}), config)
    return np.array([m.start for m in motifs], dtype=np.int64), np.array([abs(m.score) for m in motifs])


def positive_spread(values: np.ndarray, result, length: int, normalize: str) -> float:
    """How far a fitted detector's own training positives lie from a perfect match: the
    median cosine distance ``1 - cos`` of its strongest window near each of them.

    Cross-validation measures held-out cosines on this scale (distance divided by the
    fold's spread), so a cut-off chosen there carries over to the detector fitted on all
    folds, whose cosines are higher or lower overall (fitted on more positives, it hugs
    them more tightly).
    """
    from motifscan.fitting import cosine_track, peak_values

    track = cosine_track(values, result.kernel, result.metric, normalize)
    positive_values, _ = peak_values(track, result.positives, length)
    return max(float(np.median(1 - positive_values)), 1e-6)


def cross_validate(
    values: np.ndarray,
    starts: np.ndarray,
    positive: np.ndarray,
    length: int,
    stretches: list[tuple[int, int]],
    metric: str,
    normalize: str,
    config: FitConfig,
):
    """Fit on all stretches but one, collect the held stretch's peaks; for every stretch.

    The held stretch is blanked (NaN) in the training signal, so no window of it is
    aligned, mined or scanned while fitting. Returns the pooled ``(positive values,
    negative values)`` of the fitted detectors and of the starting points (each from its
    fold's positives) as ``peak_values`` gives them. The fitted detectors' values are on a
    common scale, the distance above each fold detector's own training cut-off in units of
    its :func:`positive_spread` (:func:`motifscan.cutoff.relative_to_cutoff`); the starting
    points' are cosines (their threshold is fixed).
    """
    from motifscan.cutoff import relative_to_cutoff
    from motifscan.fitting import cosine_track, peak_values

    # (positive values, negative values), one array per stretch
    fitted: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    start: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for first, end in stretches:
        held = (starts >= first) & (starts < end)
        masked = values.copy()
        masked[first:end] = np.nan
        train = ~held
        result = fit_kernel(
            masked,
            starts[train & positive],
            starts[train & ~positive],
            length,
            metric=metric,
            margin=config.margin,
            mined=config.mine,
            normalize=normalize,
        )
        judged = values[first:end]
        held_positives = starts[held & positive] - first
        spread = positive_spread(masked, result, length, normalize)
        for pools, kernel, weights in ((fitted, result.kernel, result.metric), (start, result.start_kernel, None)):
            track = cosine_track(judged, kernel, weights, normalize)
            positive_values, negative_values = peak_values(track, held_positives, length)
            if pools is fitted:
                positive_values = relative_to_cutoff(positive_values, result.cutoff, spread)
                negative_values = relative_to_cutoff(negative_values, result.cutoff, spread)
            pools[0].append(positive_values)
            pools[1].append(negative_values)
    return tuple(np.concatenate(pool) for pool in fitted), tuple(np.concatenate(pool) for pool in start)


@dataclass
class FitOutcome:
    """The kernel to write, the report to show, and the warnings to say on stderr."""

    kernel: FittedKernel
    report: dict
    warnings: list = field(default_factory=list)


def run_fit(config: FitConfig) -> FitOutcome:
    """Read, fit every candidate, judge each on data it was not fitted on, keep one.

    See ``docs/fitting.md``.
    """
    import time

    from motifscan.cutoff import validated_shift
    from motifscan.fitting import sharpness_for

    recording = read_recording(config.file, config, config.column)
    if config.labels is not None:
        labels = read_labels(config.labels)
    else:
        if config.positives is None:  # FitConfig refuses this; the message is the same
            raise MotifscanError("examples are required: give --positives ROWS or --labels FILE")
        labels = parse_positions(config.positives, "--positives", True)
        if config.negatives is not None:
            labels += parse_positions(config.negatives, "--negatives", False)
    starts, positive, length, spans = _windows(labels, recording, config.length)
    warnings = []

    n = recording.values.size
    cut = n
    judged = None
    split = None
    if config.split is not None:
        asked = round(config.split * n)
        cut = free_cut(asked, starts, length)
        split = {"fraction": config.split, "asked_row": asked, "row": cut}
        if cut != asked:
            warnings.append(
                f"--split {config.split:g}: cut at row {cut}, the first label boundary at or after row {asked}"
            )
        if cut >= n:
            raise MotifscanError(
                f"--split {config.split:g}: no label boundary at or after row {asked} leaves rows to judge on"
            )
        held = starts >= cut
        judged = (
            "held-out",
            f"{recording.source} rows {cut}-{n - 1}",
            recording.values[cut:],
            starts[held & positive] - cut,
        )
        starts, positive = starts[~held], positive[~held]
    elif config.validate is not None and config.validate_labels is not None:  # FitConfig: both or neither
        held_out = read_recording(config.validate, config, recording.channel)
        held_labels = read_labels(config.validate_labels)
        held_starts, held_positive, _, _ = _windows(held_labels, held_out, length)
        judged = ("held-out", held_out.source, held_out.values, held_starts[held_positive])
    if not np.any(positive):
        raise MotifscanError(f"no positive example to learn from in {recording.source} rows 0-{cut - 1}")
    if judged is not None and judged[3].size == 0:
        raise MotifscanError(f"the held-out labels ({judged[1]}) hold no positive to judge the fit on")

    values = recording.values[:cut]
    stretches = fold_cuts(starts, positive, length, config.folds, cut)
    if len(stretches) < 2:
        warnings.append(
            f"{len(stretches)} stretch(es) of the training rows hold a positive: no "
            "cross-validation; the cut-off is chosen on the training labels"
        )
        stretches = []
    normalizations = ("none", "center") if config.normalize == "auto" else (config.normalize,)
    tolerance = length // 2
    training = {
        "source": recording.source,
        "channel": recording.channel,
        "rows": [0, cut - 1],
        "split": split,
        "length": length,
        "label_lengths": spans,
        "positives": int(np.sum(positive)),
        "negatives": int(np.sum(~positive)),
        "folds": len(stretches),
        "margin": config.margin,
    }

    candidates = []
    for normalize in normalizations:
        start_candidate = None
        for metric in config.metrics:
            began = time.perf_counter()
            cv = start_cv = None
            if stretches:
                (pos_values, neg_values), (start_pos, start_neg) = cross_validate(
                    values, starts, positive, length, stretches, metric, normalize, config
                )
                start_cv = _scores(start_pos, start_neg, DEFAULT_THRESHOLD)
            result = fit_kernel(
                values,
                starts[positive],
                starts[~positive],
                length,
                metric=metric,
                margin=config.margin,
                mined=config.mine,
                normalize=normalize,
            )
            training_cutoff = result.cutoff
            if stretches:
                # The training cut-off, checked on the held-out folds: they move it (on their
                # common scale, carried over to this detector's) only when that makes
                # clearly fewer mistakes; P/R/F1 are the folds' at the cut-off kept.
                spread = positive_spread(values, result, length, normalize)
                shift = validated_shift(pos_values, neg_values)
                cv = _scores(pos_values, neg_values, shift)
                result = replace(result, cutoff=float(min(max(result.cutoff + shift * spread, 0.0), 1.0)))
            threshold = CUTOFF_SCORE if 0 < result.cutoff < 1 else min(max(result.cutoff, 0.0), 1.0)
            kernel = FittedKernel(
                result.kernel, sharpness_for(result.cutoff), threshold, normalize, result.metric, {}, "positive"
            )
            candidate = Candidate("fitted", metric, normalize, kernel, result, cv, training_cutoff=training_cutoff)
            if start_candidate is None:
                start_candidate = Candidate(
                    "starting point",
                    "none",
                    normalize,
                    _starting_detector(result.start_kernel, normalize, {}),
                    None,
                    start_cv,
                )
                candidates.append(start_candidate)
            candidate.seconds = time.perf_counter() - began
            candidates.append(candidate)
    if judged is None and not stretches:
        warnings.append("no held-out labels and no cross-validation: the scores are on the training labels")
        judged = ("training", f"{recording.source} rows 0-{cut - 1}", values, starts[positive])
    if judged is not None:
        for candidate in candidates:
            found, strengths = _detect(judged[2], candidate.kernel)
            candidate.held_out = match_detections(found, strengths, judged[3], tolerance)

    fitted = [c for c in candidates if c.name == "fitted"]
    starting = [c for c in candidates if c.name == "starting point"]
    # Highest F1 first; among equals the earlier (simpler) candidate.
    best_fitted = max(fitted, key=Candidate.score)
    best_start = max(starting, key=Candidate.score)
    on = judged[0] if judged is not None else "cross-validation"
    kept = best_fitted
    warning = None
    if best_fitted.score() < best_start.score():
        if config.keep == "best":
            kept = best_start
            warning = (
                f"every fitted detector validates worse than the starting point ({on} F1 "
                f"{best_fitted.score():.3f} < {best_start.score():.3f}); wrote the starting point "
                "(--keep fitted writes the fitted one)"
            )
        else:
            warning = (
                f"the fitted detector validates worse than the starting point ({on} F1 "
                f"{best_fitted.score():.3f} < {best_start.score():.3f}); wrote it anyway (--keep fitted)"
            )
        warnings.append(warning)

    if best_fitted.result is None:
        raise ValueError("a fitted candidate carries its FitResult")
    result = best_fitted.result
    training.update(
        {
            "normalize": kept.normalize,
            "normalize_chosen_by": "validation" if config.normalize == "auto" else "--normalize",
            "metric": kept.metric,
            "kept": kept.name,
            "warning": warning,
            "mined_negatives": int(result.mined.size),
            "aligned_shifts": (result.positives - starts[positive]).tolist(),
            "cutoff_cosine": result.cutoff,
            "cutoff_training_cosine": best_fitted.training_cutoff,
            "cutoff_chosen_on": (
                "training"
                if not stretches
                else "training, kept by cross-validation"
                if result.cutoff == best_fitted.training_cutoff
                else "cross-validation"
            ),
            "loss": [result.losses[0][0], result.losses[-1][1]] if result.losses else None,
            "candidates": [candidate.row() for candidate in candidates],
        }
    )

    def summary(candidate: Candidate) -> dict:
        judged_scores = candidate.held_out if candidate.held_out is not None else candidate.cross_validation
        if judged_scores is None:
            raise ValueError("every candidate is judged on held-out data or cross-validated")
        return {
            "normalize": candidate.normalize,
            "metric": candidate.metric,
            "p": candidate.kernel.p,
            "threshold": candidate.kernel.threshold,
            **judged_scores,
        }

    training["evaluation"] = {
        "on": on,
        "source": judged[1] if judged is not None else f"{recording.source} rows 0-{cut - 1}",
        "positives": int(judged[3].size) if judged is not None else int(np.sum(positive)),
        "tolerance": tolerance,
        "starting_point": summary(best_start),
        "fitted": summary(best_fitted),
    }
    kernel = replace(kept.kernel, training=training)
    return FitOutcome(kernel, training, warnings)
