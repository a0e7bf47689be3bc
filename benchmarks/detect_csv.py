"""Whole-process cost of ``motifscan detect`` on a long one-column CSV, next to the cost of
just reading that file with ``pyarrow.csv.read_csv`` (the floor any CSV tool pays).

    python benchmarks/detect_csv.py [ROWS] [--time-column]     # default 10 000 000

Writes the CSV to a temporary directory (with ``--time-column``, a column of timestamps
every 10 ms before the values), runs ``motifscan detect`` under ``/usr/bin/time -v`` three
times (peak RSS and wall time), times ``read_csv`` in this process and as a process of its
own, and prints the ratios. Where the time goes is printed too: reading the file's blocks
alone (``read_signal``, in this process), and the fixed cost of a process that only starts
the compiled scan (importing Numba and loading the cached kernel, which no file size
changes).
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


def write_csv(path: Path, rows: int, time_column: bool = False) -> None:
    """A random walk with 6 decimals (and, with ``time_column``, a timestamp every 10 ms
    before it), written by pyarrow 5 million rows at a time."""
    import pyarrow as pa
    import pyarrow.csv

    rng = np.random.default_rng(0)
    level = 0.0
    fields = [("time", pa.timestamp("ms"))] if time_column else []
    start_time = np.datetime64("2024-01-01T00:00:00", "ms")
    with pyarrow.csv.CSVWriter(path, pa.schema([*fields, ("value", pa.float64())])) as writer:
        for start in range(0, rows, 5_000_000):
            count = min(5_000_000, rows - start)
            walk = level + np.cumsum(rng.standard_normal(count)) * 0.01
            level = walk[-1]
            columns = {"value": np.round(walk, 6)}
            if time_column:
                columns = {"time": start_time + np.arange(start, start + count) * np.timedelta64(10, "ms"), **columns}
            writer.write_table(pa.table(columns, schema=pa.schema([*fields, ("value", pa.float64())])))


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


def read_blocks(path: Path) -> float:
    """Seconds to read every block of ``path`` with ``read_signal`` (no scan), in process."""
    from motifscan.io.signals import read_signal

    started = time.perf_counter()
    for _ in read_signal(str(path)):
        pass
    return time.perf_counter() - started


#: A process that only starts the compiled scan: what every `detect` pays before scanning.
COMPILED_START = (
    "import numpy as np; from motifscan.similarity.cpu import sliding_cosine_numba; "
    "sliding_cosine_numba(np.zeros(10), np.array([1.0, 2.0, 3.0]), 9.0, 1)"
)


def main() -> None:
    import argparse

    import pyarrow.csv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", default="1e7", help="rows of the CSV (default 1e7)")
    parser.add_argument("--time-column", action="store_true", help="a timestamp column before the values")
    args = parser.parse_args()
    rows = int(float(args.rows))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "walk.csv"
        write_csv(path, rows, args.time_column)
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
        blocks = min(read_blocks(path) for _ in range(3))
        starts = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", COMPILED_START], check=True)
            starts.append(time.perf_counter() - started)
    wall = min(r[0] for r in runs)
    peak = max(r[1] for r in runs) / 1024
    read = min(reads)
    read_process = min(read_processes)
    print(f"rows {rows:,}  file {size:.0f} MB{'  (time column and values)' if args.time_column else ''}")
    print(f"motifscan detect (whole process, best of 3): {wall:.2f} s, peak RSS {peak:.0f} MiB")
    print(f"pyarrow.csv.read_csv (in process, best of 3): {read:.2f} s")
    print(f"pyarrow.csv.read_csv (whole process, best of 3): {read_process:.2f} s")
    print(f"ratio detect / read_csv: {wall / read:.2f}x in process, {wall / read_process:.2f}x whole process")
    print(f"reading the blocks alone (read_signal, in process, best of 3): {blocks:.2f} s")
    print(f"a process that only starts the compiled scan (best of 3): {min(starts):.2f} s")


if __name__ == "__main__":
    main()
