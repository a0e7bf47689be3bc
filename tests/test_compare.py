"""The two methods side by side: pairing motifs, and the seed example."""

import numpy as np
from hypothesis import given, settings, strategies as st

from motifscan.compare import Comparison, pair_motifs
from motifscan.config import DetectConfig
from motifscan.motif import Motif
from motifscan.signal import signal_from_arrays
from motifscan.pipeline import detect_all

SEED = np.array(
    [
        0,
        0,
        0,
        0,
        1,
        2,
        3,
        0,
        0,
        0,
        0,
        -1,
        -2,
        -3,
        0,
        0,
        0,
        0,
        0.2,
        0.4,
        0.6,
        0,
        0,
        0,
        0,
        2,
        2,
        2,
        0,
        0,
        0,
        0,
        3,
        2,
        1,
        0,
        0,
        0,
        0,
    ],
    dtype=float,
)


def motif(channel, start, span=3):
    return Motif(channel, start, start + span, 1.0, 1.0, 1, 1.0)


def test_overlapping_windows_pair_up_and_the_rest_stand_alone():
    cosine = [motif("a", 4), motif("a", 18), motif("b", 4)]
    conv = [motif("a", 5), motif("a", 25), motif("b", 7)]
    rows = pair_motifs(cosine, conv, ["a", "b"])
    assert [(r.channel, r.cosine and r.cosine.start, r.conv and r.conv.start, r.found_by) for r in rows] == [
        ("a", 4, 5, "both"),
        ("b", 4, None, "cosine only"),  # other channel's 5 does not count; 7 does not overlap 4..6
        ("b", None, 7, "conv only"),
        ("a", 18, None, "cosine only"),
        ("a", None, 25, "conv only"),
    ]


def test_the_larger_overlap_wins_and_a_motif_pairs_once():
    cosine = [motif("a", 10, span=4)]
    conv = [motif("a", 7, span=4), motif("a", 11, span=4)]  # overlaps of 1 and 3 samples
    rows = pair_motifs(cosine, conv, ["a"])
    assert [(r.cosine and r.cosine.start, r.conv.start) for r in rows] == [(None, 7), (10, 11)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 60), max_size=12, unique=True),
    st.lists(st.integers(0, 60), max_size=12, unique=True),
    st.integers(1, 6),
)
def test_every_motif_is_in_exactly_one_row_and_pairs_overlap(cosine_starts, conv_starts, span):
    cosine = [motif("a", s, span) for s in sorted(cosine_starts)]
    conv = [motif("a", s, span) for s in sorted(conv_starts)]
    rows = pair_motifs(cosine, conv, ["a"])
    assert sorted(r.cosine.start for r in rows if r.cosine) == sorted(cosine_starts)
    assert sorted(r.conv.start for r in rows if r.conv) == sorted(conv_starts)
    for row in rows:
        if row.found_by == "both":
            assert abs(row.cosine.start - row.conv.start) < span
    assert [r.start for r in rows] == sorted(r.start for r in rows)


def test_seed_cosine_finds_a_b_c_and_conv_d_e_but_not_c():
    config = DetectConfig(kernel=(1, 2, 3), p=9)
    run = Comparison(signal_from_arrays({"signal": SEED}), config).run()
    assert [(m.start, m.sign) for m in run.motifs["cosine"]] == [(4, 1), (11, -1), (18, 1)]
    assert [(m.start, m.activation) for m in run.motifs["conv"]] == [(4, 14), (11, -14), (25, 12), (31, 12)]
    assert [row.found_by for row in run.rows] == ["both", "both", "cosine only", "conv only", "conv only"]
    assert run.summary.strongest_activation == {"signal": 14.0}
    assert run.summary.samples == 39 and run.summary.motifs == 7


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.sampled_from([None, 2]))
def test_each_side_equals_its_own_detection_whatever_the_blocks(seed, block_rows, top):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, 600)
    x[rng.choice(590, 6, replace=False)] += 3
    config = DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6, top=top)
    run = Comparison(signal_from_arrays({"x": x}, block_rows=block_rows), config).run()
    for method in ("cosine", "conv"):
        alone, _ = detect_all(
            signal_from_arrays({"x": x}), DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.6, top=top, method=method)
        )
        assert [(m.start, m.score) for m in run.motifs[method]] == [(m.start, m.score) for m in alone]
