"""The scanning half of the pipeline: the :class:`StreamScanner` that turns signal blocks
into score blocks, carrying the last span - 1 samples of each channel across block
boundaries, and :func:`score_blocks`, which feeds it a source and counts what the run saw
in its :class:`~motifscan.scan_plan.RunSummary`. Which score tracks a run computes is
decided in :mod:`motifscan.scan_plan`.

The detecting half, :mod:`motifscan.pipeline`, reads score blocks only.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator, cast

import numpy as np

from motifscan.config import DetectConfig
from motifscan.detection import ScanLabel
from motifscan.errors import SignalTooShort
from motifscan.signal import SignalBlock, SignalSource
from motifscan.similarity import (
    CandidateTrack,
    Track,
    join_candidates,
    sliding_candidates,
    sliding_cosine,
    span,
    track_length,
)
from motifscan.similarity.activation import sliding_activation
from motifscan.similarity.device import device_of
from motifscan.similarity.metric import sliding_metric_cosine
from motifscan.similarity.multi import scan_candidates, scan_kernels
from motifscan.warm_up import WarmUp, address_space_limit, load_here
from motifscan.scan_plan import (
    LARGE_OFFSET_COSINE,
    REFERENCE_POSITIONS,
    RunSummary,
    Scan,
    ScoreBlock,
    plan_scans,
    scan_backend,
)

if TYPE_CHECKING:  # imported where they are used, for the start-up time of plain runs
    from motifscan.similarity.gaps import GapDistanceTrack, GapScoreTrack


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
        Also compute the plain convolution of every window (``ScoreBlock.activations``;
        one kernel at one dilation only).
    first_row : int, optional
        Global index of the first sample pushed (a run that goes on where another stopped).
    source_name : str
        Named in messages.
    candidates_above : float, optional
        Detection's threshold on ``|score|`` when the run only detects (no score track is
        shown or written, one threshold for all): the scans then return the fused
        :class:`~motifscan.similarity.CandidateTrack` of
        :func:`~motifscan.similarity.sliding_candidates` (plain scans) or
        :func:`~motifscan.similarity.multi.scan_candidates` (batch scans) instead of full
        tracks.

    Several kernels of one length at one dilation on one channel (or joint group) are
    scanned in one batch that shares the window norms. Windows shorter than the longest
    are scored up to the end of the signal by :meth:`finish`.
    """

    def __init__(
        self,
        channels,
        config: DetectConfig,
        rows_hint: int | None = None,
        activation: bool = False,
        first_row: int = 0,
        source_name: str = "the signal",
        candidates_above: float | None = None,
    ):
        self.config = config
        self.candidates_above = candidates_above
        self.scans = plan_scans(list(channels), config, source_name)
        self.kernel = np.asarray(config.kernel)
        self.metric = None if config.metric is None else np.asarray(config.metric)
        self.backend = scan_backend(config, rows_hint)
        self.general = config.batch_scan
        self.activation = activation
        # --threads applies to the compiled backends, per calling thread (Numba's setting is
        # thread-local), so it is set again before every block.
        self._threads = config.threads if self.backend in ("numba", "fft") else None
        batches: dict = {}
        for scan in self.scans:
            kernel = config.kernels[scan.kernel]
            # Kernels of other channel weights weigh the window norm (and the noise floor
            # added to it) otherwise: they are scanned in batches of their own.
            batches.setdefault((scan.channels, scan.dilation, kernel.length, kernel.weights), []).append(scan)
        self.batches = [(key[:3], scans) for key, scans in batches.items()]
        used = {name for scan in self.scans for name in scan.channels}
        self._tail = {name: np.empty(0) for name in channels if name in used}
        self._warm_up: WarmUp | None = None
        warmed = (self.backend, self.candidates_above is not None) in _WARMED
        if self.backend in ("numba", "fft") and self.metric is None and not self.general and not warmed:
            if address_space_limit() is not None:
                # Under `ulimit -v`, here and now, before the reader takes its share of the
                # address space: the loading is what fails first (motifscan.warm_up).
                load_here()
            # Importing Numba and loading the cached machine code takes a good part of a
            # second: do it in a thread while the reader parses the first block.
            self._warm_up = WarmUp(self._warm)
        self._tail_time: np.ndarray | None = None
        self._first_position = first_row  # global index of the first sample in the tail
        self._seen = 0
        #: The noise floor of each (channel group, kernel length, channel weights); None until
        #: ``--noise-floor auto`` has seen the samples it is estimated from.
        self.noise_floor: dict[tuple[Any, int, tuple], float] | None = None
        if not isinstance(config.noise_floor, str):  # a number; the only text is "auto"
            noise_floor = config.noise_floor
            self.noise_floor = {self._floor_key(key, scans): noise_floor for key, scans in self.batches}
        #: Rows the first scan waits for: a noise-adaptive threshold's reference stretch
        #: (:data:`REFERENCE_POSITIONS` windows of the longest span). They are held as
        #: samples, so a held run (--state) that ends before them carries them all in its
        #: tail and the threshold is never estimated on a part of the stretch; 0 once the
        #: thresholds are known (kept by an earlier run).
        self.reference_rows = REFERENCE_POSITIONS + config.span - 1 if config.adaptive_threshold else 0

    def _waiting(self) -> bool:
        """Whether the first scan still waits for the samples a threshold or a noise floor
        is estimated from."""
        if self._seen < self.reference_rows:
            return True
        if self.noise_floor is None:
            from motifscan.similarity.multi import AUTO_NOISE_SAMPLES

            return self._seen < AUTO_NOISE_SAMPLES
        return False

    def _floor_key(self, batch: tuple, scans: list) -> tuple:
        """The noise floor's key of a batch: (channels, kernel length, channel weights), the
        weights ``()`` when every channel weighs 1."""
        channels, _, taps = batch
        return (channels, taps, tuple(self.config.kernels[scans[0].kernel].weights))

    def _decide_noise_floor(self, buffers: dict) -> None:
        from motifscan.similarity.multi import AUTO_NOISE_SAMPLES, estimate_noise_floor

        floors = {}
        for batch, scans in self.batches:
            key = self._floor_key(batch, scans)
            channels, taps, weights = key
            samples = np.stack([buffers[name][:AUTO_NOISE_SAMPLES] for name in channels])
            floors[key] = estimate_noise_floor(samples, taps, weights or None)
        self.noise_floor = floors

    def _score(self, buffers: dict, lengths) -> dict:
        """Score ``lengths[batch]`` positions of each batch from the start of ``buffers``."""
        config = self.config
        if self._threads is not None:
            from motifscan.similarity.cpu import use_threads

            use_threads(self._threads)
        noise_floor = self.noise_floor
        if noise_floor is None:
            raise ValueError("--noise-floor auto is decided before the first scan")
        tracks: dict[ScanLabel, Track | GapScoreTrack | GapDistanceTrack] = {}
        for ((channels, dilation, taps), scans), n_out in zip(self.batches, lengths):
            needed = n_out + span(taps, dilation) - 1
            kernels = [config.kernels[scan.kernel] for scan in scans]
            # The plain scan is the plain backends' (blocked direct, FFT or GPU), one kernel at
            # a time: their blocked sums beat sharing the norm when nothing else is shared.
            # It scans one channel, read in place. Centred, floored and joint scans take the
            # batch scan with shared window stats, on the group's channels stacked.
            if not self.general:
                (channel,) = channels
                found = [self._plain(buffers[channel][:needed], kernel.array()[0], dilation) for kernel in kernels]
            elif config.joint and (config.min_channels is not None or any(kernel.weights for kernel in kernels)):
                from motifscan.similarity.gaps import scan_joint

                # Channel weights and missing channels (docs/method.md): weighted sums over
                # the channels present.
                signal = np.stack([buffers[name][:needed] for name in channels])
                weights = [kernel.weights or (1.0,) * len(channels) for kernel in kernels]
                found = scan_joint(
                    signal,
                    np.stack([kernel.array() for kernel in kernels]),
                    weights,
                    config.p,
                    dilation,
                    config.normalize,
                    noise_floor[self._floor_key((channels, dilation, taps), scans)],
                    config.min_channels,
                    self.backend,
                )
            else:
                signal = np.stack([buffers[name][:needed] for name in channels])
                arguments = (
                    signal,
                    np.stack([kernel.array() for kernel in kernels]),
                    config.p,
                    dilation,
                    config.normalize,
                    noise_floor[self._floor_key((channels, dilation, taps), scans)],
                    self.backend,
                )
                if self.candidates_above is None:
                    found = scan_kernels(*arguments)
                else:
                    found = scan_candidates(*arguments, self.candidates_above, LARGE_OFFSET_COSINE)
            tracks.update((scan.label, track) for scan, track in zip(scans, found))
        return tracks

    def _plain(self, values: np.ndarray, kernel: np.ndarray, dilation: int):
        if self.metric is None and self.candidates_above is not None:
            return sliding_candidates(
                values, kernel, self.config.p, dilation, self.backend, self.candidates_above, LARGE_OFFSET_COSINE
            )
        if self.metric is None:
            return sliding_cosine(values, kernel, self.config.p, dilation, self.backend)
        return sliding_metric_cosine(values, kernel, self.metric, self.config.p, dilation, self.backend)

    def _activations(self, buffers: dict, n_out: int) -> dict | None:
        """The plain convolution of each channel (the config allows it for one kernel at one
        dilation only)."""
        if not self.activation:
            return None
        keep = self.config.span - 1
        # Direct sums, compiled unless the run is small enough for NumPy (never the FFT: see
        # sliding_activation).
        direct = "numpy" if self.backend == "numpy" else "numba"
        return {
            name: sliding_activation(values[: n_out + keep], self.kernel, self.config.dilations[0], direct)
            for name, values in buffers.items()
        }

    def tail(self) -> SignalBlock:
        """The samples kept for the next block (at most ``span - 1`` of each channel)."""
        return SignalBlock(dict(self._tail), self._tail_time)

    def _warm(self) -> None:
        for (channels, dilation, taps), scans in self.batches:
            kernel = self.config.kernels[scans[0].kernel].array()[0]
            self._plain(np.zeros(span(taps, dilation) + 1), kernel, dilation)
        _WARMED.add((self.backend, self.candidates_above is not None))

    def ready(self) -> None:
        """Wait for the warm-up before scanning: bounded, a signal handled while it waits,
        and its loading's failure raised here ("not enough memory ...", see
        :class:`motifscan.warm_up.WarmUp`)."""
        if self._warm_up is not None:
            warm_up, self._warm_up = self._warm_up, None
            try:
                warm_up.wait()
            except BaseException:
                self._warm_up = warm_up  # still running: settle() gives it a last moment
                raise

    def settle(self) -> None:
        """Before the run ends, whatever happened: give a warm-up still running a few
        seconds (a thread inside the compiler at interpreter shutdown could crash it), but
        never wait for ever."""
        if self._warm_up is not None:
            self._warm_up.settle()
            self._warm_up = None

    def push(self, block: SignalBlock) -> ScoreBlock | None:
        """Scan ``block``; None while fewer than ``span`` samples have arrived."""
        self.ready()
        keep = self.config.span - 1
        held = next(iter(self._tail.values())).shape[0]
        fused = self.candidates_above is not None and self.noise_floor is not None and self.reference_rows == 0
        # In place only where every window is computed from its own samples: the FFT's
        # round-off depends on the segments, which start where the scanned buffer starts,
        # so it scans the buffer a run on full tracks scans (docs/method.md, "Streaming").
        if fused and self.backend != "fft" and block.rows >= keep:
            if held + block.rows - keep > 0:
                self._seen += block.rows
                return self._push_in_place(block, held, keep)
        buffers = {name: np.concatenate([self._tail[name], block.channels[name]]) for name in self._tail}
        time = None
        if block.time is not None:
            time = block.time if self._tail_time is None else np.concatenate([self._tail_time, block.time])
        length = next(iter(buffers.values())).shape[0]
        self._seen += block.rows
        if self._waiting():  # wait for the samples a threshold or the floor is taken from
            self._tail, self._tail_time = buffers, time
            return None
        if self.noise_floor is None:
            self._decide_noise_floor(buffers)
        n_out = length - keep
        if n_out <= 0:
            self._tail, self._tail_time = buffers, time
            return None
        tracks = self._score(buffers, [n_out] * len(self.batches))
        result = ScoreBlock(
            self._first_position, tracks, None if time is None else time[:n_out], self._activations(buffers, n_out)
        )
        # Copy, so the tail does not pin the whole block in memory.
        self._tail = {name: values[n_out:].copy() for name, values in buffers.items()}
        self._tail_time = None if time is None else time[n_out:].copy()
        self._first_position += n_out
        return result

    def _push_in_place(self, block: SignalBlock, held: int, keep: int) -> ScoreBlock:
        """:meth:`push` for a fused run, without copying the block: the windows that start in
        the ``held`` samples of the tail are scanned on the tail and the block's first
        ``keep`` samples, the others on the block itself. A fused track has a few entries per
        block, so joining the two costs nothing, and every window is computed from its own
        samples alone, so the results are those of the joined buffer."""
        rows = block.rows
        lengths = len(self.batches)
        body = self._score(block.channels, [rows - keep] * lengths)
        tracks = body
        if held:
            head = self._score(
                {name: np.concatenate([tail, block.channels[name][:keep]]) for name, tail in self._tail.items()},
                [held] * lengths,
            )
            tracks = {label: join_candidates(head[label], track) for label, track in body.items()}
        time = None
        if block.time is not None:
            time = block.time[: rows - keep]
            if self._tail_time is not None:
                time = np.concatenate([self._tail_time, time])
        result = ScoreBlock(self._first_position, tracks, time)
        self._tail = {
            name: values[rows - keep :].copy() for name, values in block.channels.items() if name in self._tail
        }
        self._tail_time = None if block.time is None else block.time[rows - keep :].copy()
        self._first_position += held + rows - keep
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
        result = ScoreBlock(self._first_position, tracks, time, self._activations(self._tail, max(lengths)))
        self._first_position += max(lengths)
        return result


