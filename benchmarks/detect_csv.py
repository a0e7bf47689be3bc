"""Whole-process cost of ``motifscan detect`` on a long one-column CSV, next to the cost of
just reading that file with ``pyarrow.csv.read_csv`` (the floor any CSV tool pays).

    python benchmarks/detect_csv.py [ROWS]        # default 10 000 000

Writes the CSV to a temporary directory, runs ``motifscan detect`` under
``/usr/bin/time -v`` three times (peak RSS and wall time), times ``read_csv`` in this
process, and prints the ratio.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal(rows)) * 0.01
    np.savetxt(path, walk, fmt="%.6f", header="value", comments="")


def run_detect(path: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one ``motifscan detect`` process."""
    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    command = ["/usr/bin/time", "-v", motifscan, "detect", str(path), "--kernel", "1,2,3",
               "--p", "9", "--threshold", "0.99", "--format", "csv"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(completed.stderr)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", completed.stderr).group(1))
    return wall, peak


def main() -> None:
    import pyarrow.csv

    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "walk.csv"
        write_csv(path, rows)
        size = path.stat().st_size / 1e6
        runs = [run_detect(path) for _ in range(3)]
        reads = []
        for _ in range(3):
            started = time.perf_counter()
            pyarrow.csv.read_csv(path)
            reads.append(time.perf_counter() - started)
    wall = min(r[0] for r in runs)
    peak = max(r[1] for r in runs) / 1024
    read = min(reads)
    print(f"rows {rows:,}  file {size:.0f} MB")
    print(f"motifscan detect (whole process, best of 3): {wall:.2f} s, peak RSS {peak:.0f} MiB")
    print(f"pyarrow.csv.read_csv (in process, best of 3): {read:.2f} s")
    print(f"ratio detect / read_csv: {wall / read:.1f}x")


if __name__ == "__main__":
    main()
