"""motifscan fit's glue: reading, splitting, validating, reporting."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.cutoff import validated_shift
from motifscan.fitting import fit_kernel, match_detections
from motifscan.training import FitConfig, cross_validate, fold_cuts, free_cut, positive_spread, run_fit

ROOT = Path(__file__).resolve().parents[1]
RECORDING = str(ROOT / "sample_data" / "lookalikes.csv")
LABELS = str(ROOT / "sample_data" / "lookalikes_labels.csv")


def test_split_learns_from_the_first_quarter_and_judges_the_rest():
    outcome = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.25))
    report = outcome.report
    assert (report["positives"], report["negatives"], report["rows"], report["length"]) == (5, 5, [0, 2999], 40)
    evaluation = report["evaluation"]
    assert evaluation["on"] == "held-out" and evaluation["positives"] == 19
    assert evaluation["fitted"]["f1"] >= 0.95 and evaluation["starting_point"]["f1"] < 0.6
    assert outcome.kernel.training is report and outcome.kernel.values.shape == (40,)
    assert outcome.kernel.threshold == 0.5 and outcome.kernel.metric is None
    # Five one-positive folds agree with the cut-off chosen on the training labels: kept.
    assert report["cutoff_chosen_on"] == "training, kept by cross-validation"
    assert report["cutoff_cosine"] == report["cutoff_training_cosine"]


@pytest.mark.slow
def test_validate_on_another_file_equals_the_split(tmp_path):
    lines = Path(RECORDING).read_text().splitlines()
    train, held = tmp_path / "train.csv", tmp_path / "held.csv"
    train.write_text("\n".join(lines[:3001]) + "\n")
    held.write_text("\n".join(lines[:1] + lines[3001:]) + "\n")
    labels = [line.split(",") for line in Path(LABELS).read_text().splitlines()[1:]]
    train_labels, held_labels = tmp_path / "train_labels.csv", tmp_path / "held_labels.csv"
    train_labels.write_text(
        "start,end,label\n" + "".join(f"{s},{e},{label}\n" for s, e, label in labels if int(s) < 3000)
    )
    held_labels.write_text(
        "start,label\n" + "".join(f"{int(s) - 3000},{label}\n" for s, e, label in labels if int(s) >= 3000)
    )
    split = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.25, metric="diagonal", normalize="none"))
    validated = run_fit(
        FitConfig(
            str(train),
            labels=str(train_labels),
            validate=str(held),
            validate_labels=str(held_labels),
            metric="diagonal",
            normalize="none",
        )
    )
    np.testing.assert_array_equal(validated.kernel.values, split.kernel.values)
    np.testing.assert_array_equal(validated.kernel.metric, split.kernel.metric)
    for name in ("starting_point", "fitted"):
        assert validated.report["evaluation"][name] == split.report["evaluation"][name]


def test_positions_given_as_times_and_judged_by_cross_validation(tmp_path):
    lines = Path(RECORDING).read_text().splitlines()[1:3001]
    path = tmp_path / "timed.csv"
    path.write_text("time_s,value\n" + "".join(f"{i / 10},{v}\n" for i, v in enumerate(lines)))
    labels = [line.split(",") for line in Path(LABELS).read_text().splitlines()[1:] if int(line.split(",")[0]) < 3000]
    positives = ",".join(str(int(s) / 10) for s, _, label in labels if label == "positive")
    negatives = ",".join(s for s, _, label in labels if label == "negative")  # rows
    outcome = run_fit(FitConfig(str(path), positives=positives, negatives=negatives, length=40))
    assert outcome.report["evaluation"]["on"] == "cross-validation" and outcome.report["folds"] == 5
    assert outcome.report["evaluation"]["fitted"]["recall"] >= 0.8


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({}, "examples are required"),
        ({"labels": LABELS, "positives": "1"}, "either --labels or --positives"),
        ({"positives": "1", "length": 1}, "--length must be at least 2"),
        ({"positives": "1", "metric": "cosine"}, "metric must be one of none, diagonal, full"),
        ({"positives": "1", "margin": 0}, "--margin must be a finite number greater than 0"),
        ({"positives": "1", "margin": 3}, "--margin must be at most 2"),
        ({"positives": "1", "mine": -1}, "--mine must be at least 0"),
        ({"positives": "1", "split": 1.0}, "--split must lie between 0 and 1"),
        ({"positives": "1", "validate": RECORDING}, "--validate FILE and --validate-labels FILE go together"),
        (
            {"positives": "1", "split": 0.5, "validate": RECORDING, "validate_labels": LABELS},
            "either --split or --validate",
        ),
    ],
)
def test_bad_options(options, fragment):
    with pytest.raises(MotifscanError, match=fragment):
        FitConfig(RECORDING, **options)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"positives": "100"}, "--length is required"),
        ({"positives": "11990", "length": 40}, "--positives: the window at row 11990 runs past the end"),
        ({"positives": "20000", "length": 40}, "--positives: row 20000 is outside the signal"),
        ({"labels": LABELS, "split": 0.01}, "no positive example to learn from"),
        ({"negatives": "5", "positives": "3500", "split": 0.25, "length": 40}, "no positive example"),
    ],
)
def test_bad_labels(options, fragment):
    with pytest.raises(MotifscanError, match=fragment):
        run_fit(FitConfig(RECORDING, **options))


def test_split_inside_a_label_cuts_at_the_first_boundary_after_it():
    # 0.9 of 12 000 rows is row 10 800, inside the positive at rows 10 787-10 826.
    outcome = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.9, metric="none", normalize="none"))
    assert outcome.report["split"] == {"fraction": 0.9, "asked_row": 10800, "row": 10827}
    assert outcome.report["rows"] == [0, 10826]
    assert outcome.report["evaluation"]["source"].endswith("rows 10827-11999")
    assert any("cut at row 10827, the first label boundary at or after row 10800" in w for w in outcome.warnings)


def test_split_between_labels_stays_where_asked():
    outcome = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.25, metric="none", normalize="none"))
    assert outcome.report["split"]["row"] == outcome.report["split"]["asked_row"] == 3000
    assert not any("--split" in w for w in outcome.warnings)


def test_free_cut_walks_over_overlapping_windows():
    starts = np.array([10, 35, 100])
    assert free_cut(5, starts, 30) == 5  # before every window
    assert free_cut(20, starts, 30) == 65  # inside 10-39, then inside 35-64
    assert free_cut(65, starts, 30) == 65
    assert free_cut(110, starts, 30) == 130


def test_held_out_part_without_positives_is_an_error(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("start,end,label\n796,836,positive\n5000,5040,negative\n")
    with pytest.raises(MotifscanError, match="hold no positive to judge the fit on"):
        run_fit(FitConfig(RECORDING, labels=str(labels), split=0.25))


def test_several_channels_need_a_column(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("a,b\n" + "".join(f"{i % 7},{i % 5}\n" for i in range(100)))
    with pytest.raises(MotifscanError, match="2 channels \\(a, b\\); choose the one to learn from with --column"):
        run_fit(FitConfig(str(path), positives="10", length=5))
    assert run_fit(FitConfig(str(path), positives="10,17", length=5, column="a")).report["channel"] == "a"


def generator():
    spec = importlib.util.spec_from_file_location("make_lookalikes", ROOT / "sample_data" / "make_lookalikes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_recording(folder, values, labels) -> tuple[str, str]:
    recording, labels_file = folder / "recording.csv", folder / "labels.csv"
    recording.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    labels_file.write_text("start,end,label\n" + "".join(f"{s},{e},{label}\n" for s, e, label in labels))
    return str(recording), str(labels_file)


@pytest.mark.slow
def test_auto_chooses_center_on_a_drifting_recording_and_writes_it(tmp_path):
    values, labels = generator().make_drifting_recording(20261123)
    recording, labels_file = write_recording(tmp_path, values, labels)
    outcome = run_fit(FitConfig(recording, labels=labels_file, split=0.25))
    report = outcome.report
    assert report["normalize"] == "center" and report["normalize_chosen_by"] == "validation"
    assert outcome.kernel.normalize == "center" and outcome.kernel.sign == "positive"
    assert report["label_lengths"][0] < report["label_lengths"][1] and report["length"] == 40
    rows = {(row["detector"], row["normalize"]): row["held_out"]["f1"] for row in report["candidates"]}
    assert rows[("fitted", "center")] > rows[("fitted", "none")] + 0.2
    assert report["evaluation"]["fitted"]["f1"] >= 0.95
    # detect with the written file scores as the fit judged it.
    import motifscan

    motifs = motifscan.detect(values[3000:], outcome.kernel)
    held = np.array([s - 3000 + (e - s - 40) // 2 for s, e, label in labels if label == "positive" and s >= 3000])
    found = np.array([m.start for m in motifs])
    assert (
        match_detections(found, np.array([m.score for m in motifs]), held, 20)["f1"]
        == report["evaluation"]["fitted"]["f1"]
    )


def swapped_labels(tmp_path) -> str:
    """Labels that teach the wrong lesson: in the training rows the look-alikes are called
    positive and the shape negative; the held-out rows keep the truth. The mean of the
    'positives' still finds the shape; a fit learns to reject it."""
    rows = [line.split(",") for line in Path(LABELS).read_text().splitlines()[1:]]
    swap = {"positive": "negative", "negative": "positive"}
    path = tmp_path / "swapped.csv"
    path.write_text(
        "start,end,label\n" + "".join(f"{s},{e},{swap[label] if int(s) < 3000 else label}\n" for s, e, label in rows)
    )
    return str(path)


def test_never_writes_a_fit_that_validates_worse_than_the_starting_point(tmp_path):
    labels = swapped_labels(tmp_path)
    outcome = run_fit(FitConfig(RECORDING, labels=labels, split=0.25, normalize="none"))
    report = outcome.report
    start, fitted = report["evaluation"]["starting_point"]["f1"], report["evaluation"]["fitted"]["f1"]
    assert fitted < start
    assert report["kept"] == "starting point" and "validates worse than the starting point" in report["warning"]
    assert any("wrote the starting point" in w for w in outcome.warnings)
    assert (outcome.kernel.p, outcome.kernel.threshold, outcome.kernel.metric) == (1.0, 0.5, None)
    kept = run_fit(FitConfig(RECORDING, labels=labels, split=0.25, normalize="none", keep="fitted"))
    assert kept.report["kept"] == "fitted" and "wrote it anyway" in kept.report["warning"]
    assert kept.report["evaluation"]["fitted"]["f1"] == fitted
    assert kept.kernel.p != 1.0 and kept.kernel.sign == "positive"


def test_a_fit_at_least_as_good_as_the_start_is_written_without_a_warning():
    outcome = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.25, normalize="none"))
    assert outcome.report["kept"] == "fitted" and outcome.report["warning"] is None
    assert not any("worse" in w for w in outcome.warnings)


def noisy_copies(tmp_path, seed: int = 4) -> tuple[str, str, np.ndarray, np.ndarray]:
    """20 copies of a sine period buried in noise as loud as the shape, on a noise
    background, all labelled: a fit hugs its own positives much more tightly than new ones."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, 6000)
    shape = 3 * np.sin(2 * np.pi * np.linspace(0.0, 1.0, 40))
    starts = np.arange(100, 5900, 300)
    for start in starts:
        values[start : start + 40] = shape + rng.normal(0.0, 4.0, 40)
    recording, labels = tmp_path / "noisy.csv", tmp_path / "noisy_labels.csv"
    recording.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    labels.write_text("start,end,label\n" + "".join(f"{s},{s + 40},positive\n" for s in starts))
    return str(recording), str(labels), values, starts


