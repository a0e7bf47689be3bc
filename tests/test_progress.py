"""The progress bar: on stderr only when it is a terminal, never with -q, never in the results."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motifscan.progress import RunProgress

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "sample_data" / "seed.csv")


def motifscan(*args, terminal: bool):
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    if terminal:
        env["TTY_COMPATIBLE"] = "1"  # Rich treats stderr (and stdout) as a terminal
    script = Path(sys.executable).with_name("motifscan")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]
    return subprocess.run(
        command + ["detect", *map(str, args), "--kernel", "1,2,3", "--p", "9", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    x = np.zeros(5000)
    x[100:103] = [1, 2, 3]
    for i in range(3):
        (folder / f"day{i}.csv").write_text("v\n" + "".join(f"{v}\n" for v in x))
    return folder


def test_bar_on_a_terminal_counts_files_and_rows_and_leaves_the_results_alone(logs):
    plain = motifscan(logs, terminal=False)
    shown = motifscan(logs, terminal=True)
    assert plain.returncode == shown.returncode == 0
    assert shown.stdout == plain.stdout and plain.stdout.count("\n") == 4
    assert "3/3" in shown.stderr and "15,000 rows" in shown.stderr and "rows/s" in shown.stderr
    assert plain.stderr == ""


def test_one_input_counts_rows(logs):
    shown = motifscan(logs / "day0.csv", terminal=True)
    assert "5,000 rows" in shown.stderr


def test_quiet_means_no_bar(logs):
    quiet = motifscan(logs, "-q", terminal=True)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_no_bar_when_it_would_not_be_seen():
    with RunProgress.shown(3, enabled=False) as progress:
        assert progress is None
