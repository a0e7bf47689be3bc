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
    """A random walk with 6 decimals, written by pyarrow 5 million rows at a time."""
    import pyarrow as pa
    import pyarrow.csv

    rng = np.random.default_rng(0)
    level = 0.0
    with pyarrow.csv.CSVWriter(path, pa.schema([("value", pa.float64())])) as writer:
        for start in range(0, rows, 5_000_000):
            walk = level + np.cumsum(rng.standard_normal(min(5_000_000, rows - start))) * 0.01
            level = walk[-1]
            writer.write_table(pa.table({"value": np.round(walk, 6)}))


def run_detect(path: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one ``motifscan detect`` process."""
    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    command = [
        "/usr/bin/time",
        "-v",
        motifscan,
        "detect",
        str(path),
        "--kernel",
        "1,2,3",
        "--p",
        "9",
        "--threshold",
        "0.99",
        "--format",
        "csv",
    ]
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
        # The same read as a whole process (Python start-up and importing pyarrow included),
        # the fair match for a whole `motifscan detect` process.
        read_processes = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", f"import pyarrow.csv; pyarrow.csv.read_csv({str(path)!r})"], check=True
            )
            read_processes.append(time.perf_counter() - started)
    wall = min(r[0] for r in runs)
    peak = max(r[1] for r in runs) / 1024
    read = min(reads)
    read_process = min(read_processes)
    print(f"rows {rows:,}  file {size:.0f} MB")
    print(f"motifscan detect (whole process, best of 3): {wall:.2f} s, peak RSS {peak:.0f} MiB")
    print(f"pyarrow.csv.read_csv (in process, best of 3): {read:.2f} s")
    print(f"pyarrow.csv.read_csv (whole process, best of 3): {read_process:.2f} s")
    print(f"ratio detect / read_csv: {wall / read:.1f}x in process, {wall / read_process:.1f}x whole process")


if __name__ == "__main__":
    main()
