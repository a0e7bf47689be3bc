"""Figures (``--plot out.png|.svg|.pdf``): the signal with its motifs, over the score tracks.

For each channel the figure has a panel of the signal, with every motif shaded over its
window and labelled, and under it, on the same sample axis, one panel per track: the
sharpened cosine score and/or the plain convolution's activation, with the detection
threshold drawn as dashed lines. Long signals are drawn from their min/max envelopes
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
from motifscan.envelope import MinMaxEnvelope, RunRecorder
from motifscan.errors import MotifscanError

INSTALL_HINT = 'pip install "motifscan[plot]"'
#: Motifs labelled with their value at most, per method and channel; beyond that they are
#: only shaded, since labels would cover each other.
MAX_LABELS = 40
#: Up to this many motifs per method and channel, each window is shaded on its own; beyond,
#: the windows are merged into one shaded run per stretch of covered pixel columns, so a
#: noisy signal with 100 000 motifs still draws (and stores, in SVG and PDF) quickly.
MAX_SPANS = 1000
#: Pixel columns the merged shading is resolved to.
SHADING_COLUMNS = 2048
#: Channels drawn at most: each takes a row of panels.
MAX_CHANNELS = 12
DPI = 150

# Colours: matches in teal, inverted matches in magenta (as in the terminal table); the
# convolution in orange, so the two methods are told apart at a glance.
POSITIVE, NEGATIVE, CONV = "#1b9e77", "#c51b7d", "#e6750a"
SIGNAL_COLOUR, SCORE_COLOUR = "#333333", "#1f5fa8"


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
    """Motifs of one method, as drawn: shaded windows with a label each.

    ``method`` is ``"cosine"`` (labelled with the score, coloured by sign) or ``"conv"``
    (labelled with the activation, in the convolution's colour). ``band`` is the part of
    the panel's height the shading covers, as (bottom, top) fractions.
    """

    method: str
    motifs: list
    band: tuple = (0.0, 1.0)
    with_kernel: bool = False  # several kernels: labels name the motif's kernel


@dataclass
class Track:
    """A kind of track panel: ``kind`` is ``"score"`` (one panel per scan of the channel:
    each kernel and dilation) or ``"activation"`` (one per channel). ``threshold`` is the
    detection threshold drawn as ±dashed lines: one number, or a dict by channel; None for
    none."""

    kind: str
    label: str
    threshold: float | dict | None = None


def draw_figure(stream, fmt: str, recorder: RunRecorder, *, title: str, tracks: list[Track],
                layers: list[MotifLayer], scans: list) -> None:
    """Draw the figure and write it to the binary ``stream`` as ``fmt``.

    Parameters
    ----------
    stream : binary file
        Where the PNG, SVG or PDF goes.
    fmt : {"png", "svg", "pdf"}
    recorder : RunRecorder
        The envelopes of the run's signal and tracks.
    title : str
        The figure's title (the input and the parameters).
    tracks : list of Track
        The panels under each channel's signal, top to bottom.
    layers : list of MotifLayer
        Motifs to shade on the signal panels.
    scans : list of motifscan.pipeline.Scan
        The run's score tracks (a kernel at a dilation on a channel or joint group): each
        is drawn under the signal channels it reads, its values at the centre of their
        window, so a peak sits in the middle of the motif shaded above it.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: never a window, never a display
    from matplotlib.figure import Figure

    channels = list(recorder.signal)
    check_plottable(channels)
    panels = {name: _panels(name, tracks, scans) for name in channels}
    ratios = [ratio for name in channels for ratio in [2.2] + [1.0] * len(panels[name])]
    figure = Figure(figsize=(11, 0.6 + sum(ratios) * 1.05), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios},
                           squeeze=False)[:, 0]
    figure.suptitle(title, fontsize=10)

    several = len(scans) > len({scan.channel for scan in scans})  # several kernels or dilations
    row = 0
    for name in channels:
        signal_axes = axes[row]
        _draw_series(signal_axes, recorder.signal[name], SIGNAL_COLOUR, markers=True)
        signal_axes.set_ylabel(name)
        reported_as = {scan.channel for scan in scans if name in scan.channels}  # "a", or "a+b" (joint)
        for layer in layers:
            _shade(signal_axes, [m for m in layer.motifs if m.channel in reported_as], layer,
                   recorder.signal[name].length)
        row += 1
        for track, key, span, label in panels[name]:
            track_axes = axes[row]
            envelope = (recorder.score if track.kind == "score" else recorder.activation).get(key)
            if envelope is not None:
                _draw_series(track_axes, envelope, CONV if track.kind == "activation" else SCORE_COLOUR,
                             shift=(span - 1) / 2)
            threshold = track.threshold.get(name) if isinstance(track.threshold, dict) else track.threshold
            if threshold is not None and threshold > 0:
                for level in (threshold, -threshold):
                    track_axes.axhline(level, color="#888888", linestyle="--", linewidth=0.8)
            track_axes.axhline(0, color="#bbbbbb", linewidth=0.5)
            track_axes.set_ylabel(f"{track.label}\n{label}" if several and track.kind == "score" else track.label,
                                  fontsize=8 if several else None)
            row += 1
    axes[-1].set_xlabel("sample (tracks: at the centre of each window)")
    length = max((recorder.signal[name].length for name in channels), default=0)
    if length:
        axes[-1].set_xlim(-0.5, length - 0.5)
    if layers:
        _legend(figure, layers)
    figure.savefig(stream, format=fmt)


