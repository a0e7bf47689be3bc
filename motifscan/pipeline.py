"""The data flow: signal blocks -> scanner -> detector -> motifs.

Every stage works block by block and carries across a block boundary only what it needs:
the scanner the last ``span - 1`` samples of each channel (and of the time column), the
detector the candidates of a cluster that may still grow. Memory is bounded by the block
size and the results do not depend on where the blocks were cut.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from motifscan.config import DetectConfig
from motifscan.detection import ChannelDetector, RelativeChannelDetector, ScanLabel
from motifscan.motif import Motif, TopMotifs, sort_motifs
from motifscan.errors import MotifscanError
from motifscan.signal import SignalSource
from motifscan.scan_plan import REFERENCE_POSITIONS, RunSummary, ScoreBlock, plan_scans
from motifscan.scanning import StreamScanner, watched_blocks


@dataclass
class Undecided:
    """What a held run (``--state``) leaves undecided, for the next run to go on from.

    Attributes
    ----------
    detectors : list of (str, dict, list)
        Per detector of the run, in the run's order: its channel, its open candidates
        (column arrays, see :meth:`motifscan.detection.ChannelDetector.undecided`) and the
        ``(position, end of reach)`` of accepted candidates that still reach into them.
    noise_floor : list of [list of str, int, float] or None
        ``--noise-floor auto`` once decided: [channels, kernel length, floor] per scan
        batch, and the channel weights as a fourth item for a weighted joint kernel; None
        while the scanner still waits for the samples it is estimated from.
    thresholds : dict or None
        ``--threshold mad:K`` or ``fa:RATE`` once decided: score track label -> threshold,
        reused as they are by every later run; None while the scanner still waits for the
        reference stretch (or with a fixed threshold).
    """

    detectors: list
    noise_floor: list | None = None
    thresholds: dict | None = None
    #: Where it was kept (named in messages): the --state file.
    origin: str = "--state"

    @property
    def candidates(self) -> int:
        """How many candidates wait for later samples."""
        return sum(int(columns["position"].size) for _, columns, _ in self.detectors)

    @classmethod
    def taken_from(cls, scanner: StreamScanner, detectors: list, thresholds: dict | None = None) -> "Undecided":
        floor = scanner.noise_floor
        return cls(
            [(detector.channel, *detector.undecided()) for detector in detectors],
            None
            if floor is None
            else [
                [list(channels), taps, float(value), *([list(weights)] if weights else [])]
                for (channels, taps, weights), value in floor.items()
            ],
            dict(thresholds) if thresholds else None,
        )

    def restore(self, scanner: StreamScanner, detectors: list, source_name: str) -> None:
        """Hand the carried state to a new run's scanner and detectors."""
        if not any(columns["position"].size or taken for _, columns, taken in self.detectors):
            self.detectors = [(detector.channel, *detector.undecided()) for detector in detectors]
        if [channel for channel, _, _ in self.detectors] != [detector.channel for detector in detectors] or any(
            columns["scan"].size and int(columns["scan"].max()) >= len(detector.labels)
            for detector, (_, columns, _) in zip(detectors, self.detectors)
        ):
            raise MotifscanError(
                f"--state: {self.origin}: the undecided candidates kept for {source_name} do "
                f"not match its channels and kernels; use a new state file"
            )
        for detector, (_, columns, taken) in zip(detectors, self.detectors):
            detector.resume(columns, taken)
        if self.noise_floor is not None and scanner.config.noise_floor == "auto":
            scanner.noise_floor = {
                (tuple(entry[0]), int(entry[1]), tuple(float(w) for w in entry[3]) if len(entry) > 3 else ()): float(
                    entry[2]
                )
                for entry in self.noise_floor
            }


#: Rows of the time column that the sampling step of a ``--min-gap`` time is taken from.
STEP_ROWS = 1001


def time_step(times: np.ndarray) -> float | None:
    """The sampling step of a time column in seconds: the median of the differences of
    consecutive ``times`` (float64 seconds, or ``datetime64``), ignoring missing ones;
    None when fewer than two times are given."""
    if times.shape[0] < 2:
        return None
    if np.issubdtype(times.dtype, np.datetime64):
        differences = np.diff(times.astype("datetime64[ns]"))
        steps = differences.astype(np.int64) / 1e9
        steps[np.isnat(differences)] = np.nan
    else:
        steps = np.diff(times.astype(np.float64))
    steps = steps[np.isfinite(steps)]
    return float(np.median(steps)) if steps.size else None


