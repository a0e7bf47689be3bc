"""The data flow: signal blocks -> scanner -> detector -> motifs.

Every stage works block by block and carries across a block boundary only what it needs:
the scanner the last ``span - 1`` samples of each channel (and of the time column), the
detector the candidates of a cluster that may still grow. Memory is bounded by the block
size and the results do not depend on where the blocks were cut.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from motifscan.config import DetectConfig
from motifscan.detection import ChannelDetector, Motif, RelativeChannelDetector, TopMotifs, sort_motifs
from motifscan.errors import SignalTooShort
from motifscan.io.signals import SignalBlock, SignalSource
from motifscan.similarity import sliding_cosine
from motifscan.similarity.activation import sliding_activation
from motifscan.similarity.metric import resolve_metric_backend, sliding_metric_cosine
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
    # channel -> strongest finite |activation|, when the run detected on the convolution
    strongest_activation: dict = field(default_factory=dict)
    # The last span - 1 samples, what a later run needs to go on where this one stopped.
    tail: SignalBlock | None = None


@dataclass
class ScoreBlock:
    """Scores of consecutive positions ``first_position ..`` for every channel."""

    first_position: int
    tracks: dict  # channel name -> ScoreTrack, each of shape (b,)
    time: np.ndarray | None  # time value at each window start, shape (b,)
    # channel name -> plain convolution, shape (b,); only when the run needs it (conv, compare)
    activations: dict | None = None

    @property
    def positions(self) -> int:
        return next(iter(self.tracks.values())).score.shape[0]


class StreamScanner:
    """Scans consecutive signal blocks, keeping the last ``span - 1`` samples between them.

    Parameters
    ----------
    channels : list of str
    config : DetectConfig
    rows_hint : int, optional
        Upper bound on the signal length, used to pick the device and backend once for the
        whole run.
    activation : bool
        Also compute the plain convolution of every window (``ScoreBlock.activations``).
    first_row : int, optional
        Global index of the first sample pushed (a run that goes on where another stopped).
    """

    def __init__(self, channels, config: DetectConfig, rows_hint: int | None = None,
                 activation: bool = False, first_row: int = 0):
        self.kernel = np.asarray(config.kernel)
        self.config = config
        self.metric = None if config.metric is None else np.asarray(config.metric)
        if self.metric is None:
            self.backend = resolve_device(config.device, config.backend, rows_hint, len(config.kernel))
        else:  # a learned metric is scanned on the CPU (the config refuses --device gpu)
            self.backend = resolve_metric_backend(config.backend, rows_hint, self.metric)
        self.activation = activation
        # --threads applies to the compiled backends, per calling thread (Numba's setting is
        # thread-local), so it is set again before every block.
        self._threads = config.threads if self.backend in ("numba", "fft") else None
        self._warm_up = None
        if self.backend in ("numba", "fft") and self.metric is None:
            # Importing Numba and loading the cached machine code takes a good part of a
            # second: do it in a thread while the reader parses the first block.
            self._warm_up = threading.Thread(target=self._warm, args=(config.span + 1,),
                                             name="motifscan-warm-up", daemon=True)
            self._warm_up.start()
        self._tail = {name: np.empty(0) for name in channels}
        self._tail_time: np.ndarray | None = None
        self._first_position = first_row  # global index of the first sample in the tail

    def _warm(self, samples: int) -> None:
        try:
            self._scan(np.zeros(samples))
        except Exception:  # the first real scan raises it again, in the caller's thread
            pass

    def ready(self) -> None:
        """Wait for the warm-up: before scanning, and before the run ends (a thread still
        inside the compiler at interpreter shutdown could crash it)."""
        if self._warm_up is not None:
            self._warm_up.join()
            self._warm_up = None

    def push(self, block: SignalBlock) -> ScoreBlock | None:
        """Scan ``block``; None while fewer than ``span`` samples have arrived."""
        self.ready()
        keep = self.config.span - 1
        buffers = {name: np.concatenate([self._tail[name], block.channels[name]]) for name in self._tail}
        time = None
        if block.time is not None:
            time = block.time if self._tail_time is None else np.concatenate([self._tail_time, block.time])
        length = next(iter(buffers.values())).shape[0]
        n_out = length - keep
        if n_out <= 0:
            self._tail, self._tail_time = buffers, time
            return None
        if self._threads is not None:
            from motifscan.similarity.cpu import use_threads

            use_threads(self._threads)
        tracks = {name: self._scan(values) for name, values in buffers.items()}
        activations = None
        if self.activation:
            # Direct sums, compiled unless the run is small enough for NumPy (never the FFT:
            # see sliding_activation).
            direct = "numpy" if self.backend == "numpy" else "numba"
            activations = {name: sliding_activation(values, self.kernel, self.config.dilation, direct)
                           for name, values in buffers.items()}
        result = ScoreBlock(self._first_position, tracks, None if time is None else time[:n_out], activations)
        # Copy, so the tail does not pin the whole block in memory.
        self._tail = {name: values[n_out:].copy() for name, values in buffers.items()}
        self._tail_time = None if time is None else time[n_out:].copy()
        self._first_position += n_out
        return result

    def tail(self) -> SignalBlock:
        """The samples kept for the next block (at most ``span - 1`` of each channel)."""
        return SignalBlock(dict(self._tail), self._tail_time)

    def _scan(self, values: np.ndarray):
        if self.metric is None:
            return sliding_cosine(values, self.kernel, self.config.p, self.config.dilation, self.backend)
        return sliding_metric_cosine(values, self.kernel, self.metric, self.config.p, self.config.dilation,
                                     self.backend)


_END = object()
#: How long a stopped run waits for the reader thread to finish the block it is parsing.
READ_AHEAD_JOIN_S = 5.0


def read_ahead(blocks: Iterable) -> Iterator:
    """Yield the items of ``blocks``, reading the next one in a thread while the caller works.

    Reading (pyarrow parsing CSV or Parquet) and scanning (compiled kernels) both release
    the GIL, so the next block is parsed while the previous one is scanned, and a run costs
    about the larger of the two instead of their sum. At most one block is read ahead, so
    memory stays bounded by the block size. An error raised by the reader is raised here,
    in order; when the caller stops early, the reader stops after its current block.
    Used for sources that end (``SignalSource.read_ahead``): a pipe, stdin or a followed
    file is read as data arrives, in the caller's thread, so no reader waits for input the
    run no longer wants.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce():
        try:
            for item in blocks:
                while not stop.is_set():
                    try:
                        handoff.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((_END, None))
        except BaseException as error:  # handed to the consumer, raised there
            handoff.put((_END, error))

    reader = threading.Thread(target=produce, name="motifscan-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        # Wait for the block being parsed: a thread still inside pyarrow when the
        # interpreter shuts down (after Ctrl-C, or `| head`) can crash it. Bounded, so that
        # a reader waiting for input can never hold up the exit.
        stop.set()
        reader.join(timeout=READ_AHEAD_JOIN_S)


def score_blocks(source: SignalSource, config: DetectConfig, summary: RunSummary,
                 activation: bool | None = None, first_row: int = 0) -> Iterator[ScoreBlock]:
    """Scan every block of ``source``, updating ``summary`` as blocks go by.

    ``activation`` asks for the plain convolution too; by default it is computed when
    ``config.method`` is ``"conv"``. ``first_row`` is the global index of the source's first
    sample. Raises :class:`~motifscan.errors.SignalTooShort` at the end when the signal is
    shorter than the kernel's span.
    """
    if activation is None:
        activation = config.method == "conv"
    scanner = StreamScanner(source.channels, config, getattr(source, "rows_hint", None), activation, first_row)
    summary.device = device_of(scanner.backend)
    try:
        yield from _score_all(source, config, summary, scanner)
    finally:
        scanner.ready()


def _score_all(source, config, summary, scanner) -> Iterator[ScoreBlock]:
    for block in (read_ahead(source) if getattr(source, "read_ahead", False) else source):
        summary.samples += block.rows
        scored = scanner.push(block)
        if scored is None:
            continue
        summary.positions += scored.positions
        for name, track in scored.tracks.items():
            skipped = int(np.count_nonzero(np.isnan(track.score)))
            summary.skipped_by_channel[name] = summary.skipped_by_channel.get(name, 0) + skipped
            summary.skipped_windows += skipped
        yield scored
    summary.tail = scanner.tail()
    if summary.samples < config.span:
        raise SignalTooShort(
            f"{source.name}: the kernel spans {config.span} samples but the signal has only "
            f"{summary.samples}"
        )


def channel_detectors(channels, config: DetectConfig, method: str) -> list[ChannelDetector]:
    """One streaming detector per channel for ``method`` (``"cosine"`` or ``"conv"``)."""
    if method == "conv":
        return [RelativeChannelDetector(name, config.span, config.threshold, config.sign, config.gap)
                for name in channels]
    return [ChannelDetector(name, config.span, config.threshold, config.sign, config.gap)
            for name in channels]


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
    """

    def __init__(self, source: SignalSource, config: DetectConfig, watch=None, first_row: int = 0):
        self.source = source
        self.config = config
        self.watch = watch
        self.first_row = first_row  # global index of the source's first sample
        self.summary = RunSummary(source.name, list(source.channels), source.time_column)
        self.channel_rank = {name: i for i, name in enumerate(source.channels)}

    def __iter__(self) -> Iterator[Motif]:
        config = self.config
        detectors = channel_detectors(self.source.channels, config, config.method)
        top = None if config.top is None else TopMotifs(config.top, self.source.channels,
                                                         ranked_by(config.method))

        def release(motifs: list[Motif]) -> list[Motif]:
            if top is not None:
                top.add(motifs)
                return []
            self.summary.motifs += len(motifs)
            return sort_motifs(motifs, self.channel_rank)

        for block in watched_blocks(self.source, config, self.summary, self.watch, first_row=self.first_row):
            found = []
            for detector in detectors:
                found += push_block(detector, block)
            yield from release(found)
        yield from release([motif for detector in detectors for motif in detector.finish()])
        for detector in detectors:
            if isinstance(detector, RelativeChannelDetector):
                self.summary.strongest_activation[detector.channel] = detector.strongest
        if top is not None:
            best = top.motifs()
            self.summary.motifs = len(best)
            yield from best


class _WatchedSource:
    """A signal source that shows each block to ``watch.signal_block`` as it is read."""

    def __init__(self, source: SignalSource, watch):
        self._source = source
        self._watch = watch

    def __getattr__(self, name):
        return getattr(self._source, name)

    def __iter__(self):
        for block in self._source:
            self._watch.signal_block(block)
            yield block


def watched_blocks(source: SignalSource, config: DetectConfig, summary: RunSummary, watch=None,
                   activation: bool | None = None, first_row: int = 0) -> Iterator[ScoreBlock]:
    """:func:`score_blocks`, showing every signal block to ``watch.signal_block`` and every
    score block to ``watch.score_block`` on the way (nothing when ``watch`` is None)."""
    if watch is None:
        yield from score_blocks(source, config, summary, activation, first_row)
        return
    for block in score_blocks(_WatchedSource(source, watch), config, summary, activation, first_row):
        watch.score_block(block)
        yield block


def push_block(detector: ChannelDetector, block: ScoreBlock) -> list[Motif]:
    """Feed one channel's part of ``block`` to its detector."""
    name = detector.channel
    activation = None if block.activations is None else block.activations[name]
    return detector.push(block.first_position, block.tracks[name], block.time, activation)


def detect_all(source: SignalSource, config: DetectConfig) -> tuple[list[Motif], RunSummary]:
    """Run a whole detection and return every motif in signal order, with the summary."""
    run = Detection(source, config)
    motifs = sort_motifs(list(run), run.channel_rank)
    return motifs, run.summary
