"""Many inputs in one run: folders, gzip, Parquet, datasets, a corrupt file, --jobs."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from motifscan.batch import BatchRun, expand_inputs
from motifscan.file_run import ReadOptions
from motifscan.cli import cli
from motifscan.batch_config import BatchConfig
from motifscan.config import DetectConfig
from motifscan.errors import MotifscanError
from motifscan.io.parquet import is_parquet_dataset

KERNEL = ["--kernel", "1,2,3,2", "--p", "2", "--threshold", "0.8"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def planted(seed: int, n: int = 400) -> pd.DataFrame:
    """Noise with copies of (1, 2, 3, 2) at random places, sizes and signs; two channels."""
    rng = np.random.default_rng(seed)
    frame = {}
    for name in ("a", "b"):
        x = rng.normal(0, 0.2, n)
        for start in rng.choice(n - 4, size=6, replace=False):
            x[start : start + 4] += rng.choice([-2, 0.5, 3]) * np.array([1, 2, 3, 2])
        frame[name] = x
    return pd.DataFrame({"t": np.arange(n) * 0.5, **frame})


def make_folder(root):
    """A folder of small inputs: plain, gzipped, TSV, Parquet, a nested one, a corrupt one."""
    (root / "logs" / "nested").mkdir(parents=True)
    planted(1).to_csv(root / "logs" / "day1.csv", index=False)
    (root / "logs" / "day2.csv.gz").write_bytes(gzip.compress(planted(2).to_csv(index=False).encode()))
    planted(3).to_csv(root / "logs" / "day3.tsv", index=False, sep="\t")
    pq.write_table(pa.Table.from_pandas(planted(4), preserve_index=False), root / "logs" / "day4.parquet")
    planted(5).drop(columns="t").to_csv(root / "logs" / "nested" / "day5.txt.gz", index=False, compression="gzip")
    bad = planted(6).to_csv(index=False).splitlines()
    bad[200] = "100.0,oops,1.0"
    (root / "logs" / "corrupt.csv").write_text("\n".join(bad) + "\n")
    (root / "logs" / "notes.md").write_text("not a signal\n")
    (root / "logs" / ".hidden.csv").write_text("v\n1\n")
    return root / "logs"


EXPECTED_ORDER = ["corrupt.csv", "day1.csv", "day2.csv.gz", "day3.tsv", "day4.parquet", "nested/day5.txt.gz"]


def test_folder_expands_to_signal_files_in_path_order(tmp_path):
    folder = make_folder(tmp_path)
    inputs = expand_inputs([str(folder)])
    assert [name.removeprefix(str(folder) + "/") for name, _ in inputs] == EXPECTED_ORDER
    assert all(problem is None for _, problem in inputs)
    # Named twice: read once. An empty folder is a problem of its own.
    (tmp_path / "empty").mkdir()
    twice = expand_inputs([str(folder / "day1.csv"), str(folder), str(tmp_path / "empty")])
    assert [name for name, _ in twice].count(str(folder / "day1.csv")) == 1
    assert "no CSV, TSV, TXT or Parquet file" in twice[-1][1]


def test_folder_gives_each_file_alone_with_file_set_and_reports_the_corrupt_one(tmp_path):
    folder = make_folder(tmp_path)
    result = run("detect", folder, *KERNEL, "--format", "json")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"motifscan: error: {folder}/corrupt.csv: line 201, column 'a': 'oops' is not a number (--bad-lines skip or nan reads past it)"
    ]
    document = json.loads(result.stdout)
    assert document["failed_files"] == 1 and document["files"][0]["error"].endswith(
        "is not a number (--bad-lines skip or nan reads past it)"
    )
    motifs = document["motifs"]
    assert motifs and {m["file"] for m in motifs} == {f"{folder}/{name}" for name in EXPECTED_ORDER[1:]}
    for name in EXPECTED_ORDER[1:]:
        alone = run("detect", folder / name, *KERNEL, "--format", "json")
        assert alone.exit_code == 0, alone.output
        expected = [{"file": f"{folder}/{name}", **m} for m in json.loads(alone.stdout)["motifs"]]
        for m in expected:
            m.setdefault("time", None)  # day5 has no time column; the others do
        assert [m for m in motifs if m["file"] == f"{folder}/{name}"] == expected
    assert document["motif_count"] == len(motifs)


@pytest.mark.slow
def test_jobs_2_equals_jobs_1_byte_for_byte(tmp_path):
    folder = make_folder(tmp_path)
    for fmt in ("jsonl", "json"):
        one = run("detect", folder, *KERNEL, "--format", fmt, "--jobs", "1")
        two = run("detect", folder, *KERNEL, "--format", fmt, "--jobs", "2")
        assert one.exit_code == two.exit_code == 2
        assert one.stdout == two.stdout and one.stdout.count("day") > 10
        assert one.stderr == two.stderr


def test_parquet_dataset_directory_is_one_signal(tmp_path):
    frame = planted(7)
    dataset = tmp_path / "plant" / "year=2025"
    dataset.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        pq.write_table(pa.Table.from_pandas(frame.iloc[part], preserve_index=False), dataset / f"part-{i}.parquet")
    (tmp_path / "plant" / "_SUCCESS").write_text("")
    frame.to_csv(tmp_path / "whole.csv", index=False)
    assert is_parquet_dataset(tmp_path / "plant") and not is_parquet_dataset(tmp_path)
    whole = run("detect", tmp_path / "whole.csv", *KERNEL, "--format", "csv")
    parts = run("detect", tmp_path / "plant", *KERNEL, "--format", "csv")
    assert parts.exit_code == 0 and parts.stdout == whole.stdout
    # In a folder, the dataset is one input.
    inputs = [name for name, _ in expand_inputs([str(tmp_path)])]
    assert inputs == [str(tmp_path / "plant"), str(tmp_path / "whole.csv")]


def test_quiet_silences_warnings_not_errors(tmp_path):
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("v\n0\n1\n2\n3\nnan\n0\n1\n2\n3\n")
    assert "skipped" in run("detect", gaps, "--kernel", "1,2,3").stderr
    assert run("detect", gaps, "--kernel", "1,2,3", "-q").stderr == ""
    result = run("detect", gaps, tmp_path / "nope.csv", "--kernel", "1,2,3", "--quiet")
    assert result.exit_code == 2 and result.stderr == f"motifscan: error: {tmp_path}/nope.csv: no such file\n"


def test_exit_status_with_several_inputs(tmp_path):
    planted(1).to_csv(tmp_path / "x.csv", index=False)
    flat = tmp_path / "flat.csv"
    flat.write_text("v\n" + "1\n" * 50)
    assert run("detect", tmp_path / "x.csv", flat, *KERNEL).exit_code == 0
    assert run("detect", flat, flat.with_name("flat2.csv"), *KERNEL).exit_code == 2
    flat.with_name("flat2.csv").write_text("v\n" + "2\n" * 50)
    result = run("detect", flat, flat.with_name("flat2.csv"), *KERNEL)
    assert result.exit_code == 1 and result.stdout == "file,channel,start,end,score,cosine,sign,scale\n"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--jobs", "x"], "'--jobs'"),
    ],
)
def test_bad_jobs(tmp_path, args, fragment):
    planted(1).to_csv(tmp_path / "x.csv", index=False)
    result = run("detect", tmp_path / "x.csv", *KERNEL, *args)
    assert result.exit_code == 2 and fragment in result.stderr


def test_stdin_must_be_the_only_input(tmp_path):
    planted(1).to_csv(tmp_path / "x.csv", index=False)
    result = run("detect", "-", tmp_path / "x.csv", *KERNEL)
    assert result.exit_code == 2 and "- (standard input) must be the only FILE" in result.stderr
    with pytest.raises(MotifscanError):
        BatchConfig(jobs=-1)


def test_batch_run_in_python(tmp_path):
    planted(1).to_csv(tmp_path / "x.csv", index=False)
    planted(2).to_csv(tmp_path / "y.csv", index=False)
    config = DetectConfig(kernel=(1, 2, 3, 2), p=2, threshold=0.8)
    done = []
    batch = BatchRun([str(tmp_path)], config, ReadOptions(), on_file_done=done.append)
    motifs = list(batch)
    assert [run.name for run in done] == [str(tmp_path / "x.csv"), str(tmp_path / "y.csv")]
    assert batch.motif_count == len(motifs) and not batch.failed
    assert [m.start for m in motifs if m.file.endswith("x.csv")] == sorted(
        m.start for m in motifs if m.file.endswith("x.csv")
    )


# Worker processes end with the run: on success, on error, on every signal, and a reader of
# the run's stdout and stderr sees their end.


def _processes_tagged(tag: str) -> list[int]:
    """Ids of the live processes whose environment holds ``tag`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as stream:
                environment = stream.read()
            with open(f"/proc/{entry}/stat", "rb") as stream:
                zombie = stream.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if tag.encode() in environment and not zombie:
            found.append(int(entry))
    return found


def _none_left(tag: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _processes_tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _tagged_run(tmp_path, files, *extra):
    """A tag, and the command and environment of a ``--jobs 2`` run whose processes carry it."""
    script = Path(sys.executable).with_name("motifscan")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]
    tag = uuid.uuid4().hex
    command = program + [
        "detect",
        *map(str, files),
        "--kernel",
        "1,2,3",
        "--p",
        "9",
        "--min-gap",
        "1",
        "--jobs",
        "2",
        *extra,
    ]
    return tag, command, dict(os.environ, MOTIFSCAN_TEST_TAG=tag)


def _long_files(tmp_path, count=4, repeats=250_000):
    files = []
    for i in range(count):
        path = tmp_path / f"long{i}.csv"
        path.write_text("v\n" + "0\n1\n2\n3\n" * repeats)
        files.append(path)
    return files


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="counts processes through /proc")


@needs_proc
@pytest.mark.parametrize("broken", [False, True])
def test_jobs_behind_a_pipe_end_with_their_workers(tmp_path, broken):
    # Before, the fork server and its workers outlived the run holding its stdout: a pipe
    # reader (here: capture_output) waited forever.
    files = [tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"]
    for path in files:
        path.write_text("v\n0\n1\n2\n3\n0\n1\n2\n3\n")
    if broken:
        files[1].write_text("v\n1\nx\n")
    tag, command, environment = _tagged_run(tmp_path, files)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert completed.returncode == (2 if broken else 0), completed.stderr
    assert completed.stdout.count("\n") == 1 + 2 * (len(files) - broken)
    assert _none_left(tag) == []


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_signalled_run_ends_with_its_workers_and_its_pipes(tmp_path, signum):
    tag, command, environment = _tagged_run(tmp_path, _long_files(tmp_path))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    deadline = time.monotonic() + 60
    while len(_processes_tagged(tag)) < 3 and time.monotonic() < deadline:  # the run and 2 workers
        time.sleep(0.05)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)  # both pipes at their end
    assert process.returncode == (-9 if signum == signal.SIGKILL else 128 + signum), err
    if signum != signal.SIGKILL:  # stderr is our one line, and nothing else
        said = err.decode().splitlines()
        expected = "motifscan: interrupted" if signum == signal.SIGINT else f"motifscan: stopped by {signum.name}"
        assert said == [expected], err
    assert _none_left(tag) == []


_HELD_POOL_RUN = """
import _thread, os, sys, threading, time
from concurrent.futures.process import _ExecutorManagerThread
import motifscan.batch as batch
from motifscan.config import DetectConfig
from motifscan.file_run import ReadOptions

held, futures, failures = [], [], []
made, pool_made = batch._pool, threading.Event()
threading.excepthook = lambda hooked: failures.append(repr(hooked.exc_value))


def pool_held_on_to(jobs):
    # After a signal the pool's manager thread may still hold its queues when the process
    # ends: so does this list.
    pool = made(jobs)
    held.append((pool._call_queue, pool._result_queue))
    submit = pool.submit
    pool.submit = lambda *job: futures.append(submit(*job)) or futures[-1]
    pool_made.set()
    return pool


def ctrl_c():  # while the run waits for its first input's result (its workers still start)
    pool_made.wait()
    while len(futures) < len(sys.argv) - 1:
        time.sleep(0.01)
    time.sleep(0.5)
    _thread.interrupt_main()


batch._pool = pool_held_on_to
threading.Thread(target=ctrl_c, daemon=True).start()
run = batch.BatchRun(sys.argv[1:], DetectConfig(kernel=(1, 2, 3), p=9, min_gap=1), ReadOptions(), jobs=2)
try:
    for motif in run:
        pass
except KeyboardInterrupt:
    pass
for thread in threading.enumerate():  # the manager thread, once it has failed the rest
    if isinstance(thread, _ExecutorManagerThread):
        thread.join(10)
print(sum(future.cancelled() for future in futures), "of", len(futures), "cancelled", failures)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # as motifscan.cli.main ends
"""


@pytest.mark.slow
def test_a_stopped_pool_leaves_no_semaphore_to_the_resource_tracker_and_no_future_cancelled(tmp_path):
    # Deterministic forms of two rare races of a stopped --jobs run. The queues still held
    # when the process ended made multiprocessing's resource tracker print "leaked semaphore
    # objects". And the futures that Executor.map cancels when its iterator is closed made
    # Python 3.11's pool manager thread, failing them after the workers were killed, die of
    # an InvalidStateError with a traceback on stderr (when it saw the killed workers before
    # the cancellation).
    files = _long_files(tmp_path, count=12, repeats=100_000)
    completed = subprocess.run(
        [sys.executable, "-c", _HELD_POOL_RUN, *map(str, files)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr
    assert completed.stdout == "0 of 12 cancelled []\n"


@needs_proc
@pytest.mark.slow
def test_a_closed_pipe_ends_the_run_and_its_workers(tmp_path):
    tag, command, environment = _tagged_run(tmp_path, _long_files(tmp_path, repeats=50_000))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    assert process.stdout.readline().startswith(b"file,")
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141, err
    assert b"Traceback" not in err
    assert _none_left(tag) == []
