"""Writers and the atomic output file."""

import io
import json
import os

import numpy as np
import pytest

from motifscan.detection import Motif
from motifscan.errors import MotifscanError
from motifscan.io.output import (format_time, motif_fields, motif_record, open_output, output_format,
                                 score_format, table_cells, table_time, write_csv, write_json, write_jsonl,
                                 write_table)

WITH_TIME = motif_fields(with_time=True)
NO_TIME = motif_fields(with_time=False)
MOTIFS = [Motif("x", 4, 7, 1.0, 1.0, 1, 1.0, np.datetime64("2025-03-14T08:00:04")),
          Motif("x", 11, 14, -0.75, -0.97, -1, -2.5, np.datetime64("2025-03-14T08:00:11.250"))]


def test_format_time():
    assert format_time(np.datetime64("2025-03-14T08:00:04", "ns")) == "2025-03-14T08:00:04"
    assert format_time(np.datetime64("2025-03-14T08:00:04.250", "ns")) == "2025-03-14T08:00:04.250"
    assert format_time(np.float64(12.0)) == 12 and format_time(0.125) == 0.125
    assert format_time(None) is None
    assert format_time(np.datetime64("NaT", "ns")) is None and format_time(float("nan")) is None


@pytest.mark.parametrize("value, shown", [
    (1 / 6, "0.166667"), (12, "12"), (0.125, "0.125"), (0.0, "0"), (-2.5, "-2.5"),
    (1_717_171_717.25, "1717171717.25"), (3e-9, "3e-09"), ("2025-03-14T08:00:04", "2025-03-14T08:00:04"),
    (None, ""),
])
def test_table_times_are_readable(value, shown):
    assert table_time(value) == shown


def test_table_shows_a_numeric_time_readably_and_json_keeps_it_exact():
    motif = Motif("x", 1, 4, 1.0, 1.0, 1, 1.0, np.float64(1 / 6))
    assert table_cells(motif, ["start", "time"]) == ["1", "0.166667"]
    assert motif_record(motif, ["time"])["time"] == 1 / 6


def test_optional_fields_come_only_when_asked():
    assert motif_fields(with_time=False) == ("channel", "start", "end", "score", "cosine", "sign", "scale")
    assert motif_fields(with_time=True, with_file=True)[:5] == ("file", "channel", "start", "end", "time")
    record = motif_record(Motif("x", 4, 7, 1.0, 1.0, 1, 1.0, None, "a.csv"), motif_fields(with_time=True, with_file=True))
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
    assert lines[1] == {"channel": "x", "start": 11, "end": 14, "score": -0.75, "cosine": -0.97,
                        "sign": -1, "scale": -2.5}
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
    assert out.getvalue().splitlines() == ["channel,start,end,score,cosine,sign,scale,activation",
                                           "x,4,7,0.5,0.9,1,0.8,12.0"]
    assert "activation" not in motif_fields(with_time=True, with_file=True)
    out = io.StringIO()
    write_table(out, motifs, fields, "1 motif", footer=lambda width: ["a footer line"])
    text = out.getvalue()
    assert "activation" in text and "+12" in text and text.index("a footer line") < text.index("1 motif")
