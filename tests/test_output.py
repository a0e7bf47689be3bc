"""Writers and the atomic output file."""

import io
import json
import os

import numpy as np
import pytest

from motifscan.motif import Motif
from motifscan.errors import MotifscanError
from motifscan.io.output import (
    motif_fields,
    motif_record,
    output_format,
    score_format,
    table_cells,
    table_time,
    write_csv,
    write_json,
    write_jsonl,
    write_table,
)
from motifscan.io.files import open_output

WITH_TIME = motif_fields(with_time=True)
NO_TIME = motif_fields(with_time=False)
MOTIFS = [
    Motif("x", 4, 7, 1.0, 1.0, 1, 1.0, np.datetime64("2025-03-14T08:00:04")),
    Motif("x", 11, 14, -0.75, -0.97, -1, -2.5, np.datetime64("2025-03-14T08:00:11.250")),
]


@pytest.mark.parametrize(
    "value, shown",
    [
        (1 / 6, "0.166667"),
        (12, "12"),
        (0.125, "0.125"),
        (0.0, "0"),
        (-2.5, "-2.5"),
        (1_717_171_717.25, "1717171717.25"),
        (3e-9, "3e-09"),
        ("2025-03-14T08:00:04", "2025-03-14T08:00:04"),
        (None, ""),
    ],
)
def test_table_times_are_readable(value, shown):
    assert table_time(value) == shown


def test_table_shows_a_numeric_time_readably_and_json_keeps_it_exact():
    motif = Motif("x", 1, 4, 1.0, 1.0, 1, 1.0, np.float64(1 / 6))
    assert table_cells(motif, ["start", "time"]) == ["1", "0.166667"]
    assert motif_record(motif, ["time"])["time"] == 1 / 6


def test_optional_fields_come_only_when_asked():
    assert motif_fields(with_time=False) == ("channel", "start", "end", "score", "cosine", "sign", "scale")
    assert motif_fields(with_time=True, with_file=True)[:5] == ("file", "channel", "start", "end", "time")
    record = motif_record(
        Motif("x", 4, 7, 1.0, 1.0, 1, 1.0, None, "a.csv"), motif_fields(with_time=True, with_file=True)
    )
    assert record["file"] == "a.csv" and record["time"] is None
    out = io.StringIO()
    write_csv(out, MOTIFS[:1], WITH_TIME, header=False)
    assert out.getvalue() == "x,4,7,2025-03-14T08:00:04,1.0,1.0,1,1.0\n"


def test_csv_and_jsonl_and_json():
    out = io.StringIO()
    write_csv(out, MOTIFS, WITH_TIME)
    assert out.getvalue().splitlines() == [
        "channel,start,end,time,score,cosine,sign,scale",
        "x,4,7,2025-03-14T08:00:04,1.0,1.0,1,1.0",
        "x,11,14,2025-03-14T08:00:11.250,-0.75,-0.97,-1,-2.5",
    ]
    out = io.StringIO()
    write_jsonl(out, MOTIFS, NO_TIME)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[1] == {
        "channel": "x",
        "start": 11,
        "end": 14,
        "score": -0.75,
        "cosine": -0.97,
        "sign": -1,
        "scale": -2.5,
    }
    out = io.StringIO()
    write_json(out, MOTIFS, WITH_TIME, {"samples": 40})
    document = json.loads(out.getvalue())
    assert document["samples"] == 40 and len(document["motifs"]) == 2


def test_non_finite_scale_becomes_null():
    record = motif_record(Motif("x", 0, 2, 1.0, 1.0, 1, float("inf")), NO_TIME)
    assert record["scale"] is None


def test_table_lists_every_motif():
    out = io.StringIO()
    write_table(out, MOTIFS, WITH_TIME, "2 motifs")
    text = out.getvalue()
    assert "2025-03-14T08:00:11.250" in text and "-0.7500" in text and "2 motifs" in text


def test_output_file_is_replaced_only_on_success(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with open_output(str(target)) as stream:
            stream.write("half a result")
            raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]  # no temporary file left behind
    with open_output(str(target)) as stream:
        stream.write("new\n")
    assert target.read_text() == "new\n"


def test_output_into_missing_directory_is_an_error(tmp_path):
    with pytest.raises(MotifscanError, match="--output: directory .* does not exist"):
        with open_output(str(tmp_path / "missing" / "out.csv")):
            pass


def test_format_choice():
    assert output_format("json", None) == "json"
    assert output_format(None, "motifs.jsonl") == "jsonl"
    assert output_format(None, "motifs.json") == "json"
    assert output_format(None, "motifs.csv") == "csv"
    assert score_format("s.parquet") == "parquet" and score_format(None) == "csv"


def test_activation_is_an_optional_column():
    motifs = [Motif("x", 4, 7, 0.5, 0.9, 1, 0.8, activation=12.0)]
    fields = motif_fields(with_time=False, with_activation=True)
    out = io.StringIO()
    write_csv(out, motifs, fields)
    assert out.getvalue().splitlines() == [
        "channel,start,end,score,cosine,sign,scale,activation",
        "x,4,7,0.5,0.9,1,0.8,12.0",
    ]
    assert "activation" not in motif_fields(with_time=True, with_file=True)
    out = io.StringIO()
    write_table(out, motifs, fields, "1 motif", footer=lambda width: ["a footer line"])
    text = out.getvalue()
    assert "activation" in text and "+12" in text and text.index("a footer line") < text.index("1 motif")