def test_folds_move_the_cutoff_when_held_out_positives_fall_below_it(tmp_path):
    recording, labels, values, starts = noisy_copies(tmp_path)
    config = FitConfig(recording, labels=labels, normalize="none")
    report = run_fit(config).report
    assert report["cutoff_chosen_on"] == "cross-validation"
    # Held-out copies score well below the fit's own positives: the cut-off moves down.
    assert report["cutoff_cosine"] < report["cutoff_training_cosine"]
    # The rule, step by step: the folds' peaks relative to their own training cut-offs,
    # pooled; the shift carried over to the full fit's scale.
    positive = np.ones(starts.size, dtype=bool)
    stretches = fold_cuts(starts, positive, 40, 5, 6000)
    (pooled_positive, pooled_negative), _ = cross_validate(
        values, starts, positive, 40, stretches, "none", "none", config
    )
    shift = validated_shift(pooled_positive, pooled_negative)
    assert shift < 0
    result = fit_kernel(values, starts, np.zeros(0, dtype=np.int64), 40, normalize="none")
    assert result.cutoff == pytest.approx(report["cutoff_training_cosine"])
    spread = positive_spread(values, result, 40, "none")
    assert report["cutoff_cosine"] == pytest.approx(result.cutoff + shift * spread)
    # Precision and recall on the folds are those at the cut-off written.
    fitted = [row for row in report["candidates"] if row["detector"] == "fitted"][0]
    recall = np.mean(pooled_positive >= shift)
    assert fitted["cross_validation"]["recall"] == pytest.approx(recall)
    at_training = np.mean(pooled_positive >= 0)
    assert recall > at_training
