"""The data flow: signal blocks -> scanner -> detector -> motifs.

Every stage works block by block and carries across a block boundary only what it needs:
the scanner the last ``span - 1`` samples of each channel (and of the time column), the
detector the candidates of a cluster that may still grow. Memory is bounded by the block
size and the results do not depend on where the blocks were cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from motifscan.config import DetectConfig
from motifscan.detection import ChannelDetector, Motif, ScanLabel, TopMotifs, sort_motifs
from motifscan.errors import MotifscanError
from motifscan.io.signals import SignalBlock, SignalSource
from motifscan.similarity import sliding_cosine, span
from motifscan.similarity.multi import scan_kernels
from motifscan.similarity.device import device_of, resolve_device


@dataclass
class RunSummary:
    """What a finished run saw: filled in as the stream is consumed."""

    source: str
    channels: list
    time_column: str | None
    samples: int = 0
    positions: int = 0
    skipped_windows: int = 0
    motifs: int = 0
    device: str = "cpu"  # where the scan ran: "cpu" or "gpu"
    skipped_by_channel: dict = field(default_factory=dict)


@dataclass
class ScoreBlock:
    """Scores of consecutive positions ``first_position ..`` for every scan.

    ``tracks`` maps each :class:`Scan`'s label (the channel name, for a run of one kernel
    at one dilation) to its :class:`ScoreTrack`. At the end of a signal the tracks of
    shorter windows hold more positions than those of longer ones.
    """

    first_position: int
    tracks: dict  # scan label -> ScoreTrack, each of shape (b,) (b may differ at the end)
    time: np.ndarray | None  # time value at each window start, shape (max b,)

    @property
    def positions(self) -> int:
        return max(track.score.shape[0] for track in self.tracks.values())


@dataclass(frozen=True)
class Scan:
    """One score track of a run: one kernel at one dilation on one channel or joint group.

    Attributes
    ----------
    label : str
        Key of the track in :attr:`ScoreBlock.tracks` and prefix of its ``scores`` columns:
        the channel, then ``_<kernel>`` when the run has several kernels and ``_d<D>`` when
        it has several dilations.
    channel : str
        What motifs report as their channel: the channel name, or the joint group's names
        joined by ``+``.
    channels : tuple of str
        The signal channels read (one, or the joint group).
    kernel : int
        Index into ``config.kernels``.
    dilation, span : int
    """

    label: str
    channel: str
    channels: tuple
    kernel: int
    dilation: int
    span: int


def _joint_channels(kernel, channels: list, source_name: str) -> tuple:
    """The signal channels a joint kernel's rows belong to: by name, else by position."""
    known = [name for name in kernel.channels if name in channels]
    if len(known) == len(kernel.channels):
        return tuple(kernel.channels)
    if known:
        missing = next(name for name in kernel.channels if name not in channels)
        raise MotifscanError(f"--joint: kernel {kernel.name!r} has channel {missing!r}, which "
                             f"{source_name} does not have (channels: {', '.join(channels)})")
    if len(kernel.channels) != len(channels):
        raise MotifscanError(
            f"--joint: kernel {kernel.name!r} has {len(kernel.channels)} channels but {source_name} "
            f"has {len(channels)} ({', '.join(channels)}); pick {len(kernel.channels)} with --column"
        )
    return tuple(channels)


def plan_scans(channels: list, config: DetectConfig, source_name: str = "the signal") -> list[Scan]:
    """Every (channel or joint group) x kernel x dilation of a run, in output order."""
    several_kernels = len(config.kernels) > 1
    several_dilations = len(config.dilations) > 1
    groups = []
    if config.joint:
        for index, kernel in enumerate(config.kernels):
            groups.append((_joint_channels(kernel, channels, source_name), [index]))
    else:
        groups = [((name,), list(range(len(config.kernels)))) for name in channels]
    scans = []
    for group, kernel_indices in groups:
        channel = "+".join(group)
        for index in kernel_indices:
            kernel = config.kernels[index]
            for dilation in config.dilations:
                label = channel + (f"_{kernel.name}" if several_kernels else "") + (
                    f"_d{dilation}" if several_dilations else "")
                scans.append(Scan(label, channel, group, index, dilation, span(kernel.length, dilation)))
    return scans


