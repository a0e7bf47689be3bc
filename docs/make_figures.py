"""Regenerate the figures of the documentation by running the real commands.

    python docs/make_figures.py

Each figure is exactly what ``--plot`` draws; the commands are printed as they run. The
long run's input (the ECG of ``sample_data`` repeated to 108 000 rows, 5 minutes at
360 Hz) is written to a temporary directory first.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ECG = "sample_data/ecg_mitdb_excerpt_360hz.csv"
# A normal beat and the premature beat near the end of the excerpt, cut by time (seconds).
BEATS = ["--kernel-from", f"normal={ECG}@time=1.11:1.56", "--kernel-from", f"premature={ECG}@time=19.54:19.99"]
LONG_ECG = "ecg_repeated_108k.csv"

FIGURES = {
    # The A-E example of docs/method.md and the README: the cosine scan against a convolution.
    "docs/images/seed-compare.png": [
        "compare",
        "sample_data/seed.csv",
        "--kernel",
        "1,2,3",
        "--p",
        "9",
        "--format",
        "json",
    ],
    # The sensor log of the README: six planted pulses on a drifting, noisy baseline.
    "docs/images/sensor-log.png": [
        "detect",
        "sample_data/sensor_log.csv",
        "--kernel-file",
        "sample_data/pulse_kernel.txt",
        "--p",
        "3",
        "--column",
        "load_kn",
        "--format",
        "json",
    ],
    # A real recording with two kernels: the MIT-BIH ECG excerpt, time in seconds.
    "docs/images/ecg-two-kernels.png": ["detect", ECG, *BEATS, "--p", "2", "--format", "json"],
    # A long run: the same ECG repeated to 108 000 rows; motifs drawn from envelopes.
    "docs/images/ecg-long.png": ["detect", LONG_ECG, *BEATS, "--p", "2", "--format", "json"],
}


def write_long_ecg(path: Path, rows: int = 108_000) -> None:
    values = np.resize(np.loadtxt(ROOT / ECG, delimiter=",", skiprows=1)[:, 1], rows)
    np.savetxt(
        path,
        np.column_stack([np.arange(rows) / 360.0, values]),
        fmt=["%.6f", "%.3f"],
        delimiter=",",
        header="time_s,ecg_mv",
        comments="",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_long_ecg(Path(folder) / LONG_ECG)
        for figure, arguments in FIGURES.items():
            # The long input is run where it lies, so the title names it as it is named here.
            where = folder if LONG_ECG in arguments else ROOT
            if LONG_ECG in arguments:
                arguments = [a.replace(ECG, str(ROOT / ECG)) for a in arguments]
            command = [sys.executable, "-m", "motifscan", *arguments, "--plot", str(ROOT / figure)]
            print("+ motifscan", " ".join(arguments), "--plot", figure)
            subprocess.run(command, cwd=where, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
