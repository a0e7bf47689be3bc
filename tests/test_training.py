"""motifscan fit's glue: reading, splitting, validating, reporting."""

from pathlib import Path

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.training import FitConfig, run_fit

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


def test_validate_on_another_file_equals_the_split(tmp_path):
    lines = Path(RECORDING).read_text().splitlines()
    train, held = tmp_path / "train.csv", tmp_path / "held.csv"
    train.write_text("\n".join(lines[:3001]) + "\n")
    held.write_text("\n".join(lines[:1] + lines[3001:]) + "\n")
    labels = [line.split(",") for line in Path(LABELS).read_text().splitlines()[1:]]
    train_labels, held_labels = tmp_path / "train_labels.csv", tmp_path / "held_labels.csv"
    train_labels.write_text("start,end,label\n" + "".join(
        f"{s},{e},{label}\n" for s, e, label in labels if int(s) < 3000))
    held_labels.write_text("start,label\n" + "".join(
        f"{int(s) - 3000},{label}\n" for s, e, label in labels if int(s) >= 3000))
    split = run_fit(FitConfig(RECORDING, labels=LABELS, split=0.25, metric="diagonal"))
    validated = run_fit(FitConfig(str(train), labels=str(train_labels), validate=str(held),
                                  validate_labels=str(held_labels), metric="diagonal"))
    np.testing.assert_array_equal(validated.kernel.values, split.kernel.values)
    np.testing.assert_array_equal(validated.kernel.metric, split.kernel.metric)
    for name in ("starting_point", "fitted"):
        assert validated.report["evaluation"][name] == split.report["evaluation"][name]


def test_positions_given_as_times_and_judged_on_the_training_labels(tmp_path):
    lines = Path(RECORDING).read_text().splitlines()[1:3001]
    path = tmp_path / "timed.csv"
    path.write_text("time_s,value\n" + "".join(f"{i / 10},{v}\n" for i, v in enumerate(lines)))
    labels = [line.split(",") for line in Path(LABELS).read_text().splitlines()[1:] if int(line.split(",")[0]) < 3000]
    positives = ",".join(str(int(s) / 10) for s, _, label in labels if label == "positive")
    negatives = ",".join(s for s, _, label in labels if label == "negative")  # rows
    outcome = run_fit(FitConfig(str(path), positives=positives, negatives=negatives, length=40))
    assert outcome.report["evaluation"]["on"] == "training"
    assert outcome.report["evaluation"]["fitted"]["recall"] == 1.0


@pytest.mark.parametrize("options, fragment", [
    ({}, "examples are required"),
    ({"labels": LABELS, "positives": "1"}, "either --labels or --positives"),
    ({"positives": "1", "length": 1}, "--length must be at least 2"),
    ({"positives": "1", "metric": "cosine"}, "metric must be one of none, diagonal, full"),
    ({"positives": "1", "margin": 0}, "--margin must be a finite number greater than 0"),
    ({"positives": "1", "margin": 3}, "--margin must be at most 2"),
    ({"positives": "1", "mine": -1}, "--mine must be at least 0"),
    ({"positives": "1", "split": 1.0}, "--split must lie between 0 and 1"),
    ({"positives": "1", "validate": RECORDING}, "--validate FILE and --validate-labels FILE go together"),
    ({"positives": "1", "split": 0.5, "validate": RECORDING, "validate_labels": LABELS}, "either --split or --validate"),
])
def test_bad_options(options, fragment):
    with pytest.raises(MotifscanError, match=fragment):
        FitConfig(RECORDING, **options)


@pytest.mark.parametrize("options, fragment", [
    ({"positives": "100"}, "--length is required"),
    ({"positives": "11990", "length": 40}, "--positives: the window at row 11990 runs past the end"),
    ({"positives": "20000", "length": 40}, "--positives: row 20000 is outside the signal"),
    ({"labels": LABELS, "split": 0.9}, "straddles the split at row 10800"),
    ({"labels": LABELS, "split": 0.01}, "no positive example to learn from"),
    ({"negatives": "5", "positives": "3500", "split": 0.25, "length": 40}, "no positive example"),
])
def test_bad_labels(options, fragment):
    with pytest.raises(MotifscanError, match=fragment):
        run_fit(FitConfig(RECORDING, **options))


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