class StreamScanner:
    """Scans consecutive signal blocks, keeping the last ``span - 1`` samples between them.

    Parameters
    ----------
    channels : list of str
    config : DetectConfig
    rows_hint : int, optional
        Upper bound on the signal length, used to pick the device and backend once for the
        whole run.
    source_name : str
        Named in messages.

    Several kernels of one length at one dilation on one channel (or joint group) are
    scanned in one batch that shares the window norms. Windows shorter than the longest
    are scored up to the end of the signal by :meth:`finish`.
    """

    def __init__(self, channels, config: DetectConfig, rows_hint: int | None = None,
                 source_name: str = "the signal"):
        self.config = config
        self.scans = plan_scans(list(channels), config, source_name)
        self.kernel = np.asarray(config.kernel)
        taps = max(kernel.length * len(kernel.values) for kernel in config.kernels) * len(config.kernels)
        self.backend = resolve_device(config.device, config.backend, rows_hint, taps)
        self.general = config.normalize != "none" or config.noise_floor != 0 or config.joint
        if self.backend == "cuda" and self.general:
            raise MotifscanError("--device gpu runs the plain scan only (no --normalize, --noise-floor "
                                 "or --joint); use --device cpu")
        batches: dict = {}
        for scan in self.scans:
            kernel = config.kernels[scan.kernel]
            batches.setdefault((scan.channels, scan.dilation, kernel.length), []).append(scan)
        self.batches = list(batches.items())
        used = {name for scan in self.scans for name in scan.channels}
        self._tail = {name: np.empty(0) for name in channels if name in used}
        self._tail_time: np.ndarray | None = None
        self._first_position = 0  # global index of the first sample in the tail
        self._seen = 0
        #: The noise floor of each channel group; None until ``--noise-floor auto`` has seen
        #: the samples it is estimated from.
        self.noise_floor = None if config.noise_floor == "auto" else {
            scan.channels: config.noise_floor for scan in self.scans}

    def _floor(self, channels: tuple) -> float:
        return self.noise_floor[channels]

    def _decide_noise_floor(self, buffers: dict) -> None:
        from motifscan.similarity.multi import AUTO_NOISE_SAMPLES, estimate_noise_floor

        floors = {}
        for (channels, _, taps), _ in self.batches:
            samples = np.stack([buffers[name][:AUTO_NOISE_SAMPLES] for name in channels])
            floors[channels] = estimate_noise_floor(samples, taps)
        self.noise_floor = floors

    def _score(self, buffers: dict, lengths) -> dict:
        """Score ``lengths[batch]`` positions of each batch from the start of ``buffers``."""
        config = self.config
        tracks = {}
        for ((channels, dilation, taps), scans), n_out in zip(self.batches, lengths):
            signal = np.stack([buffers[name][: n_out + span(taps, dilation) - 1] for name in channels])
            kernels = [config.kernels[scan.kernel] for scan in scans]
            if not self.general and (len(scans) == 1 or self.backend == "cuda"):
                found = [sliding_cosine(signal[0], kernel.array()[0], config.p, dilation, self.backend)
                         for kernel in kernels]
            else:
                found = scan_kernels(signal, np.stack([kernel.array() for kernel in kernels]), config.p,
                                     dilation, config.normalize, self._floor(channels), self.backend)
            tracks.update((scan.label, track) for scan, track in zip(scans, found))
        return tracks

    def push(self, block: SignalBlock) -> ScoreBlock | None:
        """Scan ``block``; None while fewer than ``span`` samples have arrived."""
        keep = self.config.span - 1
        buffers = {name: np.concatenate([self._tail[name], block.channels[name]]) for name in self._tail}
        time = None
        if block.time is not None:
            time = block.time if self._tail_time is None else np.concatenate([self._tail_time, block.time])
        length = next(iter(buffers.values())).shape[0]
        self._seen += block.rows
        if self.noise_floor is None:
            from motifscan.similarity.multi import AUTO_NOISE_SAMPLES

            if self._seen < AUTO_NOISE_SAMPLES:  # wait for the samples the floor is taken from
                self._tail, self._tail_time = buffers, time
                return None
            self._decide_noise_floor(buffers)
        n_out = length - keep
        if n_out <= 0:
            self._tail, self._tail_time = buffers, time
            return None
        tracks = self._score(buffers, [n_out] * len(self.batches))
        result = ScoreBlock(self._first_position, tracks, None if time is None else time[:n_out])
        # Copy, so the tail does not pin the whole block in memory.
        self._tail = {name: values[n_out:].copy() for name, values in buffers.items()}
        self._tail_time = None if time is None else time[n_out:].copy()
        self._first_position += n_out
        return result

    def finish(self) -> ScoreBlock | None:
        """Score the windows that fit in the last samples only because they are shorter than
        the longest window (several kernel lengths or dilations); None when there are none."""
        if self.noise_floor is None:
            self._decide_noise_floor(self._tail)
        length = next(iter(self._tail.values())).shape[0]
        lengths = [max(0, length - span(taps, dilation) + 1) for (_, dilation, taps), _ in self.batches]
        if max(lengths) == 0:
            return None
        tracks = self._score(self._tail, lengths)
        time = None if self._tail_time is None else self._tail_time[: max(lengths)]
        result = ScoreBlock(self._first_position, tracks, time)
        self._first_position += max(lengths)
        return result


