"""Cost of a learned metric in the scan, and of ``motifscan fit``.

    python benchmarks/learned_metric.py [ROWS]        # default 1 000 000

Scans a random walk of ROWS samples with a 40-tap kernel: the plain Numba scan, the Numba
metric scan with a diagonal and with a full 40 x 40 metric, and the NumPy references of the
metric scan on a tenth of the rows. Best of three after a warm-up run (compilation). Then
times ``fit_kernel`` on ``sample_data/lookalikes.csv`` (the README example) for each metric.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from motifscan.fitting import fit_kernel  # noqa: E402
from timing import best_time  # noqa: E402
from motifscan.similarity.cpu import sliding_cosine_numba  # noqa: E402
from motifscan.similarity.metric import metric_cosine_reference  # noqa: E402
from motifscan.similarity.metric_cpu import metric_cosine_numba  # noqa: E402


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(rows))
    kernel = rng.standard_normal(40)
    diagonal = rng.uniform(0.2, 1.0, 40)
    full = np.eye(40) + 0.1 * rng.standard_normal((40, 40))
    short = x[: rows // 10]
    cases = [
        ("plain scan, Numba", rows, lambda: sliding_cosine_numba(x, kernel, 2.0, 1)),
        ("diagonal metric, Numba", rows, lambda: metric_cosine_numba(x, kernel, diagonal, 2.0, 1)),
        ("full 40x40 metric, Numba", rows, lambda: metric_cosine_numba(x, kernel, full, 2.0, 1)),
        (
            "diagonal metric, NumPy reference",
            rows // 10,
            lambda: metric_cosine_reference(short, kernel, diagonal, 2.0, 1),
        ),
        (
            "full 40x40 metric, NumPy reference",
            rows // 10,
            lambda: metric_cosine_reference(short, kernel, full, 2.0, 1),
        ),
    ]
    print(f"{'scan (40 taps)':40s} {'rows':>10s} {'seconds':>9s} {'Msamples/s':>11s}")
    for name, n, function in cases:
        seconds = best_time(function)
        print(f"{name:40s} {n:10d} {seconds:9.3f} {n / seconds / 1e6:11.2f}")

    values = np.loadtxt(ROOT / "sample_data" / "lookalikes.csv", skiprows=1)
    labels = [line.split(",") for line in (ROOT / "sample_data" / "lookalikes_labels.csv").read_text().splitlines()[1:]]
    positives = [int(s) for s, _, label in labels if label == "positive" and int(s) < 3000]
    negatives = [int(s) for s, _, label in labels if label == "negative" and int(s) < 3000]
    print(f"\n{'fit_kernel on lookalikes.csv rows 0-2999':40s} {'seconds':>9s}")
    for metric in ("none", "diagonal", "full"):
        seconds = best_time(lambda: fit_kernel(values[:3000], positives, negatives, 40, metric=metric))
        print(f"{'--metric ' + metric:40s} {seconds:9.3f}")


if __name__ == "__main__":
    main()