#: (backend, fused) of the plain scans already warmed up in this process: a later run (the
#: Python API called again and again) skips the warm-up thread, whose start and wait cost
#: 0.4 ms a call (measured: in-memory detect, n = 1e7, m = 3: 10.9 -> 10.5 ms).
_WARMED: set[tuple[str, bool]] = set()

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
    try:
        reader.start()
    except RuntimeError:  # "can't start new thread" (`ulimit -v`): read in this thread
        yield from blocks
        return
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


def score_blocks(
    source: SignalSource,
    config: DetectConfig,
    summary: RunSummary,
    activation: bool | None = None,
    first_row: int = 0,
    scanner: StreamScanner | None = None,
    final: bool = True,
) -> Iterator[ScoreBlock]:
    """Scan every block of ``source``, updating ``summary`` as blocks go by.

    ``activation`` asks for the plain convolution too; by default it is computed when
    ``config.method`` is ``"conv"``. ``first_row`` is the global index of the source's first
    sample. ``scanner`` is the run's :class:`StreamScanner` when the caller made it. Raises
    :class:`~motifscan.errors.SignalTooShort` at the end when the signal is shorter than the
    shortest window. Skipped windows (NaN or inf inside) are counted once per channel and
    dilation. ``final=False`` stops after the last block as if more were to come (no error,
    the shorter windows of the last samples not scored): the scanner's tail is where a later
    run goes on (``--state``).
    """
    if activation is None:
        activation = config.method == "conv"
    if scanner is None:
        scanner = StreamScanner(
            source.channels, config, getattr(source, "rows_hint", None), activation, first_row, source.name
        )
    summary.device = device_of(scanner.backend)
    counted: dict[tuple[str, int], Scan] = {}
    for scan in scanner.scans:  # one kernel per channel and dilation sees every window
        counted.setdefault((scan.channel, scan.dilation), scan)
    # A normalised scan compares shapes already: an offset cannot mislead it.
    watch_offset = config.normalize == "none"

    def account(scored: ScoreBlock) -> ScoreBlock:
        summary.positions += scored.positions
        for scan in counted.values():
            skipped = int(np.count_nonzero(np.isnan(scored.tracks[scan.label].score)))
            summary.skipped_by_channel[scan.channel] = summary.skipped_by_channel.get(scan.channel, 0) + skipped
            summary.skipped_windows += skipped
            present = getattr(scored.tracks[scan.label], "present", None)
            if present is not None:
                everything = (1 << len(scan.channels)) - 1
                summary.partial_windows += int(np.count_nonzero((present != 0) & (present != everything)))
        if watch_offset:
            for scan in scanner.scans:
                track = scored.tracks[scan.label]
                cosine = track.cosine
                # A fused track holds every window without a score and counts the unfinished
                # ones with a large |cosine| (sliding_candidates).
                unscored = int(np.count_nonzero(np.isnan(cosine)))
                near = int(np.count_nonzero(np.abs(cosine) > LARGE_OFFSET_COSINE))
                if isinstance(track, CandidateTrack):
                    near += track.near_unit_cosine
                summary.scored_windows += track_length(track) - unscored
                summary.near_unit_cosine_windows += near
        return scored

    if config.fill != "none":
        from motifscan.fill import GapFiller

        if config.max_gap is None:  # DetectConfig refuses a fill without it
            raise ValueError("a fill needs max_gap")
        summary.filler = GapFiller(config.fill, config.max_gap, first_row)
    try:
        yield from _score_all(source, config, summary, scanner, account, final)
    finally:
        scanner.settle()


