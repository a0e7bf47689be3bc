"""Detection: thresholding, strongest-first suppression, streaming invariance, top-k."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.detection import ChannelDetector, RelativeChannelDetector, detect_track
from motifscan.motif import Motif, TopMotifs
from motifscan.suppression import candidate_mask
from motifscan.similarity import ScoreTrack
from test_suppression import greedy_by_hand


def track_of(score):
    score = np.asarray(score, dtype=float)
    return ScoreTrack(score, score * 0.99, score * 2)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 600),
    st.integers(0, 30),
    st.integers(1, 12),
    st.lists(st.integers(1, 120), min_size=1, max_size=30),
)
def test_streaming_equals_whole_track_for_any_cut(seed, n, min_gap, span, cuts):
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(-1, 1, n), 1)  # rounding makes many ties
    score[rng.random(n) < 0.05] = np.nan
    track = track_of(score)
    time = np.arange(n) * 0.5
    whole = detect_track(track, channel="x", span=span, threshold=0.6, min_gap=min_gap, time=time)

    detector = ChannelDetector("x", span, 0.6, "any", min_gap)
    streamed, start = [], 0
    for size in cuts * (n // max(1, sum(cuts)) + 1):
        stop = min(n, start + size)
        piece = ScoreTrack(*(values[start:stop] for values in track))
        streamed += detector.push(start, piece, time[start:stop])
        start = stop
        if start == n:
            break
    streamed += detector.finish()
    assert sorted(streamed, key=lambda m: m.start) == whole


def test_motif_fields():
    motifs = detect_track(
        track_of([0, 0.2, 0.95, -0.7, 0, 0]),
        channel="c",
        span=3,
        threshold=0.5,
        time=np.array([10.0, 11, 12, 13, 14, 15]),
    )
    assert len(motifs) == 1  # -0.7 at 3 overlaps the stronger 0.95 at 2
    m = motifs[0]
    assert (m.channel, m.start, m.end, m.sign, m.time) == ("c", 2, 5, 1, 12.0)
    assert m.score == 0.95 and m.cosine == pytest.approx(0.9405) and m.scale == 1.9


def test_min_gap_zero_keeps_every_candidate():
    motifs = detect_track(track_of([0.9, 0.8, 0.7]), channel="c", span=3, threshold=0.5, min_gap=0)
    assert [m.start for m in motifs] == [0, 1, 2]


def test_top_keeps_strongest_with_ties_to_earlier_start_then_channel():
    a = detect_track(track_of([0.9, 0, 0, 0.7, 0, 0, 0.7]), channel="a", span=1, threshold=0.5)
    b = detect_track(track_of([0, 0, 0, 0.7, 0, 0, 0.95]), channel="b", span=1, threshold=0.5)
    top = TopMotifs(3, ["a", "b"])
    top.add(b)
    top.add(a)
    assert [(m.channel, m.start) for m in top.motifs()] == [("a", 0), ("a", 3), ("b", 6)]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 500),
    st.integers(0, 20),
    st.integers(1, 8),
    st.sampled_from([0.3, 0.5, 0.8, 1.0]),
    st.sampled_from(["any", "positive", "negative"]),
    st.lists(st.integers(1, 90), min_size=1, max_size=20),
)
def test_relative_threshold_streaming_equals_the_rule_on_the_whole_track(seed, n, min_gap, span, fraction, sign, cuts):
    rng = np.random.default_rng(seed)
    # Loudness that grows along the signal, so the strongest activation arrives late and
    # early blocks run with a lower threshold than the final one.
    activation = np.round(rng.uniform(-1, 1, n) * np.linspace(1, rng.uniform(1, 20), n), 1)
    activation[rng.random(n) < 0.05] = np.nan
    track = track_of(np.clip(activation / 20, -1, 1))

    strongest = np.nanmax(np.abs(activation)) if np.any(np.isfinite(activation)) else 0.0
    mask = candidate_mask(activation, fraction * strongest, sign)
    positions = np.flatnonzero(mask)
    expected = [int(positions[i]) for i in greedy_by_hand(list(positions), list(np.abs(activation[mask])), min_gap)]

    detector = RelativeChannelDetector("x", span, fraction, sign, min_gap)
    streamed, start = [], 0
    while start < n:
        stop = min(n, start + cuts[len(streamed) % len(cuts)])
        piece = ScoreTrack(*(values[start:stop] for values in track))
        assert detector.push(start, piece, None, activation[start:stop]) == []  # all at the end
        streamed.append(stop)
        start = stop
    motifs = detector.finish()
    assert [m.start for m in motifs] == expected
    assert detector.strongest == strongest
    for motif in motifs:
        assert motif.activation == activation[motif.start]
        assert motif.sign == (1 if activation[motif.start] > 0 else -1)
        assert motif.score == track.score[motif.start]


def test_top_by_activation():
    motifs = [
        Motif("a", 0, 1, 0.9, 0.9, 1, 1.0, activation=2.0),
        Motif("a", 5, 6, 0.1, 0.1, 1, 1.0, activation=-7.0),
        Motif("a", 9, 10, 0.5, 0.5, 1, 1.0, activation=3.0),
    ]
    top = TopMotifs(2, ["a"], by="activation")
    top.add(motifs)
    assert [m.start for m in top.motifs()] == [5, 9]
    top = TopMotifs(2, ["a"])
    top.add(motifs)
    assert [m.start for m in top.motifs()] == [0, 9]


def suppressed_peaks_by_hand(score, threshold, accepted_starts, sign="any"):
    """Stretches of consecutive candidate positions with no accepted start in them."""
    mask = candidate_mask(score, threshold, sign)
    count, inside, kept = 0, False, False
    for position, candidate in enumerate(list(mask) + [False]):
        if candidate and not inside:
            inside, kept = True, False
        if candidate and position in accepted_starts:
            kept = True
        if not candidate and inside:
            count += not kept
            inside = False
    return count


def test_suppressed_peaks_count_separate_peaks_not_the_flanks_of_a_motif():
    # One wide peak (positions 0-3), a separate weaker peak at 5 within the gap, and one
    # far away: the motif at 1 hides the peak at 5, not its own flanks 0, 2, 3.
    score = [0.7, 0.9, 0.8, 0.6, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8]
    detector = ChannelDetector("c", 3, 0.5, "any", 6)
    motifs = detector.push(0, track_of(score)) + detector.finish()
    assert [m.start for m in motifs] == [1, 11]
    assert detector.suppressed_peaks == 1
    wide = ChannelDetector("c", 3, 0.5, "any", 2)
    assert [m.start for m in wide.push(0, track_of(score)) + wide.finish()] == [1, 3, 5, 11]
    assert wide.suppressed_peaks == 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 600),
    st.integers(0, 30),
    st.integers(1, 12),
    st.lists(st.integers(1, 120), min_size=1, max_size=30),
    st.sampled_from(["any", "positive"]),
)
def test_suppressed_peaks_are_the_same_for_any_cut(seed, n, min_gap, span, cuts, sign):
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(-1, 1, n), 1)
    score[rng.random(n) < 0.05] = np.nan
    track = track_of(score)
    whole = ChannelDetector("x", span, 0.6, sign, min_gap)
    accepted = {m.start for m in whole.push(0, track) + whole.finish()}
    assert whole.suppressed_peaks == suppressed_peaks_by_hand(score, 0.6, accepted, sign)

    detector = ChannelDetector("x", span, 0.6, sign, min_gap)
    start = 0
    for size in cuts * (n // max(1, sum(cuts)) + 1):
        stop = min(n, start + size)
        detector.push(start, ScoreTrack(*(values[start:stop] for values in track)))
        start = stop
        if start == n:
            break
    detector.finish()
    assert detector.suppressed_peaks == whole.suppressed_peaks


def test_suppressed_peaks_survive_a_forced_decision(monkeypatch):
    """A cluster longer than max_open is decided in parts; the count stays the same."""
    score = np.tile([0.9, 0.8, 0.0, 0.6, 0.0], 12)  # each 0.6 lies within 5 of a 0.9: hidden
    motifs = []
    monkeypatch.setattr(ChannelDetector, "max_open", 4)
    detector = ChannelDetector("x", 4, 0.5, "any", 5)
    for start in range(0, score.size, 3):
        motifs += detector.push(start, track_of(score[start : start + 3]))
    motifs += detector.finish()
    assert [m.start for m in motifs] == list(range(0, score.size, 5))
    assert detector.suppressed_peaks == 12 == suppressed_peaks_by_hand(score, 0.5, {m.start for m in motifs})


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 400),
    st.integers(0, 20),
    st.floats(0.2, 0.9),
    st.lists(st.integers(1, 80), min_size=1, max_size=20),
)
def test_suppressed_peaks_of_the_convolution_use_the_final_threshold(seed, n, min_gap, fraction, cuts):
    rng = np.random.default_rng(seed)
    activation = np.round(rng.normal(0, 1, n) * np.linspace(0.2, 3, n), 1)  # rising: the threshold moves
    score = np.tanh(activation)
    track = ScoreTrack(score, score, activation)
    detector = RelativeChannelDetector("x", 3, fraction, "any", min_gap)
    start = 0
    for size in cuts * (n // max(1, sum(cuts)) + 1):
        stop = min(n, start + size)
        detector.push(start, ScoreTrack(*(values[start:stop] for values in track)), activation=activation[start:stop])
        start = stop
        if start == n:
            break
    accepted = {m.start for m in detector.finish()}
    threshold = fraction * np.abs(activation).max()
    assert detector.suppressed_peaks == suppressed_peaks_by_hand(activation, threshold, accepted)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 400),
    st.integers(0, 30),
    st.integers(1, 12),
    st.lists(st.integers(1, 120), min_size=1, max_size=8),
)
def test_held_runs_settle_and_resume_to_the_whole_tracks_motifs(seed, n, min_gap, span, cuts):
    """A run that stops early (--state) reports what settle() decides and hands undecided()
    to the next run's detector: the runs together give the whole track's motifs, and what
    is not reported yet is still open."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(-1, 1, n), 1)  # rounding makes many ties
    track = track_of(score)
    whole = detect_track(track, channel="x", span=span, threshold=0.6, min_gap=min_gap)
    reported, carried, start = [], None, 0
    for size in cuts * (n // max(1, sum(cuts)) + 1):
        stop = min(n, start + size)
        detector = ChannelDetector("x", span, 0.6, "any", min_gap)
        if carried is not None:
            detector.resume(*carried)
        reported += detector.push(start, ScoreTrack(*(values[start:stop] for values in track)))
        reported += detector.settle()
        carried = detector.undecided()
        start = stop
        if stop == n:
            break
    open_positions = set(carried[0]["position"].tolist())
    assert len({m.start for m in reported}) == len(reported)
    assert set(reported) <= set(whole)
    assert all(m.start in open_positions for m in set(whole) - set(reported))
    last = ChannelDetector("x", span, 0.6, "any", min_gap)
    last.resume(*carried)
    assert sorted(reported + last.finish(), key=lambda m: m.start) == whole
