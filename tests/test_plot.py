"""Figures (--plot): PNG, SVG and PDF files that open, and clean failures."""

import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from test_cli import SEED, installed_motifscan, run

pytest.importorskip("matplotlib")


@pytest.mark.slow
def test_png_svg_and_pdf_are_written_and_open(tmp_path):
    from PIL import Image

    png, svg, pdf = tmp_path / "seed.png", tmp_path / "seed.svg", tmp_path / "seed.pdf"
    assert run("compare", SEED, "--kernel", "1,2,3", "--p", "9", "--plot", png).exit_code == 0
    assert run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--plot", svg).exit_code == 0
    assert run("scores", SEED, "--kernel", "1,2,3", "--method", "conv", "--plot", pdf).exit_code == 0
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 1000 and image.size[1] > 400
        # Not blank: the shaded motifs and the tracks put many colours on it.
        assert len(image.convert("RGB").getcolors(maxcolors=100_000)) > 20
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert "+1.00" in text and "-1.00" in text  # the motifs are labelled with their scores
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:] and len(data) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.pdf", "seed.png", "seed.svg"]


def test_the_motif_output_is_unchanged_by_plotting(tmp_path):
    plain = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--method", "conv", "--format", "json")
    drawn = run(
        "detect",
        SEED,
        "--kernel",
        "1,2,3",
        "--p",
        "9",
        "--method",
        "conv",
        "--format",
        "json",
        "--plot",
        tmp_path / "conv.png",
    )
    assert drawn.stdout == plain.stdout and (tmp_path / "conv.png").stat().st_size > 0


def test_a_long_signal_is_drawn_from_its_envelope(tmp_path):
    from PIL import Image

    x = np.random.default_rng(1).normal(0, 0.1, 200_000)
    x[150_000:150_004] += [1, 2, 3, 2]
    path = tmp_path / "long.csv"
    path.write_text("v\n" + "\n".join(f"{v:.4f}" for v in x) + "\n")
    png = tmp_path / "long.png"
    result = run("detect", path, "--kernel", "1,2,3,2", "--p", "3", "--plot", png, "--format", "json")
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.size[0] > 1000