#: Bytes of score tracks one pushed piece of a block may produce (score, cosine, scale and
#: the batch scans' dot products and distances, about 48 bytes per window and kernel): a
#: bank of 256 kernels is scanned 21 000 rows at a time, so memory stays bounded however
#: many kernels share a run. Cutting never changes a result (docs/architecture.md, "Definitions").
TRACK_BYTES = 256 << 20
#: Bytes per window and scanned kernel counted against :data:`TRACK_BYTES`.
_TRACK_BYTES_PER_WINDOW = 48


def rows_per_push(scanner: StreamScanner) -> int:
    """The most rows pushed to ``scanner`` at once: :data:`TRACK_BYTES` of tracks, and at
    least 16 of its longest spans (so the samples carried between pieces stay a small part).
    A fused run (``candidates_above``) keeps no track of every window: its scans' work
    memory per window does not grow with the kernels, so it counts one scan."""
    scans = 1 if scanner.candidates_above is not None else max(1, len(scanner.scans))
    rows = TRACK_BYTES // (_TRACK_BYTES_PER_WINDOW * scans)
    return max(rows, 16 * scanner.config.span)


def block_pieces(block: SignalBlock, rows: int) -> Iterator[SignalBlock]:
    """``block`` cut into consecutive pieces of at most ``rows`` rows (views, no copies)."""
    if block.rows <= rows:
        yield block
        return
    for start in range(0, block.rows, rows):
        stop = start + rows
        yield SignalBlock(
            {name: values[start:stop] for name, values in block.channels.items()},
            None if block.time is None else block.time[start:stop],
        )


