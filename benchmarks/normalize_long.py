"""The batch scan of a long kernel: FFT path against the direct sums, and the plain FFT scan.

    python benchmarks/normalize_long.py [ROWS] [M]        # default 1 000 000, 1024

Prints the best of three in-process wall times (after a warm-up call) of ``scan_kernels`` on
the direct Numba scan (``backend="numba"``) and on the FFT path (``backend="auto"``, which
takes it from ``FFT_MIN_TAPS`` taps per channel) for ``--normalize center`` and ``zscore``,
a noise floor alone (``--normalize none --noise-floor 0.5``) and a joint kernel of three
channels, next to the plain FFT scan (``sliding_cosine``, none of these), on random walks
around 1e3 and one kernel.
"""

from __future__ import annotations

import sys

import numpy as np

from motifscan.similarity import sliding_cosine
from motifscan.similarity.multi import scan_kernels
from timing import best_time


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    rng = np.random.default_rng(1)
    x = 1e3 + np.cumsum(rng.standard_normal((3, rows)), axis=1)
    bank = rng.standard_normal((1, 3, m))
    print(f"signal {rows} rows, kernel of {m} taps")
    plain = best_time(lambda: sliding_cosine(x[0], bank[0, 0], 3.0, 1, "fft"))
    print(f"plain FFT scan (--normalize none): {plain:.3f} s")
    cases = [
        ("--normalize center", x[:1], bank[:, :1], "center", 0.0),
        ("--normalize zscore", x[:1], bank[:, :1], "zscore", 0.0),
        ("--noise-floor 0.5", x[:1], bank[:, :1], "none", 0.5),
        ("--joint, 3 channels", x, bank, "none", 0.0),
        ("--joint --normalize center", x, bank, "center", 0.0),
    ]
    for label, signal, kernels, normalize, floor in cases:
        times = {}
        for backend in ("numba", "auto"):
            times[backend] = best_time(lambda: scan_kernels(signal, kernels, 3.0, 1, normalize, floor, backend))
        print(
            f"{label:27}  direct: {times['numba']:.3f} s   FFT (auto): {times['auto']:.3f} s   "
            f"ratio {times['numba'] / times['auto']:.1f}"
        )


if __name__ == "__main__":
    main()
