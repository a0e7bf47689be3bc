"""Candidates and strongest-first suppression: the rule, against O(c^2) versions by hand."""

import numpy as np
from hypothesis import given, settings, strategies as st

from motifscan.suppression import candidate_mask, suppress_overlaps


def greedy_by_hand(positions, strengths, min_gap):
    """Textbook O(c^2) version of the rule in docs/architecture.md, "Definitions"."""
    order = sorted(range(len(positions)), key=lambda i: (-strengths[i], positions[i]))
    accepted = []
    for i in order:
        if all(abs(positions[i] - positions[j]) >= min_gap for j in accepted):
            accepted.append(i)
    return sorted(accepted)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.sampled_from([0.5, 0.6, 0.7, 0.9, 1.0])),
        max_size=80,
        unique_by=lambda t: t[0],
    ),
    st.integers(0, 40),
)
def test_suppress_overlaps_follows_the_rule(candidates, min_gap):
    candidates.sort()
    positions = np.array([c[0] for c in candidates], dtype=np.int64)
    strengths = np.array([c[1] for c in candidates])
    kept = np.flatnonzero(suppress_overlaps(positions, strengths, min_gap))
    assert list(kept) == greedy_by_hand(list(positions), list(strengths), min_gap)


def test_ties_go_to_the_earlier_position():
    kept = suppress_overlaps(np.array([10, 12]), np.array([0.8, 0.8]), 3)
    assert list(kept) == [True, False]


def test_candidate_mask_signs_threshold_and_nan():
    score = np.array([0.9, -0.9, 0.4, np.nan, 0.0, -0.5])
    assert list(candidate_mask(score, 0.5)) == [True, True, False, False, False, True]
    assert list(candidate_mask(score, 0.5, "positive")) == [True, False, False, False, False, False]
    assert list(candidate_mask(score, 0.5, "negative")) == [False, True, False, False, False, True]
    assert not candidate_mask(score, 0.0)[4]  # a zero score is no match, even at threshold 0


def greedy_of_scans_by_hand(positions, strengths, scans, gaps, spans):
    """The rule with several tracks, O(c^2): candidates of one track conflict when closer
    than its gap, candidates of different tracks when their windows overlap."""
    order = sorted(range(len(positions)), key=lambda i: (-strengths[i], positions[i], scans[i]))
    accepted = []

    def conflict(i, j):
        if scans[i] == scans[j]:
            return abs(positions[i] - positions[j]) < gaps[scans[i]]
        return positions[i] < positions[j] + spans[scans[j]] and positions[j] < positions[i] + spans[scans[i]]

    for i in order:
        if not any(conflict(i, j) for j in accepted):
            accepted.append(i)
    return sorted(accepted)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 2), st.sampled_from([0.5, 0.6, 0.7, 0.9, 1.0])),
        max_size=80,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.lists(st.integers(0, 30), min_size=3, max_size=3),
    st.lists(st.integers(1, 30), min_size=3, max_size=3),
)
def test_suppress_overlaps_of_several_tracks_follows_the_rule(candidates, gaps, spans):
    candidates.sort()
    positions = np.array([c[0] for c in candidates], dtype=np.int64)
    scans = np.array([c[1] for c in candidates], dtype=np.int64)
    strengths = np.array([c[2] for c in candidates])
    kept = suppress_overlaps(
        positions, strengths, np.array(gaps)[scans], scans, spans=np.array(spans, dtype=np.int64)[scans]
    )
    expected = greedy_of_scans_by_hand(list(positions), list(strengths), list(scans), gaps, spans)
    assert list(np.flatnonzero(kept)) == expected
