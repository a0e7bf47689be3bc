"""The NumPy oracle against first principles: exact fractions, the seed example, definitions."""

from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.similarity import sliding_cosine, span
from motifscan.similarity.reference import sliding_cosine_reference, unit_kernel

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


def exact_cosine(window, kernel) -> float:
    """cosine with exact rational dot and norms, rounded once at the end."""
    w = [Fraction(v) for v in window]
    k = [Fraction(v) for v in kernel]
    dot = sum(a * b for a, b in zip(w, k))
    ww = sum(a * a for a in w)
    if ww == 0:
        return 0.0
    kk = sum(b * b for b in k)
    return float(dot) / math.sqrt(float(ww) * float(kk)) if dot else 0.0


COSINE_TOLERANCE = 1e-14


def score_tolerance(q: float, delta: float = COSINE_TOLERANCE) -> float:
    """Largest change of ``sign(c) |c| ** q`` when ``c`` moves by at most ``delta``.

    For ``q >= 1`` the power is ``q``-Lipschitz on [-1, 1]; for ``q < 1`` it is only Hölder
    continuous, ``| |a|**q - |b|**q | <= |a - b| ** q``, and a cosine that is round-off
    around 0 may change sign, so twice that. A fixed absolute tolerance is wrong for small
    ``p``: ``p = 0.5`` turns a 3e-17 round-off cosine into a score of 7.7e-5.
    """
    return q * delta if q >= 1 else 2 * delta**q


def test_score_tolerance_covers_a_round_off_cosine_at_small_p():
    c, noise, q = 0.0, 3e-17, 0.25
    assert abs(math.copysign(abs(noise) ** q, noise) - c) <= score_tolerance(q)
    assert abs(math.copysign(abs(noise) ** q, noise) - c) > 1e-12  # the old, fixed tolerance


def test_seed_example_at_p9():
    track = sliding_cosine_reference(SEED, np.array([1.0, 2, 3]), 9, 1)
    strong = np.flatnonzero(np.abs(track.score) >= 0.5)
    assert list(strong) == [4, 11, 18]  # A, B, C; not D (25) nor E (32)
    assert track.score[4] == pytest.approx(1.0) and track.scale[4] == pytest.approx(1.0)
    assert track.score[11] == pytest.approx(-1.0) and track.scale[11] == pytest.approx(-1.0)
    assert track.score[18] == pytest.approx(1.0) and track.scale[18] == pytest.approx(0.2)
    assert abs(track.score[25]) < 0.01 and abs(track.score[32]) < 1e-6


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=40),
    st.lists(st.integers(-5, 5), min_size=1, max_size=6).filter(any),
    st.integers(1, 3),
    st.floats(0.1, 9),
)
def test_reference_matches_exact_arithmetic(values, kernel, dilation, p):
    x = np.array(values, dtype=float)
    k = np.array(kernel, dtype=float)
    if x.size < span(k.size, dilation):
        return
    track = sliding_cosine_reference(x, k, p, dilation)
    for i in range(track.score.size):
        window = x[i : i + span(k.size, dilation) : dilation]
        c = exact_cosine(window, k)
        assert track.cosine[i] == pytest.approx(c, abs=COSINE_TOLERANCE)
        assert track.score[i] == pytest.approx(math.copysign(abs(c) ** (p * p), c), abs=score_tolerance(p * p))
        dot = float(sum(Fraction(a) * Fraction(b) for a, b in zip(window, k)))
        assert track.scale[i] == pytest.approx(dot / float(np.dot(k, k)), rel=1e-12, abs=1e-12)


def test_zero_windows_score_zero_and_nan_windows_are_unscored():
    x = np.array([0, 0, 0, 1, np.nan, 2, 3, np.inf, 4, 5, 6], dtype=float)
    track = sliding_cosine_reference(x, np.array([1.0, 1.0]), 2, 1)
    assert track.score[0] == 0 and track.cosine[0] == 0 and track.scale[0] == 0
    assert np.isnan(track.score[[3, 4, 6, 7]]).all()
    assert not np.isnan(track.score[[0, 1, 2, 5, 8, 9]]).any()


@pytest.mark.parametrize("magnitude", [1e-300, 1e-160, 1e160, 1e300])
def test_huge_and_tiny_values_keep_their_cosine(magnitude):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(200)
    k = rng.standard_normal(16)
    plain = sliding_cosine_reference(x, k, 3, 2)
    scaled = sliding_cosine_reference(x * magnitude, k * magnitude, 3, 2)
    np.testing.assert_allclose(scaled.cosine, plain.cosine, atol=1e-14)
    np.testing.assert_allclose(scaled.scale, plain.scale, rtol=1e-12)
    assert np.isfinite(scaled.score).all()


def test_unit_kernel_never_overflows():
    unit, norm = unit_kernel(np.array([1e300, 1e300, -1e300]))
    assert np.isclose(np.dot(unit, unit), 1.0) and norm == pytest.approx(math.sqrt(3) * 1e300)
    unit, norm = unit_kernel(np.array([3e-310, 4e-310]))
    assert np.allclose(unit, [0.6, 0.8]) and norm == pytest.approx(5e-310)


def test_dispatcher_returns_empty_track_when_signal_is_shorter_than_span():
    track = sliding_cosine(np.ones(3), np.ones(3), 1, 2)
    assert track.score.shape == (0,)
