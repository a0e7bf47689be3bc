"""The sharpened cosine scan and the plain convolution on the same signal, side by side.

One pass over the signal computes, for every window, the score and the activation; two
sets of detectors turn them into the motifs of each method (the cosine scan on |score|,
the convolution on |activation| relative to the channel's strongest), and
:func:`pair_motifs` lines up the motifs the two methods found at the same place.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

from motifscan.config import DetectConfig
from motifscan.motif import Motif, TopMotifs, sort_motifs
from motifscan.detection import RelativeChannelDetector
from motifscan.signal import SignalSource
from motifscan.scan_plan import RunSummary
from motifscan.scanning import watched_blocks
from motifscan.pipeline import channel_detectors, push_block, ranked_by, sampling_step

#: The two methods, in the order they are shown.
COMPARED = ("cosine", "conv")
BOTH = "both"
#: What a row's ``found_by`` can say.
FOUND_BY = (BOTH, "cosine only", "conv only")


@dataclass(frozen=True)
class ComparisonRow:
    """One place in the signal where at least one method found a motif.

    ``cosine`` and ``conv`` are the motifs of each method there (their windows overlap),
    or None where that method found nothing.
    """

    channel: str
    cosine: Motif | None
    conv: Motif | None

    @property
    def found_by(self) -> str:
        """``"both"``, ``"cosine only"`` or ``"conv only"``."""
        if self.cosine is not None and self.conv is not None:
            return BOTH
        return "cosine only" if self.cosine is not None else "conv only"

    @property
    def start(self) -> int:
        """The earlier start of the row's motifs."""
        return min(m.start for m in (self.cosine, self.conv) if m is not None)


def pair_motifs(cosine: Sequence[Motif], conv: Sequence[Motif], channel_order: Sequence[str]) -> list[ComparisonRow]:
    """Pair the motifs of the two methods whose windows overlap, on the same channel.

    Pairs with the larger overlap are made first (ties: the earlier cosine motif), and a
    motif is in at most one pair; motifs left over get a row of their own.

    Parameters
    ----------
    cosine, conv : sequences of Motif
        The motifs each method reported.
    channel_order : sequence of str
        The channels in input order, for sorting the rows.

    Returns
    -------
    list of ComparisonRow
        In signal order: by the earlier start of the row, then by channel order.
    """
    conv_by_channel: dict[str, list[Motif]] = {}
    for motif in sorted(conv, key=lambda m: m.start):
        conv_by_channel.setdefault(motif.channel, []).append(motif)
    starts = {name: [m.start for m in motifs] for name, motifs in conv_by_channel.items()}

    overlaps = []  # (-overlap, cosine index, conv motif index in its channel)
    for i, motif in enumerate(cosine):
        others = conv_by_channel.get(motif.channel, [])
        span = motif.end - motif.start
        first = bisect.bisect_right(starts.get(motif.channel, []), motif.start - span)
        for j in range(first, len(others)):
            other = others[j]
            if other.start >= motif.end:
                break
            overlap = min(motif.end, other.end) - max(motif.start, other.start)
            if overlap > 0:
                overlaps.append((-overlap, i, j))

    rows, used_cosine, used_conv = [], set(), set()
    for _, i, j in sorted(overlaps):
        channel = cosine[i].channel
        if i in used_cosine or (channel, j) in used_conv:
            continue
        used_cosine.add(i)
        used_conv.add((channel, j))
        rows.append(ComparisonRow(channel, cosine[i], conv_by_channel[channel][j]))
    rows += [ComparisonRow(m.channel, m, None) for i, m in enumerate(cosine) if i not in used_cosine]
    rows += [
        ComparisonRow(name, None, m)
        for name, motifs in conv_by_channel.items()
        for j, m in enumerate(motifs)
        if (name, j) not in used_conv
    ]
    rank = {name: i for i, name in enumerate(channel_order)}
    return sorted(rows, key=lambda row: (row.start, rank[row.channel]))


def found_by_counts(rows: Sequence[ComparisonRow]) -> dict[str, int]:
    """How many rows each method alone, or both, found: a count per :data:`FOUND_BY` label."""
    return {label: sum(row.found_by == label for row in rows) for label in FOUND_BY}


class Comparison:
    """Both methods over one signal source, in one pass.

    :meth:`run` reads the whole signal; afterwards :attr:`motifs` maps ``"cosine"`` and
    ``"conv"`` to each method's motifs (signal order), :attr:`rows` pairs them up, and
    :attr:`summary` describes the run, with each channel's strongest |activation| (the
    base of the convolution's relative threshold).
    ``config.threshold``, ``sign``, ``min_gap`` and ``top`` apply to each method in its own
    terms; ``config.method`` is ignored.

    ``watch`` sees every block, as in :class:`~motifscan.pipeline.Detection`.
    """

    def __init__(self, source: SignalSource, config: DetectConfig, watch=None):
        self.source = source
        self.config = config
        self.watch = watch
        self.summary = RunSummary.of(source)
        self.channel_rank = {name: i for i, name in enumerate(source.channels)}
        self.motifs: dict[str, list[Motif]] = {method: [] for method in COMPARED}
        self.rows: list[ComparisonRow] = []

    def run(self) -> "Comparison":
        """Scan the signal once and detect with both methods."""
        config, channels = self.config, self.source.channels
        blocks = watched_blocks(self.source, config, self.summary, self.watch, activation=True)
        step, blocks = sampling_step(blocks, config, self.source)
        detectors = {method: channel_detectors(channels, config, method, step) for method in COMPARED}
        found: dict[str, list[Motif]] = {method: [] for method in COMPARED}
        for block in blocks:
            for method in COMPARED:
                for detector in detectors[method]:
                    found[method] += push_block(detector, block)
        for method in COMPARED:
            found[method] += [motif for detector in detectors[method] for motif in detector.finish()]
            if config.top is not None:
                top = TopMotifs(config.top, channels, ranked_by(method))
                top.add(found[method])
                found[method] = top.motifs()
            self.motifs[method] = sort_motifs(found[method], self.channel_rank)
        self.summary.suppressed_peaks = sum(
            detector.suppressed_peaks for method in COMPARED for detector in detectors[method]
        )
        self.summary.strongest_activation = {
            detector.channel: detector.strongest
            for detector in detectors["conv"]
            if isinstance(detector, RelativeChannelDetector)
        }
        self.rows = pair_motifs(self.motifs["cosine"], self.motifs["conv"], channels)
        self.summary.motifs = sum(len(motifs) for motifs in self.motifs.values())
        return self
