"""--state: later runs read only new data and never report a motif twice; the lock; --append."""

import fcntl
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from motifscan.cli import cli
from motifscan.state import StateFile

KERNEL = ["--kernel", "1,2,3", "--p", "9"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def installed_motifscan() -> list[str]:
    script = Path(sys.executable).with_name("motifscan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]


def signal_with(n: int, shapes: dict, seed: int = 0) -> np.ndarray:
    """A small zigzag (no window of it looks like 1,2,3) with shapes planted at the given starts."""
    x = 0.01 * (1 + seed) * (-1.0) ** np.arange(n)
    for start, values in shapes.items():
        x[start : start + len(values)] = values
    return x


def csv_lines(x: np.ndarray, first: int = 0) -> str:
    return "".join(f"{first + i},{float(v)!r}\n" for i, v in enumerate(x))


def starts(result) -> list[int]:
    return [int(line.split(",")[1]) for line in result.stdout.splitlines()[1:]]


SHAPES = {20: [1, 2, 3], 70: [-1, -2, -3], 138: [0.5, 1, 1.5], 200: [2, 4, 6], 262: [-3, -6, -9]}


def test_second_run_reports_nothing_and_a_new_state_reports_all(tmp_path):
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x))
    state = tmp_path / "state.json"
    first = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    assert first.exit_code == 0 and starts(first) == sorted(SHAPES)
    second = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    assert second.exit_code == 1 and starts(second) == []
    assert second.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # same columns, time too
    assert json.loads(state.read_text())["format"] == "motifscan-state"


@pytest.mark.parametrize("cut", [139, 140, 150, 201])
def test_appended_rows_give_only_new_motifs_including_the_one_across_the_old_end(tmp_path, cut):
    """Cut inside a motif (139, 140: it straddles the old end), just after one, and anywhere."""
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x[:cut]))
    state = tmp_path / "state.json"
    before = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    with open(log, "a") as stream:
        stream.write(csv_lines(x[cut:], cut))
    after = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    assert after.exit_code == 0
    assert starts(before) + starts(after) == sorted(SHAPES)
    assert all(s >= cut - 2 for s in starts(after))
    # The motif across the old end carries its time, as in one run over the whole file.
    whole = tmp_path / "whole.csv"
    whole.write_text("t,v\n" + csv_lines(x))
    alone = run("detect", whole, *KERNEL, "--format", "csv").stdout.splitlines()
    assert before.stdout.splitlines() + after.stdout.splitlines()[1:] == alone


def test_half_written_last_line_waits_for_its_newline(tmp_path):
    x = signal_with(100, {50: [1, 2, 3]})
    log = tmp_path / "log.csv"
    text = "t,v\n" + csv_lines(x)
    cut = text.index("\n52,") + 4  # "52," written, the value not yet
    log.write_text(text[:cut])
    state = tmp_path / "state.json"
    assert starts(run("detect", log, *KERNEL, "--state", state, "--format", "csv")) == []
    log.write_text(text)
    assert starts(run("detect", log, *KERNEL, "--state", state, "--format", "csv")) == [50]


def test_folder_with_gzip_and_parquet_and_new_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "logs"
    folder.mkdir()
    x = signal_with(300, SHAPES)
    (folder / "a.csv.gz").write_bytes(gzip.compress(("t,v\n" + csv_lines(x[:150])).encode()))
    pq.write_table(pa.table({"v": x}), folder / "b.parquet")
    state = tmp_path / "state.json"
    first = run("detect", folder, *KERNEL, "--state", state, "--format", "csv", "--jobs", "1")
    assert first.exit_code == 0 and len(first.stdout.splitlines()) == 1 + 3 + 5
    assert run("detect", folder, *KERNEL, "--state", state, "--format", "csv").exit_code == 1
    # The gzip file grows (a gzip member appended, as `gzip -c >> a.csv.gz` does), a new
    # file appears: only what is new comes out.
    with open(folder / "a.csv.gz", "ab") as stream:
        stream.write(gzip.compress(csv_lines(x[150:], 150).encode()))
    (folder / "c.csv").write_text("v\n" + "".join(f"{float(v)!r}\n" for v in x[:100]))
    third = run("detect", folder, *KERNEL, "--state", state, "--format", "csv")
    files_starts = [
        (line.split(",")[0].rsplit("/", 1)[1], int(line.split(",")[2])) for line in third.stdout.splitlines()[1:]
    ]
    assert files_starts == [("a.csv.gz", 200), ("a.csv.gz", 262), ("c.csv", 20), ("c.csv", 70)]