def test_without_matplotlib_plot_says_how_to_install_and_exits_2(tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for command in ("detect", "scores", "compare"):
        out, figure = tmp_path / "out.csv", tmp_path / "figure.png"
        result = run(command, SEED, "--kernel", "1,2,3", "--output", out, "--plot", figure)
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.strip() == (
            'motifscan: error: --plot needs matplotlib, which is not installed: pip install "motifscan[plot]"'
        )
        assert not list(tmp_path.iterdir()), command  # no result, no figure, no temporary file


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["detect", SEED, "--kernel", "1,2,3", "--plot", "figure.jpg"], "--plot: figure.jpg: the name must end in"),
        (
            ["compare", SEED, "--kernel", "1,2,3", "--plot", "missing/figure.png"],
            "--plot: directory missing does not exist",
        ),
        (
            ["detect", SEED, SEED, "--kernel", "1,2,3", "--plot", "figure.png"],
            "--plot draws one input; several were given",
        ),
        (
            ["detect", SEED, "--kernel", "1,2,3", "--state", "state.json", "--plot", "figure.png"],
            "--plot draws one whole input, not the new part that --state reads",
        ),
    ],
)
def test_bad_plot_options_exit_2_with_one_line_and_no_file(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    result = run(*args, "--output", "out.csv")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert not list(tmp_path.iterdir())


def drawn_figures(monkeypatch) -> list:
    """The matplotlib figures the run saves (Figure.savefig, wrapped), to measure what they hold."""
    from matplotlib.figure import Figure

    figures, save = [], Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def svg_texts(path, group: str) -> list[str]:
    """The texts inside the SVG groups whose id starts with ``group`` (matplotlib names its
    groups ``xtick_1``, ``legend_1``, ...; with text kept as text)."""
    namespace = "{http://www.w3.org/2000/svg}"
    root = ElementTree.parse(path).getroot()
    texts = []
    for element in root.iter(f"{namespace}g"):
        if element.get("id", "").startswith(group):
            texts += ["".join(text.itertext()).strip() for text in element.iter(f"{namespace}text")]
    return [text for text in texts if text]


def text_boxes(figure) -> list:
    """``(text, extent)`` of every visible, non-empty text of a saved figure, in pixels."""
    from matplotlib.text import Text

    figure.canvas.draw()  # at the figure's own resolution (the last save may have been at another)
    renderer = figure.canvas.get_renderer()
    # Tick labels outside the view limits exist but are not drawn.
    ticks = {
        tick.label1
        for axes in figure.axes
        for axis in (axes.xaxis, axes.yaxis)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
    }
    drawn = {tick.label1 for axes in figure.axes for axis in (axes.xaxis, axes.yaxis) for tick in axis._update_ticks()}
    return [
        (artist.get_text(), artist.get_window_extent(renderer))
        for artist in figure.findobj(Text)
        if artist.get_visible() and artist.get_text().strip() and (artist not in ticks or artist in drawn)
    ]


def assert_no_overlap_and_inside(figure) -> None:
    boxes = text_boxes(figure)
    frame = figure.bbox
    for text, box in boxes:  # nothing clipped: y labels, title, legend, tick labels
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, text
        assert frame.y0 - 0.5 <= box.y0 and box.y1 <= frame.y1 + 0.5, text
    for i, (text, box) in enumerate(boxes):
        for other, other_box in boxes[i + 1 :]:
            assert not box.overlaps(other_box), (text, other)


ECG = "sample_data/ecg_mitdb_excerpt_360hz.csv"
TWO_BEATS = ["--kernel-from", f"normal={ECG}@time=1.11:1.56", "--kernel-from", f"premature={ECG}@time=19.54:19.99"]


def test_two_kernels_on_the_ecg_have_a_colour_and_legend_entry_each_and_time_in_seconds(tmp_path, monkeypatch):
    from matplotlib.colors import to_hex

    from motifscan.plot_motifs import KERNEL_COLOURS

    figures = drawn_figures(monkeypatch)
    svg = tmp_path / "ecg.svg"
    result = run("detect", ECG, *TWO_BEATS, "--p", "2", "--format", "json", "--plot", svg)
    assert result.exit_code == 0, result.output
    legend = svg_texts(svg, "legend_")
    assert legend == ["kernel normal", "kernel premature"]  # one entry per kernel, no inverted motif
    # Time in seconds on the x axis: 7 500 samples at 360 Hz end near 20.8 s.
    ticks = [float(text.replace("−", "-")) for text in svg_texts(svg, "xtick_")]
    assert max(ticks) <= 21 and max(ticks) >= 15
    assert "time (s)" in svg.read_text()
    # The motifs of each kernel are shaded in that kernel's colour, one thin edge at each start.
    import json

    motifs = json.loads(result.stdout)["motifs"]
    (figure,) = figures
    signal_axes = figure.axes[0]
    faces = {to_hex(colour) for collection in signal_axes.collections for colour in collection.get_facecolor()}
    assert {KERNEL_COLOURS[0].lower(), KERNEL_COLOURS[1].lower()} <= faces
    edges = [c for c in signal_axes.collections if type(c).__name__ == "LineCollection"]
    assert sum(len(c.get_segments()) for c in edges) == len(motifs)
    # Both kernels' tracks in one panel under the signal: two panels in all.
    assert len(figure.axes) == 2
    assert_no_overlap_and_inside(figure)


def test_labels_never_overlap_and_the_title_counts_the_unlabelled(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch)
    # A low threshold and plain cosine on the ECG: a motif every few dozen samples, too many to label.
    result = run(
        "detect",
        ECG,
        *TWO_BEATS,
        "--p",
        "1",
        "--threshold",
        "0.2",
        "--min-gap",
        "20",
        "--format",
        "json",
        "--plot",
        tmp_path / "crowded.png",
    )
    assert result.exit_code == 0, result.output
    import json

    count = json.loads(result.stdout)["motif_count"]
    (figure,) = figures
    labels = [t for t in figure.axes[0].texts if t.get_visible()]
    assert 0 < len(labels) < count
    assert f"{count} motifs, {len(labels)} labelled (strongest first), {count - len(labels)} unlabelled" in (
        figure._suptitle.get_text()
    )
    # The strongest motifs have labels: the labelled scores are the largest ones.
    scores = sorted((abs(m["score"]) for m in json.loads(result.stdout)["motifs"]), reverse=True)
    labelled = sorted((abs(float(t.get_text())) for t in labels), reverse=True)
    assert labelled[0] == pytest.approx(scores[0], abs=0.005)
    assert_no_overlap_and_inside(figure)


def test_a_timestamp_column_gives_dates_on_the_x_axis(tmp_path):
    svg = tmp_path / "sensor.svg"
    result = run(
        "detect",
        "sample_data/sensor_log.csv",
        "--kernel-file",
        "sample_data/pulse_kernel.txt",
        "--p",
        "3",
        "--column",
        "load_kn",
        "--format",
        "json",
        "--plot",
        svg,
    )
    assert result.exit_code == 0, result.output
    ticks = svg_texts(svg, "xtick_")
    # The hour from 08:00 to 09:00 on 2025-03-14: clock times, and the date once.
    assert "08:10" in ticks and "08:50" in ticks, ticks
    assert any("2025" in text and "Mar" in text for text in svg_texts(svg, "axes_"))
    assert "hatched: inverted (sign −1)" in svg_texts(svg, "legend_")  # two of its pulses are inverted


def test_without_a_time_column_or_with_times_out_of_order_the_x_axis_is_the_sample(tmp_path):
    svg = tmp_path / "seed.svg"
    assert run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json", "--plot", svg).exit_code == 0
    assert "sample · tracks at the centre" in svg.read_text()
    shuffled = tmp_path / "shuffled.csv"
    times = np.arange(40.0)
    times[[10, 11]] = times[[11, 10]]
    values = np.loadtxt(SEED, skiprows=1)
    shuffled.write_text("t,v\n" + "\n".join(f"{t:g},{v:g}" for t, v in zip(times, values)) + "\n")
    # (declared: a t column that does not rise is otherwise a channel, see docs/cli.md)
    assert (
        run(
            "detect", shuffled, "--kernel", "1,2,3", "--p", "9", "--time-column", "t", "--format", "json", "--plot", svg
        ).exit_code
        == 0
    )
    assert "sample (t is not increasing everywhere)" in svg.read_text()
    ticks = [float(text.replace("−", "-")) for text in svg_texts(svg, "xtick_")]
    assert max(ticks) >= 35


def test_joint_tracks_are_drawn_once_under_their_channels(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch)
    columns = ["--column", "acc_x", "--column", "acc_y"]
    result = run(
        "detect",
        "sample_data/basicmotions_interleaved_10hz.csv",
        *columns,
        "--joint",
        "--kernel-file",
        "sample_data/kernel_basicmotions_walking.csv",
        "--kernel-column",
        "acc_x",
        "--kernel-column",
        "acc_y",
        "--format",
        "json",
        "--plot",
        tmp_path / "joint.png",
    )
    if result.exit_code == 2 and "--kernel-column" in result.stderr:
        result = run(
            "detect",
            "sample_data/basicmotions_interleaved_10hz.csv",
            *columns,
            "--joint",
            "--kernel-file",
            "sample_data/kernel_basicmotions_walking.csv",
            "--format",
            "json",
            "--plot",
            tmp_path / "joint.png",
        )
    assert result.exit_code in (0, 1), result.output
    (figure,) = figures
    labels = [axes.get_ylabel() for axes in figure.axes]
    assert labels[:2] == ["acc_x", "acc_y"] and len(labels) == 3 and labels[2].endswith("acc_x+acc_y")
    assert_no_overlap_and_inside(figure)


@pytest.mark.parametrize(
    "args",
    [
        ["scores", "--kernel", "1,2,3", "--dilation", "1,2"],
        ["detect", "--kernel", "1,2,3", "--dilation", "1..3", "--p", "9"],
    ],
)
def test_several_dilations_share_one_panel_with_a_line_style_each(tmp_path, args):
    svg = tmp_path / "figure.svg"
    result = run(
        args[0],
        SEED,
        *args[1:],
        "--plot",
        svg,
        "--format" if args[0] == "detect" else "--output",
        "json" if args[0] == "detect" else tmp_path / "scores.csv",
    )
    assert result.exit_code == 0, result.output
    dilations = 2 if "1,2" in args else 3
    assert svg_texts(svg, "legend_1") == [f"d = {d}" for d in range(1, dilations + 1)]


def test_touching_motifs_each_have_their_own_mark(tmp_path, monkeypatch):
    from matplotlib.colors import to_rgba

    figures = drawn_figures(monkeypatch)
    path = tmp_path / "touching.csv"
    path.write_text("v\n" + "\n".join(["0"] * 3 + ["1", "2", "3"] * 6 + ["0"] * 3) + "\n")
    result = run(
        "detect",
        path,
        "--kernel",
        "1,2,3",
        "--p",
        "9",
        "--min-gap",
        "1",
        "--threshold",
        "0.99",
        "--format",
        "json",
        "--plot",
        tmp_path / "touching.png",
    )
    assert result.exit_code == 0, result.output
    (figure,) = figures
    signal_axes = figure.axes[0]
    (edges,) = [c for c in signal_axes.collections if type(c).__name__ == "LineCollection"]
    starts = sorted(segment[0][0] for segment in edges.get_segments())
    assert starts == [s - 0.5 for s in range(3, 21, 3)]  # six windows, back to back, six edges
    bars = [c for c in signal_axes.collections if type(c).__name__ == "PolyCollection"]
    alphas = {round(float(to_rgba(colour)[3]), 2) for c in bars for colour in c.get_facecolor()}
    assert len(alphas) == 2  # neighbours alternate between two shades


def test_the_time_axis_is_exact_at_every_sample_when_sampling_is_regular_and_at_bucket_edges_otherwise():
    from motifscan.envelope import RunRecorder
    from motifscan.signal import SignalBlock
    from motifscan.plot_axis import SampleAxis

    rng = np.random.default_rng(3)
    for regular in (True, False):
        steps = np.full(10_000, 0.004) if regular else rng.uniform(0.001, 0.01, 10_000)
        times = 1234.5 + np.cumsum(steps)
        recorder = RunRecorder(max_buckets=64)
        for piece in np.array_split(np.arange(10_000), 7):
            recorder.signal_block(SignalBlock({"v": np.zeros(piece.size)}, times[piece]))
        axis = SampleAxis(recorder, "t_s")
        assert axis.label == "t (s)"
        size = recorder.time.size
        checked = (
            np.arange(10_000)
            if regular
            else np.unique(np.r_[np.arange(0, 10_000, size), np.arange(size - 1, 10_000, size), 9_999])
        )
        # Regular: linear interpolation between exact knots is exact up to round-off.
        np.testing.assert_allclose(axis(checked), times[checked], rtol=0, atol=1e-9)
        assert np.ndim(axis(5.0)) == 0 and axis(5.0) == pytest.approx(times[5] if regular else axis([5.0])[0])


def test_timestamps_are_drawn_as_matplotlib_dates():
    from matplotlib import dates

    from motifscan.envelope import RunRecorder
    from motifscan.signal import SignalBlock
    from motifscan.plot_axis import SampleAxis

    times = np.datetime64("2024-02-29T23:59:58", "ns") + np.arange(5) * np.timedelta64(500, "ms")
    recorder = RunRecorder()
    recorder.signal_block(SignalBlock({"v": np.zeros(5)}, times))
    axis = SampleAxis(recorder, "when")
    assert axis.is_datetime and axis.label == "when"
    np.testing.assert_allclose(axis(np.arange(5)), dates.date2num(times), rtol=0, atol=1e-9)


def test_plot_refuses_follow(tmp_path):
    result = run("detect", SEED, "--kernel", "1,2,3", "--follow", "--plot", tmp_path / "figure.png")
    assert result.exit_code == 2 and "--plot draws one whole input, but --follow never ends" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "command, extra",
    [
        ("scores", ["--output", "s.csv"]),
        ("detect", ["--format", "csv"]),
        ("detect", ["--format", "jsonl"]),
        ("compare", ["--format", "csv"]),
    ],
)
def test_too_many_channels_for_one_figure_are_refused_before_anything_is_printed(tmp_path, monkeypatch, command, extra):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "wide.csv"
    # Every channel holds the kernel, so a scan would print motifs at once.
    path.write_text(
        ",".join(f"c{i}" for i in range(13))
        + "\n"
        + "\n".join(",".join([str(v)] * 13) for v in [0, 1, 2, 3, 0, 0, 1, 2, 3, 0])
        + "\n"
    )
    result = run(command, path, "--kernel", "1,2,3", "--plot", "wide.png", *extra)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--plot: 13 channels are too many for one figure (at most 12)" in (
        result.stderr
    )
    assert [p.name for p in tmp_path.iterdir()] == ["wide.csv"]


