"""Fitting: the analytic gradients against finite differences, the pieces of the fit, and
the acceptance check on the synthetic look-alike recording."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.fitting import (
    align_positives,
    choose_cutoff,
    cosine_track,
    cosines,
    fit_kernel,
    match_detections,
    mine_negatives,
    peaks,
    scan_metric,
    sharpness_for,
    starting_kernel,
    triplet_loss,
    windows_at,
)

ROOT = Path(__file__).resolve().parents[1]


def generator():
    """sample_data/make_lookalikes.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_lookalikes", ROOT / "sample_data" / "make_lookalikes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def triplets(seed: int, m: int = 7, n_pos: int = 4, n_neg: int = 5):
    rng = np.random.default_rng(seed)
    shape = rng.standard_normal(m)
    positives = shape + 0.4 * rng.standard_normal((n_pos, m))
    negatives = shape + 1.0 * rng.standard_normal((n_neg, m))
    return shape + 0.3 * rng.standard_normal(m), positives, negatives


def central_difference(function, x: np.ndarray, step: float) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (function(up) - function(down)) / (2 * step)
    return grad


def assert_relative(analytic: np.ndarray, numeric: np.ndarray, tolerance: float = 1e-6):
    # Relative to the gradient's size: the central difference with step h errs by about
    # h^2 |f'''| (truncation, ~1e-12 here) plus eps |f| / h (round-off, ~1e-10), both far
    # below 1e-6 of a gradient whose entries are of order 0.01-1.
    error = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
    assert error < tolerance, error


def hinges_clear_of_kinks(kernel, metric, positives, negatives, margin, normalize="none") -> bool:
    """The squared hinge's second derivative jumps at z = 0: keep finite differences off it."""
    cos = cosines(kernel, np.concatenate([positives, negatives]), metric, normalize)
    z = margin - cos[: len(positives), None] + cos[None, len(positives) :]
    return bool(np.min(np.abs(z)) > 1e-3) and bool(np.any(z > 0))


@pytest.mark.parametrize("kind", ["none", "diagonal", "full", "rectangular"])
@pytest.mark.parametrize("seed", range(4))
def test_gradients_agree_with_finite_differences(kind, seed):
    kernel, positives, negatives = triplets(seed)
    rng = np.random.default_rng(100 + seed)
    m = kernel.size
    metric = {
        "none": None,
        "diagonal": 1 + 0.3 * rng.standard_normal(m),
        "full": np.eye(m) + 0.3 * rng.standard_normal((m, m)),
        "rectangular": rng.standard_normal((3, m)),
    }[kind]
    margin = 0.5
    assert hinges_clear_of_kinks(kernel, metric, positives, negatives, margin)
    loss, grad_kernel, grad_metric = triplet_loss(kernel, metric, positives, negatives, margin, 0.05)
    assert loss > 0
    numeric = central_difference(lambda k: triplet_loss(k, metric, positives, negatives, margin, 0.05)[0], kernel, 1e-6)
    assert_relative(grad_kernel, numeric)
    if metric is not None:
        numeric = central_difference(
            lambda w: triplet_loss(kernel, w, positives, negatives, margin, 0.05)[0], metric, 1e-6
        )
        assert_relative(grad_metric, numeric)
    else:
        assert grad_metric is None


@pytest.mark.parametrize("normalize", ["center", "zscore"])
@pytest.mark.parametrize("kind", ["none", "diagonal", "full", "rectangular"])
@pytest.mark.parametrize("seed", range(3))
def test_centred_gradients_agree_with_finite_differences(normalize, kind, seed):
    # Windows on offsets of +-5 and a kernel on its own offset: the centred loss must not
    # see them, and its gradient must still be the derivative of what it computes.
    kernel, positives, negatives = triplets(seed)
    rng = np.random.default_rng(200 + seed)
    m = kernel.size
    kernel = kernel + 3.0
    positives = positives + rng.uniform(-5, 5, (len(positives), 1))
    negatives = negatives + rng.uniform(-5, 5, (len(negatives), 1))
    metric = {
        "none": None,
        "diagonal": 1 + 0.3 * rng.standard_normal(m),
        "full": np.eye(m) + 0.3 * rng.standard_normal((m, m)),
        "rectangular": rng.standard_normal((3, m)),
    }[kind]
    margin = 0.5
    assert hinges_clear_of_kinks(kernel, metric, positives, negatives, margin, normalize)
    loss, grad_kernel, grad_metric = triplet_loss(kernel, metric, positives, negatives, margin, 0.05, normalize)
    assert loss > 0
    numeric = central_difference(
        lambda k: triplet_loss(k, metric, positives, negatives, margin, 0.05, normalize)[0], kernel, 1e-6
    )
    assert_relative(grad_kernel, numeric)
    assert abs(grad_kernel.sum()) < 1e-12 * np.abs(grad_kernel).sum() + 1e-15  # moving k's mean changes nothing
    if metric is not None:
        numeric = central_difference(
            lambda w: triplet_loss(kernel, w, positives, negatives, margin, 0.05, normalize)[0], metric, 1e-6
        )
        assert_relative(grad_metric, numeric)
    # The centred loss is the plain loss of the centred windows and kernel.
    plain = triplet_loss(
        kernel - kernel.mean(),
        metric,
        positives - positives.mean(axis=1, keepdims=True),
        negatives - negatives.mean(axis=1, keepdims=True),
        margin,
        0.05,
    )[0]
    assert loss == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("kind", ["none", "diagonal", "full"])