def score_blocks(source: SignalSource, config: DetectConfig, summary: RunSummary,
                 scanner: StreamScanner | None = None) -> Iterator[ScoreBlock]:
    """Scan every block of ``source``, updating ``summary`` as blocks go by.

    Raises MotifscanError at the end when the signal is shorter than the shortest window.
    Skipped windows (NaN or inf inside) are counted once per channel and dilation.
    """
    if scanner is None:
        scanner = StreamScanner(source.channels, config, getattr(source, "rows_hint", None), source.name)
    summary.device = device_of(scanner.backend)
    counted = {}
    for scan in scanner.scans:  # one kernel per channel and dilation sees every window
        counted.setdefault((scan.channel, scan.dilation), scan)

    def account(scored: ScoreBlock) -> ScoreBlock:
        summary.positions += scored.positions
        for scan in counted.values():
            skipped = int(np.count_nonzero(np.isnan(scored.tracks[scan.label].score)))
            summary.skipped_by_channel[scan.channel] = summary.skipped_by_channel.get(scan.channel, 0) + skipped
            summary.skipped_windows += skipped
        return scored

    for block in source:
        summary.samples += block.rows
        scored = scanner.push(block)
        if scored is not None:
            yield account(scored)
    if summary.samples < config.shortest_span:
        raise MotifscanError(
            f"{source.name}: the kernel spans {config.shortest_span} samples but the signal has only "
            f"{summary.samples}"
        )
    scored = scanner.finish()
    if scored is not None:
        yield account(scored)


class Detection:
    """One detection run over a signal source.

    Iterating yields motifs as soon as they are final (no later sample can change them),
    each batch in signal order; with ``config.top`` they all come at the end. After the
    iteration, :attr:`summary` describes the run.
    """

    def __init__(self, source: SignalSource, config: DetectConfig):
        self.source = source
        self.config = config
        self.summary = RunSummary(source.name, list(source.channels), source.time_column)
        scans = plan_scans(list(source.channels), config, source.name)
        self.channel_order = list(dict.fromkeys(scan.channel for scan in scans))
        self.channel_rank = {name: i for i, name in enumerate(self.channel_order)}
        self.kernel_order = [kernel.name for kernel in config.kernels]
        self.kernel_rank = {name: i for i, name in enumerate(self.kernel_order)}

    def _detectors(self, scans) -> list:
        """(detector, track labels) pairs: one detector per channel, or per channel and
        kernel with ``overlap="keep"``; the dilations of a kernel always compete."""
        config = self.config
        label_kernels = len(config.kernels) > 1
        label_dilations = len(config.dilations) > 1
        groups: dict = {}
        for scan in scans:
            key = (scan.channel,) if config.overlap == "best" else (scan.channel, scan.kernel)
            groups.setdefault(key, []).append(scan)
        detectors = []
        for key, members in groups.items():
            labels = [ScanLabel(scan.span, config.kernels[scan.kernel].name if label_kernels else None,
                                scan.dilation if label_dilations else None) for scan in members]
            detector = ChannelDetector(key[0], members[0].span, config.threshold, config.sign,
                                       config.min_gap, labels)
            detectors.append((detector, [scan.label for scan in members]))
        return detectors

    def __iter__(self) -> Iterator[Motif]:
        config = self.config
        scanner = StreamScanner(self.source.channels, config, getattr(self.source, "rows_hint", None),
                                self.source.name)
        detectors = self._detectors(scanner.scans)
        top = None if config.top is None else TopMotifs(config.top, self.channel_order, self.kernel_order)

        def release(motifs: list[Motif]) -> list[Motif]:
            if top is not None:
                top.add(motifs)
                return []
            self.summary.motifs += len(motifs)
            return sort_motifs(motifs, self.channel_rank, self.kernel_rank)

        for block in score_blocks(self.source, config, self.summary, scanner):
            found = []
            for detector, labels in detectors:
                found += detector.push_scans(block.first_position, [block.tracks[label] for label in labels],
                                             block.time)
            yield from release(found)
        yield from release([motif for detector, _ in detectors for motif in detector.finish()])
        if top is not None:
            best = top.motifs()
            self.summary.motifs = len(best)
            yield from best


def detect_all(source: SignalSource, config: DetectConfig) -> tuple[list[Motif], RunSummary]:
    """Run a whole detection and return every motif in signal order, with the summary."""
    run = Detection(source, config)
    motifs = sort_motifs(list(run), run.channel_rank, run.kernel_rank)
    return motifs, run.summary
