"""Whole-process start-up of the ``motifscan`` command: warm caches and the first-ever run.

    python benchmarks/startup.py [--runs 5]

Prints the median wall time of ``--runs`` processes for ``motifscan --help`` and for the
seed example (``motifscan detect sample_data/seed.csv --kernel 1,2,3 --p 9``) with warm
caches, then the cost of a first-ever run: the same commands, and ``detect`` on a
200 000-row CSV (which takes the compiled direct scan), each with an empty Numba cache
(``NUMBA_CACHE_DIR`` pointing to a new empty folder), next to the same run with warm
caches. (Python's own bytecode is compiled when a package is installed.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ["detect", str(ROOT / "sample_data" / "seed.csv"), "--kernel", "1,2,3", "--p", "9"]


def motifscan() -> list[str]:
    found = shutil.which("motifscan") or str(Path(sys.executable).with_name("motifscan"))
    return [found] if Path(found).exists() else [sys.executable, "-m", "motifscan"]


def wall(args: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(motifscan() + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - started


def cold_env(folder: Path) -> dict:
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(folder)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        walk = folder / "walk.csv"
        import numpy as np

        x = np.cumsum(np.random.default_rng(0).standard_normal(200_000))
        np.savetxt(walk, x, fmt="%.6f", header="value", comments="")
        long_run = ["detect", str(walk), "--kernel", "1,2,3", "--p", "9", "--threshold", "0.99"]
        for name, command in (
            ("motifscan --help", ["--help"]),
            ("seed example", SEED),
            ("detect, 200 000 rows (compiled scan)", long_run),
        ):
            wall(command)  # warm the caches
            warm = [wall(command) for _ in range(args.runs)]
            with tempfile.TemporaryDirectory() as cold:
                first = wall(command, cold_env(Path(cold)))
            print(
                f"{name:38s} warm median of {args.runs}: {statistics.median(warm):.3f} s "
                f"(min {min(warm):.3f}, max {max(warm):.3f});  first-ever run: {first:.3f} s"
            )


if __name__ == "__main__":
    main()
