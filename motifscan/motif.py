"""A found shape (:class:`Motif`) and the orders motifs are reported in: signal order
(:func:`sort_motifs`) and the strongest ``k`` of a run (:class:`TopMotifs`, ``--top``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Motif:
    """One found occurrence of the kernel's shape.

    Attributes
    ----------
    channel : str
        Name of the channel (column) it was found in.
    start, end : int
        Sample index of the window's first sample, and ``start + span`` (exclusive).
    score : float
        Sharpened cosine similarity in [-1, 1].
    cosine : float
        Plain cosine similarity in [-1, 1].
    sign : int
        +1 for the shape, -1 for the inverted shape.
    scale : float
        Least-squares amplitude ``a`` in ``window ~ a * kernel``.
    time : Any
        Value of the time column at ``start`` (float or ``numpy.datetime64``), or None.
    file : str or None
        The input it was found in, when a run reads several inputs; else None.
    activation : float or None
        The plain convolution (dot product of window and kernel) when the run computed it
        (``method="conv"`` and ``compare``), else None.
    kernel : str or None
        Name of the kernel that matched, when the run had several kernels.
    dilation : int or None
        The dilation that matched best, when the run scanned several.
    distance : float or None
        z-normalised Euclidean distance ``sqrt(2 m (1 - r))`` (``--normalize zscore``).
    channels : str or None
        The channels of a joint group the window was scored over, joined by ``+``, when
        the run scores windows with missing channels (``min_channels``); else None.
    filled : bool or None
        With ``fill``: whether the window holds a filled sample; else None.
    """

    channel: str
    start: int
    end: int
    score: float
    cosine: float
    sign: int
    scale: float
    time: Any = None
    file: str | None = None
    activation: float | None = None
    kernel: str | None = None
    dilation: int | None = None
    distance: float | None = None
    channels: str | None = None
    filled: bool | None = None

    def strength(self, by: str = "score") -> float:
        """``|score|`` or ``|activation|`` (``by``): what detection ranked the motif by."""
        value = self.score if by == "score" else self.activation
        if value is None:
            raise ValueError("the motif has no activation to rank by")
        return abs(value)


class TopMotifs:
    """Keeps the ``k`` strongest motifs seen (ties: earlier start, then earlier channel).

    ``by`` is ``"score"`` (rank by |score|) or ``"activation"`` (by |activation|).
    """

    def __init__(self, k: int, channel_order: Sequence[str], by: str = "score", kernel_order: Sequence[str] = ()):
        self.k = k
        self.by = by
        self._rank = {name: i for i, name in enumerate(channel_order)}
        self._kernel_rank = {name: i for i, name in enumerate(kernel_order)}
        self._heap: list = []

    def _key(self, motif: Motif):
        # Ties: earlier start, earlier channel, earlier kernel, smaller dilation.
        return (
            motif.strength(self.by),
            -motif.start,
            -self._rank[motif.channel],
            -(0 if motif.kernel is None else self._kernel_rank.get(motif.kernel, 0)),
            -(motif.dilation or 0),
        )

    def add(self, motifs: Sequence[Motif]) -> None:
        for motif in motifs:
            entry = (self._key(motif), motif)
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, entry)
            elif entry[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, entry)

    def motifs(self) -> list[Motif]:
        """The kept motifs in signal order (start, then channel)."""
        return sort_motifs([motif for _, motif in self._heap], self._rank, self._kernel_rank)


def sort_motifs(
    motifs: Sequence[Motif], channel_rank: dict[str, int], kernel_rank: dict[str, int] | None = None
) -> list[Motif]:
    """Motifs in signal order: by start, then by the channel's place in the input, then by
    the kernel's place in the run and the dilation."""
    kernel_rank = kernel_rank or {}
    return sorted(
        motifs,
        key=lambda motif: (
            motif.start,
            channel_rank[motif.channel],
            0 if motif.kernel is None else kernel_rank.get(motif.kernel, 0),
            motif.dilation or 0,
        ),
    )
