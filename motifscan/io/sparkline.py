"""A one-line picture of a score track under the terminal table: where the matches are.

Each character stands for a run of consecutive positions and shows the largest |value|
among them as one of eight block heights (``▁`` to ``█``), so a narrow match is never
averaged away; a run whose strongest value is negative (an inverted match) is magenta, a
run of unscored windows (NaN) is blank.
"""

from __future__ import annotations

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


def sparkline_lines(lines: list[tuple[str, MinMaxEnvelope, float | None]], width: int) -> list:
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
        line.append_text(sparkline_text(peak_columns(envelope, room),
                                        strongest(envelope) if scale is None else scale))
        result.append(line)
    return result


def detection_sparklines(recorder, method: str):
    """The ``footer`` of ``detect``'s table: each channel's track of the ``method`` detected on."""
    def footer(width: int) -> list:
        if method == "conv":
            lines = [(name, recorder.activation[name], None) for name in recorder.channels]
        else:
            lines = [(name, recorder.score[name], 1.0) for name in recorder.channels]
        return sparkline_lines(lines, width)
    return footer


def comparison_sparklines(recorder):
    """The ``footer`` of ``compare``'s table: per channel the score, then the activation."""
    def footer(width: int) -> list:
        lines = []
        for name in recorder.channels:
            lines.append((f"{name} cosine", recorder.score[name], 1.0))
            lines.append((f"{name} conv", recorder.activation[name], None))
        return sparkline_lines(lines, width)
    return footer
