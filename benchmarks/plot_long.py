"""What ``--plot`` costs on a long signal: ``motifscan detect`` with and without a figure.

    python benchmarks/plot_long.py [ROWS]        # default 10 000 000

Writes a one-column CSV (noise with 50 planted copies of the kernel) to a temporary
directory and times, as whole processes and best of 3, ``motifscan detect`` alone and with
``--plot`` to PNG, SVG and PDF. The figure is drawn from min/max envelopes of at most 2048
buckets per series, so its cost does not grow with the signal; the detection still sees
every sample. Needs matplotlib (``pip install "motifscan[plot]"``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KERNEL = (1.0, 2.0, 3.0, 2.0)


def write_csv(path: Path, rows: int) -> None:
    # Noise around zero, not a random walk: a walk's windows are nearly flat, and a flat
    # window is close to any positive kernel, so nearly every position would be a motif.
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.3, rows)
    for start in rng.choice(rows - len(KERNEL), size=50, replace=False):
        signal[start:start + len(KERNEL)] += rng.choice([-4, 2, 5]) * np.array(KERNEL)
    np.savetxt(path, signal, fmt="%.5f", header="value", comments="")


def timed(arguments: list[str]) -> float:
    """Wall seconds of one ``motifscan`` process."""
    motifscan = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    started = time.perf_counter()
    completed = subprocess.run([motifscan, *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(completed.stderr)
    return wall


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "walk.csv"
        write_csv(path, rows)
        detect = ["detect", str(path), "--kernel", ",".join(f"{v:g}" for v in KERNEL), "--p", "9",
                  "--format", "json"]
        print(f"rows {rows:,}  file {path.stat().st_size / 1e6:.0f} MB")
        baseline = min(timed(detect) for _ in range(3))
        print(f"motifscan detect, no figure (best of 3): {baseline:.2f} s")
        for extension in ("png", "svg", "pdf"):
            figure = Path(folder) / f"figure.{extension}"
            wall = min(timed(detect + ["--plot", str(figure)]) for _ in range(3))
            print(f"motifscan detect --plot figure.{extension} (best of 3): {wall:.2f} s "
                  f"(+{wall - baseline:.2f} s; {figure.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
