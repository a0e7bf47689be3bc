"""What ``--plot`` costs on a long recording: ``motifscan detect`` with and without a figure.

    python benchmarks/plot_long.py [ROWS ...] [--rounds N]   # default 1e5 1e6 1e7, 5 rounds

For each length, writes the ECG of ``sample_data`` (360 Hz, with its time column) repeated
to ROWS rows into a temporary directory and times, as whole processes, ``motifscan
detect`` with two kernels cut from it (a normal and a premature beat, so a motif every
~290 samples) alone and with ``--plot`` to PNG and SVG, in turn, best of 5 rounds. Prints
a Markdown table: the run alone, what each figure adds (wall seconds, and CPU seconds,
which a machine shared with other work disturbs less), and the motifs drawn. The figure is drawn
from min/max envelopes of at most 2048 buckets per series, its labels are capped and the
shading of more than 1000 motifs is merged per pixel column, so its cost barely grows
with the signal; the detection still sees every sample. Needs matplotlib
(``pip install "motifscan[plot]"``).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ECG = ROOT / "sample_data" / "ecg_mitdb_excerpt_360hz.csv"
KERNELS = ["--kernel-from", f"normal={ECG}@time=1.11:1.56", "--kernel-from", f"premature={ECG}@time=19.54:19.99"]
REPEATS = 5


def write_csv(path: Path, rows: int) -> None:
    ecg = np.loadtxt(ECG, delimiter=",", skiprows=1)[:, 1]
    values = np.resize(ecg, rows)
    times = np.arange(rows) / 360.0
    np.savetxt(
        path, np.column_stack([times, values]), fmt=["%.6f", "%.3f"], delimiter=",", header="time_s,ecg_mv", comments=""
    )


def timed(arguments: list[str]) -> tuple[float, float, str]:
    """Wall seconds and CPU seconds (user + system, all threads) of one ``motifscan``
    process, and its stdout."""
    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run([motifscan, *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in (0, 1):
        raise SystemExit(completed.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, completed.stdout


def main() -> None:
    arguments = sys.argv[1:]
    rounds = REPEATS
    if "--rounds" in arguments:
        at = arguments.index("--rounds")
        rounds = int(arguments[at + 1])
        del arguments[at : at + 2]
    lengths = [int(float(arg)) for arg in arguments] or [100_000, 1_000_000, 10_000_000]
    print(
        f"best of {rounds} rounds of whole processes (each round runs the three in turn, so load on a "
        "shared machine hits them alike); two kernels on the repeated 360 Hz ECG, --p 2\n"
    )
    print("| rows | motifs | detect alone | + PNG figure | + SVG figure | + PNG, CPU | + SVG, CPU | PNG size |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in lengths:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ecg.csv"
            write_csv(path, rows)
            detect = ["detect", str(path), *KERNELS, "--p", "2", "--format", "json"]
            variants = {
                "alone": detect,
                **{
                    extension: detect + ["--plot", str(Path(folder) / f"figure.{extension}")]
                    for extension in ("png", "svg")
                },
            }
            walls: dict = {name: [] for name in variants}
            cpus: dict = {name: [] for name in variants}
            timed(detect)  # compiles and caches what the first run of a new shape needs
            for _ in range(rounds):
                for name, arguments in variants.items():
                    wall, cpu, stdout = timed(arguments)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            alone, alone_cpu = min(walls["alone"]), min(cpus["alone"])
            motifs = json.loads(stdout)["motif_count"]
            size = (Path(folder) / "figure.png").stat().st_size
            print(
                f"| {rows:,} | {motifs:,} | {alone:.2f} s | +{min(walls['png']) - alone:.2f} s "
                f"| +{min(walls['svg']) - alone:.2f} s | +{min(cpus['png']) - alone_cpu:.2f} s "
                f"| +{min(cpus['svg']) - alone_cpu:.2f} s | {size / 1e3:.0f} kB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
