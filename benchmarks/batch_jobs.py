"""Wall time of the batch habits of ``motifscan detect``, each as a whole process.

    python benchmarks/batch_jobs.py [FILES] [ROWS]      # default 8 files of 500 000 rows

- a folder of FILES CSV files: ``--jobs 1`` against ``--jobs 2``;
- one CSV of FILES x ROWS rows: a plain run against ``--dask local`` (split into about
  four ranges with ``--split-bytes``), which must print the same bytes;
- ``--state``: the first run over the folder, a second run with nothing new, and a run
  after 1 000 rows were appended to one file.

Every command's output is checked against the plain run's, so the timings compare equal
work.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

KERNEL = ["--kernel", "1,2,3,2", "--p", "3", "--threshold", "0.9", "--format", "csv"]


def signal(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 0.3, rows), 4)
    for start in rng.choice(rows - 4, size=rows // 1000, replace=False):
        x[start : start + 4] += 3 * np.array([1, 2, 3, 2])
    return pa.table({"t": np.arange(rows), "v": x})


def motifscan(*args) -> tuple[float, str]:
    program = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    started = time.perf_counter()
    completed = subprocess.run([program, "detect", *map(str, args), *KERNEL], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(completed.stderr)
    return wall, completed.stdout


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        folder = root / "logs"
        folder.mkdir()
        for i in range(files):
            pacsv.write_csv(signal(rows, i), folder / f"day{i:02d}.csv")
        big = root / "big.csv"
        pacsv.write_csv(signal(files * rows, 99), big)

        one, expected = motifscan(folder, "--jobs", "1")
        two, output = motifscan(folder, "--jobs", "2")
        assert output == expected
        print(f"{files} files x {rows} rows   --jobs 1: {one:6.2f} s   --jobs 2: {two:6.2f} s   ratio {one / two:.2f}")

        plain, expected = motifscan(big)
        split = big.stat().st_size // 4 + 1
        clustered, output = motifscan(big, "--dask", "local", "--split-bytes", split)
        assert output == expected
        print(
            f"1 file x {files * rows} rows   plain: {plain:6.2f} s   --dask local (4 ranges): "
            f"{clustered:6.2f} s   ratio {plain / clustered:.2f}"
        )

        state = root / "state.json"
        first, expected = motifscan(folder, "--state", state)
        again, output = motifscan(folder, "--state", state)
        assert output.count("\n") == 1
        with open(folder / "day00.csv", "a") as stream:
            stream.write("".join(f"{rows + i},{0.01 * (-1) ** i}\n" for i in range(1000)))
        grown, output = motifscan(folder, "--state", state)
        print(f"--state   first run: {first:6.2f} s   nothing new: {again:6.2f} s   1000 rows appended: {grown:6.2f} s")


if __name__ == "__main__":
    main()