def sampling_step(blocks: Iterator[ScoreBlock], config: DetectConfig, source) -> tuple[float | None, Iterator]:
    """The sampling step (seconds) that converts a ``min_gap`` given as a time, and the
    blocks to go on with.

    The step is :func:`time_step` of the times of the first :data:`STEP_ROWS` positions
    (fewer when the signal is shorter), so it does not depend on the block size; the blocks
    read to find it are held (at most ``STEP_ROWS`` positions) and come first in the
    returned iterator. Returns ``(None, blocks)`` when ``min_gap`` is not a time.
    """
    gap = config.parsed_min_gap
    if not gap.is_time:
        return None, blocks
    if source.time_column is None:
        raise MotifscanError(
            f"min_gap {gap.text}: a time needs a time column, and {source.name} has "
            "none; give samples or a fraction of the span (0.25span)",
            ("min_gap",),
        )
    held, times, count = [], [], 0
    for block in blocks:
        held.append(block)
        if block.time is None:  # the source has a time column, so every block has times
            raise ValueError(f"{source.name}: a block without the time column")
        times.append(block.time[: STEP_ROWS - count])
        count += times[-1].shape[0]
        if count >= STEP_ROWS:
            break
    step = time_step(np.concatenate(times)) if times else None
    if count >= 2 and (step is None or not step > 0):
        raise MotifscanError(
            f"min_gap {gap.text}: the time column {source.time_column!r} of {source.name} "
            "does not increase, so a time cannot be converted to samples",
            ("min_gap",),
        )
    return step, itertools.chain(held, blocks)


def gap_samples(config: DetectConfig, span_: int, step: float | None) -> int:
    """``config.min_gap`` in samples for windows of ``span_``; a time with no step (a signal
    of at most one position) is one sample: there is nothing to keep apart."""
    if config.parsed_min_gap.is_time and step is None:
        return 1
    return config.parsed_min_gap.samples_for(span_, step)


def channel_detectors(channels, config: DetectConfig, method: str, step: float | None = None) -> list[ChannelDetector]:
    """One streaming detector per channel for ``method`` (``"cosine"`` or ``"conv"``), for
    a run of one kernel at one dilation (see :meth:`Detection._detectors` for the rest).
    ``step`` is the sampling step that converts a ``min_gap`` given as a time (see
    :func:`sampling_step`)."""
    if len(config.kernels) > 1 or len(config.dilations) > 1 or config.joint:
        raise MotifscanError("comparing with the convolution works with one kernel at one dilation")
    gap = gap_samples(config, config.span, step)
    if method == "conv":
        return [RelativeChannelDetector(name, config.span, config.threshold, config.sign, gap) for name in channels]
    return [ChannelDetector(name, config.span, config.threshold, config.sign, gap) for name in channels]


def ranked_by(method: str) -> str:
    """The motif field a method thresholds and ranks on."""
    return "activation" if method == "conv" else "score"


