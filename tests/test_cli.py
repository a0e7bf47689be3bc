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

import pytest
from click.testing import CliRunner

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
    result = run("detect", log, "--kernel-file", sample_data / "pulse_kernel.txt", "--p", "3",
                 "--format", "jsonl", "--top", "2", "--column", "load_kn")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["start"] for m in lines] == [1500, 2210] and lines[0]["time"] == "2025-03-14T08:25:00"


def test_sensor_log_finds_exactly_the_planted_pulses(sample_data):
    sys.path.insert(0, str(sample_data))
    try:
        from make_sensor_log import PLANTED
    finally:
        sys.path.pop(0)
    result = run("detect", sample_data / "sensor_log.csv", "--kernel-file", sample_data / "pulse_kernel.txt",
                 "--p", "3", "--format", "json")
    motifs = json.loads(result.stdout)["motifs"]
    assert [(m["channel"], m["start"], m["sign"]) for m in motifs] == [
        ("load_kn", start, 1 if amplitude > 0 else -1) for start, amplitude in PLANTED]
    for motif, (_, amplitude) in zip(motifs, PLANTED):
        assert motif["scale"] == pytest.approx(amplitude, abs=0.05)


def test_stdin_and_output_file(tmp_path):
    out = tmp_path / "motifs.json"
    result = run("detect", "-", "--kernel", "1,2,3", "--p", "9", "--output", out,
                 input=Path(SEED).read_text())
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(out.read_text())["motifs"]) == 3


def test_scores_csv_and_parquet(tmp_path):
    result = run("scores", SEED, "--kernel", "1,2,3", "--p", "9")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and lines[0] == '"start","signal_score","signal_cosine","signal_scale"'
    assert len(lines) == 1 + 37 and lines[5].startswith("4,1,")
    import pyarrow.parquet as pq

    out = tmp_path / "scores.parquet"
    assert run("scores", SEED, "--kernel", "1,2,3", "--output", out).exit_code == 0
    table = pq.read_table(out)
    assert table.num_rows == 37 and table.column("signal_scale")[18].as_py() == pytest.approx(0.2)


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


# Real processes of the installed program.

