"""Live logs: an endless stdin and --follow report each motif as soon as it is final."""

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from motifscan.cli import cli
from motifscan.detection import ChannelDetector, detect_track
from motifscan.similarity import ScoreTrack

KERNEL = ["--kernel", "1,2,3", "--p", "9"]


def installed_motifscan() -> list[str]:
    script = Path(sys.executable).with_name("motifscan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]


def rows(first: int, values) -> bytes:
    return "".join(f"{first + i},{v}\n" for i, v in enumerate(values)).encode()


def read_line(stream, timeout: float) -> bytes:
    """One line from an unbuffered pipe (nothing read ahead), or b"" when none comes in time."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_slow_stream_gets_its_motif_before_the_stream_ends(fmt):
    process = subprocess.Popen(
        installed_motifscan() + ["detect", "-", *KERNEL, "--format", fmt],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        process.stdin.write(b"t,v\n" + rows(0, [0, 0, 1, 2, 3, 0, 0]))
        process.stdin.flush()
        time.sleep(0.2)  # a slow writer: the rest comes later
        process.stdin.write(rows(7, [0, 0, 0]))
        process.stdin.flush()
        if fmt == "csv":
            assert read_line(process.stdout, 60) == b"channel,start,end,time,score,cosine,sign,scale\n"
        line = read_line(process.stdout, 60)
        assert process.poll() is None  # the stream has not ended, the motif is out
        if fmt == "jsonl":
            assert json.loads(line)["start"] == 2
        else:
            assert line.startswith(b"v,2,5,2,1.0")
        process.stdin.write(rows(10, [0, -1, -2, -3, 0]))
        process.stdin.close()
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0
        assert rest.count(b"\n") == 1 and b"-1.0" in rest
    finally:
        process.kill()


@pytest.mark.slow
def test_follow_reports_new_lines_as_they_are_appended_and_ctrl_c_ends_it(tmp_path):
    log = tmp_path / "log.csv"
    log.write_bytes(b"t,v\n" + rows(0, [0, 0, 1, 2, 3, 0, 0, 0]))
    process = subprocess.Popen(
        installed_motifscan() + ["detect", str(log), *KERNEL, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        assert json.loads(read_line(process.stdout, 60))["start"] == 2
        with open(log, "ab") as stream:
            stream.write(rows(8, [0, -1, -2, -3, 0, 0]) + b"14,")  # the last line half written
        assert json.loads(read_line(process.stdout, 30))["start"] == 9
        assert read_line(process.stdout, 0.5) == b""  # nothing more is final
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130 and b"Traceback" not in err
    finally:
        process.kill()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-"], "--follow reads one FILE"),
        (["{log}", "{log}2"], "--follow reads one FILE"),
        (["{log}", "--format", "json"], "--follow never ends, so it writes jsonl or csv, not json"),
        (["{log}", "--output", "{log}.out"], "--follow writes to stdout"),
        (["{log}", "--top", "1"], "--top waits for the end"),
        (["{log}.gz"], "--follow reads uncompressed CSV, TSV or TXT files"),
    ],
)
def test_bad_follow(tmp_path, args, fragment):
    import gzip

    log = tmp_path / "log.csv"
    log.write_text("v\n1\n2\n3\n")
    (tmp_path / "log.csv2").write_text("v\n1\n2\n3\n")
    (tmp_path / "log.csv.gz").write_bytes(gzip.compress(b"v\n1\n2\n3\n"))
    result = CliRunner().invoke(cli, ["detect", *[a.format(log=log) for a in args], *KERNEL, "--follow"])
    assert result.exit_code == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_endless_chain_of_candidates_keeps_memory_bounded():
    """Every position a candidate, each within min_gap of the next: one cluster forever."""
    detector = ChannelDetector("x", span=4, threshold=0.1, sign="any", min_gap=4)
    detector.max_open = 64
    rng = np.random.default_rng(0)
    found = []
    for block in range(200):
        score = 0.5 + 0.4 * rng.random(50)
        found += detector.push(block * 50, ScoreTrack(score, score, score))
        assert detector._open["position"].size <= detector.max_open
    found += detector.finish()
    starts = [m.start for m in found]
    assert starts == sorted(starts) and min(np.diff(starts)) >= 4  # never overlapping
    assert len(found) > 200 * 50 / 8  # and the chain was decided as it went


def test_cap_changes_nothing_when_clusters_stay_small():
    rng = np.random.default_rng(1)
    score = np.where(rng.random(5000) < 0.05, rng.uniform(-1, 1, 5000), 0.0)
    track = ScoreTrack(score, score, score)
    whole = detect_track(track, channel="x", span=3, threshold=0.2)
    detector = ChannelDetector("x", span=3, threshold=0.2, sign="any", min_gap=3)
    detector.max_open = 16
    cut = []
    for first in range(0, 5000, 37):
        piece = ScoreTrack(*(values[first : first + 37] for values in track))
        cut += detector.push(first, piece)
    assert cut + detector.finish() == whole


def test_ctrl_c_on_stdin_decides_and_writes_the_pending_motif():
    from waiting import needs_proc, wait_until_reading_stdin

    needs_proc()
    process = subprocess.Popen(
        installed_motifscan() + ["detect", "-", *KERNEL, "--format", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        # The match at 2 is a candidate until the samples after it are known: pending.
        process.stdin.write(b"t,v\n" + rows(0, [0, 0, 1, 2, 3]) + b"5,")  # the last line half written
        wait_until_reading_stdin(process)
        assert read_line(process.stdout, 0) == b""
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130 and err == b"motifscan: interrupted\n"
        assert [json.loads(line)["start"] for line in out.splitlines()] == [2]
    finally:
        process.kill()


@pytest.mark.slow
def test_ctrl_c_on_follow_decides_and_writes_the_pending_motif(tmp_path):
    from waiting import needs_proc, wait_until_followed_to_end

    needs_proc()
    log = tmp_path / "log.csv"
    log.write_bytes(b"t,v\n" + rows(0, [0, 0, 1, 2, 3, 0, 0, 0, -1, -2, -3]))
    process = subprocess.Popen(
        installed_motifscan() + ["detect", str(log), *KERNEL, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        assert json.loads(read_line(process.stdout, 60))["start"] == 2
        wait_until_followed_to_end(process, log)
        assert read_line(process.stdout, 0) == b""  # the inverted match at 8 is pending
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130 and err == b"motifscan: interrupted\n"
        assert [json.loads(line)["start"] for line in out.splitlines()] == [8]
    finally:
        process.kill()


def follow_process(log: Path):
    return subprocess.Popen(
        installed_motifscan() + ["detect", str(log), *KERNEL, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )


def motif_start(process) -> int:
    line = read_line(process.stdout, 60)
    assert line, "no motif came"
    return json.loads(line)["start"]


def end_with_ctrl_c(process) -> list[str]:
    """Stop a follow run; its stderr lines (no motif may be left)."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and out == b""
    return err.decode().splitlines()


FIRST = b"t,v\n" + rows(0, [0, 0, 1, 2, 3, 0, 0, 0])  # a match at 2, final
AFTER = rows(8, [0, -1, -2, -3, 0, 0, 0])  # an inverted match at 9, final


@pytest.mark.slow
def test_follow_goes_on_with_the_new_file_after_rotation(tmp_path):
    from waiting import needs_proc, wait_until_followed_to_end

    needs_proc()
    log = tmp_path / "log.csv"
    log.write_bytes(FIRST)
    process = follow_process(log)
    try:
        assert motif_start(process) == 2
        wait_until_followed_to_end(process, log)
        log.rename(tmp_path / "log.csv.1")  # mv log log.1 && touch log, then the logger goes on
        log.touch()
        with open(log, "ab") as stream:
            stream.write(b"t,v\n" + AFTER)  # a new file repeats the header
        assert motif_start(process) == 9
        wait_until_followed_to_end(process, log)
        with open(log, "ab") as stream:
            stream.write(rows(15, [1, 2, 3, 0, 0, 0]))
        assert motif_start(process) == 15
        errors = end_with_ctrl_c(process)
        assert errors == [
            f"motifscan: {log}: replaced by a new file (rotated); following the new one from its start",
            "motifscan: interrupted",
        ]
    finally:
        process.kill()


@pytest.mark.slow
def test_follow_reads_a_truncated_file_from_its_new_start(tmp_path):
    from waiting import needs_proc, wait_until_followed_to_end

    needs_proc()
    log = tmp_path / "log.csv"
    log.write_bytes(FIRST)
    process = follow_process(log)
    try:
        assert motif_start(process) == 2
        wait_until_followed_to_end(process, log)
        log.write_bytes(b"")  # truncated (: > log), then written anew
        wait_until_followed_to_end(process, log)
        with open(log, "ab") as stream:
            stream.write(b"t,v\n" + rows(8, [0, -1, -2, -3, 0, 0, 0]))
        assert motif_start(process) == 9
        errors = end_with_ctrl_c(process)
        assert errors == [
            f"motifscan: {log}: the file was truncated; reading it again from its start",
            "motifscan: interrupted",
        ]
    finally:
        process.kill()


@pytest.mark.slow
def test_follow_sees_a_file_truncated_and_grown_past_its_old_size(tmp_path):
    from waiting import needs_proc, wait_until_followed_to_end

    needs_proc()
    log = tmp_path / "log.csv"
    log.write_bytes(FIRST)
    process = follow_process(log)
    try:
        assert motif_start(process) == 2
        wait_until_followed_to_end(process, log)
        # Stopped, the program cannot look between the truncation and the growth: it finds
        # a file longer than what it read, as if lines were appended.
        process.send_signal(signal.SIGSTOP)
        rewritten = b"t,v\n" + rows(8, [0, 0, 0, 0, 0, 0, 0, -1, -2, -3, 0, 0, 0])
        assert len(rewritten) > len(FIRST)
        log.write_bytes(rewritten)
        process.send_signal(signal.SIGCONT)
        assert motif_start(process) == 15
        errors = end_with_ctrl_c(process)
        assert errors == [
            f"motifscan: {log}: the file was truncated and written again; reading it from its start",
            "motifscan: interrupted",
        ]
    finally:
        process.kill()


@pytest.mark.slow
def test_follow_with_a_noise_adaptive_threshold_gives_the_plain_runs_motifs(tmp_path):
    """Issue 18: --threshold mad:K under --follow decides each track's threshold on the same
    reference stretch as a run over the whole file, however the file grows."""
    from waiting import needs_proc, wait_until_followed_to_end

    from motifscan.scan_plan import REFERENCE_POSITIONS

    needs_proc()
    rng = np.random.default_rng(18)
    n = REFERENCE_POSITIONS + 20_000
    x = np.round(0.3 * rng.standard_normal(n), 3)
    pulse = np.hanning(12)
    for start in range(500, n - 20, 3001):
        x[start : start + 12] += 3 * pulse
    x[-15_000:] *= 3  # a louder end: it must not move the threshold
    text = b"t,v\n" + rows(0, x.tolist())
    whole = tmp_path / "whole.csv"
    whole.write_bytes(text)
    kernel = ",".join(f"{v:.6f}" for v in pulse)
    options = ["--kernel", kernel, "--threshold", "mad:3", "--format", "jsonl"]
    plain = subprocess.run(installed_motifscan() + ["detect", str(whole), *options], capture_output=True, check=True)
    log = tmp_path / "log.csv"
    cuts = [len(text) // 3, 4 * len(text) // 5, len(text)]
    log.write_bytes(text[: cuts[0]])
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with open(out_path, "wb") as out_file, open(err_path, "wb") as err_file:  # files: a pipe could fill
        process = subprocess.Popen(
            installed_motifscan() + ["detect", str(log), *options, "--follow"], stdout=out_file, stderr=err_file
        )
        try:
            for start, stop in zip(cuts, cuts[1:]):
                wait_until_followed_to_end(process, log)
                with open(log, "ab") as stream:
                    stream.write(text[start:stop])
            wait_until_followed_to_end(process, log)
            process.send_signal(signal.SIGINT)  # decides the pending motifs, as the end of a file does
            process.wait(timeout=60)
        finally:
            process.kill()
    out, err = out_path.read_bytes(), err_path.read_bytes()
    assert process.returncode == 130, err
    assert out == plain.stdout and out.count(b"\n") >= (n - 520) // 3001
    threshold = [line for line in plain.stderr.splitlines() if b"thresholds from" in line]
    assert len(threshold) == 1 and threshold[0].replace(str(whole).encode(), str(log).encode()) in err