def test_rotated_log_is_read_from_the_start(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(signal_with(100, {10: [1, 2, 3]})))
    state = tmp_path / "state.json"
    assert starts(run("detect", log, *KERNEL, "--state", state, "--format", "csv")) == [10]
    log.write_text("t,v\n" + csv_lines(signal_with(60, {30: [1, 2, 3]}, seed=1)))
    assert starts(run("detect", log, *KERNEL, "--state", state, "--format", "csv")) == [30]


def test_state_of_other_parameters_or_not_a_state_is_refused(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(signal_with(100, {10: [1, 2, 3]})))
    state = tmp_path / "state.json"
    run("detect", log, *KERNEL, "--state", state)
    result = run("detect", log, "--kernel", "1,2,4", "--p", "9", "--state", state)
    assert result.exit_code == 2 and "other parameters (kernel)" in result.stderr
    state.write_text("[1, 2]")
    result = run("detect", log, *KERNEL, "--state", state)
    assert result.exit_code == 2 and "not a motifscan state file" in result.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--state", "-"], "--state must name a file"),
        (["--state", "{tmp}/missing/state.json"], "--state: directory"),
        (["--state", "{tmp}"], "is a directory"),
        (["--state", "{tmp}/s.json", "--top", "1"], "--top cannot be combined with --state"),
        (["--state", "{tmp}/s.json", "--method", "conv"], "--method conv cannot be combined with --state"),
        (["--append"], "--append needs --output FILE"),
        (["--append", "--output", "{tmp}/out.json"], "--append cannot add to a JSON document"),
    ],
)
def test_bad_state_and_append_options(tmp_path, args, fragment):
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(signal_with(100, {10: [1, 2, 3]})))
    result = run("detect", log, *KERNEL, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_state_with_stdin_is_an_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["detect", "-", *KERNEL, "--state", str(tmp_path / "s.json")], input="v\n1\n2\n3\n"
    )
    assert result.exit_code == 2 and "--state needs files" in result.stderr


def test_append_adds_rows_under_one_header_and_refuses_other_columns(tmp_path):
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x[:150]))
    out = tmp_path / "motifs.csv"
    state = tmp_path / "state.json"
    args = ["detect", log, *KERNEL, "--state", state, "--output", out, "--append"]
    assert run(*args).exit_code == 0
    assert run(*args).exit_code == 1  # nothing new: the file stays as it was
    with open(log, "a") as stream:
        stream.write(csv_lines(x[150:], 150))
    assert run(*args).exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "channel,start,end,time,score,cosine,sign,scale"
    assert [int(line.split(",")[1]) for line in lines[1:]] == sorted(SHAPES)
    other = tmp_path / "other.csv"
    other.write_text("v\n" + "".join(f"{float(v)!r}\n" for v in x))
    result = run("detect", other, *KERNEL, "--output", out, "--append")
    assert result.exit_code == 2 and "--append: the output's columns are" in result.stderr
    assert out.read_text().splitlines() == lines
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".motifscan-")]


def test_jsonl_append_keeps_the_old_lines(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(signal_with(100, {10: [1, 2, 3]})))
    out = tmp_path / "motifs.jsonl"
    out.write_text('{"old": 1}\n')
    assert run("detect", log, *KERNEL, "--output", out, "--append").exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == '{"old": 1}' and json.loads(lines[1])["start"] == 10


