"""Short gaps filled before scanning: the streaming filler against the whole-array oracle
for random block cuts, and the command line's flags and counts."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from motifscan.cli import cli
from motifscan.fill import GapFiller, fill_gaps_reference
from motifscan.signal import SignalBlock


@st.composite
def gappy_channels(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 200))
    channels = {}
    for name in ("a", "b"):
        values = rng.standard_normal(n)
        for _ in range(draw(st.integers(0, 8))):
            start = int(rng.integers(n))
            values[start : start + int(rng.integers(1, 12))] = np.nan
        if draw(st.booleans()):
            values[int(rng.integers(n))] = np.inf  # bad, not missing: never filled
        channels[name] = values
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    return channels, cuts


@settings(max_examples=200, deadline=None)
@given(gappy_channels(), st.sampled_from(["linear", "previous"]), st.integers(1, 10))
def test_streaming_equals_the_whole_array_for_any_cuts(drawn, method, max_gap):
    channels, cuts = drawn
    n = len(channels["a"])
    time = np.arange(n, dtype=np.float64)
    filler = GapFiller(method, max_gap)
    pieces = []
    for start, stop in zip([0, *cuts], [*cuts, n]):
        pieces.append(filler.push(SignalBlock({k: v[start:stop] for k, v in channels.items()}, time[start:stop])))
    rest = filler.finish()
    if rest is not None:
        pieces.append(rest)
    masks = np.zeros(n, dtype=bool)
    total = 0
    for name, values in channels.items():
        expected, mask = fill_gaps_reference(values, method, max_gap)
        got = np.concatenate([piece.channels[name] for piece in pieces])
        np.testing.assert_array_equal(got, expected)  # bit for bit, whatever the cuts
        masks |= mask
        total += int(mask.sum())
        assert filler.filled_by_channel[name] == int(mask.sum())
    np.testing.assert_array_equal(np.concatenate([piece.time for piece in pieces]), time)
    assert filler.filled_samples == total
    starts = np.flatnonzero(masks)
    for start in range(n):
        for end in (start + 1, start + 5):
            assert filler.holds_filled(start, end) == bool(masks[start:end].any())
    assert all(a[1] < b[0] for a, b in zip(filler.filled_runs, filler.filled_runs[1:]))
    assert sum(stop - start for start, stop in filler.filled_runs) == starts.size


def test_reference_fills_short_inner_gaps_only():
    values = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan, np.nan, np.nan, 0.0, 5.0, np.nan])
    linear, mask = fill_gaps_reference(values, "linear", 2)
    np.testing.assert_array_equal(linear[:5], [np.nan, 1.0, 2.0, 3.0, 4.0])
    assert np.isnan(linear[5:8]).all() and np.isnan(linear[-1])  # too long; at the end
    assert mask.tolist() == [False, False, True, True] + [False] * 7
    previous, _ = fill_gaps_reference(values, "previous", 3)
    np.testing.assert_array_equal(previous[:9], [np.nan, 1, 1, 1, 4, 4, 4, 4, 0])


@pytest.mark.slow
def test_detect_flags_motifs_over_filled_samples_the_same_for_every_block_size(tmp_path):
    t = np.arange(1200)
    values = np.sin(2 * np.pi * t / 100)
    values[[130, 131, 555]] = np.nan  # short gaps: filled
    values[900:920] = np.nan  # long: stays missing
    path = tmp_path / "sine.csv"
    path.write_text(
        "t,v\n" + "".join(f"{i},\n" if np.isnan(v) else f"{i},{float(v)!r}\n" for i, v in enumerate(values))
    )
    kernel = ",".join(f"{v:.6f}" for v in np.sin(2 * np.pi * np.arange(100) / 100))
    runs = [
        CliRunner().invoke(
            cli,
            [
                "detect",
                str(path),
                "--kernel",
                kernel,
                "--threshold",
                "0.9",
                "--sign",
                "positive",
                "--fill",
                "linear",
                "--max-gap",
                "4",
                "--format",
                "json",
                "--block-rows",
                str(rows),
            ],
        )
        for rows in (1, 7, 128, 65536)
    ]
    assert all(run.exit_code == 0 for run in runs), runs[0].stderr
    documents = [json.loads(run.stdout) for run in runs]
    assert all(document == documents[0] for document in documents)
    document = documents[0]
    assert document["parameters"]["fill"] == "linear" and document["parameters"]["max_gap"] == 4
    assert document["filled_samples"] == 3
    assert document["filled_windows"] == 200 + 1  # windows over 130..131 and over 555
    flagged = {m["start"]: m["filled"] for m in document["motifs"]}
    assert flagged[100] is True and flagged[500] is True and flagged[200] is False
    assert 800 in flagged and 900 not in flagged  # the long gap (900..919) stays missing
    assert "3 sample(s) filled in gaps of at most 4 (linear); 201 window(s)" in runs[0].stderr
    csv = CliRunner().invoke(
        cli,
        [
            "detect",
            str(path),
            "--kernel",
            kernel,
            "--threshold",
            "0.9",
            "--sign",
            "positive",
            "--fill",
            "linear",
            "--max-gap",
            "4",
            "--format",
            "csv",
        ],
    )
    header, first, second = csv.stdout.splitlines()[:3]
    assert header.endswith(",filled") and first.endswith(",false") and second.endswith(",true")
    plain = CliRunner().invoke(
        cli, ["detect", str(path), "--kernel", kernel, "--threshold", "0.9", "--sign", "positive", "--format", "json"]
    )
    assert {m["start"] for m in json.loads(plain.stdout)["motifs"]} == set(flagged) - {100, 500}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fill", "linear"], "--fill linear needs --max-gap"),
        (["--max-gap", "3"], "--max-gap applies with --fill"),
        (["--fill", "linear", "--max-gap", "0"], "--max-gap must be"),
        (["--fill", "spline", "--max-gap", "2"], "'--fill'"),
    ],
)
def test_bad_fill_options_exit_2_naming_the_option(tmp_path, options, message):
    path = tmp_path / "s.csv"
    path.write_text("v\n1\n2\n3\n4\n")
    result = CliRunner().invoke(cli, ["detect", str(path), "--kernel", "1,2", *options])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_fill_refuses_state(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("v\n1\n2\n3\n4\n")
    result = CliRunner().invoke(
        cli,
        [
            "detect",
            str(path),
            "--kernel",
            "1,2",
            "--fill",
            "previous",
            "--max-gap",
            "2",
            "--state",
            str(tmp_path / "state.json"),
        ],
    )
    assert result.exit_code == 2 and "--fill with --state" in result.stderr
