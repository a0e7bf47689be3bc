"""The one-line sparkline under the terminal table."""

import numpy as np

from motifscan.envelope import MinMaxEnvelope
from motifscan.io.sparkline import BLOCKS, peak_columns, sparkline_lines, sparkline_text

from test_cli import SEED, run


def envelope_of(values) -> MinMaxEnvelope:
    envelope = MinMaxEnvelope(64)
    envelope.push(np.asarray(values, dtype=float))
    return envelope


def test_levels_signs_and_gaps():
    text = sparkline_text(np.array([0.0, 0.1, 0.5, 1.0, -1.0, np.nan, 2.0]), scale=1.0)
    assert text.plain == "▁▁▄██ █"
    assert [span.style for span in text.spans if span.start == 4] == ["magenta"]  # inverted match


def test_a_narrow_peak_is_never_averaged_away():
    values = np.zeros(100_000)
    values[54_321] = -0.9
    columns = peak_columns(envelope_of(values), 40)
    assert columns.shape == (40,) and columns.min() == -0.9 and np.count_nonzero(columns) == 1


def test_short_tracks_get_one_character_per_position_and_lines_fit_the_width():
    lines = sparkline_lines([("a", envelope_of([0, 1, 0]), 1.0), ("long name", envelope_of(np.ones(500)), None)], 60)
    assert [line.plain for line in lines][0] == "a          ▁█▁"
    assert all(len(line.plain) <= 60 for line in lines) and set(lines[1].plain[11:]) == {BLOCKS[-1]}


def test_the_table_on_a_terminal_ends_with_the_sparkline(monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    lines = run("detect", SEED, "--kernel", "1,2,3", "--p", "9").stdout.splitlines()
    assert lines[-2] == "signal  ▁▁▁▁█▁▁▁▁▁▁█▁▁▁▁▁▁█▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁"  # A, B and C; 37 positions
    compared = run("compare", SEED, "--kernel", "1,2,3", "--p", "9").stdout
    assert "signal conv    " in compared and "signal cosine  ▁▁▁▁█" in compared
    # Not on a pipe, nor in a file: a table there has no sparkline.
    monkeypatch.delenv("TTY_COMPATIBLE")
    piped = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "table").stdout
    assert "█" not in piped


def test_motifs_per_column_equal_a_count_by_hand():
    from motifscan.io.sparkline import density_columns

    rng = np.random.default_rng(5)
    for positions, width in [(1000, 7), (50_000, 80), (81, 80)]:
        starts = np.sort(rng.integers(0, positions, 300))
        signs = rng.choice([-1, 1], 300)
        counts, inverted = density_columns(starts, signs, positions, width)
        # Column c holds positions p with floor(p * width / positions) == c.
        by_hand = [[s for s, _ in zip(starts, signs) if s * width // positions == c] for c in range(width)]
        assert counts.tolist() == [len(column) for column in by_hand]
        net = [sum(g for s, g in zip(starts, signs) if s * width // positions == c) for c in range(width)]
        assert inverted.tolist() == [n < 0 for n in net]


def test_a_long_run_shows_where_its_motifs_are_not_a_solid_bar(tmp_path, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setenv("NO_COLOR", "1")
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.02, 40_000)
    for start in range(100, 10_000, 400):  # 25 pulses, all in the first quarter
        x[start : start + 7] += [0, 1, 2, 3, 2, 1, 0]
    path = tmp_path / "long.csv"
    path.write_text("v\n" + "\n".join(f"{v:.4f}" for v in x) + "\n")
    lines = run("detect", path, "--kernel", "0,1,2,3,2,1,0", "--p", "9").stdout.splitlines()
    assert "motifs in 40000 samples" in lines[-1]  # the caption, under the sparkline
    assert lines[-2].startswith("motifs per character: ▁ none, ")
    spark = lines[-3][len("v  ") :]
    assert len(spark) == 90 - 3
    first_quarter = spark[: len(spark) // 4 - 1]
    rest = spark[len(spark) // 2 :]  # (the noise matches the kernel once, near 11 000)
    assert set(rest) == {BLOCKS[0]} and set(first_quarter) - {BLOCKS[0]}


def test_density_levels_run_from_one_to_the_most_and_a_lone_motif_is_never_blank():
    from motifscan.io.sparkline import density_text

    counts = np.array([0, 1, 2, 4, 7, 0])
    none = np.zeros(6, dtype=bool)
    assert density_text(counts, none, none, 7).plain == "▁▂▃▅█▁"
    assert density_text(np.array([0, 1]), np.zeros(2, bool), np.array([True, False]), 1).plain == " █"
