"""The command line of the comparison mode: ``detect --method conv`` and ``compare``."""

import json
import subprocess
import pytest

from test_cli import SEED, installed_motifscan, run

# Where the seed example's five shapes lie (sample_data/README.md): start, end (exclusive).
SHAPES = {"A": (4, 7), "B": (11, 14), "C": (18, 21), "D": (25, 28), "E": (32, 35)}


def shapes_hit(motifs) -> list[str]:
    """The seed shapes whose samples a motif's window overlaps, in order."""
    return [name for name, (start, end) in SHAPES.items() if any(m["start"] < end and start < m["end"] for m in motifs)]


def test_compare_seed_cosine_finds_a_b_c_and_the_convolution_d_e_but_misses_c():
    result = run("compare", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    cosine, conv = document["cosine"]["motifs"], document["conv"]["motifs"]
    assert [(m["start"], m["sign"], m["scale"]) for m in cosine] == [(4, 1, 1.0), (11, -1, -1.0), (18, 1, 0.2)]
    assert shapes_hit(cosine) == ["A", "B", "C"]
    # The convolution's strongest responses: A and B, then the flat D and reversed E,
    # which beat the small copy C (activation 2.8, below half of the strongest, 14).
    strongest = sorted(conv, key=lambda m: -abs(m["activation"]))
    assert shapes_hit(strongest[:4]) == ["A", "B", "D", "E"] and "C" not in shapes_hit(conv)
    assert document["conv"]["strongest_activation"] == {"signal": 14.0}
    rows = {(row["cosine"] or row["conv"])["start"]: row["found_by"] for row in document["rows"]}
    assert rows == {4: "both", 11: "both", 18: "cosine only", 25: "conv only", 31: "conv only"}
    assert document["found_by"] == {"both": 2, "cosine only": 1, "conv only": 2}
    assert document["rows"][2]["cosine"]["activation"] == 2.8


def test_compare_table_says_which_method_found_what():
    result = run("compare", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "table")
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("signal")]
    assert [row[1:3] for row in rows] == [
        ["both", "4"],
        ["both", "11"],
        ["cosine", "only"],
        ["conv", "only"],
        ["conv", "only"],
    ]
    assert rows[2][3:] == ["18", "+1.0000", "+2.8", "+1"]  # C: only the cosine scan finds it
    assert rows[3][3:] == ["25", "+0.0019", "+12", "+1"]  # D: only the convolution
    assert "found by both: 2 · cosine only: 1 · conv only: 2" in result.stdout


def test_compare_csv_has_one_row_per_place():
    result = run("compare", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "channel,found_by,cosine_start,cosine_end,cosine_score,cosine_activation,cosine_sign,"
        "conv_start,conv_end,conv_score,conv_activation,conv_sign"
    )
    assert lines[3] == "signal,cosine only,18,21,1.0,2.8,1,,,,,"
    assert len(lines) == 6


def test_detect_method_conv_reports_the_activation():
    result = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--method", "conv", "--format", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "channel,start,end,score,cosine,sign,scale,activation"
    assert [line.split(",")[1] for line in lines[1:]] == ["4", "11", "25", "31"]
    assert lines[3].endswith(",12.0")


def test_top_keeps_the_strongest_for_either_method():
    conv = run("detect", SEED, "--kernel", "1,2,3", "--method", "conv", "--top", "3", "--format", "jsonl")
    assert [json.loads(line)["start"] for line in conv.stdout.splitlines()] == [4, 11, 25]  # 14, -14, then 12 first
    cosine = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--top", "1", "--format", "jsonl")
    assert [json.loads(line)["start"] for line in cosine.stdout.splitlines()] == [4]
    both = json.loads(run("compare", SEED, "--kernel", "1,2,3", "--p", "9", "--top", "2", "--format", "json").stdout)
    assert both["cosine"]["motif_count"] == 2 and both["conv"]["motif_count"] == 2


def test_scores_method_conv_adds_the_activation_column():
    result = run("scores", SEED, "--kernel", "1,2,3", "--method", "conv")
    lines = result.stdout.splitlines()
    assert lines[0] == "start,signal_score,signal_cosine,signal_scale,signal_activation"
    assert lines[1 + 25].split(",")[-1] == "12"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["detect", SEED, "--kernel", "1,2,3", "--method", "fft"], "--method"),
        (["compare", SEED, "--kernel", "1,2,3", "--threshold", "2"], "--threshold must be at most 1"),
        (["compare", SEED, "--kernel", "1,2,3", "--format", "jsonl"], "--format"),
        (["compare", SEED, "--kernel", "1,2,3", "--output", "x.jsonl"], "compare writes table, json or csv"),
        (["compare", SEED], "a kernel is required"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, args, fragment):
    args = [str(tmp_path / a) if a == "x.jsonl" else a for a in args]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert not list(tmp_path.iterdir())


def test_installed_program_compares():
    completed = subprocess.run(
        installed_motifscan() + ["compare", SEED, "--kernel", "1,2,3", "--p", "9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[3] == "signal,cosine only,18,21,1.0,2.8,1,,,,,"
