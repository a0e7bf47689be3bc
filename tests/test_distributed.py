"""--dask: one task per file, a big file split into ranges, exactly the single-machine motifs."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from motifscan.batch import BatchRun
from motifscan.file_run import ReadOptions
from motifscan.cli import cli
from motifscan.config import DetectConfig
from motifscan.distributed import plan_parts

distributed = pytest.importorskip("distributed")

CONFIG = DetectConfig(kernel=(1, 2, 3, 2), p=3, threshold=0.5)


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: starts in a fraction of a second and still runs every range
    # as its own task on two workers.
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


def planted(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 0.3, n), 3)
    for start in rng.choice(n - 4, size=n // 500, replace=False):
        x[start : start + 4] += rng.choice([-3, 1, 4]) * np.array([1, 2, 3, 2])
    return {"t": np.arange(n, dtype=np.int64), "v": x}


def fixed_width_line(t: int, v: float) -> bytes:
    return b"%07d,%+09.3f\n" % (t, v)


@pytest.mark.slow
def test_a_million_row_csv_split_into_ranges_gives_exactly_the_single_machine_motifs(client, tmp_path):
    path = tmp_path / "million.csv"
    signal = planted(1_000_000)
    lines = np.char.mod("%07d,", signal["t"]).astype(object) + np.char.mod("%+09.3f\n", signal["v"]).astype(object)
    path.write_bytes(b"t,v\n" + "".join(lines).encode())
    split = path.stat().st_size // 5
    parts = plan_parts(str(path), CONFIG, split)
    assert len(parts) >= 4
    # Every line has the same width: plant a motif across each cut, in place.
    width = len(fixed_width_line(0, 0.0))
    cut_rows = [(part.start - 4) // width for part in parts[1:]]
    with open(path, "r+b") as stream:
        for cut in cut_rows:
            for i, value in enumerate([2.0, 4.0, 6.0, 4.0]):
                stream.seek(4 + (cut - 2 + i) * width)
                stream.write(fixed_width_line(cut - 2 + i, value))
    assert plan_parts(str(path), CONFIG, split) == parts
    single = list(BatchRun([str(path)], CONFIG, ReadOptions()))
    run = BatchRun([str(path)], CONFIG, ReadOptions(), dask=client, split_bytes=split)
    assert list(run) == single and len(single) > 1000
    summary = run.files[0].summary
    assert (summary.samples, summary.positions) == (1_000_000, 1_000_000 - 3)
    # The motifs across the cuts are there: the overlap rows reached the range before.
    assert {cut - 2 for cut in cut_rows} <= {m.start for m in single}


@pytest.mark.slow
@pytest.mark.parametrize("adaptive", [{"threshold_mad": 2.0}, {"threshold_fa": 2000.0}])
def test_noise_adaptive_threshold_split_into_ranges_gives_the_single_machine_motifs(client, tmp_path, adaptive):
    """Issue 18: the thresholds of --threshold mad:K and fa:RATE are decided once per input,
    on its reference stretch, before it is split: every range detects at the single run's
    thresholds, even those that never see the start of the input."""
    from motifscan.scan_plan import REFERENCE_POSITIONS

    config = DetectConfig(kernel=(1, 2, 3, 2), p=1, **adaptive)
    signal = planted(REFERENCE_POSITIONS + 60_000, seed=3)
    signal["v"][-50_000:] *= 4  # a louder end: a range that estimated its own would differ
    path = tmp_path / "long.csv"
    pacsv.write_csv(pa.table({"v": signal["v"]}), path)
    split = path.stat().st_size // 4
    assert len(plan_parts(str(path), config, split)) >= 4
    single = BatchRun([str(path)], config, ReadOptions())
    alone = list(single)
    run = BatchRun([str(path)], config, ReadOptions(), dask=client, split_bytes=split)
    assert list(run) == alone and len(alone) > 100
    assert run.files[0].summary.thresholds == single.files[0].summary.thresholds
    assert set(single.files[0].summary.thresholds) == {"v"}


def test_parquet_split_by_row_groups(client, tmp_path):
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table(planted(40_000, seed=1)), path, row_group_size=7_000)
    parts = plan_parts(str(path), CONFIG, 1)
    assert [(p.start, p.stop) for p in parts] == [(i, i + 1) for i in range(6)]
    single = list(BatchRun([str(path)], CONFIG, ReadOptions()))
    assert list(BatchRun([str(path)], CONFIG, ReadOptions(), dask=client, split_bytes=1)) == single


def test_cli_many_files_and_a_bad_one_on_a_cluster(client, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(3):
        pacsv.write_csv(pa.table(planted(20_000, seed=i)), folder / f"day{i}.csv")
    (folder / "day3.csv").write_text("v\n1\noops\n")
    args = ["detect", str(folder), "--kernel", "1,2,3,2", "--p", "3", "--format", "json"]
    alone = CliRunner().invoke(cli, args)
    on_cluster = CliRunner().invoke(cli, args + ["--dask", client.scheduler.address, "--split-bytes", "64K"])
    assert alone.exit_code == on_cluster.exit_code == 2
    assert on_cluster.stdout == alone.stdout and on_cluster.stderr == alone.stderr
    assert json.loads(on_cluster.stdout)["motif_count"] > 100


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--split-bytes", "64K"], "--split-bytes only applies with --dask"),
        (["--dask", "local", "--split-bytes", "lots"], "--split-bytes must be a number of bytes"),
        (["--dask", "local", "--split-bytes", "0"], "--split-bytes must be at least 1 byte"),
        (["--dask", "local", "--follow"], "--dask needs files"),
        (["--dask", "local", "--plot", "{tmp}/figure.png"], "--plot draws the scores of this machine's scan"),
        (["--dask", "tcp://127.0.0.1:9"], "--dask: cannot reach the scheduler at tcp://127.0.0.1:9"),
    ],
)
def test_bad_dask_options(tmp_path, monkeypatch, args, fragment):
    monkeypatch.setattr("motifscan.distributed.CONNECT_TIMEOUT_S", 0.5)
    log = tmp_path / "log.csv"
    log.write_text("v\n1\n2\n3\n4\n")
    result = CliRunner().invoke(cli, ["detect", str(log), "--kernel", "1,2,3", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_only_one_kernel_on_each_channel_with_the_cosine_is_split(tmp_path):
    from motifscan.distributed import splittable

    assert splittable(CONFIG)
    assert not splittable(DetectConfig(kernel=(1, 2, 3, 2), method="conv"))
    path = tmp_path / "x.csv"
    pacsv.write_csv(pa.table(planted(20_000)), path)
    assert plan_parts(str(path), DetectConfig(kernel=(1, 2, 3, 2), method="conv"), 1024) is None
    assert len(plan_parts(str(path), CONFIG, 1024)) > 100


@pytest.mark.parametrize("policy", ["skip", "nan"])
def test_bad_lines_in_ranges_give_the_single_machine_motifs_and_counts(client, tmp_path, policy):
    path = tmp_path / "bad.csv"
    signal = planted(20_000, seed=3)
    lines = [f"{t},{v}" for t, v in zip(signal["t"], signal["v"])]
    for row in range(150, 20_000, 1_500):  # a bad line in most ranges, of every kind
        lines[row] = [f"{row},ERR", f"{row},1,2", f"{row}"][row % 3]
    path.write_text("t,v\n" + "\n".join(lines) + "\n")
    read = ReadOptions(bad_lines=policy)
    split = path.stat().st_size // 6
    assert len(plan_parts(str(path), CONFIG, split)) >= 5
    single = list(BatchRun([str(path)], CONFIG, read))
    run = BatchRun([str(path)], CONFIG, read, dask=client, split_bytes=split)
    assert list(run) == single and len(single) > 10
    whole = BatchRun([str(path)], CONFIG, read)
    list(whole)
    assert run.files[0].summary.bad_lines == whole.files[0].summary.bad_lines
    assert run.files[0].summary.bad_lines.count == 14


# --dask ADDRESS at a peer that is not a Dask scheduler: an error within the connection
# timeout, never a hang (which held the --state lock) nor a huge allocation.


def _peer(kind: str):
    """A local TCP server that answers like an HTTP server, sends junk, or says nothing."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            try:
                if kind == "http":
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                elif kind == "junk":
                    connection.sendall(b"\xff\x00junk" * 512)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["http", "junk", "silent"])
def test_a_peer_that_is_no_scheduler_is_an_error_within_the_timeout(kind, tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from motifscan.distributed import CONNECT_TIMEOUT_S

    signal_file = tmp_path / "x.csv"
    signal_file.write_text("v\n1\n2\n3\n")
    server, address = _peer(kind)
    script = Path(sys.executable).with_name("motifscan")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]
    started = time.monotonic()
    try:
        completed = subprocess.run(
            program
            + ["detect", str(signal_file), "--kernel", "1,2,3", "--dask", address, "--state", str(tmp_path / "state")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.close()
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 30
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("motifscan: error: --dask: ")
    assert address in completed.stderr and "allocate" not in completed.stderr
