"""Scanning K kernels in one pass against K separate scans.

    python benchmarks/many_kernels.py [ROWS] [K] [M]        # default 1 000 000, 8, 32

Prints the best of three wall times of one ``--normalize center`` batch scan of K kernels
(window means and norms shared, each sample loaded once) against K single-kernel scans (the
same code, one kernel at a time), on the multicore Numba backend; then, for ``none`` and
``center``, the whole ``motifscan detect`` process on a CSV of the signal: one run with a
K-column kernel file against K runs with ``--kernel-column``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from motifscan.similarity.multi import scan_kernels
from timing import best_time


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    m = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(rows)) * 0.01 + 1e3
    bank = rng.standard_normal((k, 1, m))
    print(f"signal {rows} rows, {k} kernels of {m} taps")
    for normalize in ("center",):
        scan_kernels(x[:5000], bank, 2.0, 1, normalize, 0.0, "numba")  # compile outside the clock
        together = best_time(lambda: scan_kernels(x, bank, 2.0, 1, normalize, 0.0, "numba"), repeat=5)
        apart = best_time(
            lambda: [scan_kernels(x, kernel[None], 2.0, 1, normalize, 0.0, "numba") for kernel in bank], repeat=5
        )
        print(
            f"scan  --normalize {normalize:6}  one pass of {k}: {together:.3f} s   "
            f"{k} single scans: {apart:.3f} s   ratio {apart / together:.2f}"
        )

    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    with tempfile.TemporaryDirectory() as folder:
        signal = Path(folder) / "signal.csv"
        np.savetxt(signal, x, fmt="%.6f", header="value", comments="")
        kernels = Path(folder) / "kernels.csv"
        names = [f"k{i}" for i in range(k)]
        np.savetxt(kernels, bank[:, 0, :].T, fmt="%.6f", delimiter=",", header=",".join(names), comments="")

        def run(arguments):
            completed = subprocess.run(arguments, capture_output=True, text=True)
            if completed.returncode not in (0, 1):
                raise SystemExit(completed.stderr)

        for normalize in ("none", "center"):
            base = [
                motifscan,
                "detect",
                str(signal),
                "--kernel-file",
                str(kernels),
                "--p",
                "3",
                "--threshold",
                "0.99",
                "--format",
                "csv",
                "--normalize",
                normalize,
            ]
            run(base)  # warm the Numba cache
            together = best_time(lambda: run(base))
            apart = best_time(lambda: [run(base + ["--kernel-column", name]) for name in names])
            print(
                f"motifscan detect --normalize {normalize:6}  one run with {k} kernels: {together:.2f} s   "
                f"{k} runs: {apart:.2f} s   ratio {apart / together:.2f}"
            )


if __name__ == "__main__":
    main()
