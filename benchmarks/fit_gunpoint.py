"""``motifscan fit`` on UCR GunPoint: does fitting help on a real recording?

    python benchmarks/fit_gunpoint.py [DIRECTORY]

DIRECTORY holds ``GunPoint_TRAIN.ts`` and ``GunPoint_TEST.ts`` (the UCR archive's split, in
the sktime/aeon ``.ts`` format); without it, the copy bundled with ``aeon`` is used when
aeon is installed. The 50 training series (150 samples each: the x position of a hand)
are concatenated into one recording, and so are the 150 test series; each series is a
labelled window, "gun" (class 1: drawing a gun from a holster) positive and "point"
(class 2) negative. ``fit`` learns on the training recording and is judged on the test
recording (``--validate``), for every metric and both normalisations, as the command line
does. Prints the table of candidates with their cross-validated and held-out scores and
the seconds each took (cross-validation included).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from motifscan.training import FitConfig, run_fit  # noqa: E402


def data_directory() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    try:
        import aeon
    except ImportError:
        sys.exit("give the directory of GunPoint_TRAIN.ts and GunPoint_TEST.ts (or install aeon)")
    return Path(aeon.__file__).parent / "datasets" / "data" / "GunPoint"


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """The series and class labels of a ``.ts`` file (one ``v1,v2,...:label`` per line)."""
    series, classes, in_data = [], [], False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
        elif in_data:
            values, label = line.rsplit(":", 1)
            series.append(np.array(values.split(","), dtype=np.float64))
            classes.append(label)
    return series, classes


def write_recording(series, classes, folder: Path, name: str) -> tuple[str, str]:
    """The concatenated series as ``name.csv`` and their labels as ``name_labels.csv``."""
    values = np.concatenate(series)
    recording, labels = folder / f"{name}.csv", folder / f"{name}_labels.csv"
    recording.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    rows, start = [], 0
    for one, label in zip(series, classes):
        rows.append(f"{start},{start + one.size},{'positive' if label == '1' else 'negative'}\n")
        start += one.size
    labels.write_text("start,end,label\n" + "".join(rows))
    return str(recording), str(labels)


def main() -> None:
    directory = data_directory()
    with tempfile.TemporaryDirectory() as folder:
        train = write_recording(*read_ts(directory / "GunPoint_TRAIN.ts"), Path(folder), "train")
        test = write_recording(*read_ts(directory / "GunPoint_TEST.ts"), Path(folder), "test")
        began = time.perf_counter()
        outcome = run_fit(
            FitConfig(
                train[0], labels=train[1], validate=test[0], validate_labels=test[1], metric="all", normalize="auto"
            )
        )
        seconds = time.perf_counter() - began
    report = outcome.report
    print(
        f"GunPoint: learned from {report['positives']} gun and {report['negatives']} point series, "
        f"judged on {report['evaluation']['positives']} gun series among the test series"
    )
    print(
        f"{'detector':16s} {'normalize':9s} {'metric':8s} {'CV F1':>6s} {'held-out P':>10s} "
        f"{'R':>6s} {'F1':>6s} {'seconds':>8s}"
    )
    for row in report["candidates"]:
        cv, held = row["cross_validation"], row["held_out"]
        print(
            f"{row['detector']:16s} {row['normalize']:9s} {row['metric']:8s} "
            f"{cv['f1'] if cv else float('nan'):6.3f} {held['precision']:10.3f} {held['recall']:6.3f} "
            f"{held['f1']:6.3f} {row['seconds']:8.1f}"
        )
    print(
        f"kept: {report['kept']} ({report['normalize']}, {report['metric']}); "
        f"held-out F1 {report['evaluation']['fitted']['f1']:.3f} fitted, "
        f"{report['evaluation']['starting_point']['f1']:.3f} starting point; {seconds:.1f} s in all"
    )
    for warning in outcome.warnings:
        print(f"warning: {warning}")


if __name__ == "__main__":
    main()