class Detection:
    """One detection run over a signal source.

    Iterating yields motifs as soon as they are final (no later sample can change them),
    each batch in signal order; with ``config.top`` or ``method="conv"`` (whose threshold
    depends on the strongest activation of the whole signal) they all come at the end.
    After the iteration, :attr:`summary` describes the run (for ``conv``, with each
    channel's strongest |activation|).

    ``watch``, when given, sees every signal block and score block as the run goes (see
    :func:`watched_blocks`), e.g. a :class:`motifscan.envelope.RunRecorder` for a figure.

    ``hold=True`` stops at the end of the source as if more were to come (``--state``): the
    motifs that later samples could still change are not reported, and after the iteration
    :attr:`undecided` holds what a later run needs to decide them; ``undecided`` given to
    the constructor is what an earlier run left (its :attr:`undecided`), with ``first_row``
    the global index of the first row of that run's tail. The motifs of a run over the
    whole signal are then exactly those of the held runs over its pieces, in order.
    """

    def __init__(
        self,
        source: SignalSource,
        config: DetectConfig,
        watch=None,
        first_row: int = 0,
        undecided: Undecided | None = None,
        hold: bool = False,
    ):
        self.source = source
        self.config = config
        self.watch = watch
        self.first_row = first_row  # global index of the source's first sample
        self.hold = hold
        self.undecided = undecided
        self.summary = RunSummary.of(source)
        self.summary.adaptive_threshold = config.adaptive_threshold_text
        scans = plan_scans(list(source.channels), config, source.name)
        self.channel_order = list(dict.fromkeys(scan.channel for scan in scans))
        self.channel_rank = {name: i for i, name in enumerate(self.channel_order)}
        self.kernel_order = [kernel.name for kernel in config.kernels]
        self.kernel_rank = {name: i for i, name in enumerate(self.kernel_order)}

    def _detectors(self, scans, step: float | None = None) -> list:
        """(detector, track labels) pairs: one detector per channel, or per channel and
        kernel with ``overlap="keep"``; the dilations of a kernel always compete. Each
        track's gap is ``min_gap`` for its own span (``step``: see :func:`sampling_step`)."""
        config = self.config
        if config.method == "conv":
            return [
                (detector, [detector.channel])
                for detector in channel_detectors(self.source.channels, config, "conv", step)
            ]
        label_kernels = len(config.kernels) > 1
        label_dilations = len(config.dilations) > 1
        groups: dict = {}
        for scan in scans:
            key = (scan.channel,) if config.overlap == "best" else (scan.channel, scan.kernel)
            groups.setdefault(key, []).append(scan)
        detectors = []
        for key, members in groups.items():
            labels = [
                ScanLabel(
                    scan.span,
                    config.kernels[scan.kernel].name if label_kernels else None,
                    scan.dilation if label_dilations else None,
                    gap_samples(config, scan.span, step),
                )
                for scan in members
            ]
            detector = ChannelDetector(
                key[0], members[0].span, config.threshold, config.sign, None, labels=labels, members=members[0].channels
            )
            detectors.append((detector, [scan.label for scan in members]))
        return detectors

    def __iter__(self) -> Iterator[Motif]:
        config = self.config
        scanner = StreamScanner(
            self.source.channels,
            config,
            getattr(self.source, "rows_hint", None),
            config.method == "conv",
            self.first_row,
            self.source.name,
            candidates_above=self._fused_threshold(),
        )
        blocks = watched_blocks(
            self.source,
            config,
            self.summary,
            self.watch,
            first_row=self.first_row,
            scanner=scanner,
            final=not self.hold,
        )
        step, blocks = sampling_step(blocks, config, self.source)
        detectors = self._detectors(scanner.scans, step)
        decided = False
        if self.undecided is not None:
            self.undecided.restore(scanner, [detector for detector, _ in detectors], self.source.name)
            if config.adaptive_threshold and self.undecided.thresholds is not None:
                self._set_thresholds(self.undecided.thresholds, detectors, self.undecided.origin)
                scanner.reference_rows = 0
                decided = True
        top = (
            None
            if config.top is None
            else TopMotifs(config.top, self.channel_order, ranked_by(config.method), self.kernel_order)
        )

        def release(motifs: list[Motif]) -> list[Motif]:
            filler = self.summary.filler
            if filler is not None:  # every row of a final motif's window has been released
                motifs = [replace(motif, filled=filler.holds_filled(motif.start, motif.end)) for motif in motifs]
            if top is not None:
                top.add(motifs)
                return []
            self.summary.motifs += len(motifs)
            return sort_motifs(motifs, self.channel_rank, self.kernel_rank)

        if config.adaptive_threshold and not decided:
            blocks = self._reference_thresholds(blocks, detectors)
        for block in blocks:
            found = []
            for detector, labels in detectors:
                if len(labels) == 1:  # (the conv detector holds its motifs in push)
                    found += push_block(detector, block, labels[0])
                else:
                    found += detector.push_scans(
                        block.first_position, [block.tracks[label] for label in labels], block.time
                    )
            yield from release(found)
        if self.hold:
            yield from release([motif for detector, _ in detectors for motif in detector.settle()])
            self.undecided = Undecided.taken_from(
                scanner, [detector for detector, _ in detectors], self.summary.thresholds
            )
            self.summary.undecided = self.undecided.candidates
            self.summary.suppressed_peaks = sum(detector.suppressed_peaks for detector, _ in detectors)
            return
        yield from release([motif for detector, _ in detectors for motif in detector.finish()])
        self.summary.suppressed_peaks = sum(detector.suppressed_peaks for detector, _ in detectors)
        for detector, _ in detectors:
            if isinstance(detector, RelativeChannelDetector):
                self.summary.strongest_activation[detector.channel] = detector.strongest
        if top is not None:
            best = top.motifs()
            self.summary.motifs = len(best)
            yield from best

    def _fused_threshold(self) -> float | None:
        """The threshold the plain scans may test candidates against while they scan (the
        fused scan, docs/method.md "Fused detection"): when the run only detects on the
        cosine score with one fixed threshold (not mad:K or fa:RATE, which read the
        scores) and nobody watches its score tracks; else None (full tracks). The scans
        of channels with weights or a minimum count (the gap-aware joint scan) keep full
        tracks."""
        config = self.config
        if config.method != "cosine" or config.adaptive_threshold or self.watch is not None:
            return None
        if config.metric is not None:
            return None
        if config.joint and (config.min_channels is not None or any(kernel.weights for kernel in config.kernels)):
            return None
        return float(config.threshold)

    def _reference_thresholds(self, blocks: Iterator[ScoreBlock], detectors: list) -> Iterator[ScoreBlock]:
        """Hold the score blocks back until the first :data:`REFERENCE_POSITIONS`
        positions (or the whole signal, when shorter) are scored, set every track's
        threshold from its scores there (:func:`reference_thresholds`), then let all blocks
        through (see docs/method.md, "Noise-adaptive threshold"). A held run (--state)
        that ends before the stretch is complete decides nothing: its scanner carries the
        stretch's samples to the next run."""
        held: list[ScoreBlock] = []
        seen = 0
        decided = False
        for block in blocks:
            if decided:
                yield block
                continue
            held.append(block)
            seen += block.positions
            if seen >= REFERENCE_POSITIONS:
                self._decide_thresholds(held, detectors)
                decided = True
                yield from held
                held = []
        if not decided and self.hold and held:  # the scanner holds the stretch's samples
            raise ValueError("a held run scored part of the reference stretch")
        if not decided and not self.hold:
            self._decide_thresholds(held, detectors)
        yield from held

    def _decide_thresholds(self, held: list, detectors: list) -> None:
        labels = [label for _, track_labels in detectors for label in track_labels]
        self._set_thresholds(reference_thresholds(held, labels, self.config, self.source.name), detectors)

    def _set_thresholds(self, thresholds: dict, detectors: list, origin: str = "--state") -> None:
        """Give each detector its tracks' thresholds (``origin``: where kept thresholds came
        from, named when one is missing)."""
        missing = [label for _, labels in detectors for label in labels if label not in thresholds]
        if missing:
            raise MotifscanError(
                f"--state: {origin}: the thresholds kept for {self.source.name} lack the score "
                f"track {missing[0]!r}; use a new state file"
            )
        for detector, labels in detectors:
            detector.thresholds = [thresholds[label] for label in labels]
        self.summary.thresholds = {label: thresholds[label] for _, labels in detectors for label in labels}


