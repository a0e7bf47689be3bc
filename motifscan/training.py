"""``motifscan fit``: read a signal and its labels, fit, and judge the fit on held-out labels.

The glue between the files and :mod:`motifscan.fitting`; the command line builds a
:class:`FitConfig` and calls :func:`run_fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motifscan.config import DEFAULT_THRESHOLD, DetectConfig, _check_integer, _check_number
from motifscan.errors import MotifscanError
from motifscan.choices import METRICS, check_choice
from motifscan.fitting import DEFAULT_MARGIN, DEFAULT_MINED, fit_kernel, match_detections
from motifscan.io.kernels import FittedKernel
from motifscan.io.labels import Label, parse_positions, read_labels, resolve_position


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
    metric : {"none", "diagonal", "full"}
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
    metric: str = "none"
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
            object.__setattr__(self, "length", _check_integer("--length", self.length, minimum=2))
        check_choice("metric", self.metric, METRICS)
        margin = _check_number("--margin", self.margin, minimum=0, inclusive=False)
        if margin > 2:
            raise MotifscanError(f"--margin must be at most 2 (cosine distances lie in [0, 2]), got {self.margin}")
        object.__setattr__(self, "margin", margin)
        object.__setattr__(self, "mine", _check_integer("--mine", self.mine, minimum=0))
        if self.split is not None:
            split = _check_number("--split", self.split, minimum=0, inclusive=False)
            if split >= 1:
                raise MotifscanError(f"--split must lie between 0 and 1 (the training share), got {self.split}")
            object.__setattr__(self, "split", split)
        if (self.validate is None) != (self.validate_labels is None):
            raise MotifscanError("--validate FILE and --validate-labels FILE go together")
        if self.validate is not None and self.split is not None:
            raise MotifscanError("give either --split or --validate, not both")


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

    source = read_signal(path, columns=[channel] if channel else None, time_column=config.time_column,
                         delimiter=config.delimiter, header=config.header)
    if len(source.channels) != 1:
        raise MotifscanError(
            f"{source.name}: {len(source.channels)} channels ({', '.join(source.channels)}); "
            "choose the one to learn from with --column"
        )
    name = source.channels[0]
    values, times = [], []
    for block in source:
        values.append(block.channels[name])
        if block.time is not None:
            times.append(block.time)
    values = np.concatenate(values) if values else np.zeros(0)
    return Recording(source.name, name, values, np.concatenate(times) if times else None)


def _windows(labels: list[Label], recording: Recording, length: int | None):
    """Resolve labels to (starts, is_positive, length)."""
    n = recording.values.size
    starts = np.array([resolve_position(label.start, recording.time, n, label.where) for label in labels])
    ends = [None if label.end is None else resolve_position(label.end, recording.time, n + 1, label.where)
            for label in labels]
    if length is None:
        spans = {end - start for start, end in zip(starts, ends) if end is not None}
        if len(spans) != 1 or None in ends:
            raise MotifscanError("--length is required unless every label has an end and all have the same length")
        length = int(spans.pop())
        if length < 2:
            raise MotifscanError(f"labelled windows must be at least 2 samples long, got {length}")
    for label, start in zip(labels, starts):
        if start + length > n:
            raise MotifscanError(f"{label.where}: the window at row {start} runs past the end of the signal (row {n - 1})")
    return starts, np.array([label.positive for label in labels], dtype=bool), length


def _detect(values: np.ndarray, kernel, p: float, threshold: float, metric) -> tuple[np.ndarray, np.ndarray]:
    from motifscan.io.signals import signal_from_arrays
    from motifscan.pipeline import detect_all

    config = DetectConfig(kernel=tuple(kernel), p=p, threshold=threshold,
                          metric=None if metric is None else np.asarray(metric).tolist())
    motifs, _ = detect_all(signal_from_arrays({"signal": values}), config)
    return np.array([m.start for m in motifs], dtype=np.int64), np.array([abs(m.score) for m in motifs])


@dataclass
class FitOutcome:
    """The fitted kernel (to write) and the report (to show)."""

    kernel: FittedKernel
    report: dict


def run_fit(config: FitConfig) -> FitOutcome:
    """Read, fit, judge. See ``docs/fitting.md``."""
    recording = read_recording(config.file, config, config.column)
    if config.labels is not None:
        labels = read_labels(config.labels)
    else:
        labels = parse_positions(config.positives, "--positives", True)
        if config.negatives is not None:
            labels += parse_positions(config.negatives, "--negatives", False)
    starts, positive, length = _windows(labels, recording, config.length)

    n = recording.values.size
    cut = n
    judged = None
    if config.split is not None:
        cut = int(round(config.split * n))
        straddling = (starts < cut) & (starts + length > cut)
        if np.any(straddling):
            where = labels[int(np.flatnonzero(straddling)[0])].where
            raise MotifscanError(f"{where}: the window at row {starts[straddling][0]} straddles the split at row {cut}")
        held = starts >= cut
        judged = ("held-out", f"{recording.source} rows {cut}-{n - 1}", recording.values[cut:],
                  starts[held & positive] - cut)
        starts, positive = starts[~held], positive[~held]
    elif config.validate is not None:
        held_out = read_recording(config.validate, config, recording.channel)
        held_labels = read_labels(config.validate_labels)
        held_starts, held_positive, _ = _windows(held_labels, held_out, length)
        judged = ("held-out", held_out.source, held_out.values, held_starts[held_positive])
    if not np.any(positive):
        raise MotifscanError(f"no positive example to learn from in {recording.source} rows 0-{cut - 1}")
    if judged is not None and judged[3].size == 0:
        raise MotifscanError(f"the held-out labels ({judged[1]}) hold no positive to judge the fit on")
    if judged is None:
        judged = ("training", f"{recording.source} rows 0-{cut - 1}", recording.values[:cut], starts[positive])

    result = fit_kernel(recording.values[:cut], starts[positive], starts[~positive], length,
                        metric=config.metric, margin=config.margin, mined=config.mine)
    tolerance = length // 2
    evaluation = {"on": judged[0], "source": judged[1], "positives": int(judged[3].size),
                  "tolerance": tolerance}
    for name, (kernel, p, threshold, metric) in {
        "starting_point": (result.start_kernel, 1.0, DEFAULT_THRESHOLD, None),
        "fitted": (result.kernel, result.p, result.threshold, result.metric),
    }.items():
        found, strengths = _detect(judged[2], kernel, p, threshold, metric)
        evaluation[name] = {"p": p, "threshold": threshold, **match_detections(found, strengths, judged[3], tolerance)}

    training = {
        "source": recording.source,
        "channel": recording.channel,
        "rows": [0, cut - 1],
        "length": length,
        "positives": int(np.sum(positive)),
        "negatives": int(np.sum(~positive)),
        "mined_negatives": int(result.mined.size),
        "aligned_shifts": (result.positives - starts[positive]).tolist(),
        "metric": config.metric,
        "margin": config.margin,
        "cutoff_cosine": result.cutoff,
        "loss": [result.losses[0][0], result.losses[-1][1]] if result.losses else None,
        "evaluation": evaluation,
    }
    kernel = FittedKernel(result.kernel, result.p, result.threshold, "none", result.metric, training)
    return FitOutcome(kernel, training)
