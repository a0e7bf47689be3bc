"""What a run scans and what it counts: the scans (channel or joint group x kernel x
dilation) planned from the config (:func:`plan_scans`), the backend chosen for them, the
score blocks they produce (:class:`ScoreBlock`) and the run's summary (:class:`RunSummary`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from motifscan.config import DetectConfig
from motifscan.errors import MotifscanError
from motifscan.signal import BadLines, SignalBlock
from motifscan.similarity import span, track_length
from motifscan.similarity.device import resolve_device
from motifscan.similarity.metric import resolve_metric_backend

if TYPE_CHECKING:  # imported where it is used, for the start-up time of plain runs
    from motifscan.fill import GapFiller


#: A window whose |cosine| exceeds this is a near-perfect match to the kernel's shape, or,
#: when most windows are, the sign of a signal far from zero: an offset much larger than
#: the signal's swing makes every window point the same way (CO2 at 315 ppm scores +1.0
#: almost everywhere).
LARGE_OFFSET_COSINE = 0.99
#: The share of scored windows above :data:`LARGE_OFFSET_COSINE` from which a run without
#: ``--normalize`` is said to have a large offset ("most windows").
LARGE_OFFSET_SHARE = 0.5
#: Window positions at the start of each score track that a noise-adaptive threshold
#: (``--threshold mad:K`` or ``fa:RATE``) is estimated on: fixed, so the threshold never
#: depends on the block size, on --state runs or on --dask ranges.
REFERENCE_POSITIONS = 100_000


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
    # Joint windows scored over fewer than all their channels (--min-channels), counted
    # like skipped windows: once per channel group and dilation.
    partial_windows: int = 0
    # --fill: samples filled, windows (of the longest span) holding one, and the filler
    # that knows which rows it filled (None without --fill).
    filled_samples: int = 0
    filled_windows: int = 0
    filler: GapFiller | None = None
    # --threshold mad:K or fa:RATE: the threshold of each score track (label -> value), once
    # decided; empty while the reference stretch is not complete (a held run).
    thresholds: dict = field(default_factory=dict)
    # The run's noise-adaptive threshold as given ("mad:K" or "fa:RATE"), or "" for a fixed one.
    adaptive_threshold: str = ""
    # Stretches of candidates at or above the threshold that had no motif because a
    # stronger motif lay within min_gap (see ChannelDetector.suppressed_peaks).
    suppressed_peaks: int = 0
    # Of a run without --normalize, the windows with a cosine (every kernel and dilation),
    # and how many of them have |cosine| > LARGE_OFFSET_COSINE; both 0 for a normalised run.
    scored_windows: int = 0
    near_unit_cosine_windows: int = 0
    # channel -> strongest finite |activation|, when the run detected on the convolution
    strongest_activation: dict = field(default_factory=dict)
    # The last span - 1 samples, what a later run needs to go on where this one stopped.
    tail: SignalBlock | None = None
    # Candidates a run that stops before the end (--state) leaves for the next one to decide.
    undecided: int = 0
    # The input's unreadable lines and what --bad-lines did with them, or None.
    bad_lines: BadLines | None = None
    # The zone of the input's timestamps, or None for naive times.
    time_zone: dt.tzinfo | None = None
    # One-line remarks about the input (see SignalSource.notes).
    notes: tuple = ()

    @property
    def large_offset(self) -> bool:
        """Whether most scored windows have |cosine| > LARGE_OFFSET_COSINE (a run without
        ``--normalize`` only): the signal sits far from zero, and ``--normalize center``
        would compare shapes."""
        return self.near_unit_cosine_windows > LARGE_OFFSET_SHARE * self.scored_windows

    @classmethod
    def of(cls, source) -> "RunSummary":
        """The empty summary of a run over ``source`` (a SignalSource): its name, channels,
        time column, and what reading it has said so far (bad lines, time zone, notes)."""
        return cls(
            source.name,
            list(source.channels),
            source.time_column,
            bad_lines=source.bad_lines,
            time_zone=source.time_zone,
            notes=source.notes,
        )


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
    # channel name -> plain convolution, shape (b,); only when the run needs it (conv, compare)
    activations: dict | None = None

    @property
    def positions(self) -> int:
        return max(track_length(track) for track in self.tracks.values())


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
        raise MotifscanError(
            f"--joint: kernel {kernel.name!r} has channel {missing!r}, which "
            f"{source_name} does not have (channels: {', '.join(channels)})"
        )
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
                label = (
                    channel
                    + (f"_{kernel.name}" if several_kernels else "")
                    + (f"_d{dilation}" if several_dilations else "")
                )
                scans.append(Scan(label, channel, group, index, dilation, span(kernel.length, dilation)))
    return scans


def scan_backend(config: DetectConfig, rows_hint: int | None) -> str:
    """The concrete backend a run of ``config`` scans with, for a signal of at most
    ``rows_hint`` rows (None: unknown, a stream)."""
    if config.metric is not None:  # scanned on the CPU (the config refuses --device gpu)
        return resolve_metric_backend(config.backend, rows_hint, np.asarray(config.metric))
    # The largest kernel decides: its taps per channel choose between the direct scan and
    # the FFT (both cost in proportion to a joint kernel's channels); all its taps are work.
    largest = max(config.kernels, key=lambda kernel: kernel.length * len(kernel.values))
    rows = None if rows_hint is None else rows_hint * len(largest.values)
    # The GPU runs the plain scan only (the config refuses --device gpu for the others).
    device = "cpu" if config.batch_scan else config.device
    return resolve_device(device, config.backend, rows, largest.length, config.normalize, not config.batch_scan)
