"""Detection: threshold, sign filter, strongest-first non-max suppression, block by block.

A small streaming state machine that follows the rule of :mod:`motifscan.suppression`.
Candidates that lie closer than ``min_gap`` to each other form a *cluster*; suppression
inside one cluster never depends on anything outside it, so a cluster can be decided as
soon as the scan has moved ``min_gap`` positions past its last candidate. That is what
makes the result identical for any way of cutting the input into blocks.

Nothing is suppressed silently: each detector counts the *suppressed peaks*, stretches of
consecutive candidate positions in which no motif was accepted because a stronger motif
lay within ``min_gap`` (the flanks of an accepted motif's own peak are not counted: they
are the same stretch).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from motifscan.similarity import CandidateTrack, DistanceTrack, ScoreTrack, track_length
from motifscan.motif import Motif
from motifscan.suppression import candidate_mask, suppress_overlaps


def _join(first: dict, second: dict) -> dict:
    """Concatenate two column dicts of candidates (see ``ChannelDetector``)."""
    if first["position"].size == 0:
        return second
    if second["position"].size == 0:
        return first
    return {name: np.concatenate([first[name], second[name]]) for name in first}


def _take(columns: dict, index) -> dict:
    return {name: values[index] for name, values in columns.items()}


@dataclass(frozen=True)
class ScanLabel:
    """What one score track of a detector is: its window span and what motifs report.

    ``kernel`` and ``dilation`` are None when the run does not report them (one kernel,
    one dilation). ``gap`` is how far a candidate of this track reaches when the detector
    has no ``min_gap`` of its own (None: the span).
    """

    span: int
    kernel: str | None = None
    dilation: int | None = None
    gap: int | None = None


class ChannelDetector:
    """Streaming detector for one channel (or one group of jointly scanned channels).

    Feed it consecutive pieces of the channel's score track with :meth:`push` (or, when
    several kernels or dilations compete on the channel, of all their tracks at once with
    :meth:`push_scans`); it returns the motifs that no later position can change any more,
    and :meth:`finish` returns the rest. The concatenation of everything returned equals
    running :func:`detect_track` on the whole track, whatever the pieces, as long as no
    cluster (a chain of candidates each reaching the next) holds more than :attr:`max_open`
    candidates.

    Candidates of all tracks compete: a candidate conflicts with candidates of its own
    track closer than the track's gap (``min_gap`` when given, else the label's ``gap``,
    else its span), and with candidates of other tracks when their windows overlap (see
    :func:`suppress_overlaps`).

    :attr:`suppressed_peaks` counts the stretches of consecutive candidate positions (over
    all tracks) that had no motif accepted in them: separate peaks hidden by a stronger
    motif within the gap. It is final after :meth:`finish`, and, like the motifs, the
    same whatever the pieces.

    Memory stays bounded on endless input: a cluster that grows past :attr:`max_open`
    candidates (a low threshold on a periodic signal can chain forever) has its older half
    decided as if the signal ended there; the motifs accepted then still suppress their
    neighbours in the rest.

    ``by="score"`` thresholds and ranks on the sharpened cosine score; ``by="activation"``
    on the plain convolution, which :meth:`push` then needs.
    """

    def __init__(
        self,
        channel: str,
        span: int,
        threshold: float,
        sign: str,
        min_gap: int | None,
        by: str = "score",
        labels: Sequence[ScanLabel] | None = None,
        members: Sequence[str] = (),
    ):
        self.channel = channel
        # One threshold per label when they differ (``--threshold mad:K``); None: ``threshold``.
        self.thresholds: list | None = None
        # The names of a joint group's channels, in bit order of the tracks' ``present`` masks.
        self.members = tuple(members)
        self.span = span
        self.threshold = threshold
        self.sign = sign
        self.min_gap = min_gap
        self.by = by
        self.labels = list(labels) if labels is not None else [ScanLabel(span)]
        self._open = self._columns(
            np.empty(0, np.int64), ScoreTrack(*(np.empty(0),) * 3), None, np.empty(0, np.int64), None
        )
        # (position, scan, gap, span) of accepted candidates that may still suppress open
        # ones (after a forced decision).
        self._taken: list[tuple[int, int, int, int]] = []
        spans = [label.span for label in self.labels]
        #: Each track's gap (to candidates of its own track) and window span.
        self._gaps = np.array(
            [
                min_gap if min_gap is not None else label.span if label.gap is None else label.gap
                for label in self.labels
            ],
            dtype=np.int64,
        )
        self._spans = np.array(spans, dtype=np.int64)
        self._track_reach = self._gaps if len(self.labels) == 1 else np.maximum(self._gaps, self._spans)
        #: Stretches of candidates with no accepted motif (see the class docstring).
        self.suppressed_peaks = 0
        # The last decided stretch may go on in the next decision: its last position and
        # whether a motif was accepted in it (None before the first candidate).
        self._stretch_end: int | None = None
        self._stretch_kept = False
        # Motifs decided after an open candidate: held so that motifs come in signal order.
        self._ready: list[Motif] = []
        self._next_position = 0  # the first position no push has covered yet

    #: Most candidates an open cluster keeps (40 bytes each) before its older half is decided.
    max_open = 1 << 16

    def _columns(self, position, track: ScoreTrack | DistanceTrack, time, scan, activation) -> dict:
        columns = {
            "position": position,
            "score": track.score,
            "cosine": track.cosine,
            "scale": track.scale,
            "scan": scan,
        }
        # Only some tracks have them: z-normalised scans a distance, gap-aware ones the
        # channels present.
        distance = getattr(track, "distance", None)
        if distance is not None:
            columns["distance"] = distance
        present = getattr(track, "present", None)
        if present is not None:
            columns["present"] = present
        if time is not None:
            columns["time"] = time
        if activation is not None:
            columns["activation"] = activation
        return columns

    def push(
        self,
        first_position: int,
        track: ScoreTrack | CandidateTrack,
        time: np.ndarray | None = None,
        activation: np.ndarray | None = None,
    ) -> list[Motif]:
        """Add the scores of positions ``first_position .. first_position + len(track) - 1``.

        Parameters
        ----------
        first_position : int
            Global index of the window start that ``track[0]`` belongs to.
        track : ScoreTrack or CandidateTrack
            Arrays of shape (b,), or the finished windows of a fused scan of b positions
            (:func:`motifscan.similarity.sliding_candidates`; ranking by score only).
        time : array of shape (b,), optional
            Time value of each window start.
        activation : float64 array of shape (b,), optional
            The plain convolution at each position; required with ``by="activation"``.
            Pass it for every piece or for none.
        """
        return self.push_candidates(
            self.candidates(first_position, track, time, activation), first_position + track_length(track)
        )

    def candidates(
        self,
        first_position: int,
        track: ScoreTrack | CandidateTrack,
        time: np.ndarray | None = None,
        activation: np.ndarray | None = None,
        scan: int = 0,
    ) -> dict:
        """The candidates among positions ``first_position ..`` (arguments as :meth:`push`;
        ``scan`` the track's index in ``labels``), as a dict of column arrays
        (``position``, ``score``, ``cosine``, ``scale``, ``scan``, and ``time``,
        ``activation``, ``distance`` when there are such values)."""
        ranked = track.score if self.by == "score" else activation
        if ranked is None:
            raise ValueError("a detector ranking by activation needs the activation track")
        threshold = self.threshold if self.thresholds is None else self.thresholds[scan]
        chosen = np.flatnonzero(candidate_mask(ranked, threshold, self.sign))
        if isinstance(track, CandidateTrack):
            if activation is not None:
                raise ValueError("a fused scan has no activation per window")
            # A fused scan's finished windows: the same test on the same exact scores picks
            # the same candidates; their positions are the track's.
            values: ScoreTrack | DistanceTrack
            if track.distance is None:
                values = ScoreTrack(track.score[chosen], track.cosine[chosen], track.scale[chosen])
            else:
                values = DistanceTrack(
                    track.score[chosen], track.cosine[chosen], track.scale[chosen], track.distance[chosen]
                )
            chosen = track.position[chosen]
        else:
            values = type(track)(*(column[chosen] for column in track))
        return self._columns(
            chosen + first_position,
            values,
            None if time is None else time[chosen],
            np.full(chosen.size, scan, dtype=np.int64),
            None if activation is None else activation[chosen],
        )

    def push_scans(
        self, first_position: int, tracks: Sequence[ScoreTrack | CandidateTrack], time: np.ndarray | None = None
    ) -> list[Motif]:
        """Like :meth:`push`, for one track per label (in the order of ``labels``).

        The tracks may differ in length at the end of a signal (a shorter window fits more
        positions); every candidate of the shortest one's range and beyond is kept open
        until :meth:`finish`.
        """
        pieces = [self.candidates(first_position, track, time, scan=index) for index, track in enumerate(tracks)]
        fresh = pieces[0]
        for piece in pieces[1:]:
            fresh = _join(fresh, piece)
        if len(pieces) > 1:
            fresh = _take(fresh, np.argsort(fresh["position"], kind="stable"))
        return self.push_candidates(fresh, first_position + min(track_length(track) for track in tracks))

    def push_candidates(self, fresh: dict, next_position: int) -> list[Motif]:
        """Add candidates (from :meth:`candidates`, sorted by position) of the positions
        before ``next_position``, all after those added before; return the motifs that are
        now final."""
        self._next_position = next_position
        pending = _join(self._open, fresh)
        position = pending["position"]
        if position.size == 0:
            return self._in_order([], None)
        # A candidate's window reaches to position + reach; nothing at or after the end of
        # the farthest reach can conflict with it.
        ends = np.maximum.accumulate(position + self._reach(pending["scan"]))
        if ends[-1] <= next_position:
            self._open = _take(pending, slice(0, 0))
            return self._in_order(self._decide(pending), None)
        # The last cluster may still grow: keep it, decide everything before it.
        breaks = np.flatnonzero(position[1:] >= ends[:-1])
        cut = 0 if breaks.size == 0 else int(breaks[-1]) + 1
        if position.size - cut > self.max_open:
            cut = position.size - self.max_open // 2
        self._open = _take(pending, slice(cut, None))
        return self._in_order(self._decide(_take(pending, slice(0, cut))), int(self._open["position"][0]))

    def settle(self) -> list[Motif]:
        """Decide, of the open candidates, those that no later candidate can change (see
        :meth:`_undecidable`), and return every motif decided so far. For a run that stops
        before the end of its signal (``--state``): what is left open is what the next run
        must carry. The motifs are final: a run over the whole signal reports them too.
        """
        settled = []
        if self._open["position"].size:
            undecided = self._undecidable(self._open, self._next_position)
            decided = _take(self._open, ~undecided)
            self._open = _take(self._open, undecided)
            horizon = int(self._open["position"][0]) if undecided.any() else None
            settled = self._in_order(self._decide(decided, horizon=horizon), horizon)
        return settled + self.decided()

    def _in_order(self, motifs: list[Motif], horizon: int | None) -> list[Motif]:
        """The motifs before the first open candidate (all when none is open), in signal
        order; later ones wait in ``_ready`` so that motifs always come in signal order."""
        ready = sorted(self._ready + motifs, key=lambda motif: motif.start)
        if horizon is None:
            self._ready = []
            return ready
        cut = bisect.bisect_left([motif.start for motif in ready], horizon)
        self._ready = ready[cut:]
        return ready[:cut]

    def decided(self) -> list[Motif]:
        """The motifs decided but held behind an open candidate (for a run that stops before
        the end of its signal: they are final whatever comes)."""
        ready, self._ready = self._ready, []
        return ready

    def _undecidable(self, columns: dict, next_position: int) -> np.ndarray:
        """Which candidates (one cluster, sorted by position) a candidate at or after
        ``next_position`` could still change.

        Strongest-first suppression decides a candidate by its stronger neighbours only
        (those it conflicts with): it is accepted unless an accepted stronger neighbour
        suppresses it. A later candidate conflicts only with those whose reach passes
        ``next_position`` (the frontier); whatever its strength, it can change a candidate
        only through a chain of ever stronger neighbours that ends at the frontier. Every
        other candidate is decided now, exactly as at the end of the signal: its stronger
        neighbours are all decided too. Returns a bool mask, True for the undecidable ones.
        """
        position = columns["position"]
        reach = self._reach(columns["scan"])
        longest = int(reach.max()) if reach.size else 0
        # Chains reach back from the end a few windows at most, usually: look at the last
        # candidates only, and further back while an undecidable one lies within reach of
        # where the look started (a candidate before it could then be one too).
        back = 4 * max(longest, 1)
        while True:
            first = int(np.searchsorted(position, next_position - back))
            found = self._undecidable_among(_take(columns, slice(first, None)), reach[first:], next_position)
            if first == 0 or not found.any() or int(position[first:][found][0]) >= int(position[first]) + longest:
                undecided = np.zeros(position.shape, dtype=bool)
                undecided[first:] = found
                return undecided
            back *= 2

    def _undecidable_among(self, columns: dict, reach: np.ndarray, next_position: int) -> np.ndarray:
        """:meth:`_undecidable` on ``columns`` alone (``reach``: each one's reach)."""
        position = columns["position"]
        frontier = position + reach > next_position
        undecided = frontier.copy()
        if frontier.all() or not frontier.any():
            return undecided
        strength = np.abs(columns[self.by])
        # Strongest first, as suppress_overlaps takes them (ties: earlier, then lower scan).
        marked_positions: list[int] = []
        marked_ends: list[int] = []
        longest = int(reach.max())
        positions = position.tolist()
        reaches = reach.tolist()
        for index in np.lexsort((columns["scan"], position, -strength)).tolist():
            at = positions[index]
            if not undecided[index]:
                # A stronger undecidable neighbour later within this one's reach, or earlier
                # with its reach passing this one.
                slot = bisect.bisect_left(marked_positions, at)
                if slot < len(marked_positions) and marked_positions[slot] < at + reaches[index]:
                    undecided[index] = True
                else:
                    before = slot - 1
                    while before >= 0 and at - marked_positions[before] < longest:
                        if marked_ends[before] > at:
                            undecided[index] = True
                            break
                        before -= 1
            if undecided[index]:
                slot = bisect.bisect_left(marked_positions, at)
                marked_positions.insert(slot, at)
                marked_ends.insert(slot, at + reaches[index])
        return undecided

    def _reach(self, scan: np.ndarray) -> np.ndarray:
        """How far after each candidate a later one can conflict with it: its gap, and with
        several tracks also its span (candidates of other tracks conflict when windows
        overlap)."""
        return self._track_reach[scan]

    def finish(self) -> list[Motif]:
        """Decide the candidates still open at the end of the signal."""
        pending, self._open = self._open, _take(self._open, slice(0, 0))
        motifs = self._decide(pending)
        self._close_stretch()
        return self._in_order(motifs, None)

    def _close_stretch(self) -> None:
        if self._stretch_end is not None and not self._stretch_kept:
            self.suppressed_peaks += 1
        self._stretch_end, self._stretch_kept = None, False

    def _count_suppressed(self, position: np.ndarray, keep: np.ndarray, strength: np.ndarray) -> None:
        """Count the stretches of ``position`` without an accepted candidate (see
        :meth:`_count_stretches`); ``strength`` is for detectors that decide later."""
        self._count_stretches(position, keep)

    def _count_stretches(self, position: np.ndarray, keep: np.ndarray) -> None:
        """Count the stretches of ``position`` (decided candidates, sorted, all after those
        decided before) without an accepted candidate; the last one may go on later."""
        fresh = np.empty(position.size, dtype=bool)
        fresh[0] = self._stretch_end is None or position[0] > self._stretch_end + 1
        fresh[1:] = np.diff(position) > 1
        if fresh[0]:
            self._close_stretch()
        stretch = np.cumsum(fresh) - fresh[0]  # 0 for the first stretch, carried or not
        kept = np.bincount(stretch, weights=keep, minlength=int(stretch[-1]) + 1) > 0
        kept[0] |= self._stretch_kept
        self.suppressed_peaks += int(np.count_nonzero(~kept[:-1]))
        self._stretch_end, self._stretch_kept = int(position[-1]), bool(kept[-1])

    def undecided(self) -> tuple[dict, list[tuple[int, int, int, int]]]:
        """What a run that stops before the end of its signal (``--state``) must carry to the
        next one: the open candidates (column arrays, as :meth:`candidates` gives them) and
        the ``(position, scan, gap, span)`` of accepted candidates that may still suppress
        them. :meth:`resume` on a new detector goes on exactly where this one stopped."""
        return dict(self._open), list(self._taken)

    def resume(self, columns: dict, taken: Sequence[Sequence[int]]) -> None:
        """Go on from what :meth:`undecided` returned (before the first push)."""
        if columns["position"].size:
            self._open = columns
        self._taken = [(int(position), int(scan), int(gap), int(span)) for position, scan, gap, span in taken]

    def _decide(self, columns: dict, horizon: int | None = None) -> list[Motif]:
        """Suppress among ``columns`` (and the accepted ``_taken``) and return the motifs;
        ``horizon`` is the first position still open (None: after every decided one)."""
        if columns["position"].size == 0:
            return []
        scan = columns["scan"]
        keep = suppress_overlaps(
            columns["position"], np.abs(columns[self.by]), self._gaps[scan], scan, self._taken, self._spans[scan]
        )
        self._count_suppressed(columns["position"], keep, np.abs(columns[self.by]))
        kept = _take(columns, keep)
        # Only accepted candidates reaching past the first position still open can matter.
        if horizon is None:
            horizon = int(columns["position"][-1])
        fresh = zip(
            kept["position"].tolist(),
            kept["scan"].tolist(),
            self._gaps[kept["scan"]].tolist(),
            self._spans[kept["scan"]].tolist(),
        )
        reach = self._track_reach.tolist()
        self._taken = sorted(entry for entry in [*self._taken, *fresh] if entry[0] + reach[entry[1]] > horizon)
        times = kept.get("time")
        distances = kept.get("distance")
        activations = kept.get("activation")
        present = kept.get("present")
        motifs = []
        for i, (position, ranked, score, cosine, scale, scan) in enumerate(
            zip(kept["position"], kept[self.by], kept["score"], kept["cosine"], kept["scale"], kept["scan"])
        ):
            label = self.labels[scan]
            motifs.append(
                Motif(
                    channel=self.channel,
                    start=int(position),
                    end=int(position) + label.span,
                    score=float(score),
                    cosine=float(cosine),
                    sign=1 if ranked > 0 else -1,
                    scale=float(scale),
                    time=None if times is None else times[i],
                    activation=None if activations is None else float(activations[i]),
                    kernel=label.kernel,
                    dilation=label.dilation,
                    distance=None if distances is None else float(distances[i]),
                    channels=None if present is None else self._member_names(int(present[i])),
                )
            )
        return motifs

    def _member_names(self, mask: int) -> str:
        """The channels of bit mask ``mask`` (bit c: ``members[c]``), joined by ``+``."""
        return "+".join(name for bit, name in enumerate(self.members) if mask >> bit & 1)


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
    the way, so memory holds only plausible motifs. Suppressed candidates are held the same
    way, so that :attr:`suppressed_peaks` counts the stretches of the final threshold.
    """

    def __init__(self, channel: str, span: int, fraction: float, sign: str, min_gap: int):
        super().__init__(channel, span, 0.0, sign, min_gap, by="activation")
        self.fraction = fraction
        #: The strongest finite |activation| seen so far (0 before any).
        self.strongest = 0.0
        self._held: list[Motif] = []
        # Positions and |activation| of suppressed candidates still above the threshold.
        self._suppressed = (np.empty(0, np.int64), np.empty(0))

    def _raise_threshold(self, activation: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            magnitude = np.abs(activation)
            magnitude = magnitude[np.isfinite(magnitude)]
        if magnitude.size:
            self.strongest = max(self.strongest, float(magnitude.max()))
        # A zero strongest activation (silence so far) admits no candidate: zero is no match.
        self.threshold = self.fraction * self.strongest

    def _keep_plausible(self, motifs: list[Motif]) -> None:
        self._held = [m for m in self._held + motifs if m.strength("activation") >= self.threshold]
        position, strength = self._suppressed
        plausible = strength >= self.threshold
        self._suppressed = (position[plausible], strength[plausible])

    def _count_suppressed(self, position: np.ndarray, keep: np.ndarray, strength: np.ndarray) -> None:
        # Counted in finish, on the final threshold: hold the suppressed candidates.
        held_position, held_strength = self._suppressed
        self._suppressed = (
            np.concatenate([held_position, position[~keep]]),
            np.concatenate([held_strength, strength[~keep]]),
        )

    def push(
        self,
        first_position: int,
        track: ScoreTrack | CandidateTrack,
        time: np.ndarray | None = None,
        activation: np.ndarray | None = None,
    ) -> list[Motif]:
        """Like :meth:`ChannelDetector.push`, but returns nothing: see :meth:`finish`."""
        if activation is None:
            raise ValueError("a relative threshold needs the activation track")
        self._raise_threshold(activation)
        self._keep_plausible(super().push(first_position, track, time, activation))
        return []

    def finish(self) -> list[Motif]:
        """Every motif with ``|activation| >= fraction * strongest``, in signal order."""
        self._keep_plausible(super().finish())
        held, self._held = self._held, []
        accepted = np.array([motif.start for motif in held], dtype=np.int64)
        suppressed = self._suppressed[0]
        self._suppressed = (np.empty(0, np.int64), np.empty(0))
        if suppressed.size:
            position = np.concatenate([accepted, suppressed])
            order = np.argsort(position, kind="stable")
            keep = np.concatenate([np.ones(accepted.size, bool), np.zeros(suppressed.size, bool)])[order]
            self._count_stretches(position[order], keep)
            self._close_stretch()
        return sorted(held, key=lambda motif: motif.start)


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
    detector = ChannelDetector(channel, span, threshold, sign, min_gap)
    return sorted(detector.push(0, track, time) + detector.finish(), key=lambda motif: motif.start)
