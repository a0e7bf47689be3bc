"""Held-out F1 of ``fit`` on recordings made by ``sample_data/make_lookalikes.py`` with
several seeds (the sample file is the first seed).

    python benchmarks/fit_quality.py [SEEDS]        # default 6

For each seed: learn from the 5 positives and 5 negatives of the first 3 000 rows, judge on
the other 19 positives, for the starting point (mean of the positives, p = 1, threshold
0.5) and for each metric.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import motifscan  # noqa: E402
from motifscan.fitting import fit_kernel, match_detections  # noqa: E402


def generator():
    spec = importlib.util.spec_from_file_location("make_lookalikes", ROOT / "sample_data" / "make_lookalikes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def f1(values, positives, kernel, p, threshold, metric, tolerance) -> float:
    motifs = motifscan.detect(values, kernel, p=p, threshold=threshold, metric=metric)
    starts = np.array([m.start for m in motifs], dtype=int)
    return match_detections(starts, np.array([abs(m.score) for m in motifs]), positives, tolerance)["f1"]


def main() -> None:
    module = generator()
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    cut, length = module.TRAINING_ROWS, module.LENGTH
    print(f"{'seed':>10s} {'starting point':>15s} {'none':>7s} {'diagonal':>9s} {'full':>7s}")
    for seed in [module.SEED, *range(1, count)]:
        values, labels = module.make_recording(seed)
        train_pos = [s for s, label in labels if label == "positive" and s < cut]
        train_neg = [s for s, label in labels if label == "negative" and s < cut]
        held = np.array([s - cut for s, label in labels if label == "positive" and s >= cut])
        row = []
        for metric in ("none", "diagonal", "full"):
            result = fit_kernel(values[:cut], train_pos, train_neg, length, metric=metric)
            row.append(f1(values[cut:], held, result.kernel, result.p, result.threshold, result.metric, length // 2))
        start = f1(values[cut:], held, result.start_kernel, 1.0, 0.5, None, length // 2)
        print(f"{seed:>10d} {start:15.3f} {row[0]:7.3f} {row[1]:9.3f} {row[2]:7.3f}")


if __name__ == "__main__":
    main()