@pytest.mark.parametrize("normalize", ["none", "center"])
def test_cosine_track_is_the_cosine_detect_scores(kind, normalize):
    import motifscan

    rng = np.random.default_rng(7)
    signal = np.cumsum(rng.standard_normal(400)) + 50.0
    kernel = rng.standard_normal(9)
    metric = {
        "none": None,
        "diagonal": rng.uniform(0.5, 2.0, 9),
        "full": np.eye(9) + 0.2 * rng.standard_normal((9, 9)),
    }[kind]
    track = cosine_track(signal, kernel, metric, normalize)
    windows = np.lib.stride_tricks.sliding_window_view(signal, 9)
    # The reference: every window centred (or not) and projected, one by one.
    np.testing.assert_allclose(track, cosines(kernel, windows, metric, normalize), atol=1e-9)
    folded = scan_metric(metric, normalize, 9)
    scanned = motifscan.scan(signal, kernel, metric=folded, normalize=normalize if metric is None else "none", p=1.0)
    np.testing.assert_allclose(track, scanned, atol=1e-9)


def test_fitting_centred_ignores_a_baseline_a_raw_fit_cannot():
    module = generator()
    values, labels = module.make_drifting_recording(3)
    cut, length = module.TRAINING_ROWS, module.LENGTH
    train_pos = [s for s, e, label in labels if label == "positive" and s < cut]
    train_neg = [s for s, e, label in labels if label == "negative" and s < cut]
    held = np.array([s - cut for s, e, label in labels if label == "positive" and s >= cut])
    f1 = {}
    for normalize in ("none", "center"):
        result = fit_kernel(values[:cut], train_pos, train_neg, length, normalize=normalize)
        assert abs(result.kernel.mean()) < 1e-9 * np.abs(result.kernel).max() or normalize == "none"
        track = cosine_track(values[cut:], result.kernel, result.metric, normalize)
        positions, strength = peaks(track, length)
        found = positions[strength >= result.cutoff]
        f1[normalize] = match_detections(found, strength[strength >= result.cutoff], held, length // 2)["f1"]
    assert f1["center"] >= 0.9 and f1["none"] < 0.8, f1


def test_loss_is_zero_when_every_triplet_meets_the_margin():
    kernel = np.array([1.0, 2.0, 3.0])
    loss, grad, _ = triplet_loss(kernel, None, kernel[None, :] * 2, np.array([[3.0, 2.0, 1.0]]), 0.1, 0)
    assert loss == 0 and not np.any(grad)


def test_a_window_the_metric_maps_to_zero_has_cosine_zero_and_no_gradient():
    metric = np.array([[1.0, -1.0, 0.0]])
    kernel = np.array([1.0, 2.0, 3.0])
    flat = np.array([[5.0, 5.0, 5.0]])
    assert cosines(kernel, flat, metric)[0] == 0
    loss, grad, grad_metric = triplet_loss(kernel, metric, np.array([[1.0, 3.0, 0.0]]), flat, 1.5, 0)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(grad_metric)) and loss > 0


def test_alignment_finds_shifted_copies():
    rng = np.random.default_rng(5)
    x = 0.01 * rng.standard_normal(400)
    bump = np.sin(np.linspace(0, 2 * np.pi, 20)) + np.linspace(0, 1, 20)  # no flat edges
    for start in (50, 150, 250, 330):
        x[start : start + 20] += bump
    aligned = align_positives(x, [52, 147, 250, 333], 20, shift=4)
    assert list(aligned) == [50, 150, 250, 330]


def test_starting_kernel_weighs_each_positive_equally():
    positives = np.array([[1.0, 0.0], [0.0, 100.0]])
    kernel = starting_kernel(positives)
    assert kernel[0] == pytest.approx(kernel[1])
    assert np.linalg.norm(kernel) == pytest.approx(50.5)
    with pytest.raises(MotifscanError, match="all zeros"):
        starting_kernel(np.zeros((1, 3)))
    with pytest.raises(MotifscanError, match="cancel out"):
        starting_kernel(np.array([[1.0, 1.0], [-1.0, -1.0]]))


def test_windows_must_fit_and_be_finite():
    x = np.arange(10.0)
    x[7] = np.nan
    with pytest.raises(MotifscanError, match="does not fit"):
        windows_at(x, [8], 3)
    with pytest.raises(MotifscanError, match="NaN"):
        windows_at(x, [5], 3)


def test_mining_skips_the_positives_and_takes_the_strongest():
    track = np.zeros(100)
    track[[10, 40, 70]] = [0.9, 0.5, 0.7]
    assert list(mine_negatives(track, 5, np.array([8]), 5)) == [40, 70]
    assert list(mine_negatives(track, 5, np.array([8]), 1)) == [70]


