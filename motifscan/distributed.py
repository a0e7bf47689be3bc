"""``--dask``: the same detection, run as tasks on a Dask distributed cluster.

Dask schedules; motifscan only cuts the work into tasks and puts the answers together:

- every input is one task (:func:`motifscan.file_run.run_file`, as on one machine);
- an input larger than ``split_bytes`` (an uncompressed text file, or a Parquet file with
  several row groups) is cut into ranges of whole lines or whole row groups. A range task
  reads its rows plus the next ``span - 1`` rows (the windows that start in the range and
  end in the next one), scans them with the one pipeline and returns the candidates
  (positions over the threshold with their scores). The client feeds the candidates of the
  ranges, in order, to the same streaming detector a single run uses, so the motifs are
  exactly those of the single-machine run.

The ``dask[distributed]`` package is the optional extra ``motifscan[dask]``; it is imported
only when a run asks for a cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterator

import numpy as np

from motifscan.file_run import FileRun, ReadOptions, run_file
from motifscan.config import DetectConfig
from motifscan.motif import sort_motifs
from motifscan.errors import MotifscanError, SignalTooShort
from motifscan.signal import BadLines, SignalBlock, SignalSource
from motifscan.io.csv_blocks import byte_resumable
from motifscan.io.parquet import is_parquet_dataset, parquet_row_groups
from motifscan.scan_plan import RunSummary
from motifscan.scanning import score_blocks
from motifscan.pipeline import channel_detectors

#: Inputs larger than this are split into ranges of about this size (``--split-bytes``).
DEFAULT_SPLIT_BYTES = 256 << 20
#: How long to try to reach a scheduler before giving up.
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Part:
    """One range of an input: bytes ``[start, stop)`` of a text file, or row groups
    ``[start, stop)`` of a Parquet file, followed by the ``overlap`` rows after it."""

    name: str
    kind: str  # "bytes" or "row_groups"
    start: int
    stop: int
    end: int  # the input's end (bytes or row groups): where the overlap rows stop
    overlap: int

    def open(self, read: ReadOptions, block_rows: int, after: bool = False) -> SignalSource:
        span = (self.stop, self.end) if after else (self.start, self.stop)
        if self.kind == "bytes":
            return read.open(self.name, block_rows, byte_range=span)
        return read.open(self.name, block_rows, row_groups=span)


@dataclass
class PartResult:
    """What a range task found: its rows' candidates per channel, and its counts."""

    rows: int
    summary: RunSummary
    candidates: dict = field(default_factory=dict)  # channel -> columns, positions in the range


def _line_start_after(raw, offset: int) -> int:
    """The offset of the first line that starts at or after ``offset``."""
    raw.seek(offset - 1)
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            return raw.tell()
        newline = chunk.find(b"\n")
        if newline >= 0:
            return raw.tell() - len(chunk) + newline + 1


def splittable(config: DetectConfig) -> bool:
    """Whether range tasks can run ``config``: one kernel at one dilation, on each channel
    alone, with the cosine. (conv thresholds on the whole signal's strongest activation;
    several kernels, dilations or joint channels compete in ways only a whole-file task
    reproduces.)"""
    return config.method == "cosine" and len(config.kernels) == 1 and len(config.dilations) == 1 and not config.joint


