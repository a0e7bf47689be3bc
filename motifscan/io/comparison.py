"""Writers for ``motifscan compare``: the two methods' motifs side by side.

A row is one place in the signal where at least one method found a motif (see
:func:`motifscan.compare.pair_motifs`); ``found_by`` says which: ``both``, ``cosine only``
or ``conv only``.
"""

from __future__ import annotations

import json
from typing import IO

from motifscan.compare import COMPARED, Comparison, found_by_counts
from motifscan.io.output import (
    csv_cells,
    csv_name,
    csv_row,
    motif_fields,
    motif_record,
    print_footer,
    run_report,
    table_cells,
    table_console,
)
from motifscan.io.times import in_zone

#: Fields of each method's motif in a row, for CSV (prefixed ``cosine_`` / ``conv_``).
ROW_FIELDS = ("start", "end", "score", "activation", "sign")


def comparison_report(comparison: Comparison) -> dict:
    """The comparison as one JSON-ready document (the ``--format json`` output)."""
    fields = motif_fields(with_time=comparison.source.time_column is not None, with_activation=True)

    zone = comparison.summary.time_zone

    def record(motif):
        return None if motif is None else motif_record(_shown(motif, zone), fields)

    parameters = comparison.config.parameters()
    del parameters["method"]  # both methods run
    report = run_report(comparison.summary, parameters)
    del report["motif_count"]  # one count per method, below
    strongest = report.pop("strongest_activation", {})
    report["cosine"] = {
        "threshold": comparison.config.threshold,
        "motif_count": len(comparison.motifs["cosine"]),
        "motifs": [record(m) for m in comparison.motifs["cosine"]],
    }
    report["conv"] = {
        "threshold": comparison.config.threshold,
        "strongest_activation": strongest,
        "motif_count": len(comparison.motifs["conv"]),
        "motifs": [record(m) for m in comparison.motifs["conv"]],
    }
    report["found_by"] = found_by_counts(comparison.rows)
    report["rows"] = [
        {"channel": row.channel, "found_by": row.found_by, "cosine": record(row.cosine), "conv": record(row.conv)}
        for row in comparison.rows
    ]
    return report


def write_comparison(stream: IO[str], comparison: Comparison, fmt: str, footer=None) -> None:
    """Write a finished :class:`~motifscan.compare.Comparison` as ``table``, ``json`` or ``csv``.

    ``footer`` gives the lines printed under a table (the sparklines; see
    :func:`motifscan.io.output.write_table`).
    """
    if fmt == "json":
        json.dump(comparison_report(comparison), stream, indent=2)
        stream.write("\n")
    elif fmt == "csv":
        _write_csv(stream, comparison)
    else:
        _write_table(stream, comparison, footer)


def _write_csv(stream: IO[str], comparison: Comparison) -> None:
    fields = list(ROW_FIELDS)
    if comparison.source.time_column is not None:
        fields.insert(2, "time")
    zone = comparison.summary.time_zone
    stream.write(csv_row(["channel", "found_by"] + [f"{method}_{f}" for method in COMPARED for f in fields]))
    for row in comparison.rows:
        cells = [csv_name(row.channel), row.found_by]
        for motif in (row.cosine, row.conv):
            cells += [""] * len(fields) if motif is None else csv_cells(_shown(motif, zone), fields)
        stream.write(csv_row(cells))


def _write_table(stream: IO[str], comparison: Comparison, footer) -> None:
    from rich import box
    from rich.table import Table

    with_time = comparison.source.time_column is not None
    fields = ["start", *(["time"] if with_time else []), "score", "activation", "sign"]
    zone = comparison.summary.time_zone
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("channel", no_wrap=True)
    table.add_column("found by", no_wrap=True)
    for method in COMPARED:
        for i, name in enumerate(fields):
            # Two header lines: the method over its first column, the field under it.
            table.add_column(
                f"{method if i == 0 else ''}\n{name}", justify="left" if name == "time" else "right", no_wrap=True
            )
    for row in comparison.rows:
        cells = [row.channel, row.found_by]
        for motif in (row.cosine, row.conv):
            cells += [""] * len(fields) if motif is None else table_cells(_shown(motif, zone), fields)
        table.add_row(*cells, style=None if row.found_by == "both" else "bold")
    console = table_console(stream)
    console.print(table)
    print_footer(console, footer)
    for line in _caption(comparison):
        console.print(line, style="dim", highlight=False)


def _shown(motif, zone):
    """The motif with its time in the input's zone (see :func:`motifscan.io.times.in_zone`)."""
    return next(in_zone([motif], zone))


def _caption(comparison: Comparison) -> list[str]:
    config, summary = comparison.config, comparison.summary
    counts = found_by_counts(comparison.rows)

    def motifs(count: int) -> str:
        return f"{count} motif{'s' * (count != 1)}"

    return [
        f"cosine (p = {config.p:g}, |score| ≥ {config.threshold:g}): "
        f"{motifs(len(comparison.motifs['cosine']))} · conv (|activation| ≥ {config.threshold:g} × "
        f"strongest): {motifs(len(comparison.motifs['conv']))}",
        "found by "
        + " · ".join(f"{label}: {count}" for label, count in counts.items())
        + f" · {summary.samples} samples · span {config.span}",
    ]