#: Windows of the reference stretch that ``--threshold fa:RATE`` needs at or above its
#: threshold: fewer, and the rate is not estimable (the empirical quantile of 10 windows
#: is within about a third of the true rate for independent windows).
FA_MIN_WINDOWS = 10


def reference_thresholds(held: list, labels: list, config: DetectConfig, source_name: str) -> dict:
    """The noise-adaptive threshold of each score track ``labels`` from the score blocks
    ``held`` (consecutive, from the start of the signal): :func:`mad_threshold` or
    :func:`fa_threshold` of its first :data:`REFERENCE_POSITIONS` scores.

    ``fa:RATE`` is per hour when the blocks have times (the sampling step is the median
    step of the stretch's times, :func:`time_step`), else per million windows. Raises
    :class:`MotifscanError` when the stretch is too short for the rate (fewer than
    :data:`FA_MIN_WINDOWS` windows would reach the threshold).
    """

    def stretch(label) -> np.ndarray:
        scores = [block.tracks[label].score for block in held]
        return np.concatenate(scores)[:REFERENCE_POSITIONS] if scores else np.empty(0)

    if config.threshold_mad is not None:
        return {label: mad_threshold(stretch(label), config.threshold_mad) for label in labels}
    rate = config.threshold_fa
    if rate is None:
        raise ValueError("a noise-adaptive threshold needs mad:K or fa:RATE")
    times = [block.time for block in held if block.time is not None]
    if times:
        step = time_step(np.concatenate(times)[:REFERENCE_POSITIONS])
        if step is None or not step > 0:
            raise MotifscanError(
                f"threshold fa:{rate:g}: the time column of {source_name} does not increase, so a "
                "rate per hour cannot be converted to windows",
                ("threshold",),
            )
        per_window, unit, windows_per_unit = rate * step / 3600.0, "per hour", 3600.0 / step
    else:
        per_window, unit, windows_per_unit = rate / 1e6, "per million windows", 1e6
    thresholds = {}
    for label in labels:
        scores = stretch(label)
        finite = int(np.count_nonzero(np.isfinite(scores)))
        if finite and per_window * finite * (1 + 1e-9) < FA_MIN_WINDOWS:  # (see fa_threshold)
            lowest = FA_MIN_WINDOWS / finite * windows_per_unit
            raise MotifscanError(
                f"threshold fa:{rate:g}: {source_name}: the reference stretch of {label} has "
                f"{finite} scored windows, too few to estimate {rate:g} false alarms {unit} "
                f"(at least {FA_MIN_WINDOWS} of them must reach the threshold): ask for "
                f"fa:{lowest:.3g} or more, or use mad:K",
                ("threshold",),
            )
        thresholds[label] = fa_threshold(scores, per_window)
    return thresholds


