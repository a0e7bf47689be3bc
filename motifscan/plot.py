"""Figures (``--plot out.png|.svg|.pdf``): the signal with its motifs, over the score tracks.

For each channel the figure has a panel of the signal, with every motif shaded over its
window in its kernel's colour (hatched when inverted), and under it one panel per kind
of track: the sharpened cosine scores of all its kernels and dilations, and/or the plain
convolution's activation, with the detection threshold drawn as dashed lines; a joint
group's tracks once, under its last channel. The x axis is the time column when it
increases (:class:`SampleAxis`), else the sample. Labels are placed strongest first
where they fit on the final layout, never over each other, and the title counts the
unlabelled. Long signals are drawn from their min/max envelopes
(:mod:`motifscan.envelope`), so a 10-million-sample figure shows every peak and takes
seconds; the motifs themselves were detected on every sample.

matplotlib is an optional extra (``pip install "motifscan[plot]"``); it is imported only
when a figure is drawn.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from dataclasses import dataclass

import numpy as np

from motifscan.choices import PLOT_FORMATS
from motifscan.envelope import MAX_FIGURE_CHANNELS, MinMaxEnvelope, RunRecorder
from motifscan.errors import MotifscanError

INSTALL_HINT = 'pip install "motifscan[plot]"'
#: Up to this many motifs per method and channel, each window is shaded on its own; beyond,
#: the windows are merged into one shaded run per stretch of covered pixel columns, so a
#: noisy signal with 100 000 motifs still draws (and stores, in SVG and PDF) quickly.
MAX_SPANS = 1000
#: Pixel columns the merged shading is resolved to.
SHADING_COLUMNS = 2048
#: Channels drawn at most: each takes a row of panels (checked by the recorder at the
#: first block, before anything is scanned).
MAX_CHANNELS = MAX_FIGURE_CHANNELS
#: Labels tried per signal panel, strongest first: each try measures the label's extent,
#: and past a few hundred a panel is full anyway (the rest are counted as unlabelled).
MAX_LABEL_TRIES = 400
#: Past this many motifs in a signal panel, labels take one row (two would cover the signal).
CROWDED_MOTIFS = 100
DPI = 150

# Colours: the Okabe-Ito palette, told apart with the common colour-vision deficiencies.
# One colour per kernel (in the order of the kernels; it repeats after seven), the plain
# convolution in vermillion, which no kernel takes. The sign is the fill: +1 filled, -1
# hatched in the same colour.
KERNEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
CONV = "#D55E00"
SIGNAL_COLOUR = "#333333"
INVERTED_HATCH = "////"
# Consecutive motifs alternate between these opacities, so touching windows stay apart.
SHADES = (0.22, 0.4)


def plot_format(path: str) -> str:
    """The figure format from ``path``'s extension: ``png``, ``svg`` or ``pdf``."""
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in PLOT_FORMATS:
        raise MotifscanError(f"--plot: {path}: the name must end in .png, .svg or .pdf")
    return extension