def test_mining_takes_windows_shifted_past_the_tolerance_and_no_inverted_ones():
    # Length 10: a peak 6 samples after a positive is further than half a window from it,
    # a false positive detect would report; one 4 samples after is the positive itself.
    track = np.zeros(100)
    track[[20, 24, 46, 80]] = [0.9, 0.95, 0.8, -0.99]
    assert list(mine_negatives(track, 10, np.array([20]), 5)) == [46]
    track[26] = 0.97
    assert list(mine_negatives(track, 10, np.array([20]), 5)) == [26, 46]
    assert 80 not in peaks(track, 10)[0]


def test_cutoff_lies_in_the_middle_of_the_best_gap():
    assert choose_cutoff(np.array([0.9, 0.95]), np.array([0.5, 0.7])) == pytest.approx(0.8)
    # Not separable: taking the positive at 0.6 with the negative at 0.8 gives F1 6/7,
    # better than stopping above 0.8 (F1 4/5): the cut-off falls between 0.6 and 0.3.
    assert choose_cutoff(np.array([0.9, 0.85, 0.6]), np.array([0.8, 0.3])) == pytest.approx(0.45)
    # Equal F1: the widest gap wins.
    assert choose_cutoff(np.array([0.9]), np.array([0.89, 0.2])) == pytest.approx(0.895)
    assert sharpness_for(0.8) ** 2 == pytest.approx(np.log(0.5) / np.log(0.8))
    assert 0.8 ** (sharpness_for(0.8) ** 2) == pytest.approx(0.5)
    assert sharpness_for(0.0) == 1.0


def test_match_detections_counts_each_label_once():
    result = match_detections(
        np.array([10, 12, 50, 90]), np.array([0.9, 0.95, 0.8, 0.7]), np.array([11, 52, 200]), tolerance=3
    )
    assert (result["true_positives"], result["false_positives"], result["false_negatives"]) == (2, 2, 1)
    assert result["precision"] == 0.5 and result["recall"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert match_detections(np.zeros(0, dtype=int), np.zeros(0), np.array([5]), 3)["precision"] == 0.0


def test_fit_needs_a_positive_and_a_known_metric():
    x = np.sin(np.arange(200) / 5.0)
    with pytest.raises(MotifscanError, match="positive"):
        fit_kernel(x, [], [10], 20)
    with pytest.raises(MotifscanError, match="^metric must be one of"):
        fit_kernel(x, [10], [], 20, metric="cosine")


def held_out_f1(module, kernel, p, threshold, metric):
    import motifscan

    values, labels = module.make_recording()
    cut = module.TRAINING_ROWS
    positives = np.array([s - cut for s, label in labels if label == "positive" and s >= cut])
    motifs = motifscan.detect(values[cut:], kernel, p=p, threshold=threshold, metric=metric)
    starts = np.array([m.start for m in motifs], dtype=int)
    strengths = np.array([abs(m.score) for m in motifs])
    return match_detections(starts, strengths, positives, module.LENGTH // 2)["f1"]


@pytest.mark.parametrize("metric", ["none", "diagonal", "full"])
def test_fit_from_five_positives_and_five_negatives_beats_the_mean(metric):
    """Done when: fitted held-out F1 >= 0.95, clearly above the mean of the positives at p = 1."""
    module = generator()
    values, labels = module.make_recording()
    cut = module.TRAINING_ROWS
    positives = [s for s, label in labels if label == "positive" and s < cut]
    negatives = [s for s, label in labels if label == "negative" and s < cut]
    assert len(positives) == len(negatives) == 5
    result = fit_kernel(values[:cut], positives, negatives, module.LENGTH, metric=metric)
    fitted = held_out_f1(module, result.kernel, result.p, result.threshold, result.metric)
    start = held_out_f1(module, result.start_kernel, 1.0, 0.5, None)
    assert fitted >= 0.95
    assert start <= 0.6
    assert (result.metric is None) == (metric == "none")


def test_the_sample_files_are_what_the_generator_makes(sample_data):
    module = generator()
    values, labels = module.make_recording()
    lines = (sample_data / "lookalikes.csv").read_text().splitlines()
    assert lines[0] == "value" and len(lines) == module.SAMPLES + 1
    np.testing.assert_allclose(np.array(lines[1:], dtype=float), values, atol=5e-5)
    rows = (sample_data / "lookalikes_labels.csv").read_text().splitlines()
    assert rows[1:] == [f"{s},{s + module.LENGTH},{label}" for s, label in labels]


def test_missing_values_in_the_training_signal_are_skipped():
    module = generator()
    values, labels = module.make_recording()
    values = values[:3000].copy()
    positives = [s for s, label in labels if label == "positive" and s < 3000]
    negatives = [s for s, label in labels if label == "negative" and s < 3000]
    values[positives[0] + 45] = np.nan  # next to a positive: its neighbourhood has unscored windows
    values[100:110] = np.nan
    result = fit_kernel(values, positives, negatives, module.LENGTH)
    assert np.all(np.isfinite(result.kernel)) and 0 < result.cutoff < 1
    assert not np.any((result.mined > 60) & (result.mined < 110))  # no window over the gap
