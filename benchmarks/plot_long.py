"""What ``--plot`` costs on a long recording: ``motifscan detect`` with and without a figure.

    python benchmarks/plot_long.py [ROWS ...]        # default 1e5 1e6 1e7

For each length, writes the ECG of ``sample_data`` (360 Hz, with its time column) repeated
to ROWS rows into a temporary directory and times, as whole processes and best of 3,
``motifscan detect`` with two kernels cut from it (a normal and a premature beat, so a
motif every ~290 samples) alone and with ``--plot`` to PNG and SVG. Prints a Markdown
table: the run alone, what each figure adds, and the motifs drawn. The figure is drawn
from min/max envelopes of at most 2048 buckets per series, its labels are capped and the
shading of more than 1000 motifs is merged per pixel column, so its cost barely grows
with the signal; the detection still sees every sample. Needs matplotlib
(``pip install "motifscan[plot]"``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ECG = ROOT / "sample_data" / "ecg_mitdb_excerpt_360hz.csv"
KERNELS = ["--kernel-from", f"normal={ECG}@1.11:1.56", "--kernel-from", f"premature={ECG}@19.54:19.99"]
REPEATS = 3


def write_csv(path: Path, rows: int) -> None:
    ecg = np.loadtxt(ECG, delimiter=",", skiprows=1)[:, 1]
    values = np.resize(ecg, rows)
    times = np.arange(rows) / 360.0
    np.savetxt(path, np.column_stack([times, values]), fmt=["%.6f", "%.3f"], delimiter=",",
               header="time_s,ecg_mv", comments="")


def timed(arguments: list[str]) -> tuple[float, str]:
    """Wall seconds of one ``motifscan`` process, and its stdout."""
    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    started = time.perf_counter()
    completed = subprocess.run([motifscan, *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(completed.stderr)
    return wall, completed.stdout


def best(arguments: list[str]) -> tuple[float, str]:
    runs = [timed(arguments) for _ in range(REPEATS)]
    return min(wall for wall, _ in runs), runs[0][1]


def main() -> None:
    lengths = [int(float(arg)) for arg in sys.argv[1:]] or [100_000, 1_000_000, 10_000_000]
    print(f"best of {REPEATS} whole processes; two kernels on the repeated 360 Hz ECG, --p 2\n")
    print("| rows | motifs | detect alone | + PNG figure | + SVG figure | PNG size |")
    print("|---:|---:|---:|---:|---:|---:|")
    for rows in lengths:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ecg.csv"
            write_csv(path, rows)
            detect = ["detect", str(path), *KERNELS, "--p", "2", "--format", "json"]
            alone, stdout = best(detect)
            motifs = json.loads(stdout)["motif_count"]
            added = {}
            for extension in ("png", "svg"):
                figure = Path(folder) / f"figure.{extension}"
                wall, _ = best(detect + ["--plot", str(figure)])
                added[extension] = (wall - alone, figure.stat().st_size)
            print(f"| {rows:,} | {motifs:,} | {alone:.2f} s | +{added['png'][0]:.2f} s | +{added['svg'][0]:.2f} s "
                  f"| {added['png'][1] / 1e3:.0f} kB |", flush=True)


if __name__ == "__main__":
    main()