def _panels(name: str, tracks: list[Track], scans: list) -> list[tuple]:
    """``(track, key in the recorder, span, label)`` of each panel under channel ``name``."""
    panels = []
    for track in tracks:
        if track.kind == "activation":  # one kernel at one dilation: keyed by channel
            panels.append((track, name, scans[0].span, ""))
            continue
        for scan in scans:
            if name in scan.channels:
                panels.append((track, scan.label, scan.span, scan.label))
    return panels


#: Up to this many samples, each one is marked with a dot (short signals such as the seed).
MARKED_SAMPLES = 300


def _draw_series(axes, envelope: MinMaxEnvelope, colour: str, shift: float = 0.0, markers: bool = False) -> None:
    centre, lo, hi = envelope.buckets()
    centre = centre + shift
    if envelope.size == 1:
        marker = "o" if markers and envelope.length <= MARKED_SAMPLES else None
        axes.plot(centre, lo, color=colour, linewidth=1.0, marker=marker, markersize=2.5)
    else:
        # Each bucket is drawn as the band between its smallest and largest value: peaks
        # narrower than a pixel stay visible, which plotting every k-th sample would lose.
        axes.fill_between(centre, lo, hi, color=colour, linewidth=0.6, edgecolor=colour)


def shaded_spans(motifs: list, length: int) -> list[tuple[float, float]]:
    """``(x, width)`` of the shading for ``motifs`` in a signal of ``length`` samples.

    One span per motif window (``start - 0.5`` to ``end - 0.5``) up to :data:`MAX_SPANS`
    motifs; beyond, the windows are snapped to :data:`SHADING_COLUMNS` columns and each run
    of covered columns is one span, which looks the same at the figure's resolution.
    """
    if len(motifs) <= MAX_SPANS:
        return [(m.start - 0.5, m.end - m.start) for m in motifs]
    import numpy as np

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