def test_many_motifs_are_shaded_as_merged_runs_that_cover_the_same_samples():
    from motifscan.motif import Motif
    from motifscan.plot_motifs import MAX_SPANS, shaded_spans

    few = [Motif("x", s, s + 4, 1.0, 1.0, 1, 1.0) for s in (10, 30)]
    assert shaded_spans(few, 100) == [(9.5, 4), (29.5, 4)]
    rng = np.random.default_rng(0)
    starts = np.unique(rng.integers(0, 1_000_000, 5 * MAX_SPANS))
    many = [Motif("x", int(s), int(s) + 8, 1.0, 1.0, 1, 1.0) for s in starts]
    spans = shaded_spans(many, 1_000_008)
    assert len(spans) <= 1025
    # Every window lies inside a shaded run, and every run holds a window.
    lefts = np.array([x for x, _ in spans])
    rights = np.array([x + w for x, w in spans])
    for motif in many[::50]:
        i = np.searchsorted(lefts, motif.start - 0.5, side="right") - 1
        assert lefts[i] <= motif.start - 0.5 and motif.end - 0.5 <= rights[i]
    assert all(np.any((starts >= left) & (starts < right)) for left, right in zip(lefts, rights))


@pytest.mark.slow
def test_installed_program_draws_a_figure(tmp_path):
    import subprocess

    figure = tmp_path / "seed.pdf"
    completed = subprocess.run(
        installed_motifscan()
        + ["compare", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json", "--plot", str(figure)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert figure.read_bytes().startswith(b"%PDF") and '"found_by"' in completed.stdout


def test_noise_adaptive_thresholds_are_drawn_per_track(tmp_path, monkeypatch):
    """With mad:K each kernel's track has its own threshold: the figure draws those the run
    used (the JSON summary's), not the fixed --threshold."""
    import json

    figures = drawn_figures(monkeypatch)
    result = run(
        "detect", ECG, *TWO_BEATS, "--p", "2", "--threshold", "mad:4", "--format", "json", "--plot", tmp_path / "m.svg"
    )
    assert result.exit_code in (0, 1), result.output
    used = sorted(json.loads(result.stdout)["thresholds"].values())
    assert len(used) == 2 and used[0] != used[1]
    (figure,) = figures
    dashed = {
        round(abs(float(line.get_ydata()[0])), 9) for line in figure.axes[1].get_lines() if line.get_linestyle() == "--"
    }
    assert dashed == {round(value, 9) for value in used}
