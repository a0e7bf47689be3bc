"""Kill ``motifscan detect --state --output --append`` at random moments; count what is lost.

A log grows by random appends (cut anywhere, also inside a line). After each append a run
starts and is killed (SIGKILL or SIGTERM) after a random delay, or left to finish. At the
end one more run completes, and its output is compared with one run over the final file:
every motif must be in the output exactly once, except those that still wait in the state
(undecided candidates near the end). Prints the figures; ``--kills N`` sets the number of
killed runs.

    python benchmarks/fault_injection.py --kills 120
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = [
    "--kernel",
    "1,2,3,2,1",
    "--p",
    "3",
    "--threshold",
    "0.6",
    "--normalize",
    "center",
    "--format",
    "csv",
    "--backend",
    "numba",
]


def _motifscan() -> list[str]:
    return [sys.executable, "-m", "motifscan"]


def _signal(rows: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    x = 0.3 * rng.standard_normal(rows)
    for start in rng.integers(0, rows - 5, rows // 40):
        x[start : start + 5] += np.array([1, 2, 3, 2, 1]) * rng.uniform(0.5, 2)
    return "t,v\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(np.round(x, 3)))


def _starts(csv_text: str) -> list[tuple[str, int]]:
    lines = csv_text.splitlines()
    return [(line.split(",")[0], int(line.split(",")[1])) for line in lines[1:] if not line.startswith("channel")]


def inject(kills: int, seed: int = 0, rows: int = 6000, directory: str | None = None) -> dict:
    """Run the experiment; return its figures (runs, kills, motifs, lost, twice, temporary files)."""
    chance = random.Random(seed)
    text = _signal(rows, seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(dir=directory) as where:
        where = Path(where)
        log, state, output = where / "log.csv", where / "state.json", where / "motifs.csv"
        command = [
            *_motifscan(),
            "detect",
            str(log),
            *OPTIONS,
            "--state",
            str(state),
            "--output",
            str(output),
            "--append",
            "-q",
        ]
        written, killed, runs = 0, 0, 0
        while killed < kills:
            if written < len(text):
                written = min(len(text), written + chance.randint(1, max(2, len(text) * 3 // kills)))
                with open(log, "w") as stream:
                    stream.write(text[:written])
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            runs += 1
            if chance.random() < 0.85:
                time.sleep(chance.uniform(0.0, 1.2))
                if process.poll() is None:
                    process.send_signal(chance.choice([signal.SIGKILL, signal.SIGTERM]))
                    killed += 1
            process.communicate(timeout=300)
        with open(log, "w") as stream:
            stream.write(text)
        for _ in range(2):  # the last runs complete
            subprocess.run(command, check=False, env=env, capture_output=True, timeout=300)
        whole = subprocess.run(
            [*_motifscan(), "detect", str(log), *OPTIONS],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        expected = _starts(whole.stdout)
        found = _starts(output.read_text()) if output.exists() else []
        entry = json.loads(state.read_text())["files"][str(log)]
        waiting = {
            (detector["channel"], position)
            for detector in entry["undecided"]["detectors"]
            for position in detector["candidates"]["position"]
        }
        counts: dict = {}
        for motif in found:
            counts[motif] = counts.get(motif, 0) + 1
        lost = [motif for motif in expected if motif not in counts and motif not in waiting]
        twice = [motif for motif, count in counts.items() if count > 1]
        invented = [motif for motif in counts if motif not in set(expected)]
        temporaries = [name.name for name in where.iterdir() if name.name.endswith(".part")]
        return {
            "runs": runs,
            "kills": killed,
            "motifs": len(expected),
            "reported": len(found),
            "waiting": len(waiting),
            "lost": len(lost),
            "twice": len(twice),
            "invented": len(invented),
            "temporary_files_left": len(temporaries),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    started = time.perf_counter()
    figures = inject(arguments.kills, arguments.seed)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
