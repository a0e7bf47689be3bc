"""Detection: threshold, sign filter, strongest-first non-max suppression, top-k.

Pure functions on score tracks plus a small streaming state machine. Candidates that lie
closer than ``min_gap`` to each other form a *cluster*; suppression inside one cluster never
depends on anything outside it, so a cluster can be decided as soon as the scan has moved
``min_gap`` positions past its last candidate. That is what makes the result identical for
any way of cutting the input into blocks.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from motifscan.similarity import ScoreTrack

SIGNS = ("any", "positive", "negative")


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

    def strength(self, by: str = "score") -> float:
        """``|score|`` or ``|activation|`` (``by``): what detection ranked the motif by."""
        return abs(self.score if by == "score" else self.activation)


def candidate_mask(score: np.ndarray, threshold: float, sign: str = "any") -> np.ndarray:
    """Boolean mask of positions with ``|score| >= threshold`` and the requested sign.

    NaN scores (windows with NaN/inf) are never candidates. Zero scores never are either:
    a window orthogonal to (or unrelated to) the kernel is no match, even at threshold 0.
    """
    with np.errstate(invalid="ignore"):
        strong = np.abs(score) >= threshold
        if sign == "positive":
            return strong & (score > 0)
        if sign == "negative":
            return strong & (score < 0)
        return strong & (score != 0)


def suppress_overlaps(positions: np.ndarray, strengths: np.ndarray, min_gap: int,
                      taken: Sequence[int] = ()) -> np.ndarray:
    """Strongest-first non-max suppression.

    Parameters
    ----------
    positions : int64 array, shape (c,)
        Candidate window starts, in increasing order.
    strengths : float64 array, shape (c,)
        ``|score|`` of each candidate.
    min_gap : int
        A candidate closer than this (``|a - b| < min_gap``) to an accepted one is dropped.
    taken : sequence of int, optional
        Positions accepted before (sorted): they suppress candidates near them too.

    Returns
    -------
    bool array, shape (c,)
        True for accepted candidates. Candidates are taken strongest first; ties go to the
        earlier position.
    """
    accepted = np.zeros(positions.shape[0], dtype=bool)
    taken = list(taken)  # accepted positions, kept sorted for the neighbour look-up
    for index in np.lexsort((positions, -strengths)):
        position = int(positions[index])
        slot = bisect.bisect_left(taken, position)
        if slot > 0 and position - taken[slot - 1] < min_gap:
            continue
        if slot < len(taken) and taken[slot] - position < min_gap:
            continue
        taken.insert(slot, position)
        accepted[index] = True
    return accepted


def _join(first: dict, second: dict) -> dict:
    """Concatenate two column dicts of candidates (see ``ChannelDetector``)."""
    if first["position"].size == 0:
        return second
    if second["position"].size == 0:
        return first
    return {name: np.concatenate([first[name], second[name]]) for name in first}


def _take(columns: dict, index) -> dict:
    return {name: values[index] for name, values in columns.items()}


class ChannelDetector:
    """Streaming detector for one channel.

    Feed it consecutive pieces of the channel's score track with :meth:`push`; it returns
    the motifs that no later position can change any more, and :meth:`finish` returns the
    rest. The concatenation of everything returned equals running :func:`detect_track` on
    the whole track, whatever the pieces, as long as no cluster (a chain of candidates each
    closer than ``min_gap`` to the next) holds more than :attr:`max_open` candidates.

    Memory stays bounded on endless input: a cluster that grows past :attr:`max_open`
    candidates (a low threshold on a periodic signal can chain forever) has its older half
    decided as if the signal ended there; the motifs accepted then still suppress their
    neighbours in the rest.

    ``by="score"`` thresholds and ranks on the sharpened cosine score; ``by="activation"``
    on the plain convolution, which :meth:`push` then needs.
    """

    def __init__(self, channel: str, span: int, threshold: float, sign: str, min_gap: int,
                 by: str = "score"):
        self.channel = channel
        self.span = span
        self.threshold = threshold
        self.sign = sign
        self.min_gap = min_gap
        self.by = by
        self._open = self._columns(np.empty(0, np.int64), ScoreTrack(*(np.empty(0),) * 3), None, None)
        # Accepted positions that may still suppress open candidates (after a forced decision).
        self._taken: list[int] = []

    #: Most candidates an open cluster keeps (40 bytes each) before its older half is decided.
    max_open = 1 << 16

    @staticmethod
    def _columns(position, track: ScoreTrack, time, activation) -> dict:
        columns = {"position": position, "score": track.score, "cosine": track.cosine,
                   "scale": track.scale}
        if time is not None:
            columns["time"] = time
        if activation is not None:
            columns["activation"] = activation
        return columns

    def push(self, first_position: int, track: ScoreTrack, time: np.ndarray | None = None,
             activation: np.ndarray | None = None) -> list[Motif]:
        """Add the scores of positions ``first_position .. first_position + len(track) - 1``.

        Parameters
        ----------
        first_position : int
            Global index of the window start that ``track[0]`` belongs to.
        track : ScoreTrack
            Arrays of shape (b,).
        time : array of shape (b,), optional
            Time value of each window start.
        activation : float64 array of shape (b,), optional
            The plain convolution at each position; required with ``by="activation"``.
            Pass it for every piece or for none.
        """
        return self.push_candidates(self.candidates(first_position, track, time, activation),
                                    first_position + track.score.shape[0])

    def candidates(self, first_position: int, track: ScoreTrack, time: np.ndarray | None = None,
                   activation: np.ndarray | None = None) -> dict:
        """The candidates among positions ``first_position ..`` (arguments as :meth:`push`),
        as a dict of column arrays (``position``, ``score``, ``cosine``, ``scale``, and
        ``time``/``activation`` when given)."""
        ranked = track.score if self.by == "score" else activation
        chosen = np.flatnonzero(candidate_mask(ranked, self.threshold, self.sign))
        return self._columns(
            chosen + first_position,
            ScoreTrack(*(values[chosen] for values in track)),
            None if time is None else time[chosen],
            None if activation is None else activation[chosen],
        )

    def push_candidates(self, fresh: dict, next_position: int) -> list[Motif]:
        """Add candidates (from :meth:`candidates`) of the positions before ``next_position``,
        all after those added before; return the motifs that are now final."""
        pending = _join(self._open, fresh)
        position = pending["position"]
        if position.size == 0:
            return []
        if position[-1] + self.min_gap <= next_position:
            self._open = _take(pending, slice(0, 0))
            return self._decide(pending)
        # The last cluster may still grow: keep it, decide everything before it.
        breaks = np.flatnonzero(np.diff(position) >= self.min_gap)
        cut = 0 if breaks.size == 0 else int(breaks[-1]) + 1
        if position.size - cut > self.max_open:
            cut = position.size - self.max_open // 2
        self._open = _take(pending, slice(cut, None))
        return self._decide(_take(pending, slice(0, cut)))

    def finish(self) -> list[Motif]:
        """Decide the candidates still open at the end of the signal."""
        pending, self._open = self._open, _take(self._open, slice(0, 0))
        return self._decide(pending)

    def _decide(self, columns: dict) -> list[Motif]:
        if columns["position"].size == 0:
            return []
        keep = suppress_overlaps(columns["position"], np.abs(columns[self.by]), self.min_gap, self._taken)
        kept = _take(columns, keep)
        # Only accepted positions within min_gap of the last decided one can still matter.
        horizon = int(columns["position"][-1]) - self.min_gap
        self._taken = [p for p in [*self._taken, *map(int, kept["position"])] if p > horizon]
        times = kept.get("time")
        activations = kept.get("activation")
        return [
            Motif(
                channel=self.channel,
                start=int(position),
                end=int(position) + self.span,
                score=float(score),
                cosine=float(cosine),
                sign=1 if ranked > 0 else -1,
                scale=float(scale),
                time=None if times is None else times[i],
                activation=None if activations is None else float(activations[i]),
            )
            for i, (position, ranked, score, cosine, scale) in enumerate(
                zip(kept["position"], kept[self.by], kept["score"], kept["cosine"], kept["scale"])
            )
        ]


class RelativeChannelDetector(ChannelDetector):
    """Streaming detector on the activation with a threshold relative to the strongest one.

    A convolution is unbounded, so its threshold is a ``fraction`` of the channel's
    strongest ``|activation|``, which is known only at the end of the signal. The detector
    runs with the threshold ``fraction * (strongest so far)``, which only rises, so its
    candidates are a superset of the final ones. Strongest-first suppression decides a
    candidate only by stronger candidates, which all pass the final threshold too, so
    suppressing among the superset and then dropping what fails the final threshold gives
    exactly the motifs of the final threshold, whatever the block cuts. Motifs therefore
    come only from :meth:`finish`; those already below the rising threshold are dropped on
    the way, so memory holds only plausible motifs.
    """

    def __init__(self, channel: str, span: int, fraction: float, sign: str, min_gap: int):
        super().__init__(channel, span, 0.0, sign, min_gap, by="activation")
        self.fraction = fraction
        #: The strongest finite |activation| seen so far (0 before any).
        self.strongest = 0.0
        self._held: list[Motif] = []

    def _raise_threshold(self, activation: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            magnitude = np.abs(activation)
            magnitude = magnitude[np.isfinite(magnitude)]
        if magnitude.size:
            self.strongest = max(self.strongest, float(magnitude.max()))
        # A zero strongest activation (silence so far) admits no candidate: zero is no match.
        self.threshold = self.fraction * self.strongest

    def _keep_plausible(self, motifs: list[Motif]) -> None:
        self._held = [m for m in self._held + motifs if abs(m.activation) >= self.threshold]

    def push(self, first_position: int, track: ScoreTrack, time: np.ndarray | None = None,
             activation: np.ndarray | None = None) -> list[Motif]:
        """Like :meth:`ChannelDetector.push`, but returns nothing: see :meth:`finish`."""
        self._raise_threshold(activation)
        self._keep_plausible(super().push(first_position, track, time, activation))
        return []

    def finish(self) -> list[Motif]:
        """Every motif with ``|activation| >= fraction * strongest``, in signal order."""
        self._keep_plausible(super().finish())
        held, self._held = self._held, []
        return sorted(held, key=lambda motif: motif.start)


class TopMotifs:
    """Keeps the ``k`` strongest motifs seen (ties: earlier start, then earlier channel).

    ``by`` is ``"score"`` (rank by |score|) or ``"activation"`` (by |activation|).
    """

    def __init__(self, k: int, channel_order: Sequence[str], by: str = "score"):
        self.k = k
        self.by = by
        self._rank = {name: i for i, name in enumerate(channel_order)}
        self._heap: list = []

    def _key(self, motif: Motif):
        return (motif.strength(self.by), -motif.start, -self._rank[motif.channel])

    def add(self, motifs: Sequence[Motif]) -> None:
        for motif in motifs:
            entry = (self._key(motif), motif)
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, entry)
            elif entry[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, entry)

    def motifs(self) -> list[Motif]:
        """The kept motifs in signal order (start, then channel)."""
        return sort_motifs([motif for _, motif in self._heap], self._rank)


def sort_motifs(motifs: Sequence[Motif], channel_rank: dict[str, int]) -> list[Motif]:
    """Motifs in signal order: by start, then by the channel's place in the input."""
    return sorted(motifs, key=lambda motif: (motif.start, channel_rank[motif.channel]))


def detect_track(
    track: ScoreTrack,
    *,
    channel: str,
    span: int,
    threshold: float,
    sign: str = "any",
    min_gap: int | None = None,
    time: np.ndarray | None = None,
) -> list[Motif]:
    """Detect motifs in one whole score track (the one-block case of :class:`ChannelDetector`)."""
    detector = ChannelDetector(channel, span, threshold, sign, span if min_gap is None else min_gap)
    return detector.push(0, track, time) + detector.finish()