def test_installed_program_runs_the_readme_job():
    completed = subprocess.run(installed_motifscan() + ["detect", SEED, "--kernel", "1,2,3", "--p", "9"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert [line.split(",")[1] for line in completed.stdout.splitlines()[1:]] == ["4", "11", "18"]


def test_the_program_ends_without_the_interpreters_shutdown_and_loses_no_output(tmp_path):
    # Native thread pools torn down by the interpreter's shutdown can abort a finished run
    # (SIGABRT after the last line was written): the entry point ends the process itself,
    # after flushing. An atexit hook shows whether the shutdown ran; the score track (one
    # line per window, far more than a pipe buffer) shows that nothing written was lost.
    signal_file = tmp_path / "long.csv"
    signal_file.write_text("v\n" + "0\n1\n2\n3\n" * 50000)
    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('interpreter shutdown ran\\n'))\n"
            "from motifscan.cli import main\n"
            f"sys.argv = ['motifscan', 'scores', {str(signal_file)!r}, '--kernel', '1,2,3']\n"
            "main()\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "interpreter shutdown ran" not in completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1 + 200000 - 2 and lines[-1].startswith("199997,")

    code = code.replace("'scores'", "'detect'").replace("'1,2,3'", "'1,2,3', '--output', 'nowhere/x.csv'")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and completed.stderr.startswith("motifscan: error: ")


def test_python_dash_m_and_help():
    completed = subprocess.run([sys.executable, "-m", "motifscan", "detect", "--help"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0 and "--kernel" in completed.stdout


def test_closed_pipe_gives_no_traceback(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("v\n" + "0\n1\n2\n3\n" * 20000)
    command = " ".join(installed_motifscan()) + f" detect {big} --kernel 1,2,3 --p 9 --min-gap 1 | head -n 2"
    completed = subprocess.run(["bash", "-c", "set -o pipefail; " + command], capture_output=True,
                               text=True, timeout=120)
    assert completed.stdout.splitlines()[0] == "channel,start,end,score,cosine,sign,scale"
    assert "Traceback" not in completed.stderr and "Error" not in completed.stderr
    assert completed.returncode in (0, 141)


def test_ctrl_c_exits_130(tmp_path):
    process = subprocess.Popen(installed_motifscan() + ["detect", "-", "--kernel", "1,2,3"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(b"v\n1\n2\n")
    process.stdin.flush()
    time.sleep(3)  # started and waiting for more input
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert b"Traceback" not in err


# Matching real shapes: --normalize, --noise-floor, several kernels, --kernel-from, --joint,
# dilation ranges.

BASIC = ROOT / "sample_data" / "basicmotions_interleaved_10hz.csv"
WALKING = ROOT / "sample_data" / "kernel_basicmotions_walking.csv"
LOG = ROOT / "sample_data" / "sensor_log.csv"


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
        ("times outside", seed + ["--kernel-from", f"{BASIC}:acc_x@900:901"], "no row of"),
        ("kernel-from column", seed + ["--kernel-from", f"{LOG}:nope@1:4"], "unknown column 'nope'"),
        ("kernel-from several channels", seed + ["--kernel-from", f"{LOG}@1:4"], "several channels"),
        ("kernel-from syntax", seed + ["--kernel-from", f"{LOG}:load_kn"], "expected [NAME=]FILE"),
        ("kernel-from limits", seed + ["--kernel-from", f"{LOG}:load_kn@a:b"], "cannot read 'a:b'"),
        ("normalize", seed + ["--kernel", "1,2", "--normalize", "mean"], "'--normalize'"),
        ("constant kernel centred", seed + ["--kernel", "2,2,2", "--normalize", "center"], "is constant"),
        ("noise floor negative", seed + ["--kernel", "1,2", "--noise-floor", "-1"], "--noise-floor must be"),
        ("noise floor text", seed + ["--kernel", "1,2", "--noise-floor", "loud"], "--noise-floor: 'loud'"),
        ("overlap", seed + ["--kernel", "1,2", "--overlap", "all"], "'--overlap'"),
        ("conv with normalize", seed + ["--kernel", "1,2", "--method", "conv", "--normalize", "center"],
         "--method conv works with one kernel"),
        ("compare several kernels", ["compare", SEED, "--kernel", "a=1,2", "--kernel", "b=2,1"],
         "one kernel at one dilation"),
    ]


def test_named_kernels_and_dilation_range_add_columns():
    result = run("detect", SEED, "--kernel", "rise=1,2,3", "--kernel", "fall=3,2,1", "--p", "9",
                 "--dilation", "1..2", "--sign", "positive", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "channel,kernel,start,end,dilation,score,cosine,sign,scale"
    assert [line.split(",")[1:3] + [line.split(",")[4]] for line in lines[1:]] == [
        ["rise", "4", "1"], ["rise", "18", "1"], ["fall", "32", "1"]]


def test_zscore_adds_distance_and_json_parameters():
    result = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--normalize", "zscore", "--format", "json")
    document = json.loads(result.stdout)
    assert document["parameters"]["normalize"] == "zscore"
    assert [m["distance"] for m in document["motifs"]][:1] == [0.0]
    assert all("kernel" not in m and "dilation" not in m for m in document["motifs"])


def test_scores_of_several_kernels_and_dilations_have_one_column_set_each():
    result = run("scores", SEED, "--kernel", "a=1,2,3", "--kernel", "b=1,2", "--dilation", "1,3",
                 "--normalize", "zscore")
    header, *rows = result.stdout.splitlines()
    assert header.startswith('"start","signal_a_d1_score","signal_a_d1_cosine","signal_a_d1_scale",'
                             '"signal_a_d1_distance","signal_a_d3_score"')
    # Position 37 fits only kernel b at dilation 1 (2 samples); the others' cells are empty.
    assert len(rows) == 38 and rows[-1] == "37" + "," * 8 + ",0,0,0,1.4142135623730951,,,,"


def test_installed_program_finds_walking_with_a_joint_kernel():
    # Every walking segment of the BasicMotions recording, found once on x, y and z together.
    completed = subprocess.run(
        installed_motifscan() + ["detect", str(BASIC), "--kernel-file", str(WALKING), "--joint",
                                 "-c", "acc_x", "-c", "acc_y", "-c", "acc_z", "--normalize", "center",
                                 "--p", "2", "--threshold", "0.4", "--dilation", "1..2", "--format", "jsonl"],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    motifs = [json.loads(line) for line in completed.stdout.splitlines()]
    assert motifs and {m["channel"] for m in motifs} == {"acc_x+acc_y+acc_z"}
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
            result = run("detect", path, "--kernel", "1,2,3,2,1", "--p", "3", "--backend", backend,
                         "--threads", threads, "--format", "csv")
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
    result = run("fit", LOOKALIKES, "--labels", LOOKALIKE_LABELS, "--split", "0.25", "--metric", metric,
                 "-o", kernel_file, "--format", "json")
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
    assert len(from_file) == 24  # the 5 training and 19 held-out positives, nothing else


def test_fit_writes_a_table_on_a_terminal_and_nothing_on_error(tmp_path):
    kernel_file = tmp_path / "fitted.json"
    result = run("fit", LOOKALIKES, "--labels", LOOKALIKE_LABELS, "--split", "0.25", "-o", kernel_file,
                 "--format", "table")
    assert result.exit_code == 0
    assert result.output.splitlines()[2].split()[:2] == ["starting", "point"]
    assert "judged on held-out labels" in result.output and kernel_file.exists()


@pytest.mark.parametrize("args, fragment", [
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
])
def test_fit_bad_options_exit_2_without_a_kernel_file(tmp_path, args, fragment):
    kernel_file = tmp_path / "fitted.json"
    result = run("fit", LOOKALIKES, *args, "-o", kernel_file)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and result.output.startswith("motifscan: error: ")
    assert "Traceback" not in result.output and not kernel_file.exists()


def test_fit_needs_an_output_file():
    result = run("fit", LOOKALIKES, "--positives", "100", "--length", "40")
    assert result.exit_code == 2 and "--output" in result.output
    result = run("fit", LOOKALIKES, "--positives", "100", "--length", "40", "-o", "-")
    assert result.exit_code == 2 and "--output: give a file for the kernel file" in result.output


def test_fit_then_detect_as_real_processes(tmp_path):
    kernel_file = tmp_path / "fitted.json"
    fitted = subprocess.run(installed_motifscan() + ["fit", LOOKALIKES, "--labels", LOOKALIKE_LABELS,
                                                     "--split", "0.25", "-o", str(kernel_file)],
                            capture_output=True, text=True, timeout=300)
    assert fitted.returncode == 0, fitted.stderr
    assert json.loads(fitted.stdout)["evaluation"]["fitted"]["f1"] >= 0.95  # JSON when piped
    detected = subprocess.run(installed_motifscan() + ["detect", LOOKALIKES, "--kernel-file", str(kernel_file)],
                              capture_output=True, text=True, timeout=300)
    assert detected.returncode == 0 and len(detected.stdout.splitlines()) == 25
