"""Regenerate the figures of the documentation by running the real commands.

    python docs/make_figures.py

Each figure is exactly what ``--plot`` draws; the commands are printed as they run.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIGURES = {
    # The A-E example of docs/method.md and the README: the cosine scan against a convolution.
    "docs/images/seed-compare.png": ["compare", "sample_data/seed.csv", "--kernel", "1,2,3", "--p", "9",
                                     "--format", "json"],
    # The sensor log of the README: six planted pulses on a drifting, noisy baseline.
    "docs/images/sensor-log.png": ["detect", "sample_data/sensor_log.csv", "--kernel-file",
                                   "sample_data/pulse_kernel.txt", "--p", "3", "--column", "load_kn",
                                   "--format", "json"],
}


def main() -> None:
    for figure, arguments in FIGURES.items():
        command = [sys.executable, "-m", "motifscan", *arguments, "--plot", figure]
        print("+ motifscan", " ".join(arguments), "--plot", figure)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
