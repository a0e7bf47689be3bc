"""What scoring joint windows with missing channels costs (``--min-channels``).

    python benchmarks/gap_joint.py [ROWS] [M] [MISSING]      # default 1 000 000, 32, 0.01

Three channels of noise; channel 1 loses a share MISSING of its samples in runs of 1 to 50.
Prints the best of three wall times of the plain joint scan (windows with a missing sample
unscored), of the gap-aware scan (those windows scored over the channels present) and of
the weighted scan, all on the multicore Numba backend, with the ratios to the plain scan
and the share of windows the gap-aware scan redid.
"""

from __future__ import annotations

import sys

import numpy as np
from timing import best_time

from motifscan.similarity.gaps import scan_joint, scan_kernels_gaps
from motifscan.similarity.multi import scan_kernels


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    missing = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, rows))
    lost = 0
    while lost < missing * rows:
        start = int(rng.integers(rows))
        length = int(rng.integers(1, 51))
        x[1, start : start + length] = np.nan
        lost += length
    bank = rng.standard_normal((1, 3, m))
    for normalize in ("none", "center"):
        scan_kernels_gaps(x[:, :5000], bank, 2.0, 1, normalize, 0.0, 2, "numba")  # compile outside the clock
        scan_joint(x[:, :5000], bank, [[1.0, 0.5, 2.0]], 2.0, 1, normalize, 0.0, 2, "numba")
        plain = best_time(lambda: scan_kernels(x, bank, 2.0, 1, normalize, 0.0, "numba"), repeat=3)
        gaps = best_time(lambda: scan_kernels_gaps(x, bank, 2.0, 1, normalize, 0.0, 2, "numba"), repeat=3)
        weighted = best_time(
            lambda: scan_joint(x, bank, [[1.0, 0.5, 2.0]], 2.0, 1, normalize, 0.0, 2, "numba"), repeat=3
        )
        (track,) = scan_kernels_gaps(x, bank, 2.0, 1, normalize, 0.0, 2, "numba")
        redone = np.count_nonzero(track.present == 0b101) / track.present.size
        print(
            f"--normalize {normalize:6} {rows} rows, m = {m}, {redone:.1%} of windows redone: "
            f"plain joint {plain:.3f} s   --min-channels 2 {gaps:.3f} s (x{gaps / plain:.2f})   "
            f"weighted {weighted:.3f} s (x{weighted / plain:.2f})"
        )


if __name__ == "__main__":
    main()