def require_matplotlib() -> None:
    """Raise MotifscanError with the install command when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MotifscanError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None


@dataclass
class MotifLayer:
    """Motifs of one method, as drawn: shaded windows, labelled where there is room.

    ``method`` is ``"cosine"`` (labelled with the score, coloured by kernel) or ``"conv"``
    (labelled with the activation, in the convolution's colour). ``band`` is the part of
    the panel's height the shading covers, as (bottom, top) fractions.
    """

    method: str
    motifs: list
    band: tuple = (0.0, 1.0)
    strip: bool = False  # the band is a strip at the panel's edge (many motifs): labels go beside it


#: Height of the strip many motifs are drawn in, as a fraction of the signal panel.
STRIP = 0.1


def _strip(band: tuple) -> tuple:
    """The strip at the outer edge of ``band`` (its top, or its bottom for a lower band)."""
    bottom, top = band
    return (top - STRIP, top) if top >= 1.0 else (bottom, bottom + STRIP)


def _make_room_for_strips(axes, envelope: MinMaxEnvelope, layers: list) -> None:
    """Set the y limits so the signal stays clear of the strips and the labels beside them."""
    _, lo, hi = envelope.buckets()
    if not np.isfinite(lo).any():
        return
    low, high = float(np.nanmin(lo)), float(np.nanmax(hi))
    extent = (high - low) or 1.0
    top_room = 0.22 if any(layer.band[1] >= 1.0 for layer in layers) else 0.03
    bottom_room = 0.22 if any(layer.band[1] < 1.0 for layer in layers) else 0.03
    span = extent / (1.0 - top_room - bottom_room)
    axes.set_ylim(low - bottom_room * span, low - bottom_room * span + span)


@dataclass
class Track:
    """A kind of track panel: ``kind`` is ``"score"`` (the scans of a channel or joint
    group: every kernel and dilation in one panel) or ``"activation"`` (one per channel).
    ``threshold`` is the detection threshold drawn as ±dashed lines: one number, or a dict
    by channel; None for none."""

    kind: str
    label: str
    threshold: float | dict | None = None


class SampleAxis:
    """Where sample positions go on the x axis: the time column's values when it has
    increasing finite times (interpolated between the recorded ones, so exact at every
    bucket edge of the envelope and linear in between), else the sample index.

    Parameters
    ----------
    recorder : RunRecorder
    time_column : str or None
        The time column's name (None: the signal has none).
    """

    def __init__(self, recorder: RunRecorder, time_column: str | None):
        self.is_datetime = False
        self._index: np.ndarray | None = None
        self._values: np.ndarray | None = None
        time = recorder.time
        if time_column is None or time is None or not recorder.time_increasing or time.length < 2:
            self.label = (
                "sample"
                if time_column is None or time is None
                else (f"sample ({time_column} is not increasing everywhere)")
            )
            return
        _, lo, hi = time.buckets()
        # An increasing series: a bucket's min is the time of its first sample, its max of its last.
        first = np.arange(lo.shape[0]) * time.size
        last = np.minimum(first + time.size - 1, time.length - 1)
        index = np.stack([first, last], axis=1).ravel().astype(np.float64)
        values = np.stack([lo, hi], axis=1).ravel()
        keep = np.concatenate([[True], np.diff(index) > 0])
        self._index, values = index[keep], values[keep]
        if recorder.time_is_datetime:
            from matplotlib import dates

            # matplotlib counts days since its epoch (1970 unless configured otherwise).
            epoch = dates.date2num(np.datetime64(0, "ns"))
            values = epoch + values / 86_400e9
            self.is_datetime = True
            self.label = time_column
        else:
            self.label = _with_unit(time_column)
        self._values = values

    def __call__(self, positions) -> np.ndarray:
        """The x coordinates of sample ``positions`` (array-like, fractional allowed)."""
        positions = np.asarray(positions, dtype=np.float64)
        if self._index is None:
            return positions
        if positions.ndim == 0:
            return np.asarray(self(positions[None])[0])
        index, values = self._index, np.asarray(self._values)
        x = np.asarray(np.interp(positions, index, values))
        # Linear beyond the ends too (half a sample before the first, the end of the last window).
        before, after = positions < index[0], positions > index[-1]
        if before.any():
            x[before] = values[0] + (positions[before] - index[0]) * (values[1] - values[0]) / (index[1] - index[0])
        if after.any():
            x[after] = values[-1] + (positions[after] - index[-1]) * (values[-1] - values[-2]) / (index[-1] - index[-2])
        return x

    def widths(self, starts, ends) -> np.ndarray:
        """Widths on the x axis of the sample ranges ``[starts, ends)`` (edges at half samples)."""
        return self(np.asarray(ends) - 0.5) - self(np.asarray(starts) - 0.5)


#: Unit suffixes of numeric time columns (``time_s`` is in seconds) and how they are shown.
TIME_UNITS = {
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "ms": "ms",
    "us": "µs",
    "ns": "ns",
    "min": "min",
    "h": "h",
    "hours": "h",
    "d": "d",
    "days": "days",
    "years": "years",
    "yr": "years",
}


def _with_unit(column: str) -> str:
    """The axis label of a numeric time column: ``time_s`` is ``time (s)``; other names as they are."""
    stem, _, suffix = column.rpartition("_")
    if stem and suffix.lower() in TIME_UNITS:
        return f"{stem} ({TIME_UNITS[suffix.lower()]})"
    return column


@dataclass
class Panel:
    """One row of the figure: a channel's signal (``scans`` empty), or a track panel with
    the ``scans`` it draws (all of one channel or joint group)."""

    kind: str  # "signal", or a Track's kind
    name: str  # the signal channel, or the channel/joint group the tracks belong to
    track: Track | None = None
    scans: tuple = ()


def figure_panels(channels: list, tracks: list[Track], scans: list) -> list[Panel]:
    """The figure's rows, top to bottom: each channel's signal, then the track panels of
    its own scans; a joint group's panels once, under the last of its channels."""
    panels = []
    for name in channels:
        panels.append(Panel("signal", name))
        groups = [(name,)] + list(
            dict.fromkeys(scan.channels for scan in scans if len(scan.channels) > 1 and scan.channels[-1] == name)
        )
        for group in groups:
            own = tuple(scan for scan in scans if scan.channels == group)
            for track in tracks:
                if track.kind == "activation" and group == (name,) and scans:
                    panels.append(Panel("activation", name, track, (scans[0],)))
                elif track.kind == "score" and own:
                    panels.append(Panel("score", "+".join(group), track, own))
    return panels


def build_figure(
    recorder: RunRecorder,
    *,
    title: str,
    tracks: list[Track],
    layers: list[MotifLayer],
    scans: list,
    kernel_names: list[str],
    time_column: str | None = None,
):
    """The run's figure, as a matplotlib ``Figure`` laid out and labelled (not yet saved).

    Parameters
    ----------
    recorder : RunRecorder
        The envelopes of the run's signal, time and tracks.
    title : str
        The figure's title (the input and the parameters).
    tracks : list of Track
        The panels under each channel's signal, top to bottom.
    layers : list of MotifLayer
        Motifs to shade on the signal panels.
    scans : list of motifscan.scanning.Scan
        The run's score tracks (a kernel at a dilation on a channel or joint group), drawn
        at the centre of their window, so a peak sits in the middle of the motif shaded above it.
    kernel_names : list of str
        The run's kernels in order: kernel ``i`` is drawn in ``KERNEL_COLOURS[i % 7]``.
    time_column : str or None
        The signal's time column: the x axis is time when it increases, else the sample.

    Returns
    -------
    matplotlib.figure.Figure
        Labels are placed on the final layout; the second line of the title says how many
        motifs are unlabelled.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: never a window, never a display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    channels = list(recorder.signal)
    check_plottable(channels)
    colours = {name: KERNEL_COLOURS[i % len(KERNEL_COLOURS)] for i, name in enumerate(kernel_names)}
    axis = SampleAxis(recorder, time_column)
    panels = figure_panels(channels, tracks, scans)
    ratios = [2.2 if panel.kind == "signal" else 1.0 for panel in panels]
    figure = Figure(figsize=(11, 1.0 + sum(ratios) * 1.05), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": ratios}, squeeze=False)[:, 0]
    # The second line is replaced by the label count once the labels are placed; it holds
    # the room for it in the layout.
    heading = figure.suptitle(title + "\n ", fontsize=10)

    shown = []  # (axes, motifs) of each signal panel, labelled once the layout is final
    several_dilations = len({scan.dilation for scan in scans}) > 1
    for panel, panel_axes in zip(panels, axes):
        if panel.kind == "signal":
            _draw_series(panel_axes, recorder.signal[panel.name], SIGNAL_COLOUR, axis, markers=True)
            panel_axes.set_ylabel(panel.name)
            reported_as = {scan.channel for scan in scans if panel.name in scan.channels}
            chosen = [[m for m in layer.motifs if m.channel in reported_as] for layer in layers]
            crowded = sum(map(len, chosen)) > CROWDED_MOTIFS
            if crowded:
                _make_room_for_strips(panel_axes, recorder.signal[panel.name], layers)
            drawn = []
            for layer, motifs in zip(layers, chosen):
                if crowded:  # a strip at the edge of the band, clear of the signal
                    layer = MotifLayer(layer.method, layer.motifs, _strip(layer.band), strip=True)
                _shade(panel_axes, motifs, layer, recorder.signal[panel.name].length, axis, colours, kernel_names)
                drawn.append((layer, motifs))
            shown.append((panel_axes, drawn))
            continue
        envelopes = recorder.score if panel.kind == "score" else recorder.activation
        track = panel.track
        assert track is not None  # every panel but the signal's has its track
        for scan in panel.scans:
            envelope = envelopes.get(scan.label if panel.kind == "score" else panel.name)
            if envelope is None:
                continue
            colour = (
                CONV
                if panel.kind == "activation"
                else colours.get(_kernel_name(scan, kernel_names) or "", SIGNAL_COLOUR)
            )
            style = _LINE_STYLES[sorted({s.dilation for s in panel.scans}).index(scan.dilation) % len(_LINE_STYLES)]
            _draw_series(
                panel_axes,
                envelope,
                colour,
                axis,
                shift=(scan.span - 1) / 2,
                linestyle=style,
                translucent=len(panel.scans) > 1,
                label=f"d = {scan.dilation}" if several_dilations else None,
            )
        threshold = track.threshold.get(panel.name) if isinstance(track.threshold, dict) else track.threshold
        if threshold is not None and threshold > 0:
            for level in (threshold, -threshold):
                panel_axes.axhline(level, color="#888888", linestyle="--", linewidth=0.8)
        panel_axes.axhline(0, color="#bbbbbb", linewidth=0.5)
        joint = "+" in panel.name and panel.name not in channels
        panel_axes.set_ylabel(f"{track.label}\n{panel.name}" if joint else track.label, fontsize=8)
        if several_dilations and panel.kind == "score":
            _dilation_legend(panel_axes, panel.scans)
    axes[-1].set_xlabel(axis.label + ("" if not scans else " · tracks at the centre of each window"))
    length = max((recorder.signal[name].length for name in channels), default=0)
    if length:
        axes[-1].set_xlim(*axis([-0.5, length - 0.5]))
    if axis.is_datetime:
        from matplotlib import dates

        locator = dates.AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    figure.align_ylabels(axes)
    _legend(figure, layers, scans, kernel_names, colours)

    # Lay the figure out once, then freeze it: labels are measured against the final
    # positions, and neither they nor the title's second line may move the panels after.
    engine = figure.get_layout_engine()
    assert engine is not None
    engine.execute(figure)  # the layout alone: no artist is drawn yet
    figure.set_layout_engine("none")
    renderer = canvas.get_renderer()
    counts = [0, 0]  # motifs, of which labelled
    for panel_axes, drawn in shown:
        placed = _label(panel_axes, drawn, axis, colours, kernel_names, renderer)
        counts[0] += sum(len(motifs) for _, motifs in drawn)
        counts[1] += placed
    if layers:
        total, labelled = counts
        caption = f"{total} motif{'s' if total != 1 else ''}"
        if total:
            caption += (
                ", all labelled"
                if labelled == total
                else f", {labelled} labelled (strongest first), {total - labelled} unlabelled for lack of room"
            )
        heading.set_text(f"{title}\n{caption}")
    else:
        heading.set_text(title)
    return figure


def draw_figure(stream, fmt: str, recorder: RunRecorder, **parts) -> None:
    """Draw the figure of :func:`build_figure` (``parts`` are its keyword arguments) and
    write it to the binary ``stream`` as ``fmt`` (png, svg or pdf)."""
    import matplotlib

    require_matplotlib()
    # SVG keeps its text as text (searchable, and smaller than glyph outlines).
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure = build_figure(recorder, **parts)
        figure.savefig(stream, format=fmt)


def _kernel_name(scan, kernel_names: list[str]) -> str | None:
    return kernel_names[scan.kernel] if scan.kernel < len(kernel_names) else None


#: Line styles of a panel's dilations, in increasing order of dilation.
_LINE_STYLES = ("-", "--", ":", "-.")

#: Up to this many samples, each one is marked with a dot (short signals such as the seed).
MARKED_SAMPLES = 300


def _draw_series(
    axes,
    envelope: MinMaxEnvelope,
    colour: str,
    axis: SampleAxis,
    shift: float = 0.0,
    markers: bool = False,
    linestyle: str = "-",
    translucent: bool = False,
    label=None,
) -> None:
    centre, lo, hi = envelope.buckets()
    x = axis(centre + shift)
    if envelope.size == 1:
        marker = "o" if markers and envelope.length <= MARKED_SAMPLES else None
        axes.plot(x, lo, color=colour, linewidth=1.0, marker=marker, markersize=2.5, linestyle=linestyle, label=label)
    elif translucent:
        # Several tracks in one panel: each bucket's largest and smallest value as two thin
        # lines, which do not blend into one colour as filled bands would.
        axes.plot(x, hi, color=colour, linewidth=0.7, linestyle=linestyle, label=label)
        axes.plot(x, lo, color=colour, linewidth=0.7, linestyle=linestyle)
    else:
        # Each bucket is drawn as the band between its smallest and largest value: peaks
        # narrower than a pixel stay visible, which plotting every k-th sample would lose.
        axes.fill_between(
            x, lo, hi, facecolor=colour, linewidth=0.6, edgecolor=colour, linestyle=linestyle, label=label
        )


def _dilation_legend(axes, scans) -> None:
    from matplotlib.lines import Line2D

    dilations = sorted({scan.dilation for scan in scans})
    styles: list = list(_LINE_STYLES)
    handles = [
        Line2D([], [], color="#555555", linestyle=styles[i % len(styles)], label=f"d = {d}")
        for i, d in enumerate(dilations)
    ]
    axes.legend(handles=handles, loc="upper right", fontsize=7, ncols=len(handles), frameon=False)


def shaded_spans(motifs: list, length: int) -> list[tuple[float, float]]:
    """``(x, width)`` of the shading for ``motifs`` in a signal of ``length`` samples.

    One span per motif window (``start - 0.5`` to ``end - 0.5``) up to :data:`MAX_SPANS`
    motifs; beyond, the windows are snapped to :data:`SHADING_COLUMNS` columns and each run
    of covered columns is one span, which looks the same at the figure's resolution.
    """
    if len(motifs) <= MAX_SPANS:
        return [(m.start - 0.5, m.end - m.start) for m in motifs]
    width = max(1.0, length / SHADING_COLUMNS)
    columns = int(np.ceil(length / width)) + 1
    starts = np.array([m.start for m in motifs]) / width
    ends = np.array([m.end for m in motifs]) / width
    # +1 where a window's first column begins, -1 after its last: the running sum is > 0
    # exactly on covered columns.
    change = np.zeros(columns + 1)
    np.add.at(change, np.floor(starts).astype(np.int64), 1)
    np.add.at(change, np.minimum(np.ceil(ends).astype(np.int64), columns), -1)
    covered = np.cumsum(change)[:columns] > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[False], covered, [False]]).astype(np.int8)))
    return [(first * width - 0.5, (last - first) * width) for first, last in zip(edges[0::2], edges[1::2])]


def _motif_colour(motif, layer: MotifLayer, colours: dict, kernel_names: list[str]) -> str:
    if layer.method == "conv":
        return CONV
    name = motif.kernel if motif.kernel is not None else (kernel_names[0] if kernel_names else None)
    return colours.get(name, KERNEL_COLOURS[0])


def _shade(
    axes, motifs: list, layer: MotifLayer, length: int, axis: SampleAxis, colours: dict, kernel_names: list[str]
) -> None:
    """Shade each motif's window in its kernel's colour: filled for +1, hatched for -1.

    Consecutive motifs alternate between two opacities and every window starts with a
    thin edge, so motifs that touch are still told apart. Past :data:`MAX_SPANS` motifs
    the windows are merged per pixel column (see :func:`shaded_spans`)."""
    if not motifs:
        return
    bottom, top = layer.band
    transform = axes.get_xaxis_transform()  # x in data units, y in fractions of the panel
    groups: dict = {}
    for motif in motifs:
        groups.setdefault((_motif_colour(motif, layer, colours, kernel_names), motif.sign), []).append(motif)
    for (colour, sign), chosen in groups.items():
        chosen.sort(key=lambda m: m.start)
        hatch = INVERTED_HATCH if sign < 0 else None
        if len(chosen) > MAX_SPANS:
            merged = np.array(shaded_spans(chosen, length)).reshape(-1, 2)
            lefts = axis(merged[:, 0])
            spans = list(zip(lefts, axis(merged[:, 0] + merged[:, 1]) - lefts))
            _bars(axes, spans, (bottom, top), transform, colour, SHADES[1], hatch)
            continue
        starts = np.array([m.start for m in chosen])
        ends = np.array([m.end for m in chosen])
        lefts, widths = axis(starts - 0.5), axis.widths(starts, ends)
        for parity, alpha in enumerate(SHADES):
            part = slice(parity, None, 2)
            _bars(axes, list(zip(lefts[part], widths[part])), (bottom, top), transform, colour, alpha, hatch)
        # A thin edge at every window's start: where one motif ends and the next begins.
        axes.vlines(lefts, bottom, top, transform=transform, colors=colour, linewidth=0.7, alpha=0.9)


def _bars(axes, spans, band, transform, colour, alpha, hatch) -> None:
    from matplotlib.colors import to_rgba

    if not spans:
        return
    bottom, top = band
    if hatch is None:
        axes.broken_barh(
            spans, (bottom, top - bottom), transform=transform, facecolors=to_rgba(colour, alpha), edgecolor="none"
        )
    else:
        axes.broken_barh(
            spans,
            (bottom, top - bottom),
            transform=transform,
            facecolors=to_rgba(colour, alpha / 3),
            edgecolors=to_rgba(colour, min(1.0, alpha * 2)),
            hatch=hatch,
            linewidth=0,
        )


def _label(axes, drawn: list, axis: SampleAxis, colours: dict, kernel_names: list[str], renderer) -> int:
    """Label the motifs of one signal panel, strongest first, where a label fits: inside the
    panel and clear of every label already placed, in one of two rows at the top of each
    layer's band (one row when the panel is crowded). Returns the number labelled.

    Each distinct text is measured once (labels are short numbers, so few are distinct) and
    only the labels that fit become artists: a panel of thousands of motifs stays fast."""
    candidates = []
    for layer, motifs in drawn:
        if layer.method == "conv":
            strongest = max((abs(m.activation) for m in motifs if m.activation is not None), default=0.0) or 1.0
            strength = [abs(m.activation or 0.0) / strongest for m in motifs]
        else:
            strength = [abs(m.score) for m in motifs]
        candidates += [(s, m.start, layer, m) for s, m in zip(strength, motifs)]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    inside = axes.get_window_extent(renderer)
    to_display = axes.get_xaxis_transform()
    sizes: dict = {}  # text -> (width, height) in pixels
    probe = axes.text(0, 0, "", fontsize=7)
    rows: dict = {}  # (layer band, row) -> sorted [(left, right)] of placed labels
    pad = 2.0  # pixels kept free around each label
    crowded = sum(len(motifs) for _, motifs in drawn) > CROWDED_MOTIFS
    placed = []
    for _, _, layer, motif in candidates[:MAX_LABEL_TRIES]:
        bottom, top = layer.band
        at_top = top >= 1.0
        text = f"{motif.score:+.2f}" if layer.method == "cosine" else f"{motif.activation:+.3g}"
        if text not in sizes:
            probe.set_text(text)
            box = probe.get_window_extent(renderer)
            sizes[text] = (box.width, box.height)
        width, height = sizes[text]
        x = float(axis((motif.start + motif.end - 1) / 2))
        for row in range(1 if crowded else 2):
            if layer.strip:  # beside the strip, on the side of the signal
                y = bottom - 0.01 if at_top else top + 0.01
            else:
                y = (top - 0.02 - row * 0.09) if at_top else (bottom + 0.02 + row * 0.09)
            centre, anchor = to_display.transform((x, y))
            left, right = centre - width / 2, centre + width / 2
            low, high = (anchor - height, anchor) if at_top else (anchor, anchor + height)
            if left < inside.x0 or right > inside.x1 or low < inside.y0 or high > inside.y1:
                continue
            taken = rows.setdefault((layer.band, row), [])
            i = bisect.bisect_left(taken, (left,))
            # Labels of one row share their height: only the neighbours in x can collide.
            if (i > 0 and taken[i - 1][1] + pad > left) or (i < len(taken) and taken[i][0] < right + pad):
                continue
            taken.insert(i, (left, right))
            placed.append((x, y, text, at_top, _motif_colour(motif, layer, colours, kernel_names)))
            break
    probe.remove()
    for x, y, text, at_top, colour in placed:
        artist = axes.text(
            x,
            y,
            text,
            transform=to_display,
            ha="center",
            va="top" if at_top else "bottom",
            fontsize=7,
            color=colour,
            clip_on=False,
        )
        artist.set_in_layout(False)
    return len(placed)


def _legend(figure, layers: list[MotifLayer], scans: list, kernel_names: list[str], colours: dict) -> None:
    """One entry per kernel (its motifs' fill and its track's colour), the convolution, and
    the hatching of inverted motifs when there are any."""
    from matplotlib.patches import Patch

    handles = []
    cosine = any(layer.method == "cosine" for layer in layers) or not layers
    if cosine:
        named = len(kernel_names) > 1
        for name in kernel_names:
            label = f"kernel {name}" if named else ("motif (label: score)" if layers else "score track")
            handles.append(Patch(facecolor=colours[name], alpha=0.5, label=label))
    if any(layer.method == "conv" for layer in layers):
        handles.append(Patch(facecolor=CONV, alpha=0.5, label="convolution motif (label: activation)"))
    if any(m.sign < 0 for layer in layers for m in layer.motifs):
        handles.append(
            Patch(facecolor="white", edgecolor="#555555", hatch=INVERTED_HATCH, label="hatched: inverted (sign −1)")
        )
    if handles:
        figure.legend(
            handles=handles, loc="outside lower center", fontsize=8, frameon=False, ncols=min(len(handles), 5)
        )


def run_title(source_name: str, config) -> str:
    """The figure title: the input, the kernel(s) (or a kernel's length when long) and p."""
    kernels = config.kernels
    if len(kernels) == 1 and len(kernels[0].values) == 1:
        values = kernels[0].values[0]
        shown = "kernel " + (",".join(f"{v:g}" for v in values) if len(values) <= 8 else f"of {len(values)} values")
    elif len(kernels) == 1:
        shown = f"joint kernel {kernels[0].name}"
    else:
        shown = "kernels " + ", ".join(kernel.name for kernel in kernels)
    dilations = config.dilations
    dilation = "" if dilations == (1,) else " · dilation " + ",".join(str(d) for d in dilations)
    return f"{source_name} · {shown}{dilation} · p = {config.p:g}"


def _tracks(config, summary, methods, thresholds: bool = True) -> list[Track]:
    """The track panels of ``methods``, with their thresholds unless ``thresholds`` is off."""
    tracks = []
    for method in methods:
        if method == "cosine":
            tracks.append(Track("score", f"score (p = {config.p:g})", config.threshold if thresholds else None))
        else:
            threshold = {name: config.threshold * strongest for name, strongest in summary.strongest_activation.items()}
            tracks.append(Track("activation", "activation", threshold if thresholds else None))
    return tracks


def _scans(config, summary) -> list:
    from motifscan.scanning import plan_scans

    return plan_scans(list(summary.channels), config, summary.source)


def _run_parts(config, summary) -> dict:
    """The parts of :func:`build_figure` every command's figure shares."""
    return {
        "scans": _scans(config, summary),
        "kernel_names": [kernel.name for kernel in config.kernels],
        "time_column": summary.time_column,
    }


def detection_figure(stream, fmt: str, recorder: RunRecorder, config, summary, motifs: list) -> None:
    """The figure of ``detect``: the signal with the motifs, over the track the method detects on."""
    draw_figure(
        stream,
        fmt,
        recorder,
        title=run_title(summary.source, config) + f" · method {config.method}",
        tracks=_tracks(config, summary, [config.method]),
        layers=[MotifLayer(config.method, motifs)],
        **_run_parts(config, summary),
    )


def scores_figure(stream, fmt: str, recorder: RunRecorder, config, summary) -> None:
    """The figure of ``scores``: the signal over its score tracks (and activation with conv);
    no thresholds, since ``scores`` detects nothing."""
    methods = ["cosine"] + (["conv"] if config.method == "conv" else [])
    draw_figure(
        stream,
        fmt,
        recorder,
        title=run_title(summary.source, config),
        tracks=_tracks(config, summary, methods, thresholds=False),
        layers=[],
        **_run_parts(config, summary),
    )


def comparison_figure(stream, fmt: str, recorder: RunRecorder, comparison) -> None:
    """The figure of ``compare``: cosine motifs shaded over the upper half of the signal
    panel, the convolution's over the lower half; the score track, then the activation."""
    config, summary = comparison.config, comparison.summary
    draw_figure(
        stream,
        fmt,
        recorder,
        title=run_title(summary.source, config) + " · cosine scan vs convolution",
        tracks=_tracks(config, summary, ["cosine", "conv"]),
        layers=[
            MotifLayer("cosine", comparison.motifs["cosine"], (0.5, 1.0)),
            MotifLayer("conv", comparison.motifs["conv"], (0.0, 0.5)),
        ],
        **_run_parts(config, summary),
    )


def check_plottable(channels) -> None:
    """Refuse, before any output exists, a figure with more channels than it can show."""
    if len(channels) > MAX_CHANNELS:
        raise MotifscanError(
            f"--plot: {len(channels)} channels are too many for one figure "
            f"(at most {MAX_CHANNELS}); choose some with --column"
        )


@contextlib.contextmanager
def figure_output(path: str | None):
    """``(stream, format)`` for the figure at ``path`` (written atomically), or
    ``(None, None)`` without one. Checks the name and matplotlib first, so a figure that
    cannot be made fails before any result is written."""
    if path is None:
        yield None, None
        return
    fmt = plot_format(path)
    require_matplotlib()
    from motifscan.io.files import open_output

    with open_output(path, binary=True, option="--plot") as stream:
        yield stream, fmt
