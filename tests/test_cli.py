"""The command line, in process (Click's CliRunner) and as a real installed program."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from motifscan.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "sample_data" / "seed.csv")


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def installed_motifscan() -> list[str]:
    """The console script installed next to this Python, else ``python -m motifscan``."""
    script = Path(sys.executable).with_name("motifscan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]


def test_seed_example_reports_exactly_a_b_c():
    result = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    found = [(m["start"], m["sign"], m["scale"]) for m in document["motifs"]]
    assert found == [(4, 1, 1.0), (11, -1, -1.0), (18, 1, 0.2)]  # A, B, C; not D (25), E (32)
    assert document["samples"] == 39 and document["skipped_windows"] == 0
    assert document["parameters"]["p"] == 9 and document["parameters"]["kernel"] == [1, 2, 3]


def test_csv_is_the_default_when_piped_and_exit_1_when_nothing_found():
    result = run("detect", SEED, "--kernel", "1,2,3", "--p", "9")
    assert result.stdout.splitlines()[0] == "channel,start,end,score,cosine,sign,scale"
    result = run("detect", SEED, "--kernel", "1,-5,1", "--p", "9")
    assert result.exit_code == 1 and result.stdout.splitlines() == ["channel,start,end,score,cosine,sign,scale"]


def test_negative_kernel_values_in_both_spellings():
    for args in (["--kernel", "-1,-2,-3"], ["--kernel=-1,-2,-3"]):
        result = run("detect", SEED, *args, "--p", "9", "--sign", "positive", "--format", "csv")
        assert result.exit_code == 0
        assert [line.split(",")[1] for line in result.stdout.splitlines()[1:]] == ["11"]


def test_kernel_file_from_stdin():
    result = run("detect", SEED, "--kernel-file", "-", "--p", "9", input="1\n2\n3\n")
    assert result.exit_code == 0, result.output
    assert [line.split(",")[1] for line in result.stdout.splitlines()[1:]] == ["4", "11", "18"]


def test_jsonl_top_and_min_gap(sample_data):
    log = sample_data / "sensor_log.csv"
    result = run(
        "detect",
        log,
        "--kernel-file",
        sample_data / "pulse_kernel.txt",
        "--p",
        "3",
        "--format",
        "jsonl",
        "--top",
        "2",
        "--column",
        "load_kn",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["start"] for m in lines] == [1500, 2210] and lines[0]["time"] == "2025-03-14T08:25:00"


def test_sensor_log_finds_exactly_the_planted_pulses(sample_data):
    sys.path.insert(0, str(sample_data))
    try:
        from make_sensor_log import PLANTED
    finally:
        sys.path.pop(0)
    result = run(
        "detect",
        sample_data / "sensor_log.csv",
        "--kernel-file",
        sample_data / "pulse_kernel.txt",
        "--p",
        "3",
        "--format",
        "json",
    )
    motifs = json.loads(result.stdout)["motifs"]
    assert [(m["channel"], m["start"], m["sign"]) for m in motifs] == [
        ("load_kn", start, 1 if amplitude > 0 else -1) for start, amplitude in PLANTED
    ]
    for motif, (_, amplitude) in zip(motifs, PLANTED):
        assert motif["scale"] == pytest.approx(amplitude, abs=0.05)


def test_stdin_and_output_file(tmp_path):
    out = tmp_path / "motifs.json"
    result = run("detect", "-", "--kernel", "1,2,3", "--p", "9", "--output", out, input=Path(SEED).read_text())
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(out.read_text())["motifs"]) == 3


def test_scores_csv_and_parquet(tmp_path):
    result = run("scores", SEED, "--kernel", "1,2,3", "--p", "9")
    lines = result.stdout.splitlines()
    # The header is written like detect's: quoted only where a name needs it.
    assert result.exit_code == 0 and lines[0] == "start,signal_score,signal_cosine,signal_scale"
    assert len(lines) == 1 + 37 and lines[5].startswith("4,1,")
    import pyarrow.parquet as pq

    out = tmp_path / "scores.parquet"
    assert run("scores", SEED, "--kernel", "1,2,3", "--output", out).exit_code == 0
    table = pq.read_table(out)
    assert table.num_rows == 37 and table.column("signal_scale")[18].as_py() == pytest.approx(0.2)
    awkward = run("scores", "-", "--kernel", "1,2,3", input='"a,b"\n1\n2\n3\n4\n')
    assert awkward.stdout.splitlines()[0] == 'start,"a,b_score","a,b_cosine","a,b_scale"'


def bad_inputs(tmp_path):
    """(name, arguments, fragment of the message) for every kind of bad input."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    text_only = tmp_path / "labels.csv"
    text_only.write_text("label\nwalk\nrun\nwalk\n")
    bad_cell = tmp_path / "bad_cell.csv"
    bad_cell.write_text("v\n" + "1\n" * 50 + "oops\n" + "2\n" * 50)
    truncated = tmp_path / "cut.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"v": list(range(1000))}), tmp_path / "whole.parquet")
    truncated.write_bytes((tmp_path / "whole.parquet").read_bytes()[:300])
    corrupt_gz = tmp_path / "corrupt.csv.gz"
    rows = "".join(f"{i * 0.37 % 1:.6f}\n" for i in range(20000)).encode()
    compressed = gzip.compress(b"v\n" + rows)
    corrupt_gz.write_bytes(compressed[: len(compressed) // 2])  # cut mid-stream
    kernel_nan = tmp_path / "k.txt"
    kernel_nan.write_text("1\nnan\n")
    seed = ["detect", SEED]
    return [
        ("missing file", ["detect", tmp_path / "nope.csv", "--kernel", "1,2"], "nope.csv: no such file"),
        ("empty file", ["detect", empty, "--kernel", "1,2"], "empty.csv"),
        ("no numeric column", ["detect", text_only, "--kernel", "1,2"], "no numeric column"),
        ("unknown column", seed + ["--kernel", "1,2", "--column", "nope"], "unknown column 'nope'"),
        ("non-numeric cell", ["detect", bad_cell, "--kernel", "1,2"], "line 52"),
        ("truncated parquet", ["detect", truncated, "--kernel", "1,2"], "cut.parquet"),
        ("corrupt gzip", ["detect", corrupt_gz, "--kernel", "1,2"], "corrupt.csv.gz"),
        ("p nan", seed + ["--kernel", "1,2", "--p", "nan"], "--p must be"),
        ("p not a number", seed + ["--kernel", "1,2", "--p", "x"], "'--p'"),
        ("negative threshold", seed + ["--kernel", "1,2", "--threshold", "-0.5"], "--threshold"),
        ("all-zero kernel", seed + ["--kernel", "0,0"], "all zeros"),
        ("empty kernel", seed + ["--kernel", ""], "empty"),
        ("non-finite kernel", seed + ["--kernel", "1,inf"], "finite"),
        ("non-numeric kernel", seed + ["--kernel", "1,two"], "'two' is not a number"),
        ("non-finite kernel file", seed + ["--kernel-file", kernel_nan], "k.txt"),
        ("missing kernel file", seed + ["--kernel-file", tmp_path / "none.txt"], "no such kernel file"),
        ("no kernel", seed, "a kernel is required"),
        ("span exceeds signal", seed + ["--kernel", "1,2,3", "--dilation", "20"], "spans 41 samples"),
        ("zero dilation", seed + ["--kernel", "1,2", "--dilation", "0"], "--dilation"),
        ("bad delimiter", seed + ["--kernel", "1,2", "--delimiter", "ab"], "--delimiter"),
        ("bad top", seed + ["--kernel", "1,2", "--top", "0"], "--top"),
        ("zero threads", seed + ["--kernel", "1,2", "--threads", "0"], "--threads must be at least 1"),
        ("threads not a number", seed + ["--kernel", "1,2", "--threads", "two"], "'--threads'"),
    ]


def test_every_bad_input_exits_2_with_one_line_and_no_output_file(tmp_path):
    for name, args, fragment in [*bad_inputs(tmp_path), *bad_shape_options(tmp_path)]:
        out = tmp_path / "result.csv"
        result = run(*args, "--output", out)
        assert result.exit_code == 2, (name, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("motifscan: error: "), (name, result.stderr)
        assert fragment in lines[0], (name, lines[0])
        assert "Traceback" not in result.output
        assert not out.exists(), name
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".motifscan-")], name


def test_skipped_windows_are_reported(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("t,v\n0,0\n1,1\n2,2\n3,3\n4,\n5,0\n6,1\n7,2\n8,3\n9,0\n")
    result = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--format", "json")
    assert json.loads(result.stdout)["skipped_windows"] == 3
    assert "3 window(s) skipped" in result.stderr


@pytest.mark.parametrize("command", [["detect"], ["scores"], ["compare"]])
def test_quiet_means_the_same_on_every_command(tmp_path, command):
    path = tmp_path / "gaps.csv"
    path.write_text("t,v\n0,0\n1,1\n2,2\n3,3\n4,\n5,0\n6,1\n7,2\n8,3\n9,0\n")
    args = [*command, path, "--kernel", "1,2,3", "--p", "9"]
    loud, quiet = run(*args), run(*args, "-q")
    assert "3 window(s) skipped" in loud.stderr
    assert quiet.exit_code == loud.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout


def test_a_large_offset_is_said_once_on_stderr_and_in_json(tmp_path):
    import numpy as np

    rng = np.random.default_rng(3)
    co2 = 315 + 3 * np.sin(np.arange(600) * 2 * np.pi / 52) + rng.normal(0, 0.3, 600)
    path = tmp_path / "co2.csv"
    path.write_text("co2\n" + "\n".join(f"{v:.2f}" for v in co2) + "\n")
    kernel = ",".join(f"{v:.2f}" for v in co2[100:152])
    result = run("detect", path, "--kernel", kernel, "--format", "json")
    assert json.loads(result.stdout)["large_offset"] is True
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "large offset" in lines[0] and "--normalize center" in lines[0]
    assert run("detect", path, "--kernel", kernel, "--block-rows", "7").stderr == result.stderr
    assert run("detect", path, "--kernel", kernel, "-q").stderr == ""
    centred = run("detect", path, "--kernel", kernel, "--normalize", "center", "--format", "json")
    # (A peak hidden by --min-gap may still be reported: the sine's noise makes side peaks.)
    assert "large offset" not in centred.stderr and json.loads(centred.stdout)["large_offset"] is False
    assert "large offset" in run("scores", path, "--kernel", kernel).stderr
    seed = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json")
    assert seed.stderr == "" and json.loads(seed.stdout)["large_offset"] is False


@pytest.mark.slow
def test_fit_takes_quiet_too(tmp_path):
    result = run(
        "fit",
        str(ROOT / "sample_data" / "lookalikes.csv"),
        "--labels",
        str(ROOT / "sample_data" / "lookalikes_labels.csv"),
        "-o",
        tmp_path / "k.json",
        "-q",
        "--format",
        "json",
    )
    assert result.exit_code == 0 and result.stderr == "" and (tmp_path / "k.json").exists()


# Real processes of the installed program.


def test_installed_program_runs_the_readme_job():
    completed = subprocess.run(
        installed_motifscan() + ["detect", SEED, "--kernel", "1,2,3", "--p", "9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert [line.split(",")[1] for line in completed.stdout.splitlines()[1:]] == ["4", "11", "18"]


def test_the_program_ends_without_the_interpreters_shutdown_and_loses_no_output(tmp_path):
    # Native thread pools torn down by the interpreter's shutdown can abort a finished run
    # (SIGABRT after the last line was written): the entry point ends the process itself,
    # after flushing. An atexit hook shows whether the shutdown ran; the score track (one
    # line per window, far more than a pipe buffer) shows that nothing written was lost.
    signal_file = tmp_path / "long.csv"
    signal_file.write_text("v\n" + "0\n1\n2\n3\n" * 50000)
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('interpreter shutdown ran\\n'))\n"
        "from motifscan.cli import main\n"
        f"sys.argv = ['motifscan', 'scores', {str(signal_file)!r}, '--kernel', '1,2,3']\n"
        "main()\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "interpreter shutdown ran" not in completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1 + 200000 - 2 and lines[-1].startswith("199997,")

    code = code.replace("'scores'", "'detect'").replace("'1,2,3'", "'1,2,3', '--output', 'nowhere/x.csv'")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and completed.stderr.startswith("motifscan: error: ")


def test_python_dash_m_and_help():
    completed = subprocess.run(
        [sys.executable, "-m", "motifscan", "detect", "--help"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0 and "--kernel" in completed.stdout


def test_closed_pipe_gives_no_traceback(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("v\n" + "0\n1\n2\n3\n" * 20000)
    command = " ".join(installed_motifscan()) + f" detect {big} --kernel 1,2,3 --p 9 --min-gap 1 | head -n 2"
    completed = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + command], capture_output=True, text=True, timeout=120
    )
    assert completed.stdout.splitlines()[0] == "channel,start,end,score,cosine,sign,scale"
    assert "Traceback" not in completed.stderr and "Error" not in completed.stderr
    assert completed.returncode in (0, 141)


def test_ctrl_c_exits_130(tmp_path):
    from waiting import needs_proc, wait_until_reading_stdin

    needs_proc()
    process = subprocess.Popen(
        installed_motifscan() + ["detect", "-", "--kernel", "1,2,3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        process.stdin.write(b"v\n1\n2\n")
        process.stdin.flush()
        # Not a fixed sleep: on a loaded machine the signal could come before the input
        # was read. Two samples, shorter than the kernel: still no error, just 130.
        wait_until_reading_stdin(process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert err == b"motifscan: interrupted\n"
    finally:
        process.kill()


# Matching real shapes: --normalize, --noise-floor, several kernels, --kernel-from, --joint,
# dilation ranges.

BASIC = ROOT / "sample_data" / "basicmotions_interleaved_10hz.csv"
WALKING = ROOT / "sample_data" / "kernel_basicmotions_walking.csv"
LOG = ROOT / "sample_data" / "sensor_log.csv"


def weights_file(tmp_path, row: str):
    """A two-channel joint kernel file (acc_x, acc_y) with the weights row ``row``."""
    path = tmp_path / f"weights{abs(hash(row))}.csv"
    path.write_text(f"acc_x,acc_y\n{row}\n1,0\n2,1\n3,0\n")
    return path


def bad_shape_options(tmp_path):
    """(name, arguments, fragment of the message) for every new option's bad values."""
    kernels = tmp_path / "kernels.json"
    kernels.write_text('{"rise": [1, 2, 3], "fall": [3, 2, 1]}')
    three = tmp_path / "three.csv"
    three.write_text("1,2,0\n2,1,0\n3,0,1\n")
    seed = ["detect", SEED]
    return [
        ("unknown kernel name", seed + ["--kernel-file", kernels, "--kernel-column", "jump"], "no column 'jump'"),
        ("kernel column without file", seed + ["--kernel", "1,2", "--kernel-column", "a"], "needs --kernel-file"),
        ("duplicate kernel names", seed + ["--kernel", "a=1,2", "--kernel", "a=2,1"], "two kernels are named 'a'"),
        ("empty kernel name", seed + ["--kernel", "=1,2"], "name before '=' is empty"),
        ("bad named kernel", seed + ["--kernel", "rise=1,x"], "'x' is not a number"),
        ("joint channel count", ["detect", BASIC, "--kernel-file", three, "--joint"], "has 3 channels but"),
        ("joint unknown channel", ["detect", BASIC, "--kernel-file", WALKING, "--joint"], "channel 'k'"),
        ("joint inline kernel", seed + ["--kernel", "1,2", "--joint"], "--joint needs kernels"),
        ("empty range", seed + ["--kernel", "1,2", "--dilation", "8..1"], "range 8..1 is empty"),
        ("open range", seed + ["--kernel", "1,2", "--dilation", "2.."], "needs both ends"),
        ("dilation list item", seed + ["--kernel", "1,2", "--dilation", "1,x"], "--dilation must be a whole"),
        ("range past the signal", seed + ["--kernel", "1,2,3", "--dilation", "20..30"], "spans 41 samples"),
        ("rows past the end", seed + ["--kernel-from", f"{LOG}:load_kn@3000:5000"], "run past the end"),
        ("empty rows", seed + ["--kernel-from", f"{LOG}:load_kn@30:30"], "range 30:30 is empty"),
        ("times outside", seed + ["--kernel-from", f"{BASIC}:acc_x@time=900:901"], "no row of"),
        ("kernel-from column", seed + ["--kernel-from", f"{LOG}:nope@1:4"], "unknown column 'nope'"),
        ("kernel-from several channels", seed + ["--kernel-from", f"{LOG}@1:4"], "several channels"),
        ("kernel-from syntax", seed + ["--kernel-from", f"{LOG}:load_kn"], "expected [NAME=]FILE"),
        ("kernel-from limits", seed + ["--kernel-from", f"{LOG}:load_kn@a:b"], "'a:b' are not rows START:END"),
        ("kernel-from times", seed + ["--kernel-from", f"{LOG}:load_kn@time=a:b"], "cannot read 'a:b'"),
        ("normalize", seed + ["--kernel", "1,2", "--normalize", "mean"], "'--normalize'"),
        ("constant kernel centred", seed + ["--kernel", "2,2,2", "--normalize", "center"], "is constant"),
        ("noise floor negative", seed + ["--kernel", "1,2", "--noise-floor", "-1"], "--noise-floor must be"),
        ("noise floor text", seed + ["--kernel", "1,2", "--noise-floor", "loud"], "--noise-floor: 'loud'"),
        ("overlap", seed + ["--kernel", "1,2", "--overlap", "all"], "'--overlap'"),
        (
            "conv with normalize",
            seed + ["--kernel", "1,2", "--method", "conv", "--normalize", "center"],
            "--method conv works with one kernel",
        ),
        (
            "compare several kernels",
            ["compare", SEED, "--kernel", "a=1,2", "--kernel", "b=2,1"],
            "one kernel at one dilation",
        ),
        (
            "min channels without joint",
            seed + ["--kernel", "1,2", "--min-channels", "1"],
            "--min-channels needs --joint",
        ),
        (
            "min channels too many",
            [
                "detect",
                BASIC,
                "--kernel-file",
                WALKING,
                "-c",
                "acc_x",
                "-c",
                "acc_y",
                "-c",
                "acc_z",
                "--joint",
                "--min-channels",
                "4",
            ],
            "--min-channels must be at most",
        ),
        (
            "min channels zero",
            [
                "detect",
                BASIC,
                "--kernel-file",
                WALKING,
                "-c",
                "acc_x",
                "-c",
                "acc_y",
                "-c",
                "acc_z",
                "--joint",
                "--min-channels",
                "0",
            ],
            "--min-channels must be",
        ),
        (
            "weights without joint",
            seed + ["--kernel-file", weights_file(tmp_path, "weights,1,1"), "-c", "signal"],
            "channel weights apply to a joint kernel",
        ),
        (
            "negative weight",
            [
                "detect",
                BASIC,
                "--kernel-file",
                weights_file(tmp_path, "weights,1,-1"),
                "--joint",
                "-c",
                "acc_x",
                "-c",
                "acc_y",
            ],
            "a channel weight must be a finite number >= 0",
        ),
        (
            "weights count",
            [
                "detect",
                BASIC,
                "--kernel-file",
                weights_file(tmp_path, "weights,1"),
                "--joint",
                "-c",
                "acc_x",
                "-c",
                "acc_y",
            ],
            "the weights row has 1 values for 2 columns",
        ),
        (
            "all weights zero",
            [
                "detect",
                BASIC,
                "--kernel-file",
                weights_file(tmp_path, "weights,0,0"),
                "--joint",
                "-c",
                "acc_x",
                "-c",
                "acc_y",
            ],
            "every channel weight is 0",
        ),
        (
            "compare with mad",
            ["compare", SEED, "--kernel", "1,2", "--threshold", "mad:3"],
            "--threshold mad:K applies to detect",
        ),
        (
            "mad with conv",
            seed + ["--kernel", "1,2", "--threshold", "mad:3", "--method", "conv"],
            "--threshold mad:K applies to the cosine score",
        ),
        (
            "fill with dask",
            seed + ["--kernel", "1,2", "--fill", "linear", "--max-gap", "2", "--dask", "local"],
            "--fill with --dask",
        ),
        (
            "min channels with state",
            [
                "detect",
                BASIC,
                "--kernel-file",
                WALKING,
                "-c",
                "acc_x",
                "-c",
                "acc_y",
                "-c",
                "acc_z",
                "--joint",
                "--min-channels",
                "2",
                "--state",
                tmp_path / "s.json",
            ],
            "--min-channels with --state",
        ),
    ]


def test_named_kernels_and_dilation_range_add_columns():
    result = run(
        "detect",
        SEED,
        "--kernel",
        "rise=1,2,3",
        "--kernel",
        "fall=3,2,1",
        "--p",
        "9",
        "--dilation",
        "1..2",
        "--sign",
        "positive",
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "channel,kernel,start,end,dilation,score,cosine,sign,scale"
    assert [line.split(",")[1:3] + [line.split(",")[4]] for line in lines[1:]] == [
        ["rise", "4", "1"],
        ["rise", "18", "1"],
        ["fall", "32", "1"],
    ]


def test_zscore_adds_distance_and_json_parameters():
    result = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--normalize", "zscore", "--format", "json")
    document = json.loads(result.stdout)
    assert document["parameters"]["normalize"] == "zscore"
    assert [m["distance"] for m in document["motifs"]][:1] == [0.0]
    assert all("kernel" not in m and "dilation" not in m for m in document["motifs"])


def test_scores_of_several_kernels_and_dilations_have_one_column_set_each():
    result = run(
        "scores", SEED, "--kernel", "a=1,2,3", "--kernel", "b=1,2", "--dilation", "1,3", "--normalize", "zscore"
    )
    header, *rows = result.stdout.splitlines()
    assert header.startswith(
        "start,signal_a_d1_score,signal_a_d1_cosine,signal_a_d1_scale,signal_a_d1_distance,signal_a_d3_score"
    )
    # Position 37 fits only kernel b at dilation 1 (2 samples); the others' cells are empty.
    assert len(rows) == 38 and rows[-1] == "37" + "," * 8 + ",0,0,0,1.4142135623730951,,,,"


def test_installed_program_finds_walking_with_a_joint_kernel():
    # Every walking segment of the BasicMotions recording, found once on x, y and z together.
    completed = subprocess.run(
        installed_motifscan()
        + [
            "detect",
            str(BASIC),
            "--kernel-file",
            str(WALKING),
            "--joint",
            "-c",
            "acc_x",
            "-c",
            "acc_y",
            "-c",
            "acc_z",
            "--normalize",
            "center",
            "--p",
            "2",
            "--threshold",
            "0.4",
            "--dilation",
            "1..2",
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    motifs = [json.loads(line) for line in completed.stdout.splitlines()]
    assert motifs and {m["channel"] for m in motifs} == {"acc_x+acc_y+acc_z"}


def planted_gap_recording(tmp_path):
    """A 3-channel recording with one event on all three channels, channel b missing
    (empty cells) over the middle of the event, and the event's shape as a joint kernel."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    shape = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t) * t, t**2 - 0.3])
    signal = 0.05 * rng.standard_normal((3, 2000))
    signal[:, 700:740] += shape
    signal[1, 705:725] = np.nan
    recording = tmp_path / "gap.csv"
    recording.write_text(
        "a,b,c\n" + "".join(",".join("" if np.isnan(v) else f"{v:.6f}" for v in row) + "\n" for row in signal.T)
    )
    kernel = tmp_path / "event.csv"
    kernel.write_text("a,b,c\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in shape.T))
    return recording, kernel


def test_joint_min_channels_finds_an_event_with_a_missing_channel(tmp_path):
    recording, kernel = planted_gap_recording(tmp_path)
    options = ["detect", recording, "--kernel-file", kernel, "--joint", "--threshold", "0.8"]
    default = run(*options, "--format", "csv")
    assert default.exit_code == 1 and default.stdout.splitlines() == ["channel,start,end,score,cosine,sign,scale"]
    assert "59 window(s) skipped" in default.stderr
    for block_rows in (7, 100, 65536):
        result = run(*options, "--min-channels", "2", "--format", "json", "--block-rows", block_rows)
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert [(m["channel"], m["channels"], m["start"]) for m in document["motifs"]] == [("a+b+c", "a+c", 700)]
        assert document["motifs"][0]["cosine"] > 0.99
        assert document["parameters"]["min_channels"] == 2
        assert document["skipped_windows"] == 0 and document["partial_windows"] == 59
        assert "59 window(s) scored over fewer channels" in result.stderr


def test_installed_program_reports_the_channels_used_in_csv(tmp_path):
    recording, kernel = planted_gap_recording(tmp_path)
    completed = subprocess.run(
        installed_motifscan()
        + [
            "detect",
            str(recording),
            "--kernel-file",
            str(kernel),
            "--joint",
            "--min-channels",
            "2",
            "--threshold",
            "0.8",
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    header, row = completed.stdout.splitlines()
    assert header == "channel,channels,start,end,score,cosine,sign,scale"
    assert row.startswith("a+b+c,a+c,700,740,")


def test_channel_weights_change_scores_as_the_reference_says(tmp_path):
    from motifscan.similarity.reference import scan_joint_reference

    recording, kernel = planted_gap_recording(tmp_path)
    lines = kernel.read_text().splitlines()
    weighted = tmp_path / "weighted.csv"
    weighted.write_text("\n".join([lines[0], "weights,1,0.25,4", *lines[1:]]) + "\n")
    as_json = tmp_path / "weighted.json"
    columns = np.loadtxt(kernel, delimiter=",", skiprows=1).T
    as_json.write_text(
        json.dumps(
            {
                "a": columns[0].tolist(),
                "b": columns[1].tolist(),
                "c": columns[2].tolist(),
                "weights": {"b": 0.25, "c": 4},
            }
        )
    )
    signal = np.genfromtxt(recording, delimiter=",", skip_header=1).T
    (expected,) = scan_joint_reference(signal, columns[None], np.array([[1.0, 0.25, 4.0]]), 1.0, 1, "none", 0.0, 2)
    scores = {}
    for path in (weighted, as_json, kernel):
        # (--sign positive: the inverted half-overlaps 20 samples either side are motifs of their own)
        result = run(
            "detect",
            recording,
            "--kernel-file",
            path,
            "--joint",
            "--min-channels",
            "2",
            "--threshold",
            "0.5",
            "--sign",
            "positive",
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.stderr
        (motif,) = json.loads(result.stdout)["motifs"]
        scores[path.name] = motif["score"]
        if path != kernel:
            assert motif["start"] == 700 and motif["score"] == pytest.approx(expected.score[700], abs=1e-9)
            assert json.loads(result.stdout)["parameters"]["weights"] == {path.stem: {"a": 1.0, "b": 0.25, "c": 4.0}}
    assert scores["weighted.csv"] != scores["event.csv"]


# Fitted kernel files -----------------------------------------------------------------------

from test_kernels import FITTED, MALFORMED_FITTED, write_document  # noqa: E402


def fitted_file(tmp_path, **changes) -> str:
    return write_document(tmp_path / "fitted.json", {**FITTED, **changes})


def test_detect_takes_p_threshold_and_metric_from_a_fitted_kernel_file(tmp_path):
    path = fitted_file(tmp_path, values=[1, 2, 3], p=9, threshold=0.5, metric={"kind": "diagonal", "values": [1, 1, 1]})
    result = run("detect", SEED, "--kernel-file", path, "--format", "json")
    report = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert report["parameters"]["p"] == 9 and report["parameters"]["metric"] == "diagonal"
    assert [(m["start"], m["sign"]) for m in report["motifs"]] == [(4, 1), (11, -1), (18, 1)]
    # Options on the command line win over the file's p and threshold.
    result = run("detect", SEED, "--kernel-file", path, "--p", "1", "--threshold", "0.99", "--format", "json")
    report = json.loads(result.output)
    assert (report["parameters"]["p"], report["parameters"]["threshold"]) == (1, 0.99)


def test_scores_apply_the_fitted_metric(tmp_path):
    # The metric ignores the last tap, so [2, 2, 2] (D) matches [1, 1, 9] perfectly.
    path = fitted_file(tmp_path, values=[1, 1, 9], p=1, metric={"kind": "diagonal", "values": [1, 1, 0]})
    result = run("scores", SEED, "--kernel-file", path)
    rows = [line.split(",") for line in result.output.splitlines()[1:]]
    assert result.exit_code == 0
    assert float(rows[25][1]) == pytest.approx(1.0)  # D starts at sample 25


@pytest.mark.parametrize("document, fragment", MALFORMED_FITTED)
def test_malformed_fitted_kernel_file_exits_2(tmp_path, document, fragment):
    import re

    path = write_document(tmp_path / "fitted.json", document)
    out = tmp_path / "out.csv"
    for command in ("detect", "scores"):
        result = run(command, SEED, "--kernel-file", path, "--output", out)
        assert result.exit_code == 2
        assert re.search(fragment, result.output) and "Traceback" not in result.output
        assert result.output.startswith(f"motifscan: error: {path}: ") and result.output.count("\n") == 1
        assert not out.exists()


def test_fitted_kernel_file_with_gpu_or_kernel_column_exits_2(tmp_path):
    path = fitted_file(tmp_path)
    result = run("detect", SEED, "--kernel-file", path, "--device", "gpu")
    assert result.exit_code == 2 and "learned metric is scanned on the CPU" in result.output
    result = run("detect", SEED, "--kernel-file", path, "--kernel-column", "a")
    assert result.exit_code == 2 and "--kernel-column does not apply" in result.output


def test_threads_never_change_the_result(tmp_path):
    import numpy as np

    # A signal long enough for the compiled backends (not the small-input NumPy path).
    path = tmp_path / "walk.csv"
    x = np.cumsum(np.random.default_rng(2).standard_normal(50_000))
    path.write_text("v\n" + "\n".join(f"{v:.6f}" for v in x) + "\n")
    for backend in ("numba", "fft"):
        outputs = set()
        for threads in ("1", "2"):
            result = run(
                "detect",
                path,
                "--kernel",
                "1,2,3,2,1",
                "--p",
                "3",
                "--backend",
                backend,
                "--threads",
                threads,
                "--format",
                "csv",
            )
            assert result.exit_code == 0, result.output
            outputs.add(result.stdout)
        assert len(outputs) == 1, backend


# motifscan fit ---------------------------------------------------------------------------------

LOOKALIKES = str(ROOT / "sample_data" / "lookalikes.csv")
LOOKALIKE_LABELS = str(ROOT / "sample_data" / "lookalikes_labels.csv")


@pytest.mark.parametrize("metric", ["none", "full"])
def test_fit_then_detect_equals_the_in_memory_detector(tmp_path, metric):
    import numpy as np

    import motifscan

    kernel_file = tmp_path / "fitted.json"
    result = run(
        "fit",
        LOOKALIKES,
        "--labels",
        LOOKALIKE_LABELS,
        "--split",
        "0.25",
        "--metric",
        metric,
        "-o",
        kernel_file,
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kernel_file"] == str(kernel_file) and report["evaluation"]["fitted"]["f1"] >= 0.95
    fitted = motifscan.read_kernel(kernel_file)
    assert fitted.training == {k: v for k, v in report.items() if k != "kernel_file"}

    detected = run("detect", LOOKALIKES, "--kernel-file", kernel_file, "--format", "json")
    assert detected.exit_code == 0
    from_file = json.loads(detected.output)["motifs"]
    values = np.loadtxt(LOOKALIKES, skiprows=1)
    in_memory = motifscan.detect({"value": values}, fitted)
    from motifscan.io.output import motif_record

    assert from_file == [motif_record(m, list(from_file[0])) for m in in_memory]
    # The 5 training and 19 held-out positives, and at most the held-out false positives.
    held_out = report["evaluation"]["fitted"]
    assert 24 <= len(from_file) <= 24 + held_out["false_positives"]


def test_fit_writes_a_table_on_a_terminal_and_nothing_on_error(tmp_path):
    kernel_file = tmp_path / "fitted.json"
    result = run(
        "fit", LOOKALIKES, "--labels", LOOKALIKE_LABELS, "--split", "0.25", "-o", kernel_file, "--format", "table"
    )
    assert result.exit_code == 0
    assert result.output.splitlines()[2].split()[:2] == ["starting", "point"]
    assert "P, R, F1: on held-out labels" in result.output and kernel_file.exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--length", "40"], "examples are required"),
        (["--positives", "100", "--length", "1"], "--length must be at least 2"),
        (["--positives", "100", "--length", "40", "--split", "2"], "--split must lie between 0 and 1"),
        (["--positives", "100", "--length", "40", "--margin", "-1"], "--margin must be a finite number"),
        (["--positives", "100", "--length", "40", "--mine", "-2"], "--mine must be at least 0"),
        (["--positives", "100", "--length", "40", "--metric", "cosine"], "'cosine' is not one of"),
        (["--positives", "1,,2", "--length", "40"], "--positives: position 2 is missing"),
        (["--positives", "100", "--length", "40", "--validate", SEED], "go together"),
        (["--labels", "missing.csv"], "missing.csv: no such labels file"),
        (["--positives", "100"], "--length is required"),
    ],
)
def test_fit_bad_options_exit_2_without_a_kernel_file(tmp_path, args, fragment):
    kernel_file = tmp_path / "fitted.json"
    result = run("fit", LOOKALIKES, *args, "-o", kernel_file)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and result.output.startswith("motifscan: error: ")
    assert "Traceback" not in result.output and not kernel_file.exists()


@pytest.mark.slow
def test_fit_says_on_stderr_where_split_cut_and_when_it_kept_the_starting_point(tmp_path):
    kernel_file = tmp_path / "fitted.json"
    result = subprocess.run(
        installed_motifscan()
        + [
            "fit",
            LOOKALIKES,
            "--labels",
            LOOKALIKE_LABELS,
            "--split",
            "0.9",
            "--normalize",
            "none",
            "-o",
            str(kernel_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "motifscan: --split 0.9: cut at row 10827, the first label boundary at or after row 10800" in result.stderr
    assert json.loads(result.stdout)["split"]["row"] == 10827
    rows = [line.split(",") for line in Path(LOOKALIKE_LABELS).read_text().splitlines()[1:]]
    swapped = tmp_path / "swapped.csv"  # training labels that teach the wrong lesson
    swapped.write_text(
        "start,end,label\n"
        + "".join(
            f"{s},{e},{dict(positive='negative', negative='positive')[label] if int(s) < 3000 else label}\n"
            for s, e, label in rows
        )
    )
    result = subprocess.run(
        installed_motifscan()
        + [
            "fit",
            LOOKALIKES,
            "--labels",
            str(swapped),
            "--split",
            "0.25",
            "--normalize",
            "none",
            "-o",
            str(kernel_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "validates worse than the starting point" in result.stderr and "wrote the starting point" in result.stderr
    assert json.loads(result.stdout)["kept"] == "starting point"
    assert motifscan_kernel(kernel_file)["p"] == 1.0
    # -q silences the note on the split, never the warning that the fit is worse.
    quiet = subprocess.run(
        installed_motifscan()
        + [
            "fit",
            LOOKALIKES,
            "--labels",
            str(swapped),
            "--split",
            "0.9",
            "--normalize",
            "none",
            "-q",
            "-o",
            str(kernel_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "cut at row" not in quiet.stderr and json.loads(quiet.stdout)["split"]["row"] == 10827
    report = json.loads(quiet.stdout)
    assert (report["warning"] is None) == ("validates worse" not in quiet.stderr)


def motifscan_kernel(path) -> dict:
    return json.loads(Path(path).read_text())


def test_fit_needs_an_output_file():
    result = run("fit", LOOKALIKES, "--positives", "100", "--length", "40")
    assert result.exit_code == 2 and "--output" in result.output
    result = run("fit", LOOKALIKES, "--positives", "100", "--length", "40", "-o", "-")
    assert result.exit_code == 2 and "--output: give a file for the kernel file" in result.output


@pytest.mark.slow
def test_fit_then_detect_as_real_processes(tmp_path):
    kernel_file = tmp_path / "fitted.json"
    fitted = subprocess.run(
        installed_motifscan()
        + ["fit", LOOKALIKES, "--labels", LOOKALIKE_LABELS, "--split", "0.25", "-o", str(kernel_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fitted.returncode == 0, fitted.stderr
    assert json.loads(fitted.stdout)["evaluation"]["fitted"]["f1"] >= 0.95  # JSON when piped
    detected = subprocess.run(
        installed_motifscan() + ["detect", LOOKALIKES, "--kernel-file", str(kernel_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert detected.returncode == 0 and len(detected.stdout.splitlines()) == 25


def neighbours_csv(tmp_path, time=False):
    """Two copies of 1,2,3 four samples apart (closer than the span gap of a 5-tap kernel
    would allow) and one far away; with a time column at 10 Hz when ``time``."""
    values = [0.0] * 60
    for start in (10, 14, 40):
        values[start : start + 3] = [1, 2, 3]
    path = tmp_path / ("timed.csv" if time else "plain.csv")
    lines = ["t_s,x" if time else "x"] + [f"{i / 10:.1f},{v}" if time else f"{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_suppressed_peaks_are_reported_on_stderr_and_in_json(tmp_path):
    path = neighbours_csv(tmp_path)
    result = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--min-gap", "5", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [m["start"] for m in document["motifs"]] == [10, 40]
    assert document["suppressed_peaks"] == 1 and document["parameters"]["min_gap"] == 5
    assert result.stderr == (
        f"motifscan: 1 peak at or above the threshold in {path} was within --min-gap of a "
        "stronger motif and not reported (a smaller --min-gap shows them)\n"
    )
    quiet = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--min-gap", "5", "--format", "json", "-q")
    assert quiet.stderr == "" and json.loads(quiet.stdout)["suppressed_peaks"] == 1
    shown = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--min-gap", "4", "--format", "json")
    assert [m["start"] for m in json.loads(shown.stdout)["motifs"]] == [10, 14, 40] and shown.stderr == ""
    assert json.loads(shown.stdout)["suppressed_peaks"] == 0


def test_default_gap_reports_neighbours_closer_than_the_span(tmp_path):
    """Events 4 samples apart with a kernel spanning 5: the old default (the span) hid one."""
    path = neighbours_csv(tmp_path)
    result = run("detect", path, "--kernel", "1,2,3,0,0", "--p", "3", "--format", "json")
    document = json.loads(result.stdout)
    assert [m["start"] for m in document["motifs"]] == [10, 14, 40]
    assert document["parameters"]["min_gap"] == "0.5span" and document["suppressed_peaks"] == 0


@pytest.mark.parametrize(
    "gap, starts",
    [
        ("4", [10, 14, 40]),
        ("5", [14, 40]),
        ("0.8span", [10, 14, 40]),
        ("1span", [14, 40]),
        ("400ms", [10, 14, 40]),
        ("0.5s", [14, 40]),
    ],
)
def test_min_gap_forms_on_the_command_line(tmp_path, gap, starts):
    path = neighbours_csv(tmp_path, time=True)
    result = run(
        "detect",
        path,
        "--kernel",
        "1,2,3,0,0",
        "--p",
        "3",
        "--min-gap",
        gap,
        "--format",
        "json",
        "--time-column",
        "t_s",
    )
    assert result.exit_code == 0, result.output
    assert [m["start"] for m in json.loads(result.stdout)["motifs"]] == starts


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min-gap", "2x"], "motifscan: error: --min-gap must be a number of samples (10), a fraction of the span"),
        (["--min-gap", "-3"], "motifscan: error: --min-gap must be a number of samples"),
        (["--min-gap", "1.5"], "motifscan: error: --min-gap must be a whole number"),
        (["--min-gap", "250ms"], "motifscan: error: --min-gap 250ms: a time needs a time column, and {path} has none"),
    ],
)
def test_bad_min_gap_is_one_line_exit_2(tmp_path, args, message):
    path = neighbours_csv(tmp_path)
    message = message.format(path=path)
    result = run("detect", path, "--kernel", "1,2,3", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


@pytest.fixture(scope="module")
def ecg_beat_kernel(tmp_path_factory):
    """One beat (295 samples, the median R-R interval) of the sample ECG as a kernel file."""
    rows = (ROOT / "sample_data" / "ecg_mitdb_excerpt_360hz.csv").read_text().splitlines()[1:]
    path = tmp_path_factory.mktemp("ecg") / "beat.txt"
    path.write_text("\n".join(row.split(",")[1] for row in rows[150:445]) + "\n")
    return path


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(st.integers(1, 400), st.sampled_from(["1", "0.5span", "1span", "3"]))
def test_suppressed_count_does_not_depend_on_block_rows(ecg_beat_kernel, block_rows, gap):
    ecg = ROOT / "sample_data" / "ecg_mitdb_excerpt_360hz.csv"
    args = [
        "detect",
        ecg,
        "--column",
        "ecg_mv",
        "--kernel-file",
        ecg_beat_kernel,
        "--normalize",
        "center",
        "--min-gap",
        gap,
        "--format",
        "json",
        "-q",
    ]
    whole = json.loads(run(*args).stdout)
    cut = json.loads(run(*args, "--block-rows", block_rows).stdout)
    assert cut["motifs"] == whole["motifs"] and cut["suppressed_peaks"] == whole["suppressed_peaks"]
    if gap == "1span":
        assert whole["suppressed_peaks"] > 0


def test_installed_program_reports_suppressed_peaks(tmp_path):
    path = neighbours_csv(tmp_path)
    completed = subprocess.run(
        [
            *installed_motifscan(),
            "detect",
            str(path),
            "--kernel",
            "1,2,3",
            "--p",
            "9",
            "--min-gap",
            "5",
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0
    assert completed.stdout.splitlines()[1:] == ["x,10,13,1.0,1.0,1,1.0", "x,40,43,1.0,1.0,1,1.0"]
    assert completed.stderr.startswith("motifscan: 1 peak at or above the threshold in ")


def test_bad_lines_error_skip_and_nan(tmp_path):
    path = tmp_path / "bad.csv"
    rows = ["0,0", "1,1", "2,2", "3,ERR", "4,3", "5,0,9", "6,1", "7,2", "8,3", "9,0"]
    path.write_text("t,v\n" + "\n".join(rows) + "\n")
    failed = run("detect", path, "--kernel", "1,2,3", "--p", "9")
    assert failed.exit_code == 2
    assert failed.stderr.strip() == (
        f"motifscan: error: {path}: line 5, column 'v': 'ERR' is not a number (--bad-lines skip or nan reads past it)"
    )
    skipped = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--bad-lines", "skip", "--format", "json")
    document = json.loads(skipped.stdout)
    assert document["bad_lines"] == {"policy": "skip", "count": 2, "first": "line 5, column 'v': 'ERR' is not a number"}
    # Rows after a skipped line move up a position; their time says where they really are.
    assert [(m["start"], m["time"]) for m in document["motifs"]] == [(1, 1), (4, 6)]
    assert skipped.stderr.splitlines()[0] == (
        f"motifscan: 2 bad line(s) skipped (--bad-lines skip) in {path}; "
        "the first: line 5, column 'v': 'ERR' is not a number"
    )
    missing = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--bad-lines", "nan", "--format", "json")
    document = json.loads(missing.stdout)
    assert document["bad_lines"]["count"] == 2 and document["skipped_windows"] == 5  # starts 1-5
    assert [(m["start"], m["time"]) for m in document["motifs"]] == [(6, 6)]  # 1,2,NaN is no match
    assert "2 bad line(s) read as missing values (--bad-lines nan)" in missing.stderr


def test_bad_lines_in_several_files_are_summed(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("t,v\n0,1\n1,2\n2,x\n3,3\n")
    result = run("detect", tmp_path, "--kernel", "1,2,3", "--bad-lines", "skip", "--format", "json")
    assert json.loads(result.stdout)["bad_lines"] == 2


def test_kernel_from_says_what_it_cut(sample_data):
    ecg = sample_data / "ecg_mitdb_excerpt_360hz.csv"
    result = run("detect", ecg, "--kernel-from", f"{ecg}:ecg_mv@60:240", "--normalize", "center", "--format", "csv")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        f"motifscan: kernel ecg_mv@60:240: 180 samples, rows 60-240 of {ecg}:ecg_mv"
    )
    quiet = run("detect", ecg, "--kernel-from", f"{ecg}:ecg_mv@60:240", "--normalize", "center", "-q")
    assert quiet.stderr == ""


def test_times_keep_the_inputs_offset_in_every_output(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "zoned.csv"
    stamps = [f"2024-05-01T10:00:0{i}.5+02:00" for i in range(8)]
    path.write_text("time,v\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, [0, 1, 2, 3, 0, 0, 0, 0])))
    want = "2024-05-01T10:00:01.500+02:00"
    detected = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--format", "csv")
    assert detected.stdout.splitlines()[1].split(",")[3] == want
    assert (
        json.loads(run("detect", path, "--kernel", "1,2,3", "--p", "9", "--format", "json").stdout)["motifs"][0]["time"]
        == want
    )
    compared = run("compare", path, "--kernel", "1,2,3", "--p", "9", "--format", "csv")
    assert compared.stdout.splitlines()[1].split(",")[4] == want
    scores = run("scores", path, "--kernel", "1,2,3", "--p", "9")
    assert scores.stdout.splitlines()[2].split(",")[1].strip('"') == want
    out = tmp_path / "scores.parquet"
    run("scores", path, "--kernel", "1,2,3", "--p", "9", "--output", out)
    column = pq.read_table(out).column("time")
    assert str(column.type.tz) == "+02:00" and column[1].as_py().isoformat() == "2024-05-01T10:00:01.500000+02:00"
    # A time range without an offset is in the file's zone, with no NumPy warning.
    cut = run(
        "detect", path, "--kernel-from", f"{path}:v@time=2024-05-01T10:00:01:2024-05-01T10:00:04", "--format", "csv"
    )
    assert cut.stdout.splitlines()[1].split(",")[3] == want
    assert cut.stderr == (
        f"motifscan: kernel v@time=2024-05-01T10:00:01:2024-05-01T10:00:04: 3 samples, rows 1-4 "
        f"(time {want} to 2024-05-01T10:00:03.500+02:00) of {path}:v\n"
    )


def test_utc_times_end_in_z(tmp_path):
    path = tmp_path / "utc.csv"
    path.write_text("time,v\n" + "".join(f"2024-05-01T08:00:0{i}Z,{v}\n" for i, v in enumerate([0, 1, 2, 3, 0])))
    detected = run("detect", path, "--kernel", "1,2,3", "--p", "9", "--format", "csv")
    assert detected.stdout.splitlines()[1].split(",")[3] == "2024-05-01T08:00:01Z"


# Write errors, memory, signals and hostile options: exit 2 with one line, never a traceback.


def _many_motifs(tmp_path) -> Path:
    big = tmp_path / "big.csv"
    big.write_text("v\n" + "0\n1\n2\n3\n" * 20000)
    return big


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
def test_a_full_disk_under_stdout_is_exit_2_with_one_line(fmt):
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            installed_motifscan() + ["detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", fmt],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 2
    assert completed.stderr == "motifscan: error: writing <stdout>: No space left on device\n"


def test_a_closed_stdout_is_exit_2_with_one_line():
    completed = subprocess.run(
        ["bash", "-c", " ".join(installed_motifscan()) + f" detect {SEED} --kernel 1,2,3 --p 9 >&-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("motifscan: error: writing <stdout>: ")
    assert completed.stderr.count("\n") == 1


def test_a_file_size_limit_is_exit_2_naming_the_output(tmp_path):
    output = tmp_path / "out.csv"
    completed = subprocess.run(
        [
            "bash",
            "-c",
            "ulimit -f 0; "
            + " ".join(installed_motifscan())
            + f" detect {SEED} --kernel 1,2,3 --p 9 --output {output}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr == f"motifscan: error: writing {output}: File too large\n"
    assert os.listdir(tmp_path) == []


def test_out_of_memory_is_exit_2_saying_what_was_too_big(monkeypatch):
    import numpy as np

    import motifscan.pipeline

    def too_big(self):
        np.empty(2**50, dtype=np.uint8)  # numpy's own MemoryError, at the step that would allocate
        yield

    monkeypatch.setattr(motifscan.pipeline.Detection, "__iter__", too_big)
    result = run("detect", SEED, "--kernel", "1,2,3")
    assert result.exit_code == 2
    assert result.output.startswith("motifscan: error: out of memory: Unable to allocate")
    assert result.output.count("\n") == 1


def test_a_library_the_system_refuses_to_map_is_one_line_exit_2(monkeypatch):
    import motifscan.pipeline

    def refused(self):
        # What loading Numba's compiler under a small `ulimit -v` raises (no errno).
        raise OSError("Could not find/load shared object file 'libllvmlite.so' from resource location. This could mean")
        yield

    monkeypatch.setattr(motifscan.pipeline.Detection, "__iter__", refused)
    result = run("detect", SEED, "--kernel", "1,2,3")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("motifscan: error: the system refused: Could not find/load shared object")


#: Runs the command line with the warm-up's loading stuck, as OpenBLAS that cannot get its
#: memory under `ulimit -v` leaves it: argv is a marker file (written once the loading is
#: stuck), the warm-up's bound in seconds, then motifscan's arguments.
_STUCK_WARM_UP = """
import sys, threading, pathlib
import motifscan.warm_up as warm_up
marker = pathlib.Path(sys.argv[1])
def stuck():
    marker.write_text("stuck")
    threading.Event().wait()
warm_up.load_compiled_scan = stuck
warm_up.WARM_UP_WAIT_S = float(sys.argv[2])
sys.argv = ["motifscan", *sys.argv[3:]]
from motifscan.cli import main
main()
"""


def _stuck_warm_up_run(tmp_path, bound_s: float) -> tuple[list[str], Path]:
    signal_file = tmp_path / "signal.csv"
    signal_file.write_text("v\n" + "0\n1\n2\n3\n" * 20_000)
    marker = tmp_path / "stuck"
    command = [sys.executable, "-c", _STUCK_WARM_UP, str(marker), str(bound_s)]
    return command + ["detect", str(signal_file), "--kernel", "1,2,3", "--p", "3", "--backend", "numba", "-q"], marker


@pytest.mark.slow
def test_a_warm_up_that_never_ends_ends_the_run_with_one_line(tmp_path):
    command, _ = _stuck_warm_up_run(tmp_path, 2)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and completed.stdout == "", completed.stderr
    assert completed.stderr.splitlines() == [
        "motifscan: error: not enough memory to load the compiled scan: the loading did not end in 2 s"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_run_waiting_for_its_warm_up(tmp_path, signum):
    # Before, the wait was a Thread.join without end, and the clean-up after the signal
    # joined again: the run never ended.
    command, marker = _stuck_warm_up_run(tmp_path, 3600)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the reader's first block is read, the main thread waits
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    said = "motifscan: interrupted" if signum == signal.SIGINT else f"motifscan: stopped by {signum.name}"
    assert (process.returncode, err.decode().splitlines()) == (128 + signum, [said])


#: As _STUCK_WARM_UP, with the loading stuck in native code that holds the interpreter's
#: lock (as OpenBLAS's does when it loops for memory) and an address-space limit set.
_STUCK_NATIVE_LOAD = """
import ctypes, resource, sys, pathlib
import motifscan.warm_up as warm_up
resource.setrlimit(resource.RLIMIT_AS, (64 << 30, resource.RLIM_INFINITY))
marker = pathlib.Path(sys.argv[1])
def stuck():
    marker.write_text("stuck")
    ctypes.PyDLL(None).sleep(120)  # libc's sleep, the interpreter's lock held
warm_up.load_compiled_scan = stuck
sys.argv = ["motifscan", *sys.argv[3:]]
from motifscan.cli import main
main()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_run_under_ulimit_v_stuck_in_native_code(tmp_path, signum):
    # No Python handler can run while native code holds the interpreter's lock: under an
    # address-space limit the compiled scan loads in the main thread with the signals at
    # their default action, which ends the process (a shell reports 128 + n).
    command, marker = _stuck_warm_up_run(tmp_path, 3600)
    command[2] = _STUCK_NATIVE_LOAD
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stopped = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=100)
    assert process.returncode == -signum and err == b""
    assert time.monotonic() - stopped < 30  # not the 120 s the native code sleeps


@pytest.mark.slow
@pytest.mark.parametrize(
    "megabytes, rows",
    [(500, 1_000_000), (700, 1_000_000), (800, 2_000_000), (977, 2_000_000), (1100, 2_000_000), (1500, 2_000_000)],
)
def test_an_address_space_limit_never_gives_a_traceback(tmp_path, megabytes, rows):
    """`ulimit -v`: a limit that stops the loading of numpy or Numba's compiler, a reader's
    thread or an array ends the run with one line and exit 2, and no limit hangs it. (2M-row
    runs used to hang: under `ulimit -v 1000000` (977 MiB) the warm-up stuck loading OpenBLAS,
    under 1500 MiB the reader inside pyarrow, the main thread waiting for either for ever;
    under 800 MiB glibc aborted a thread, "cannot allocate memory for thread-local data".)"""
    import resource

    signal_file = tmp_path / "big.csv"
    signal_file.write_text("v\n" + "\n".join(str((i * 7919) % 1000 / 100) for i in range(rows)) + "\n")

    def limited():
        limit = megabytes << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    completed = subprocess.run(
        [*installed_motifscan(), "detect", str(signal_file), "--kernel", "1,2,3", "--p", "3", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode in (0, 1) or (completed.returncode == 2 and completed.stderr.count("\n") == 1), (
        completed.returncode,
        completed.stderr,
    )


@pytest.mark.slow
def test_a_table_behind_head_exits_141_like_the_other_formats(tmp_path):
    command = (
        " ".join(installed_motifscan()) + f" detect {_many_motifs(tmp_path)} --kernel 1,2,3 --p 9 "
        "--min-gap 1 --format table | head -n 1"
    )
    completed = subprocess.run(
        ["bash", "-c", command + "; echo ${PIPESTATUS[0]} >&2"], capture_output=True, text=True, timeout=120
    )
    assert completed.stderr.splitlines() == ["141"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_run_and_leave_no_part_file(tmp_path, signum):
    output = tmp_path / "out.csv"
    output.write_text("old\n")
    process = subprocess.Popen(
        installed_motifscan() + ["detect", "-", "--kernel", "1,2,3", "--output", str(output)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdin.write(b"v\n1\n2\n3\n")
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not any(name.endswith(".part") for name in os.listdir(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)  # running, its temporary file open
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert err.strip().count(b"\n") == 0 and b"Traceback" not in err
    assert os.listdir(tmp_path) == ["out.csv"] and output.read_text() == "old\n"


def test_a_run_whose_inputs_all_fail_leaves_the_output_as_it_was(tmp_path):
    output = tmp_path / "motifs.csv"
    output.write_text("kept\n")
    bad = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in bad:
        path.write_text("v\n1\nx\n")
    result = run("detect", *bad, "--kernel", "1,2,3", "--output", output)
    assert result.exit_code == 2
    assert output.read_text() == "kept\n"
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "b.csv", "motifs.csv"]
    # The same for a new file: none is created.
    result = run("detect", *bad, "--kernel", "1,2,3", "--output", tmp_path / "new.csv")
    assert result.exit_code == 2 and not (tmp_path / "new.csv").exists()


def test_hostile_options_and_inputs_are_one_line_errors(tmp_path):
    loop = tmp_path / "logs"
    (loop / "sub").mkdir(parents=True)
    (loop / "sub" / "up").symlink_to("..")  # a directory symbolic link loop
    shutil.copy(SEED, loop / "sub" / "seed.csv")
    result = run("detect", loop, "--kernel", "1,2,3", "--p", "9")
    assert result.exit_code == 0 and result.output.count("seed.csv") == 3  # read once
    for arguments, fragment in [
        (["--min-gap", "99999999999999999999999"], "--min-gap must be at most"),
        (["--block-rows", "0"], "--block-rows must be at least 1"),
        (["--output", ""], "--output: give a file name"),
    ]:
        result = run("detect", SEED, "--kernel", "1,2,3", *arguments)
        assert result.exit_code == 2, arguments
        assert result.output.startswith("motifscan: error: ") and fragment in result.output, result.output
        assert result.output.count("\n") == 1
    # A dilation written as a number in exponent form is the number.
    assert (
        run("detect", SEED, "--kernel", "1,2,3", "--dilation", "1e0", "--p", "9").output
        == run("detect", SEED, "--kernel", "1,2,3", "--p", "9").output
    )
    result = run("detect", SEED, "--kernel", "1,2,3", "--dilation", "1e2")
    assert result.exit_code == 2 and "spans 201 samples" in result.output


def test_a_file_name_that_is_not_utf8_is_read_and_written_back_as_given(tmp_path):
    name = os.fsdecode(b"caf\xe9.csv")  # Latin-1: not UTF-8
    try:
        shutil.copy(SEED, tmp_path / name)
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    shutil.copy(SEED, tmp_path / "plain.csv")
    completed = subprocess.run(
        installed_motifscan() + ["detect", str(tmp_path), "--kernel", "1,2,3", "--p", "9"],
        capture_output=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.count(b"caf\xe9.csv,") == 3 and completed.stdout.count(b"plain.csv,") == 3


@pytest.mark.slow
def test_a_parquet_file_whose_name_is_not_utf8_is_read_and_named_as_a_csv_file_is(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = os.fsencode(tmp_path)
    parquet, broken, text = (os.path.join(folder, name) for name in (b"\xff.parquet", b"\xfd.parquet", b"\xfe.csv"))
    try:
        with open(parquet, "wb") as sink:
            pq.write_table(pa.table({"v": np.loadtxt(SEED, skiprows=1)}), sink)
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    shutil.copy(SEED, text)
    with open(broken, "wb") as sink:
        sink.write(b"not parquet")
    command = [os.fsencode(part) for part in installed_motifscan()]
    completed = subprocess.run(
        command + [b"detect", parquet, broken, text, b"--kernel", b"1,2,3", b"--p", b"9"],
        capture_output=True,
        timeout=120,
    )
    # The motifs name the file with the bytes it was given as, for Parquet as for CSV ...
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout.count(b"\xff.parquet,") == 3 and completed.stdout.count(b"\xfe.csv,") == 3
    # ... and so does the one line of the file that cannot be read.
    said = completed.stderr.decode().splitlines()
    assert len(said) == 1 and said[0].startswith(
        f"motifscan: error: {tmp_path}/\\udcfd.parquet: not a valid Parquet file"
    )
