"""Motifs drawn on a signal panel: each window shaded in its kernel's colour (hatched when
inverted, in strips when there are many), labels placed strongest first where they fit,
and the legend of kernels and methods.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from motifscan.envelope import MinMaxEnvelope
from motifscan.plot_axis import SampleAxis


#: Up to this many motifs per method and channel, each window is shaded on its own; beyond,
#: the windows are merged into one shaded run per stretch of covered pixel columns, so a
#: noisy signal with 100 000 motifs still draws (and stores, in SVG and PDF) quickly.
MAX_SPANS = 1000
#: Pixel columns the merged shading is resolved to.
SHADING_COLUMNS = 2048
#: Labels tried per signal panel, strongest first: each try measures the label's extent,
#: and past a few hundred a panel is full anyway (the rest are counted as unlabelled).
MAX_LABEL_TRIES = 400
#: Past this many motifs in a signal panel, labels take one row (two would cover the signal).
CROWDED_MOTIFS = 100
# Colours: the Okabe-Ito palette, told apart with the common colour-vision deficiencies.
# One colour per kernel (in the order of the kernels; it repeats after seven), the plain
# convolution in vermillion, which no kernel takes. The sign is the fill: +1 filled, -1
# hatched in the same colour.
KERNEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
CONV = "#D55E00"
INVERTED_HATCH = "////"
# Consecutive motifs alternate between these opacities, so touching windows stay apart.
SHADES = (0.22, 0.4)


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


def edge_strip(band: tuple) -> tuple:
    """The strip at the outer edge of ``band`` (its top, or its bottom for a lower band)."""
    bottom, top = band
    return (top - STRIP, top) if top >= 1.0 else (bottom, bottom + STRIP)


def make_room_for_strips(axes, envelope: MinMaxEnvelope, layers: list) -> None:
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


def motif_colour(motif, layer: MotifLayer, colours: dict, kernel_names: list[str]) -> str:
    if layer.method == "conv":
        return CONV
    name = motif.kernel if motif.kernel is not None else (kernel_names[0] if kernel_names else None)
    return colours.get(name, KERNEL_COLOURS[0])


def shade_motifs(
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
        groups.setdefault((motif_colour(motif, layer, colours, kernel_names), motif.sign), []).append(motif)
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


def label_motifs(axes, drawn: list, axis: SampleAxis, colours: dict, kernel_names: list[str], renderer) -> int:
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
            placed.append((x, y, text, at_top, motif_colour(motif, layer, colours, kernel_names)))
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


def draw_legend(figure, layers: list[MotifLayer], scans: list, kernel_names: list[str], colours: dict) -> None:
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
