"""The centred scan of a long kernel: FFT path against the direct sums, and the plain FFT scan.

    python benchmarks/normalize_long.py [ROWS] [M]        # default 1 000 000, 1024

Prints the best of three in-process wall times (after a warm-up call) of ``scan_kernels`` with ``--normalize
center`` and ``zscore`` on the direct Numba scan (``backend="numba"``, the only path before
the FFT one) and on the FFT path (``backend="auto"``, which takes it from
``FFT_MIN_TAPS`` taps), next to the plain FFT scan (``sliding_cosine``, no normalisation),
on a random walk around 1e3 and one kernel.
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
    x = 1e3 + np.cumsum(rng.standard_normal(rows))
    bank = rng.standard_normal((1, 1, m))
    print(f"signal {rows} rows, kernel of {m} taps")
    plain = best_time(lambda: sliding_cosine(x, bank[0, 0], 3.0, 1, "fft"))
    print(f"plain FFT scan (--normalize none): {plain:.3f} s")
    for normalize in ("center", "zscore"):
        times = {}
        for backend in ("numba", "auto"):
            times[backend] = best_time(lambda: scan_kernels(x, bank, 3.0, 1, normalize, 0.0, backend))
        print(f"--normalize {normalize:6}  direct: {times['numba']:.3f} s   FFT (auto): {times['auto']:.3f} s   "
              f"ratio {times['numba'] / times['auto']:.1f}")


if __name__ == "__main__":
    main()
