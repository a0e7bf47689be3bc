"""A one-line picture of a score track under the terminal table: where the matches are.

While each character stands for at most one position, it shows the |value| there as one
of eight block heights (``▁`` to ``█``). On longer runs a character stands for many
positions, and their largest |value| is near the threshold almost everywhere (a solid
bar), so each character shows instead how many motifs start among its positions: ``▁``
none, ``▂`` one, up to ``█`` for the most of any character (said on a last line; ``█``
is one when no character has more). A
character whose strongest value (or, for motifs, most motifs) is inverted is magenta; a
run of unscored windows (NaN) is blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from motifscan.envelope import MinMaxEnvelope

BLOCKS = "▁▂▃▄▅▆▇█"


def peak_columns(envelope: MinMaxEnvelope, width: int) -> np.ndarray:
    """The signed value of largest magnitude in each of at most ``width`` columns.

    Parameters
    ----------
    envelope : MinMaxEnvelope
        The track, as min/max buckets.
    width : int
        Characters available, >= 1.

    Returns
    -------
    float64 array, shape (min(width, buckets),)
        NaN where a column has no value.
    """
    _, lo, hi = envelope.buckets()
    # lo and hi are NaN together (a bucket of unscored windows) or not at all.
    signed = np.where(np.abs(lo) > np.abs(hi), lo, hi)
    if signed.shape[0] <= width:
        return signed
    edges = np.linspace(0, signed.shape[0], width + 1).astype(np.int64)
    columns = np.full(width, np.nan)
    magnitude = np.nan_to_num(np.abs(signed), nan=-1.0)
    for i in range(width):
        part = slice(edges[i], edges[i + 1])
        strongest = int(np.argmax(magnitude[part]))
        columns[i] = signed[part][strongest]
    return columns


def sparkline_text(values: np.ndarray, scale: float):
    """The characters for ``values`` (signed, NaN for none) as a Rich ``Text``.

    ``scale`` is the |value| drawn as a full block (1 for scores, the strongest
    |activation| for the convolution).
    """
    from rich.text import Text

    text = Text()
    run, run_style = "", None  # consecutive characters of one style, appended together
    for value in values:
        if np.isnan(value):
            char = " "
        elif not np.isfinite(value):
            char = BLOCKS[-1]
        else:
            fraction = abs(value) / scale if scale > 0 else 0.0
            char = BLOCKS[min(len(BLOCKS) - 1, max(0, int(np.ceil(fraction * len(BLOCKS))) - 1))]
        style = "magenta" if value < 0 else None
        if style != run_style and run:
            text.append(run, style=run_style)
            run = ""
        run, run_style = run + char, style
    text.append(run, style=run_style)
    return text


def strongest(envelope: MinMaxEnvelope) -> float:
    """The largest finite |value| of the series (0 when there is none)."""
    _, lo, hi = envelope.buckets()
    magnitudes = np.abs(np.concatenate([lo, hi]))
    magnitudes = magnitudes[np.isfinite(magnitudes)]
    return float(magnitudes.max()) if magnitudes.size else 0.0


def sparkline_lines(lines: Sequence[tuple[str, MinMaxEnvelope, float | None]], width: int) -> list:
    """One sparkline per ``(label, track envelope, scale)``, labels padded to one width.

    A scale of None is the track's own strongest |value| (for activations, which have no
    natural scale). The lines fit in ``width`` characters (a terminal's width).
    """
    from rich.text import Text

    if not lines:
        return []
    label_width = max(len(label) for label, _, _ in lines)
    room = max(8, width - label_width - 2)
    result = []
    for label, envelope, scale in lines:
        line = Text(label.ljust(label_width) + "  ")
        line.append_text(sparkline_text(peak_columns(envelope, room), strongest(envelope) if scale is None else scale))
        result.append(line)
    return result


def density_columns(starts: np.ndarray, signs: np.ndarray, positions: int, width: int) -> tuple:
    """Motifs per column: ``starts`` (shape (k,)) spread over ``width`` columns of
    ``positions`` positions.

    Returns
    -------
    counts : int64 array, shape (width,)
        Motifs starting in each column (column ``c`` holds the positions
        ``floor(c * positions / width)`` up to the next column's first).
    inverted : bool array, shape (width,)
        Where most of a column's motifs have sign -1.
    """
    starts = np.asarray(starts, dtype=np.int64)
    column = np.minimum(starts * width // max(positions, 1), width - 1)
    counts = np.bincount(column, minlength=width)
    net = np.bincount(column, weights=np.asarray(signs, dtype=np.float64), minlength=width)
    return counts, net < 0


def density_text(counts: np.ndarray, inverted: np.ndarray, unscored: np.ndarray, most: int):
    """The characters for motif ``counts`` per column as a Rich ``Text``: ``▁`` for none,
    ``▂`` for one, ``█`` for ``most`` (for one when ``most`` is 1), linear in between;
    magenta where ``inverted``, blank where ``unscored``."""
    from rich.text import Text

    text = Text()
    for count, negative, blank in zip(counts, inverted, unscored):
        if blank and not count:
            char = " "
        elif not count:
            char = BLOCKS[0]
        elif most <= 1:
            char = BLOCKS[-1]
        else:
            # One motif is the second height (a lone event never looks like none), ``most`` the full block.
            level = 1 + int(np.ceil((count - 1) / (most - 1) * (len(BLOCKS) - 2)))
            char = BLOCKS[min(level, len(BLOCKS) - 1)]
        text.append(char, style="magenta" if negative and count else None)
    return text


def track_label(motif) -> str:
    """The label of the track (see :class:`motifscan.scan_plan.Scan`) a motif was found on."""
    return (
        motif.channel
        + (f"_{motif.kernel}" if motif.kernel is not None else "")
        + (f"_d{motif.dilation}" if motif.dilation is not None else "")
    )


def motif_sparklines(lines: Sequence[tuple[str, MinMaxEnvelope, float | None, list | None]], width: int) -> list:
    """Like :func:`sparkline_lines`, but a track longer than its characters, whose motifs
    are given (the 4th item), shows how many motifs start per character, with a last line
    saying the count of a full block."""
    from rich.text import Text

    if not lines:
        return []
    label_width = max(len(label) for label, _, _, _ in lines)
    room = max(8, width - label_width - 2)
    dense = [
        (label, envelope, motifs)
        for label, envelope, _, motifs in lines
        if motifs is not None and envelope.length > room
    ]
    if not dense:
        return sparkline_lines([line[:3] for line in lines], width)
    per_line = {}
    for label, envelope, motifs in dense:
        counts, inverted = density_columns(
            np.array([m.start for m in motifs], dtype=np.int64),
            np.array([m.sign for m in motifs]),
            envelope.length,
            room,
        )
        per_line[label] = (counts, inverted, _unscored_columns(envelope, room))
    most = max(int(counts.max()) for counts, _, _ in per_line.values())
    result = []
    for label, envelope, scale, _ in lines:
        line = Text(label.ljust(label_width) + "  ")
        if label in per_line:
            line.append_text(density_text(*per_line[label], most))
        else:
            line.append_text(
                sparkline_text(peak_columns(envelope, room), strongest(envelope) if scale is None else scale)
            )
        result.append(line)
    full = f"{BLOCKS[-1]} one" if most <= 1 else f"{BLOCKS[1]} one, {BLOCKS[-1]} {most}"
    result.append(Text(f"motifs per character: {BLOCKS[0]} none, {full}"))
    return result


def _unscored_columns(envelope: MinMaxEnvelope, width: int) -> np.ndarray:
    """Where every position of a column is unscored (NaN), shape (width,)."""
    columns = peak_columns(envelope, width)
    if columns.shape[0] == width:
        return np.isnan(columns)
    return np.zeros(width, dtype=bool)


def detection_sparklines(recorder, method: str, motifs: list | None = None):
    """The ``footer`` of ``detect``'s table: each track of the ``method`` detected on; with
    ``motifs`` (filled by the time the table is printed), the motif density on long runs."""

    def footer(width: int) -> list:
        by_track: dict = {}
        lines: list[Any]
        for motif in motifs if motifs is not None else ():
            by_track.setdefault(track_label(motif), []).append(motif)
        if method == "conv":
            lines = [(name, recorder.activation[name], None) for name in recorder.channels]
        else:
            lines = [(name, recorder.score[name], 1.0) for name in recorder.channels]
        if motifs is None:
            return sparkline_lines(lines, width)
        return motif_sparklines([(*line, by_track.get(line[0], [])) for line in lines], width)

    return footer


def comparison_sparklines(recorder, motifs: dict | None = None):
    """The ``footer`` of ``compare``'s table: per channel the score, then the activation;
    with ``motifs`` (by method, filled when the table is printed) the motif density on long runs."""

    def footer(width: int) -> list:
        lines: list[Any] = []
        for name in recorder.channels:
            of = {
                method: ([m for m in motifs[method] if m.channel == name] if motifs is not None else None)
                for method in ("cosine", "conv")
            }
            lines.append((f"{name} cosine", recorder.score[name], 1.0, of["cosine"]))
            lines.append((f"{name} conv", recorder.activation[name], None, of["conv"]))
        if motifs is None:
            return sparkline_lines([line[:3] for line in lines], width)
        return motif_sparklines(lines, width)

    return footer