def _score_all(source, config, summary, scanner, account, final=True) -> Iterator[ScoreBlock]:
    filler = summary.filler
    most = rows_per_push(scanner)
    for block in read_ahead(source) if getattr(source, "read_ahead", False) else source:
        summary.samples += block.rows
        if filler is not None:  # short gaps filled; rows of a gap still open are held back
            block = filler.push(block)
            summary.filled_samples = filler.filled_samples
        for piece in block_pieces(block, most):
            scored = scanner.push(piece)
            if scored is not None:
                yield account(scored)
    if filler is not None:
        rest = filler.finish()
        summary.filled_samples = filler.filled_samples
        for piece in [] if rest is None else block_pieces(rest, most):
            scored = scanner.push(piece)
            if scored is not None:
                yield account(scored)
        summary.filled_windows = windows_holding(filler.filled_runs, config.span, filler.first_row - config.span + 1)
    summary.tail = scanner.tail()
    if not final:
        return
    if summary.samples < config.shortest_span:
        raise SignalTooShort(
            f"{source.name}: the kernel spans {config.shortest_span} samples but the signal has only {summary.samples}"
        )
    scored = scanner.finish()
    if scored is not None:
        yield account(scored)


def windows_holding(runs: list, span: int, positions_end: int) -> int:
    """How many window starts ``i < positions_end`` have a window ``[i, i + span)`` that
    holds a row of ``runs`` (sorted, disjoint ``[start, stop)`` row ranges)."""
    count = 0
    reach = 0  # first start not counted yet
    for start, stop in runs:
        low = max(start - span + 1, reach, 0)
        high = min(stop, positions_end)
        if high > low:
            count += high - low
            reach = high
    return count


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


def watched_blocks(
    source: SignalSource,
    config: DetectConfig,
    summary: RunSummary,
    watch=None,
    activation: bool | None = None,
    first_row: int = 0,
    scanner: StreamScanner | None = None,
    final: bool = True,
) -> Iterator[ScoreBlock]:
    """:func:`score_blocks`, showing every signal block to ``watch.signal_block`` and every
    score block to ``watch.score_block`` on the way (nothing when ``watch`` is None)."""
    if watch is None:
        yield from score_blocks(source, config, summary, activation, first_row, scanner, final)
        return
    # The watched source forwards every attribute to the source it wraps.
    watched = cast(SignalSource, _WatchedSource(source, watch))
    for block in score_blocks(watched, config, summary, activation, first_row, scanner, final):
        watch.score_block(block)
        yield block
