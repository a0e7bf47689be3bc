"""The benchmark scripts run: a tiny grid of benchmarks/run.py end to end, peers included.

Only that they run and report is tested here; their timings are never asserted (speed is
measured by running them, see docs/performance.md).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import best_time  # noqa: E402


def test_best_time_warms_up_then_keeps_the_fastest_call():
    calls = []
    durations = iter([0.0, 0.03, 0.01, 0.02])  # the first (warm-up) call is never timed

    def work():
        calls.append(1)
        import time

        time.sleep(next(durations))

    best = best_time(work, repeat=3)
    assert len(calls) == 4
    assert 0.01 <= best < 0.02


def test_best_time_stops_at_the_budget():
    calls = []
    best_time(lambda: calls.append(1), repeat=1000, budget_s=-1.0)
    assert len(calls) == 2  # the warm-up and one timed call


@pytest.mark.slow
def test_run_prints_the_speed_and_error_tables(tmp_path):
    pytest.importorskip("stumpy")
    pytest.importorskip("scipy")
    table = tmp_path / "table.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--n",
            "3000",
            "--m",
            "3",
            "64",
            "--repeat",
            "1",
            "--budget",
            "0.1",
            "--output",
            str(table),
            "--bank-k",
            "1",
            "4",
            "16",
            "--bank-peak",
            "2",
            "20000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 3e+03 |") and line.count("|") == 14]
    assert len(rows) == 2  # one speed row per kernel length
    for signal in ("walk", "offset", "segments"):  # the three precision signals
        errors = [line for line in result.stdout.splitlines() if line.startswith(f"| {signal} |")]
        assert len(errors) == 2
        ours = [float(value) for value in errors[0].strip("|").split("|")[2:5]]  # auto, direct, fft
        assert max(ours) <= 1e-9
    assert "| n | m |" in table.read_text()
    # The second round's targets: every normalisation against its peer, and template banks.
    modes = [line for line in result.stdout.splitlines() if line.startswith("| 3e+03 |") and line.count("|") == 13]
    assert len(modes) == 2
    for row in modes:
        cells = row.strip("|").split("|")
        assert cells[4].strip().endswith("x") and cells[7].strip().endswith("x")  # none, center ratios
    banks = [line for line in result.stdout.splitlines() if line.startswith(("| 1 |", "| 4 |", "| 16 |"))]
    assert len(banks) == 3
    # One bank in a fresh process: its seconds, peak RSS and motifs.
    (peak,) = [line for line in result.stdout.splitlines() if line.startswith("| 2 | 2e+04 |")]
    seconds, peak_mib, motifs = (float(cell) for cell in peak.strip("|").split("|")[2:5])
    assert seconds > 0 and peak_mib > 10 and motifs >= 0
    # Detect at memory speed: one row per kernel length, with its three ratios.
    detect = [
        line for line in result.stdout.splitlines() if line.startswith(("| 3 |", "| 64 |")) and line.count("|") == 10
    ]
    assert len(detect) == 2
    assert all(row.rstrip(" |").endswith("x") for row in detect)


@pytest.mark.slow
def test_gpu_scan_smoke_runs_in_the_cuda_simulator():
    environment = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_scan.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("equal (max dcos") == 2  # the GPU track equals the CPU's


@pytest.mark.slow
def test_min_gap_study_reproduces_the_table_in_method_md():
    """The evidence for the default --min-gap: the script's table is the one in the docs,
    and half the span (the default) hides no event of a kernel cut as one full event."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "min_gap_study.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    table = completed.stdout.strip().splitlines()
    method = (ROOT / "docs" / "method.md").read_text()
    assert len(table) == 11 and all(line in method for line in table)
    header = [cell.strip() for cell in table[0].split("|")[1:-1]]
    half = header.index("0.5span (aeon L/2)")
    for line in table[2:]:
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if "ECG" in cells[0] or "one period" in cells[0]:
            assert "/ **0** /" in cells[half], line


def test_mad_false_alarms_reproduces_the_table_in_method_md():
    """The false alarms per hour against K of --threshold mad:K in docs/method.md are the
    script's, and they fall as K rises."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mad_false_alarms.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    table = completed.stdout.strip().splitlines()
    method = (ROOT / "docs" / "method.md").read_text()
    assert len(table) == 14 and all(line in method for line in table)
    for recording in (table[2:8], table[8:14]):
        per_hour = [float(line.split("|")[-2]) for line in recording]
        assert per_hour == sorted(per_hour, reverse=True) and per_hour[0] > per_hour[-1]


@pytest.mark.slow
def test_the_figure_benchmark_runs_and_prints_its_table():
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "plot_long.py"), "3000", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[-1]
    assert re.match(r"\| 3,000 \| \d+ \|", row) and row.count("|") == 9 and "kB |" in row


@pytest.mark.slow
@pytest.mark.parametrize("time_column", [False, True])
def test_the_csv_benchmark_prints_its_ratios(time_column):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "detect_csv.py"),
            "2e4",
            *(["--time-column"] if time_column else []),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"ratio detect / read_csv: [\d.]+x in process, [\d.]+x whole process", result.stdout)
    assert "reading the blocks alone" in result.stdout
    assert "only starts the compiled scan" in result.stdout