def test_a_run_waits_for_the_lock_of_another(tmp_path):
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x))
    state = tmp_path / "state.json"
    lock = os.open(str(state) + ".lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run holds the state
    process = subprocess.Popen(
        installed_motifscan() + ["detect", str(log), *KERNEL, "--state", str(state), "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    assert process.poll() is None and not state.exists()  # still waiting
    os.close(lock)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "waiting for another run" in err
    assert [int(line.split(",")[1]) for line in out.splitlines()[1:]] == sorted(SHAPES)


@pytest.mark.slow
def test_overlapping_runs_report_each_motif_once(tmp_path):
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x))
    state = tmp_path / "state.json"
    command = installed_motifscan() + ["detect", str(log), *KERNEL, "--state", str(state), "--format", "csv", "-q"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    found = [int(line.split(",")[1]) for out in outputs for line in out.splitlines()[1:]]
    assert sorted(found) == sorted(SHAPES)
    assert sorted(process.returncode for process in processes) == [0, 1, 1]


def test_state_file_round_trips_the_carried_rows(tmp_path):
    from motifscan.signal import SignalBlock
    from motifscan.state_schema import _decode_block, encode_block

    block = SignalBlock(
        {"v": np.array([1.5, np.nan, np.inf])},
        np.array(["2025-01-01T00:00:00.5", "NaT", "2025-01-02"], dtype="datetime64[ns]"),
    )
    back = _decode_block(json.loads(json.dumps(encode_block(block))), "tail")
    np.testing.assert_array_equal(back.channels["v"], block.channels["v"])
    np.testing.assert_array_equal(back.time, block.time)
    with StateFile.open(str(tmp_path / "s.json"), {"kernel": [1.0]}) as state:
        assert state.files == {}


# --- Exactness: the runs over a growing file give one run's motifs --------------------------

ECG = Path(__file__).resolve().parent.parent / "sample_data" / "ecg_mitdb_excerpt_360hz.csv"


def motif_keys(text: str) -> list[tuple]:
    """(channel, kernel, dilation, start, score) of every motif of a CSV output."""
    lines = text.splitlines()
    if not lines:
        return []
    fields = lines[0].split(",")
    rows = [dict(zip(fields, line.split(","))) for line in lines[1:]]
    return [(r["channel"], r.get("kernel"), r.get("dilation"), int(r["start"]), r["score"]) for r in rows]


def cli_run(*args):
    return subprocess.run(
        [*installed_motifscan(), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


@pytest.mark.slow
def test_ecg_cut_anywhere_loses_no_beat_at_the_run_boundary(tmp_path):
    """Issue 13 §2: a beat accepted after the cut suppressed a better neighbour and was itself
    dropped for being near the last motif of the first run (beat 4750 lost at cut 5000)."""
    lines = ECG.read_text().splitlines()
    header, body = lines[0], lines[1:]
    x = np.array([float(line.split(",")[1]) for line in body])
    peak = int(np.argmax(x[:500]))
    kernel = tmp_path / "beat.txt"
    kernel.write_text("\n".join(repr(float(v)) for v in x[peak - 100 : peak + 200]) + "\n")
    options = [
        "--kernel-file",
        kernel,
        "--normalize",
        "center",
        "--threshold",
        "0.3",
        "--column",
        "ecg_mv",
        "--backend",
        "numba",
        "--format",
        "csv",
    ]
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join(lines) + "\n")
    alone = motif_keys(run("detect", whole, *options).stdout)
    log, state = tmp_path / "log.csv", tmp_path / "state.json"
    log.write_text("\n".join([header] + body[:5000]) + "\n")
    first = run("detect", log, *options, "--state", state)
    with open(log, "a") as stream:
        stream.write("\n".join(body[5000:]) + "\n")
    second = run("detect", log, *options, "--state", state)
    together = motif_keys(first.stdout) + motif_keys(second.stdout)
    # Nothing lost; only candidates that later rows could still change wait in the state
    # (and the run says so).
    assert together == alone[: len(together)]
    waiting = json.loads(state.read_text())["files"][str(log)]["undecided"]["detectors"][0]["candidates"]["position"]
    assert all(motif[3] >= min(waiting) for motif in alone[len(together) :])
    assert (not waiting) or "wait in the state" in second.stderr


def _union_equals_one_run(tmp_path, x, cuts, options):
    """The motifs of --state runs over the prefixes ``cuts`` (bytes) and the whole file
    equal one run's, each once; one run's motifs not reported yet wait in the state."""
    text = "t,a,b\n" + "".join(f"{i},{float(x[0][i])!r},{float(x[1][i])!r}\n" for i in range(x.shape[1]))
    log, state = tmp_path / "log.csv", tmp_path / "state.json"
    together = []
    for cut in [*cuts, len(text)]:
        log.write_text(text[:cut])  # cut anywhere, also inside a line
        result = run("detect", log, *options, "--state", state)
        assert result.exit_code in (0, 1), result.output
        together += motif_keys(result.stdout)
    whole = tmp_path / "whole.csv"
    whole.write_text(text)
    alone = motif_keys(run("detect", whole, *options).stdout)
    assert len(set(together)) == len(together)  # nothing twice
    assert set(together) <= set(alone)  # nothing invented, same scores to the last digit
    entry = json.loads(state.read_text())["files"][str(log)]
    held = {
        (detector["channel"], position)
        for detector in entry["undecided"]["detectors"]
        for position in detector["candidates"]["position"]
    }
    # Windows shorter than the longest that fit only in the carried rows are scanned later.
    unscanned = entry["rows"] - len(next(iter(entry["tail"]["channels"].values())))
    missing = [m for m in alone if m not in set(together)]
    assert all((m[0], m[3]) in held or m[3] >= unscanned for m in missing)  # nothing lost: the rest waits


from hypothesis import given, settings, strategies as st  # noqa: E402


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(40, 400),
    st.lists(st.integers(0, 10_000), max_size=4),
    st.sampled_from(
        [
            ["--kernel", "1,2,3"],
            ["--kernel", "r=1,2,3", "--kernel", "f=3,1,2,0"],
            ["--kernel", "1,-1,2", "--dilation", "1..3"],
            ["JOINT"],  # a joint kernel over a and b, written below
        ]
    ),
    st.sampled_from(
        [[], ["--normalize", "center"], ["--noise-floor", "0.1"], ["--noise-floor", "auto"], ["--normalize", "zscore"]]
    ),
    st.floats(0.2, 0.8),
    st.sampled_from([[], ["--min-gap", "7"], ["--sign", "positive"]]),
)
def test_any_appends_give_one_runs_motifs(seed, n, cuts, kernels, normalize, threshold, extra):
    import tempfile

    rng = np.random.default_rng(seed)
    x = np.round(np.cumsum(rng.standard_normal((2, n)), axis=1), 2)
    text_length = len("t,a,b\n") + sum(len(f"{i},{float(x[0][i])!r},{float(x[1][i])!r}\n") for i in range(n))
    cuts = sorted({cut % text_length for cut in cuts})
    # The time column named: inferred, it could not be told from one row of a first piece.
    options = [
        *kernels,
        "--p",
        "2",
        *normalize,
        "--threshold",
        f"{threshold:.2f}",
        *extra,
        "--time-column",
        "t",
        "--backend",
        "numba",
        "--format",
        "csv",
    ]
    with tempfile.TemporaryDirectory() as directory:
        if kernels == ["JOINT"]:
            joint = Path(directory) / "joint.csv"
            joint.write_text("a,b\n1,0\n2,1\n3,-1\n0,2\n")
            options[:1] = ["--kernel-file", str(joint), "--joint"]
        _union_equals_one_run(Path(directory), x, cuts, options)


@pytest.mark.slow
@pytest.mark.parametrize("threshold", ["mad:4", "fa:300"])
def test_noise_adaptive_threshold_over_five_state_runs_gives_one_runs_motifs(tmp_path, threshold):
    """Issue 18: --threshold mad:K (and fa:RATE) over a growing file scanned 5 times with
    --state: the runs before the reference stretch is complete hold its rows, the run that
    completes it decides the thresholds once, whole, and the later runs reuse them from the
    state, so together they report one run's motifs with one run's thresholds."""
    from motifscan.scan_plan import REFERENCE_POSITIONS

    rng = np.random.default_rng(18)
    n = REFERENCE_POSITIONS + 30_000
    x = np.round(0.3 * rng.standard_normal((2, n)), 4)
    pulse = np.hanning(16)
    for start in range(700, n - 20, 4999):
        x[0, start : start + 16] += pulse
        x[1, start + 40 : start + 56] -= pulse
    x[:, n - 20_000 :] *= 3  # a louder end: it must not move the thresholds
    options = [
        "--kernel",
        ",".join(f"{v:.6f}" for v in pulse),
        "--threshold",
        threshold,
        "--time-column",
        "t",
        "--backend",
        "numba",
        "--format",
        "csv",
    ]
    text_length = len("t,a,b\n") + sum(len(f"{i},{float(x[0][i])!r},{float(x[1][i])!r}\n") for i in range(n))
    # Two runs before the stretch is complete (one cut inside a line), one across its end,
    # two after it.
    cuts = [int(text_length * share) + 3 for share in (0.2, 0.55, 0.85, 0.95)]
    _union_equals_one_run(tmp_path, x, cuts, options)
    state = json.loads((tmp_path / "state.json").read_text())
    (entry,) = state["files"].values()
    whole = run("detect", tmp_path / "whole.csv", *options[:-2], "--format", "json")
    # (JSON reports numbers to 12 significant digits; the state keeps them exactly.)
    assert entry["undecided"]["thresholds"] == pytest.approx(json.loads(whole.stdout)["thresholds"], rel=1e-11)
    assert set(entry["undecided"]["thresholds"]) == {"a", "b"}
    assert len(motif_keys(run("detect", tmp_path / "whole.csv", *options).stdout)) >= 2 * (n - 800) // 4999


@pytest.mark.slow
def test_weighted_noise_floor_auto_is_kept_in_the_state_with_its_weights(tmp_path):
    from motifscan.similarity.multi import AUTO_NOISE_SAMPLES

    rng = np.random.default_rng(7)
    n = AUTO_NOISE_SAMPLES + 3000
    x = np.round(np.cumsum(rng.standard_normal((2, n)), axis=1), 2)
    joint = tmp_path / "joint.csv"
    joint.write_text("a,b\nweights,1,0.25\n1,0\n2,1\n3,-1\n0,2\n")
    options = ["--kernel-file", joint, "--joint", "--noise-floor", "auto", "--p", "2", "--threshold", "0.3"]
    options += ["--time-column", "t", "--backend", "numba", "--format", "csv"]
    text_length = len("t,a,b\n") + sum(len(f"{i},{float(x[0][i])!r},{float(x[1][i])!r}\n") for i in range(n))
    _union_equals_one_run(tmp_path, x, [text_length // 3, text_length - 20_000], options)
    (entry,) = json.loads((tmp_path / "state.json").read_text())["files"].values()
    ((channels, taps, floor, weights),) = entry["undecided"]["noise_floor"]
    assert (channels, taps, weights) == (["a", "b"], 4, [1.0, 0.25]) and floor > 0


def test_a_state_run_before_the_reference_stretch_is_complete_holds_its_rows(tmp_path):
    log, state = tmp_path / "log.csv", tmp_path / "state.json"
    log.write_text("t,v\n" + csv_lines(signal_with(300, SHAPES)))
    result = run("detect", log, "--kernel", "1,2,3", "--threshold", "mad:3", "--state", state, "--format", "json")
    assert result.exit_code == 1, result.output
    assert "300 row(s) held for the next run: the mad:3 thresholds wait" in result.stderr
    document = json.loads(result.stdout)
    assert document["thresholds"] == {} and document["motif_count"] == 0
    entry = json.loads(state.read_text())["files"][str(log)]
    assert entry["undecided"]["thresholds"] is None and len(entry["tail"]["channels"]["v"]) == 300


# --- The state file's integrity ---------------------------------------------------------


def test_a_fifo_as_state_is_refused_at_once(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(signal_with(50, {10: [1, 2, 3]})))
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)
    result = subprocess.run(
        [*installed_motifscan(), "detect", str(log), *KERNEL, "--state", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(fifo) in result.stderr and "not a regular file" in result.stderr


def _good_state(tmp_path):
    x = signal_with(120, {20: [1, 2, 3], 116: [1, 2, 3]})
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x))
    state = tmp_path / "state.json"
    assert run("detect", log, *KERNEL, "--state", state, "--min-gap", "10").exit_code == 0
    return log, state, json.loads(state.read_text())


def _tampered(document, log):
    key = str(log)
    entry = lambda d: d["files"][key]  # noqa: E731
    detector = lambda d: entry(d)["undecided"]["detectors"][0]  # noqa: E731

    def setting(path_of, value):
        def change(d):
            *where, last = path_of
            target = d
            for step in where:
                target = step(d) if callable(step) else target[step]
            target[last] = value

        return change

    return {
        "null entry": setting(["files", key], None),
        "negative rows": setting([entry, "rows"], -5),
        "float offset": setting([entry, "offset"], 10.0),
        "offset past the end": setting([entry, "offset"], 10**9),
        "bool rows": setting([entry, "rows"], True),
        "string rows": setting([entry, "rows"], "12"),
        "null tail": setting([entry, "tail"], None),
        "short channel": setting([entry, "tail"], {"channels": {"v": [1.0], "w": [1.0, 2.0]}, "time": None}),
        "null fingerprint": setting([entry, "fingerprint"], None),
        "bad hash": setting([entry, "fingerprint"], dict(entry(document)["fingerprint"], head_sha256="zz")),
        "negative inode": setting([entry, "fingerprint"], dict(entry(document)["fingerprint"], inode=-1)),
        "null files": setting(["files"], None),
        "files list": setting(["files"], []),
        "unknown key": setting([entry, "extra"], 1),
        "null undecided": setting([entry, "undecided"], None),
        "candidate past the end": setting(
            [detector, "candidates"],
            {
                "position": [10**6],
                "score": [1.0],
                "cosine": [1.0],
                "scale": [1.0],
                "scan": [0],
                "time": {"unit": None, "values": [1.0]},
            },
        ),
        "unsorted candidates": setting(
            [detector, "candidates"],
            {
                "position": [5, 3],
                "score": [1.0, 1.0],
                "cosine": [1.0, 1.0],
                "scale": [1.0, 1.0],
                "scan": [0, 0],
                "time": {"unit": None, "values": [1.0, 2.0]},
            },
        ),
        "ragged candidates": setting(
            [detector, "candidates"],
            {
                "position": [5],
                "score": [],
                "cosine": [1.0],
                "scale": [1.0],
                "scan": [0],
                "time": {"unit": None, "values": [1.0]},
            },
        ),
        "nan score": setting(
            [detector, "candidates"],
            {
                "position": [5],
                "score": [float("nan")],
                "cosine": [1.0],
                "scale": [1.0],
                "scan": [0],
                "time": {"unit": None, "values": [1.0]},
            },
        ),
        "scan out of range": setting(
            [detector, "candidates"],
            {
                "position": [100],
                "score": [1.0],
                "cosine": [1.0],
                "scale": [1.0],
                "scan": [7],
                "time": {"unit": None, "values": [1.0]},
            },
        ),
        "bad taken": setting([detector, "taken"], [[5, 2]]),
        "bad time unit": setting(
            [entry, "tail"], {"channels": {"v": [1.0]}, "time": {"unit": "parsec", "values": [1]}}
        ),
        "other channel": setting(
            [entry, "tail"], {"channels": {"w": [1.0, 2.0]}, "time": {"unit": None, "values": [1.0, 2.0]}}
        ),
        "threshold not a number": setting([entry, "undecided", "thresholds"], {"v": "0.5"}),
        "negative threshold": setting([entry, "undecided", "thresholds"], {"v": -1}),
        "thresholds list": setting([entry, "undecided", "thresholds"], [0.5]),
        "null output": setting(["output"], {"path": "", "device": 0, "inode": 0, "header": None, "pending": ""}),
        "version": setting(["version"], 99),
        "foreign format": setting(["format"], "something-else"),
    }


def test_tampered_state_files_are_refused_naming_the_file_and_what_is_wrong(tmp_path):
    import copy

    log, state, document = _good_state(tmp_path)
    with open(log, "a") as stream:
        stream.write(csv_lines(signal_with(30, {5: [1, 2, 3]}), 120))
    for name, change in _tampered(document, log).items():
        changed = copy.deepcopy(document)
        change(changed)
        state.write_text(json.dumps(changed))
        result = run("detect", log, *KERNEL, "--state", state, "--min-gap", "10")
        assert result.exit_code == 2, (name, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), name
        assert str(state) in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
    for text in [
        "",
        "{",
        '{"format": "motifscan-state", "version": 2',
        "[]",
        "null",
        "42",
        '"x"',
        json.dumps(document)[:-40],
        "[" * 100_000,
    ]:
        state.write_text(text)
        result = run("detect", log, *KERNEL, "--state", state, "--min-gap", "10")
        assert result.exit_code == 2 and str(state) in result.stderr and result.stderr.count("\n") == 1, text[:50]


def test_kept_thresholds_of_other_tracks_are_refused_naming_the_state(tmp_path):
    log, state = tmp_path / "log.csv", tmp_path / "state.json"
    log.write_text("t,v\n" + csv_lines(signal_with(300, SHAPES)))
    options = ["--kernel", "1,2,3", "--threshold", "mad:3", "--state", state]
    assert run("detect", log, *options).exit_code == 1
    document = json.loads(state.read_text())
    document["files"][str(log)]["undecided"]["thresholds"] = {"w": 0.5}
    state.write_text(json.dumps(document))
    with open(log, "a") as stream:
        stream.write(csv_lines(signal_with(30, {5: [1, 2, 3]}), 300))
    result = run("detect", log, *options)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert f"--state: {state}: the thresholds kept for {log} lack the score track 'v'" in result.stderr


# --- Rotation: identity and content -----------------------------------------------------------


@pytest.mark.parametrize("how", ["new file", "rewritten in place"])
def test_a_rotated_log_with_a_long_header_is_read_from_the_start(tmp_path, how):
    preamble = "# " + "constant preamble " * 100 + "\n"  # far more than the first 1 KiB
    long_header = "t," + "v" * 1500 + "\n"
    old = signal_with(200, {20: [1, 2, 3], 150: [1, 2, 3]})
    new = signal_with(300, {40: [1, 2, 3], 250: [-1, -2, -3]}, seed=1)
    log = tmp_path / "log.csv"
    log.write_text(long_header + csv_lines(old))
    state = tmp_path / "state.json"
    options = [*KERNEL, "--column", "v" * 1500, "--state", state, "--format", "csv"]
    assert starts(run("detect", log, *options)) == [20, 150]
    if how == "new file":
        log.rename(tmp_path / "log.csv.1")
        log.write_text(long_header + csv_lines(new))
    else:
        with open(log, "r+") as stream:
            stream.write(long_header + csv_lines(new))
    assert starts(run("detect", log, *options)) == [40, 250]
    del preamble


# --- Output + state: one commit ---------------------------------------------------------------

KILL_AT = """
import os, signal, sys
import motifscan.state as state
step = sys.argv.pop(1)
def reached(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)
state._reached = reached
sys.argv[0] = "motifscan"
from motifscan.cli import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("step", ["output-written", "state-saved", "output-renamed"])
def test_a_kill_at_each_step_of_the_commit_loses_and_repeats_nothing(tmp_path, step, fmt):
    x = signal_with(400, {20: [1, 2, 3], 90: [1, 2, 3], 170: [-1, -2, -3], 260: [1, 2, 3], 330: [2, 4, 6]})
    log, state, output = tmp_path / "log.csv", tmp_path / "state.json", tmp_path / f"motifs.{fmt}"
    options = [str(log), *KERNEL, "--state", str(state), "--output", str(output), "--append", "--format", fmt]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for stop, killed in [(120, False), (240, True), (400, False)]:
        log.write_text("t,v\n" + csv_lines(x[:stop]))
        if killed:
            done = subprocess.run(
                [sys.executable, "-c", KILL_AT, step, "detect", *options],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == -9, done.stderr
        else:
            subprocess.run([*installed_motifscan(), "detect", *options], env=env, capture_output=True, timeout=120)
    # One more run with nothing new: it only checks the commit.
    subprocess.run([*installed_motifscan(), "detect", *options], env=env, capture_output=True, timeout=120)
    lines = output.read_text().splitlines()
    if fmt == "csv":
        assert lines[0].startswith("channel,start") and all(not line.startswith("channel") for line in lines[1:])
        found = [int(line.split(",")[1]) for line in lines[1:]]
    else:
        found = [json.loads(line)["start"] for line in lines]
    assert found == [20, 90, 170, 260, 330]
    left = [name for name in os.listdir(tmp_path) if name.endswith(".part")]
    assert len(left) <= 1  # a SIGKILL leaves its temporary file (removed by the output's owner)


# --- Fault injection: random kills under --state --output --append ----------------------------


def _fault_injection():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import fault_injection
    finally:
        sys.path.pop(0)
    return fault_injection


@pytest.mark.slow
def test_random_kills_lose_nothing_and_repeat_nothing(tmp_path):
    figures = _fault_injection().inject(kills=6, seed=1, rows=2000, directory=str(tmp_path))
    assert figures["kills"] == 6 and figures["motifs"] > 20
    assert (figures["lost"], figures["twice"], figures["invented"]) == (0, 0, 0), figures


@pytest.mark.slow
@pytest.mark.faults
@pytest.mark.skipif(
    not (os.environ.get("CI") or os.environ.get("MOTIFSCAN_FAULTS")), reason="long: set CI=1 or MOTIFSCAN_FAULTS=1"
)
def test_a_hundred_and_twenty_random_kills_lose_nothing_and_repeat_nothing(tmp_path):
    figures = _fault_injection().inject(kills=120, seed=2, directory=str(tmp_path))
    assert figures["kills"] == 120
    assert (figures["lost"], figures["twice"], figures["invented"]) == (0, 0, 0), figures


def test_candidates_that_wait_are_counted_on_stderr_and_in_the_json_summary(tmp_path):
    # A match within min_gap of the end could still be beaten by what follows: it waits,
    # the run says so, and the next run decides it.
    x = signal_with(60, {20: [1, 2, 3], 55: [1, 2, 3.2]})
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x))
    state = tmp_path / "state.json"
    result = run("detect", log, *KERNEL, "--min-gap", "10", "--state", state, "--format", "json")
    report = json.loads(result.stdout)
    assert [m["start"] for m in report["motifs"]] == [20]
    assert report["undecided_candidates"] == 1
    assert f"1 candidate(s) near the end of {log} wait in the state" in result.stderr
    with open(log, "a") as stream:
        stream.write(csv_lines(signal_with(20, {}), 60))
    later = run("detect", log, *KERNEL, "--min-gap", "10", "--state", state, "--format", "json")
    assert [m["start"] for m in json.loads(later.stdout)["motifs"]] == [55]
    assert "wait in the state" not in later.stderr


def test_a_log_of_only_its_header_then_rows(tmp_path):
    """The first run sees no row (and so no time column yet); the next goes on as usual."""
    x = signal_with(40, {10: [1, 2, 3], 30: [1, 2, 3]})
    log, state = tmp_path / "log.csv", tmp_path / "state.json"
    log.write_text("t,v\n")
    assert run("detect", log, *KERNEL, "--state", state, "--format", "csv").exit_code == 1
    log.write_text("t,v\n" + csv_lines(x))
    result = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert starts(result) == [10, 30]


def test_a_bad_line_stops_the_state_until_skipped_and_new_data_is_scanned(tmp_path):
    """The cron recipe: a run that fails on a bad line leaves the state where it was; a run
    with --bad-lines skip goes on past it, and later runs scan the new data."""
    x = signal_with(300, SHAPES)
    log = tmp_path / "log.csv"
    log.write_text("t,v\n" + csv_lines(x[:100]))
    state = tmp_path / "state.json"
    assert starts(run("detect", log, *KERNEL, "--state", state, "--format", "csv")) == [20, 70]
    saved = state.read_text()
    with log.open("a") as stream:
        stream.write("100,ERR\n" + csv_lines(x[101:200], first=101))
    failed = run("detect", log, *KERNEL, "--state", state, "--format", "csv")
    assert failed.exit_code == 2 and "line 102, column 'v': 'ERR' is not a number" in failed.stderr
    assert "--bad-lines" in failed.stderr
    assert state.read_text() == saved  # nothing after the bad line was scanned
    skipped = run("detect", log, *KERNEL, "--state", state, "--format", "csv", "--bad-lines", "skip")
    assert skipped.exit_code == 0 and "1 bad line(s) skipped" in skipped.stderr
    # One row fewer: later positions move up one, their time column stays right.
    assert starts(skipped) == [137]
    assert skipped.stdout.splitlines()[1].split(",")[3] == "138"
    with log.open("a") as stream:
        stream.write(csv_lines(x[200:], first=200))
    later = run("detect", log, *KERNEL, "--state", state, "--format", "csv", "--bad-lines", "skip")
    assert starts(later) == [199, 261] and "bad line" not in later.stderr