def test_table_shows_numeric_times_readably():
    from motifscan.io.output import table_cells

    motif = Motif("x", 1, 4, 1.0, 1.0, 1, 1.0, 0.16666666666666666)
    assert table_cells(motif, ("start", "time"))[1] == "0.166667"
    assert table_cells(Motif("x", 1, 4, 1.0, 1.0, 1, 1.0, 1958.5), ("time",)) == ["1958.5"]
    assert motif_record(motif, ("time",)) == {"time": 0.16666666666666666}  # exact in CSV and JSON


# Only regular files are written; modes are kept; temporary files of killed runs go; appends
# to one file take turns.


def test_a_symlink_or_device_at_the_target_is_refused_and_left_alone(tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("theirs\n")
    link = tmp_path / "out.csv"
    link.symlink_to(elsewhere)
    for append in (False, True):
        with pytest.raises(MotifscanError, match="out.csv is a symbolic link; motifscan writes regular files"):
            with open_output(str(link), append=append) as stream:
                stream.write("new\n")
    assert link.is_symlink() and elsewhere.read_text() == "theirs\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(MotifscanError, match="--state: .*fifo is not a regular file"):
        with open_output(str(fifo), option="--state"):
            pass
    if os.path.exists("/dev/null"):
        with pytest.raises(MotifscanError, match="/dev/null is not a regular file"):
            with open_output("/dev/null"):
                pass


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path):
    from motifscan.io.files import locked

    victim = tmp_path / "victim"
    victim.write_text("x")
    (tmp_path / "out.csv.lock").symlink_to(victim)
    with pytest.raises(MotifscanError, match=r"out.csv.lock \(a symbolic link\)"):
        with locked(str(tmp_path / "out.csv")):
            pass
    assert victim.read_text() == "x"


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    for append in (False, True):
        with open_output(str(target), append=append) as stream:
            stream.write("new\n")
        assert os.stat(target).st_mode & 0o777 == 0o600
    assert target.read_text() == "new\nnew\n"
    previous = os.umask(0o027)
    try:
        with open_output(str(tmp_path / "fresh.csv")) as stream:
            stream.write("x\n")
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "fresh.csv").st_mode & 0o777 == 0o640


def test_parts_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    import subprocess
    import sys

    from motifscan.io.files import part_prefix

    target = tmp_path / "out.csv"
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = tmp_path / f"{part_prefix(str(target))}{int(ended.stdout)}.abc123.part"  # as SIGKILL leaves it
    live = tmp_path / f"{part_prefix(str(target))}{os.getpid()}.def456.part"  # a run writing now
    other = tmp_path / f"{part_prefix(str(tmp_path / 'other.csv'))}{int(ended.stdout)}.x.part"
    for path in (dead, live, other):
        path.write_text("half")
    with open_output(str(target)) as stream:
        stream.write("new\n")
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.slow
def test_ten_runs_appending_to_one_output_with_separate_states_lose_nothing(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("motifscan")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "motifscan"]
    output = tmp_path / "motifs.csv"
    processes = []
    for i in range(10):
        log = tmp_path / f"log{i}.csv"
        # i + 1 motifs; the rows after the last one let --state decide it in this run.
        log.write_text("v\n" + "0\n1\n2\n3\n" * (i + 1) + "0\n0\n0\n")
        processes.append(
            subprocess.Popen(
                program
                + [
                    "detect",
                    str(log),
                    "--kernel",
                    "1,2,3",
                    "--p",
                    "9",
                    "--state",
                    str(tmp_path / f"state{i}"),
                    "--output",
                    str(output),
                    "--append",
                    "-q",
                ],
                stderr=subprocess.PIPE,
            )
        )
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    lines = output.read_text().splitlines()
    assert lines[0] == "channel,start,end,score,cosine,sign,scale"
    assert lines.count(lines[0]) == 1 and len(lines) == 1 + sum(i + 1 for i in range(10))


def test_names_from_inputs_are_quoted_and_never_formulas_in_csv():
    import csv

    fields = motif_fields(with_time=False, with_file=True, optional=("kernel",))
    names = {"file": "log\r\n,x\x1b[2J.csv", "channel": '=HYPERLINK("http://x")', "kernel": "-rise"}
    motif = Motif(names["channel"], 4, 7, 1.0, 1.0, 1, -0.5, None, file=names["file"], kernel=names["kernel"])
    stream = io.StringIO(newline="")
    write_csv(stream, [motif, Motif("@sum", 8, 11, -1.0, -1.0, -1, -2.0, None, file="plain.csv", kernel="+1")], fields)
    text = stream.getvalue()
    assert text.startswith(fields_line := ",".join(fields) + "\n")
    assert text[len(fields_line) :].startswith('"log\r\n,x\x1b[2J.csv",')  # quoted, so one record
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["file"] == names["file"]
    assert rows[0]["channel"] == "'" + names["channel"] and rows[0]["kernel"] == "'-rise"
    assert rows[1]["channel"] == "'@sum" and rows[1]["kernel"] == "'+1" and rows[1]["file"] == "plain.csv"
    assert rows[1]["scale"] == "-2.0" and rows[1]["score"] == "-1.0"  # numbers are left as they are
    # Whatever the text, the cells read back as written (a reference: the csv module's reader).
    for text_cell in ["a,b", 'say "hi"', "tab\there", "\x00", "é", ""]:
        line = io.StringIO(newline="")
        write_csv(line, [Motif(text_cell, 0, 3, 1.0, 1.0, 1, 1.0, None)], NO_TIME, header=False)
        assert next(csv.reader(io.StringIO(line.getvalue(), newline="")))[0] == text_cell