def plan_parts(name: str, config: DetectConfig, split_bytes: int) -> list[Part] | None:
    """Cut input ``name`` into ranges of about ``split_bytes``; None when it stays one task."""
    if name == "-" or os.path.isdir(name) or is_parquet_dataset(name):
        return None
    try:
        size = os.path.getsize(name)
    except OSError:
        return None
    if size <= split_bytes or not splittable(config):
        return None
    overlap = config.span - 1
    if byte_resumable(name):
        with open(name, "rb") as raw:
            # The first line may be the header: no range starts before its end.
            floor = _line_start_after(raw, 1)
            cuts = [0]
            for nominal in range(split_bytes, size, split_bytes):
                cut = _line_start_after(raw, max(nominal, floor))
                if cuts[-1] < cut < size:
                    cuts.append(cut)
        cuts.append(size)
        if len(cuts) < 3:
            return None
        return [Part(name, "bytes", a, b, size, overlap) for a, b in zip(cuts, cuts[1:])]
    if name.lower().endswith((".parquet", ".pq")):
        groups = parquet_row_groups(name)
        if len(groups) < 2:
            return None
        per_group = size / len(groups)
        step = max(1, int(split_bytes // max(per_group, 1)))
        cuts = list(range(0, len(groups), step)) + [len(groups)]
        if len(cuts) < 3:
            return None
        return [Part(name, "row_groups", a, b, len(groups), overlap) for a, b in zip(cuts, cuts[1:])]
    return None


def scan_part(part: Part, config: DetectConfig, read: ReadOptions, thresholds: dict | None = None) -> PartResult:
    """The task of one range: scan its rows (and the overlap after it), keep the candidates.
    ``thresholds`` are the input's noise-adaptive thresholds by channel
    (:func:`input_thresholds`), for ``--threshold mad:K`` or ``fa:RATE``."""
    own = part.open(read, config.block_rows)
    counted = {"rows": 0}

    def blocks() -> Iterator[SignalBlock]:
        for block in own:
            counted["rows"] += block.rows
            yield block
        if part.overlap and part.stop < part.end:
            after = part.open(read, max(part.overlap, 1), after=True)
            taken = 0
            for block in islice(after, part.overlap):
                need = part.overlap - taken
                if block.rows > need:
                    block = SignalBlock(
                        {k: v[:need] for k, v in block.channels.items()},
                        None if block.time is None else block.time[:need],
                    )
                taken += block.rows
                yield block
                if taken >= part.overlap:
                    break

    source = SignalSource(own.name, own.channels, own.time_column, blocks)
    # The range's own bad lines only: those of the overlap rows are the next range's.
    summary = RunSummary.of(own)
    detectors = _detectors(own.channels, config, thresholds)
    found: dict = {name: [] for name in own.channels}
    try:
        for block in score_blocks(source, config, summary):
            for name, detector in detectors.items():
                found[name].append(detector.candidates(block.first_position, block.tracks[name], block.time))
    except SignalTooShort:
        pass  # a range (with its overlap) shorter than the kernel: no window starts in it
    candidates = {}
    for name, pieces in found.items():
        if pieces:
            candidates[name] = {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
    # The overlap rows were counted as samples: the range's own rows are what it adds.
    summary.samples = counted["rows"]
    summary.tail = None
    return PartResult(counted["rows"], summary, candidates)


def _detectors(channels, config: DetectConfig, thresholds: dict | None) -> dict:
    """channel -> its streaming detector, at the input's own threshold when it has one."""
    detectors = {detector.channel: detector for detector in channel_detectors(channels, config, "cosine")}
    if config.adaptive_threshold:
        if thresholds is None:
            raise ValueError("range tasks of a noise-adaptive threshold need the input's thresholds")
        for channel, detector in detectors.items():
            detector.thresholds = [thresholds[channel]]
    return detectors


def input_thresholds(name: str, config: DetectConfig, read: ReadOptions) -> dict:
    """The noise-adaptive thresholds (``--threshold mad:K`` or ``fa:RATE``) of input
    ``name``, by channel: its reference stretch (the first
    :data:`~motifscan.scan_plan.REFERENCE_POSITIONS` windows) read and scored here, before
    the ranges are, with what a single run decides them from
    (:func:`motifscan.pipeline.reference_thresholds`), so that every range detects at the
    single run's thresholds."""
    from motifscan.pipeline import reference_thresholds
    from motifscan.scan_plan import REFERENCE_POSITIONS, plan_scans

    whole = read.open(name, config.block_rows)
    wanted = REFERENCE_POSITIONS + config.span - 1

    def first_rows() -> Iterator[SignalBlock]:
        taken = 0
        for block in whole:
            if block.rows > wanted - taken:
                block = SignalBlock(
                    {k: v[: wanted - taken] for k, v in block.channels.items()},
                    None if block.time is None else block.time[: wanted - taken],
                )
            taken += block.rows
            yield block
            if taken >= wanted:
                return

    source = SignalSource(whole.name, whole.channels, whole.time_column, first_rows)
    held = list(score_blocks(source, config, RunSummary.of(whole)))
    labels = [scan.label for scan in plan_scans(list(whole.channels), config, whole.name)]
    return reference_thresholds(held, labels, config, whole.name)


def join_parts(
    name: str, results: list[PartResult], config: DetectConfig, label: bool, thresholds: dict | None = None
) -> FileRun:
    """Put the range results of one input together: the single-machine run's motifs, in
    signal order (``thresholds``: see :func:`scan_part`)."""
    import dataclasses

    first = results[0].summary
    summary = RunSummary(
        name, list(first.channels), first.time_column, device=first.device, time_zone=first.time_zone, notes=first.notes
    )
    if first.bad_lines is not None:
        summary.bad_lines = BadLines(first.bad_lines.policy)
    detectors = _detectors(first.channels, config, thresholds)
    if thresholds is not None:
        summary.thresholds = dict(thresholds)
        summary.adaptive_threshold = config.adaptive_threshold_text
    motifs = []
    offset = 0
    for result in results:
        summary.samples += result.summary.samples
        summary.positions += result.summary.positions
        summary.skipped_windows += result.summary.skipped_windows
        if summary.bad_lines is not None:
            part_bad_lines = result.summary.bad_lines
            if part_bad_lines is None:
                raise ValueError("every byte range of one input counts its bad lines")
            summary.bad_lines.merge(part_bad_lines)
        summary.scored_windows += result.summary.scored_windows
        summary.near_unit_cosine_windows += result.summary.near_unit_cosine_windows
        for channel, skipped in result.summary.skipped_by_channel.items():
            summary.skipped_by_channel[channel] = summary.skipped_by_channel.get(channel, 0) + skipped
        for channel, detector in detectors.items():
            columns = result.candidates.get(channel)
            if columns is not None:
                columns = dict(columns, position=columns["position"] + offset)
                motifs += detector.push_candidates(columns, offset + result.summary.positions)
        offset += result.rows
    for detector in detectors.values():
        motifs += detector.finish()
    summary.suppressed_peaks = sum(detector.suppressed_peaks for detector in detectors.values())
    if summary.samples < config.span:
        return FileRun(
            name, [], None, f"{name}: the kernel spans {config.span} samples but the signal has only {summary.samples}"
        )
    # Ranges are joined channel by channel: signal order is the one order both runs share.
    motifs = sort_motifs(motifs, {channel: i for i, channel in enumerate(first.channels)})
    if config.top is not None:
        from motifscan.motif import TopMotifs

        top = TopMotifs(config.top, first.channels)
        top.add(motifs)
        motifs = top.motifs()
    summary.motifs = len(motifs)
    if label:
        motifs = [dataclasses.replace(motif, file=name) for motif in motifs]
    return FileRun(name, motifs, summary)


def connect(address):
    """A ``distributed.Client``: ``"local"`` starts a local cluster; an address connects."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MotifscanError('--dask needs dask.distributed: pip install "motifscan[dask]"') from None
    if not isinstance(address, str):
        return address, False  # a Client already
    try:
        if address == "local":
            return Client(LocalCluster()), True
        return _client_within(Client, address, CONNECT_TIMEOUT_S), True
    except MotifscanError:
        raise
    except (OSError, TimeoutError, ValueError) as error:
        raise MotifscanError(f"--dask: cannot reach the scheduler at {address} ({error})") from None


def _client_within(client_type, address: str, seconds: float):
    """``client_type(address)`` when a Dask scheduler answers at ``address`` within ``seconds``.

    The client's own ``timeout`` bounds reaching the address, not what follows: a peer that
    accepts the connection and then says nothing (an HTTP server waiting for a request) held
    the run forever, and one that sends other bytes made the client allocate whatever size
    they spelt. So the client is made in a thread that is given up on after ``seconds`` (and
    a moment to report its own timeout), and anything it raises but an unreachable address
    means the peer is not a scheduler.
    """
    import threading

    outcome: dict = {}

    def attempt() -> None:
        try:
            outcome["client"] = client_type(address, timeout=seconds)
        except BaseException as error:  # noqa: BLE001 (handed over to the caller's thread below)
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name="motifscan-dask-connect", daemon=True)
    thread.start()
    thread.join(seconds + 2)
    if thread.is_alive():
        # Abandoned: the daemon thread can only hang on a peer that never answers.
        raise MotifscanError(f"--dask: nothing at {address} answered like a Dask scheduler within {seconds:g} s")
    error = outcome.get("error")
    if error is None:
        return outcome["client"]
    if isinstance(error, (OSError, TimeoutError)):
        raise error
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        raise error
    raise MotifscanError(
        f"--dask: {address} is not a Dask scheduler (its answer could not be read: {type(error).__name__})"
    )


def run_on_dask(
    client, jobs: list, config: DetectConfig, read: ReadOptions, split_bytes: int, label: bool, ordered: bool
) -> Iterator[FileRun]:
    """Submit every input (``jobs``: ``(name, resume)`` pairs) to the cluster and yield
    their :class:`~motifscan.file_run.FileRun` in input order."""
    # (name, None: one task | the error that stopped it | (ranges, thresholds), futures)
    submitted: list[tuple[str, str | tuple | None, list]] = []
    for name, resume in jobs:
        parts, pinned = (None, config) if resume is not None else _safe_plan(name, config, read, split_bytes)
        thresholds = None
        if parts is not None and config.adaptive_threshold:
            try:  # decided once for the whole input, before it is split
                thresholds = input_thresholds(name, pinned, read)
            except MotifscanError as error:
                submitted.append((name, str(error), []))
                continue
        if parts is None:
            future = client.submit(
                run_file, name, config, read, label=label, ordered=ordered, resume=resume, pure=False
            )
            submitted.append((name, None, [future]))
        else:
            futures = [client.submit(scan_part, part, pinned, read, thresholds, pure=False) for part in parts]
            submitted.append((name, (parts, thresholds), futures))
    for name, planned, futures in submitted:
        if isinstance(planned, str):  # the input's thresholds could not be decided
            yield FileRun(name, [], None, planned)
            continue
        if planned is None:
            yield futures[0].result()
            continue
        try:
            results = [future.result() for future in futures]
        except MotifscanError as error:
            yield FileRun(name, [], None, str(error))
            continue
        yield join_parts(name, results, config, label, planned[1])


def _safe_plan(name: str, config: DetectConfig, read: ReadOptions, split_bytes: int):
    """The ranges of ``name`` (None: one task) and the config its range tasks scan with."""
    import copy

    from motifscan.scan_plan import scan_backend

    try:
        parts = plan_parts(name, config, split_bytes)
        if parts is None:
            return None, config
        # Every range scans with the backend the whole file would get, so that the scores
        # agree to the last bit with the single-machine run.
        whole = read.open(name, config.block_rows)
        backend = scan_backend(config, whole.rows_hint)
    except (MotifscanError, OSError):
        return None, config  # the task reading it whole reports the problem
    if backend not in ("numpy", "numba"):
        return parts, config
    pinned = copy.copy(config)
    # The config is frozen and already checked: set the one resolved field on the copy.
    object.__setattr__(pinned, "backend", backend)
    return parts, pinned