def fa_threshold(scores: np.ndarray, rate: float) -> float:
    """The smallest threshold that at most ``floor(rate * n)`` of the ``n`` finite
    ``scores`` reach: just above the ``(n - floor(rate * n))``-th smallest ``|score|``
    (exactly that many reach it unless values tie); 1.0 when none is finite.

    Parameters
    ----------
    scores : float64 array, shape (n,)
        A score track's reference stretch; NaN (unscored windows) ignored.
    rate : float
        False alarms per window, > 0: the windows of the stretch allowed at or above the
        threshold, as a share.
    """
    strength = np.sort(np.abs(scores[np.isfinite(scores)]))
    if strength.size == 0:
        return 1.0
    # (1 + 1e-9): a share that is a whole number of windows in exact arithmetic (720 per hour
    # at 100 Hz, 200 of 100 000) must not lose one to the round-off of a time step.
    allowed = min(int(np.floor(rate * strength.size * (1 + 1e-9))), strength.size)
    if allowed == strength.size:
        return 0.0
    return float(np.nextafter(strength[strength.size - allowed - 1], np.inf))


def mad_threshold(scores: np.ndarray, factor: float) -> float:
    """``factor`` times the median absolute deviation of the finite ``scores``
    (``median(abs(s - median(s)))``); 1.0 (nothing but exact matches) when none is finite.

    Parameters
    ----------
    scores : float64 array, shape (n,)
        A score track's reference stretch; NaN (unscored windows) ignored.
    factor : float
        K > 0.
    """
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return 1.0
    deviation = float(np.median(np.abs(finite - np.median(finite))))
    return min(1.0, factor * deviation)


def push_block(detector: ChannelDetector, block: ScoreBlock, label: str | None = None) -> list[Motif]:
    """Feed one channel's part of ``block`` to its detector: the score track ``label``
    (default: the one named after the channel) and the channel's activation."""
    name = detector.channel
    activation = None if block.activations is None else block.activations[name]
    return detector.push(block.first_position, block.tracks[name if label is None else label], block.time, activation)


def detect_all(source: SignalSource, config: DetectConfig) -> tuple[list[Motif], RunSummary]:
    """Run a whole detection and return every motif in signal order, with the summary."""
    run = Detection(source, config)
    motifs = sort_motifs(list(run), run.channel_rank, run.kernel_rank)
    return motifs, run.summary