def _shade(axes, motifs: list, layer: MotifLayer, length: int) -> None:
    if not motifs:
        return
    bottom, top = layer.band
    transform = axes.get_xaxis_transform()  # x in samples, y in fractions of the panel
    for sign, colour in ((1, POSITIVE), (-1, NEGATIVE)):
        chosen = [m for m in motifs if m.sign == sign]
        if layer.method == "conv":
            colour = CONV
        if chosen:
            axes.broken_barh(shaded_spans(chosen, length), (bottom, top - bottom),
                             transform=transform, facecolors=colour, alpha=0.28, edgecolor="none")
    if len(motifs) > MAX_LABELS:
        return
    at_top = top >= 1.0
    for motif in motifs:
        text = f"{motif.score:+.2f}" if layer.method == "cosine" else f"{motif.activation:+.3g}"
        if layer.with_kernel and motif.kernel is not None:
            text = f"{motif.kernel} {text}"
        axes.text((motif.start + motif.end - 1) / 2, top - 0.03 if at_top else bottom + 0.03, text,
                  transform=transform, ha="center", va="top" if at_top else "bottom", fontsize=7,
                  color=CONV if layer.method == "conv" else (POSITIVE if motif.sign > 0 else NEGATIVE))


def _legend(figure, layers: list[MotifLayer]) -> None:
    from matplotlib.patches import Patch

    handles = []
    for layer in layers:
        if layer.method == "conv":
            handles.append(Patch(facecolor=CONV, alpha=0.4, label="convolution motif (label: activation)"))
        else:
            handles.append(Patch(facecolor=POSITIVE, alpha=0.4, label="cosine motif (label: score)"))
            handles.append(Patch(facecolor=NEGATIVE, alpha=0.4, label="inverted cosine motif"))
    figure.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False, ncols=len(handles))


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
            threshold = {name: config.threshold * strongest
                         for name, strongest in summary.strongest_activation.items()}
            tracks.append(Track("activation", "activation", threshold if thresholds else None))
    return tracks


def _scans(config, summary) -> list:
    from motifscan.pipeline import plan_scans

    return plan_scans(list(summary.channels), config, summary.source)


def detection_figure(stream, fmt: str, recorder: RunRecorder, config, summary, motifs: list) -> None:
    """The figure of ``detect``: the signal with the motifs, over the track the method detects on."""
    layer = MotifLayer(config.method, motifs, with_kernel=len(config.kernels) > 1)
    draw_figure(stream, fmt, recorder, title=run_title(summary.source, config) + f" · method {config.method}",
                tracks=_tracks(config, summary, [config.method]), layers=[layer], scans=_scans(config, summary))


def scores_figure(stream, fmt: str, recorder: RunRecorder, config, summary) -> None:
    """The figure of ``scores``: the signal over its score tracks (and activation with conv);
    no thresholds, since ``scores`` detects nothing."""
    methods = ["cosine"] + (["conv"] if config.method == "conv" else [])
    draw_figure(stream, fmt, recorder, title=run_title(summary.source, config),
                tracks=_tracks(config, summary, methods, thresholds=False), layers=[],
                scans=_scans(config, summary))


def comparison_figure(stream, fmt: str, recorder: RunRecorder, comparison) -> None:
    """The figure of ``compare``: cosine motifs shaded over the upper half of the signal
    panel, the convolution's over the lower half; the score track, then the activation."""
    config, summary = comparison.config, comparison.summary
    draw_figure(stream, fmt, recorder, title=run_title(summary.source, config) + " · cosine scan vs convolution",
                tracks=_tracks(config, summary, ["cosine", "conv"]),
                layers=[MotifLayer("cosine", comparison.motifs["cosine"], (0.5, 1.0)),
                        MotifLayer("conv", comparison.motifs["conv"], (0.0, 0.5))],
                scans=_scans(config, summary))


def check_plottable(channels) -> None:
    """Refuse, before any output exists, a figure with more channels than it can show."""
    if len(channels) > MAX_CHANNELS:
        raise MotifscanError(f"--plot: {len(channels)} channels are too many for one figure "
                             f"(at most {MAX_CHANNELS}); choose some with --column")


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
    from motifscan.io.output import open_output

    with open_output(path, binary=True, option="--plot") as stream:
        yield stream, fmt
