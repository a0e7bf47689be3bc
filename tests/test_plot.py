"""Figures (--plot): PNG, SVG and PDF files that open, and clean failures."""

import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from test_cli import SEED, installed_motifscan, run

pytest.importorskip("matplotlib")


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
    drawn = run("detect", SEED, "--kernel", "1,2,3", "--p", "9", "--method", "conv", "--format", "json",
                "--plot", tmp_path / "conv.png")
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
        assert result.stderr.strip() == ('motifscan: error: --plot needs matplotlib, which is not installed: '
                                         'pip install "motifscan[plot]"')
        assert not list(tmp_path.iterdir()), command  # no result, no figure, no temporary file


@pytest.mark.parametrize("args, fragment", [
    (["detect", SEED, "--kernel", "1,2,3", "--plot", "figure.jpg"], "--plot: figure.jpg: the name must end in"),
    (["compare", SEED, "--kernel", "1,2,3", "--plot", "missing/figure.png"], "--plot: directory missing does not exist"),
    (["detect", SEED, SEED, "--kernel", "1,2,3", "--plot", "figure.png"], "--plot draws one input; several were given"),
    (["detect", SEED, "--kernel", "1,2,3", "--state", "state.json", "--plot", "figure.png"],
     "--plot draws one whole input, not the new part that --state reads"),
])
def test_bad_plot_options_exit_2_with_one_line_and_no_file(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    result = run(*args, "--output", "out.csv")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [
    ["detect", "--kernel", "rise=1,2,3", "--kernel", "fall=3,2,1", "--p", "9"],
    ["scores", "--kernel", "1,2,3", "--dilation", "1,2"],
    ["detect", "--kernel", "1,2,3", "--dilation", "1..3", "--p", "9"],
])
def test_several_kernels_and_dilations_get_a_panel_each(tmp_path, args):
    svg = tmp_path / "figure.svg"
    result = run(args[0], SEED, *args[1:], "--plot", svg, "--format" if args[0] == "detect" else "--output",
                 "json" if args[0] == "detect" else tmp_path / "scores.csv")
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    if "rise=1,2,3" in args:
        assert "signal_rise" in text and "signal_fall" in text and "fall +1.00" in text
    else:
        assert "signal_d2" in text


def test_plot_refuses_follow(tmp_path):
    result = run("detect", SEED, "--kernel", "1,2,3", "--follow", "--plot", tmp_path / "figure.png")
    assert result.exit_code == 2 and "--plot draws one whole input, but --follow never ends" in result.stderr
    assert not list(tmp_path.iterdir())


def test_too_many_channels_for_one_figure(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(13)) + "\n" + "\n".join(",".join(["1"] * 13) for _ in range(9)))
    result = run("scores", path, "--kernel", "1,2,3", "--plot", tmp_path / "wide.png", "--output", tmp_path / "s.csv")
    assert result.exit_code == 2 and "13 channels are too many" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["wide.csv"]


def test_many_motifs_are_shaded_as_merged_runs_that_cover_the_same_samples():
    from motifscan.detection import Motif
    from motifscan.plot import MAX_SPANS, shaded_spans

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


def test_installed_program_draws_a_figure(tmp_path):
    import subprocess

    figure = tmp_path / "seed.pdf"
    completed = subprocess.run(installed_motifscan() + ["compare", SEED, "--kernel", "1,2,3", "--p", "9",
                                                        "--format", "json", "--plot", str(figure)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert figure.read_bytes().startswith(b"%PDF") and '"found_by"' in completed.stdout
