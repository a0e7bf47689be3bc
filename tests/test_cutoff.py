"""The fitted cut-off checked on pooled held-out folds (motifscan/cutoff.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motifscan.cutoff import (
    DEFAULT_FEWER_ERRORS,
    pooled_errors,
    pooled_f1,
    relative_to_cutoff,
    validated_shift,
)


def reference_shift(positive, negative, fewer_errors):
    """The rule's first half by brute force: 0 (keep the training cut-off) unless some
    cut-off on a fine grid makes ``fewer_errors`` fewer mistakes; else the fewest mistakes."""
    values = np.unique(np.concatenate([positive, negative]))
    # Values are multiples of 0.01 within [-5, 5]: a step under 0.01 puts a grid point in
    # every gap between neighbouring values.
    grid = np.linspace(values[0] - 1, values[-1] + 1, 2001)
    counts = np.sum(positive[:, None] < grid, axis=0) + np.sum(negative[:, None] >= grid, axis=0)
    if counts.min() > pooled_errors(positive, negative, 0.0) - fewer_errors:
        return 0.0
    return int(counts.min())


def test_relative_scale_is_zero_at_the_cutoff_and_one_a_spread_above():
    np.testing.assert_allclose(relative_to_cutoff(np.array([0.7, 0.8, 0.5]), 0.7, 0.1), [0.0, 1.0, -2.0])


def test_errors_and_f1_at_a_cutoff():
    positive, negative = np.array([0.9, 0.5, 0.2]), np.array([0.6, 0.1])
    assert pooled_errors(positive, negative, 0.4) == 2  # 0.2 missed, 0.6 let in
    assert pooled_f1(positive, negative, 0.4) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert pooled_f1(np.zeros(0), negative, 0.4) == 0.0


def test_keeps_the_training_cutoff_when_the_folds_agree_with_it():
    assert validated_shift(np.array([1.0, 2.0, 0.5]), np.array([-3.0, -1.0])) == 0.0


def test_one_label_on_the_wrong_side_does_not_move_it():
    # One held-out positive a little below the training cut-off: one mistake, which one
    # fold of a handful of labels makes by chance.
    assert validated_shift(np.array([1.0, 2.0, -0.5]), np.array([-3.0, -1.0])) == 0.0


def test_two_labels_on_the_wrong_side_move_it_to_the_middle_of_the_gap():
    # Two held-out positives below the training cut-off, negatives further down: moving
    # to the middle of the gap between -0.8 and -2 mends both.
    shift = validated_shift(np.array([1.0, -0.5, -0.8]), np.array([-3.0, -2.0]))
    assert shift == pytest.approx(-1.4)
    # And upwards: two held-out negatives above it, positives higher still.
    assert validated_shift(np.array([2.0, 3.0]), np.array([0.4, 0.6, -2.0])) == pytest.approx(1.3)


def test_the_margin_is_a_parameter():
    positive, negative = np.array([1.0, 2.0, -0.5]), np.array([-3.0, -1.0])
    assert validated_shift(positive, negative, fewer_errors=1) == pytest.approx(-0.75)
    assert DEFAULT_FEWER_ERRORS == 2


def test_below_every_value_the_gap_is_one_unit_wide():
    # Every held-out positive below the training cut-off, no negative: the cut-off goes
    # half a unit below the lowest.
    assert validated_shift(np.array([-2.0, -3.0]), np.zeros(0)) == pytest.approx(-3.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8),
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=0, max_size=8),
    st.integers(1, 3),
)
def test_the_shift_never_makes_more_mistakes_and_moves_only_past_the_margin(positive, negative, fewer_errors):
    positive, negative = np.round(np.array(positive), 2), np.round(np.array(negative), 2)
    shift = validated_shift(positive, negative, fewer_errors)
    at_training = pooled_errors(positive, negative, 0.0)
    fewest = reference_shift(positive, negative, fewer_errors)
    if shift == 0.0:
        # Kept: no cut-off on a fine grid makes fewer_errors fewer mistakes.
        assert fewest == 0.0 or fewest > at_training - fewer_errors
    else:
        # Moved: to a cut-off with the fewest mistakes there are, past the margin.
        assert pooled_errors(positive, negative, shift) == fewest <= at_training - fewer_errors
        # In the middle of a gap: no pooled value lies on it.
        assert not np.any(np.concatenate([positive, negative]) == shift)
