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

import contextlib
import os
from dataclasses import dataclass


from motifscan.choices import PLOT_FORMATS
from motifscan.envelope import MAX_FIGURE_CHANNELS, MinMaxEnvelope, RunRecorder
from motifscan.errors import MotifscanError
from motifscan.plot_axis import SampleAxis
from motifscan.plot_motifs import (
    CONV,
    CROWDED_MOTIFS,
    KERNEL_COLOURS,
    MotifLayer,
    draw_legend,
    edge_strip,
    label_motifs,
    make_room_for_strips,
    shade_motifs,
)

INSTALL_HINT = 'pip install "motifscan[plot]"'
#: Channels drawn at most: each takes a row of panels (checked by the recorder at the
#: first block, before anything is scanned).
MAX_CHANNELS = MAX_FIGURE_CHANNELS
DPI = 150

SIGNAL_COLOUR = "#333333"


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
class Track:
    """A kind of track panel: ``kind`` is ``"score"`` (the scans of a channel or joint
    group: every kernel and dilation in one panel) or ``"activation"`` (one per channel).
    ``threshold`` is the detection threshold drawn as ±dashed lines: one number, or a dict
    by channel or by scan label; None for none."""

    kind: str
    label: str
    threshold: float | dict | None = None


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
    scans : list of motifscan.scan_plan.Scan
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
                make_room_for_strips(panel_axes, recorder.signal[panel.name], layers)
            drawn = []
            for layer, motifs in zip(layers, chosen):
                if crowded:  # a strip at the edge of the band, clear of the signal
                    layer = MotifLayer(layer.method, layer.motifs, edge_strip(layer.band), strip=True)
                shade_motifs(panel_axes, motifs, layer, recorder.signal[panel.name].length, axis, colours, kernel_names)
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
        for threshold in _panel_thresholds(track, panel):
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
    draw_legend(figure, layers, scans, kernel_names, colours)

    # Lay the figure out once, then freeze it: labels are measured against the final
    # positions, and neither they nor the title's second line may move the panels after.
    engine = figure.get_layout_engine()
    assert engine is not None
    engine.execute(figure)  # the layout alone: no artist is drawn yet
    figure.set_layout_engine("none")
    renderer = canvas.get_renderer()
    counts = [0, 0]  # motifs, of which labelled
    for panel_axes, drawn in shown:
        placed = label_motifs(panel_axes, drawn, axis, colours, kernel_names, renderer)
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


def _panel_thresholds(track: Track, panel: Panel) -> list[float]:
    """The thresholds a track panel draws: the track's one number, the panel's channel's,
    or (``mad:K``, ``fa:RATE``) each of its scans' own, once each."""
    if not isinstance(track.threshold, dict):
        levels = [track.threshold]
    else:
        keys = [panel.name] + [scan.label for scan in panel.scans]
        levels = [track.threshold[key] for key in keys if key in track.threshold]
    return sorted({level for level in levels if level is not None and level > 0})


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
            # mad:K and fa:RATE give each score track a threshold of its own, by scan label.
            threshold = dict(summary.thresholds) if getattr(summary, "thresholds", None) else config.threshold
            tracks.append(Track("score", f"score (p = {config.p:g})", threshold if thresholds else None))
        else:
            threshold = {name: config.threshold * strongest for name, strongest in summary.strongest_activation.items()}
            tracks.append(Track("activation", "activation", threshold if thresholds else None))
    return tracks


def _scans(config, summary) -> list:
    from motifscan.scan_plan import plan_scans

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
