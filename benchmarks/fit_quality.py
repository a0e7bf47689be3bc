"""Held-out F1 of ``motifscan fit`` on synthetic recordings over several seeds.

    python benchmarks/fit_quality.py [SEEDS]        # default 6

Two recordings per seed, both made by ``sample_data/make_lookalikes.py`` (the sample file is
the first seed of the first kind):

- *look-alikes*: coloured noise with noisy, slightly warped copies of a shape at 0.6-1.6
  times its size and look-alikes of it;
- *drifting*: the same on a baseline that drifts by more than an event's height, each event
  stretched by up to 5 % (its labels then differ in length) and scaled 1-3 times.

For each, ``fit`` learns from the 5 positives and 5 negatives of the first 3 000 rows
(``--split 0.25``, every metric, ``--normalize auto``: as the command line) and is judged on
the other 19 positives among 19 look-alikes. Printed: the held-out F1 of the starting point
(mean of the positives, p = 1, threshold 0.5) without and with centring, of the detector
``fit`` wrote with its held-out precision and recall and the pooled cross-validation
precision and recall at its cut-off, what it chose, whether the folds kept the cut-off
chosen on the training labels or moved it, and the seconds the fit took.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from motifscan.training import FitConfig, run_fit  # noqa: E402


def generator():
    spec = importlib.util.spec_from_file_location("make_lookalikes", ROOT / "sample_data" / "make_lookalikes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit_once(values, labels, folder: Path) -> tuple[dict, float]:
    """Write the recording and its labels, fit with ``--split 0.25``; (report, seconds)."""
    recording, labels_file = folder / "recording.csv", folder / "labels.csv"
    recording.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    labels_file.write_text("start,end,label\n" + "".join(f"{s},{e},{label}\n" for s, e, label in labels))
    began = time.perf_counter()
    outcome = run_fit(FitConfig(str(recording), labels=str(labels_file), split=0.25, metric="all"))
    return outcome.report, time.perf_counter() - began


def main() -> None:
    module = generator()
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    print(
        f"{'recording':10s} {'seed':>9s} {'start none':>10s} {'start center':>12s} {'fitted':>7s} "
        f"{'P':>6s} {'R':>6s} {'CV P':>6s} {'CV R':>6s} {'normalize':>9s} {'metric':>8s} {'cut-off':>8s} "
        f"{'seconds':>8s}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("lookalikes", "drifting"):
            worst = 1.0
            for seed in [module.SEED, *range(1, count)]:
                if kind == "lookalikes":
                    values, events = module.make_recording(seed)
                    labels = [(s, s + module.LENGTH, label) for s, label in events]
                else:
                    values, labels = module.make_drifting_recording(seed)
                report, seconds = fit_once(values, labels, Path(folder))
                starts = {
                    row["normalize"]: row["held_out"]["f1"]
                    for row in report["candidates"]
                    if row["detector"] == "starting point"
                }
                written = report["evaluation"]["fitted" if report["kept"] == "fitted" else "starting_point"]
                (row,) = [
                    row
                    for row in report["candidates"]
                    if row["detector"] == report["kept"]
                    and (row["normalize"], row["metric"]) == (report["normalize"], report["metric"])
                ]
                validated = row["cross_validation"] or {"precision": float("nan"), "recall": float("nan")}
                # Where the written cut-off comes from: the training labels, kept or moved by the folds.
                moved = "moved" if report["cutoff_chosen_on"] == "cross-validation" else "kept"
                worst = min(worst, written["f1"])
                print(
                    f"{kind:10s} {seed:9d} {starts['none']:10.3f} {starts['center']:12.3f} {written['f1']:7.3f} "
                    f"{written['precision']:6.3f} {written['recall']:6.3f} {validated['precision']:6.3f} "
                    f"{validated['recall']:6.3f} {report['normalize']:>9s} {report['metric']:>8s} {moved:>8s} "
                    f"{seconds:8.1f}"
                )
            print(f"{kind}: lowest held-out F1 of the written detector over {count} seeds: {worst:.3f}")


if __name__ == "__main__":
    main()
