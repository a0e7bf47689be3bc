"""Writers: motifs as a table, JSON, JSON Lines or CSV; score tracks as CSV or Parquet.

Files named with ``--output`` are written to a temporary file beside the target and
renamed into place only when the run succeeded, so a failed or interrupted run never
leaves half a result behind.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import sys
import unicodedata
from typing import IO, Iterable, Iterator, Sequence

import numpy as np

from motifscan.motif import Motif
from motifscan.errors import MotifscanError
from motifscan.io.csv_layout import zone_to_arrow
from motifscan.io.times import format_time, iso_times

#: Every motif column, in output order. ``file``, ``kernel``, ``time``, ``dilation``,
#: ``distance``, ``channels`` and ``activation`` are optional: a run writes only the columns that mean
#: something for it (see :func:`motif_fields`).
MOTIF_FIELDS = (
    "file",
    "channel",
    "channels",
    "kernel",
    "start",
    "end",
    "time",
    "dilation",
    "score",
    "cosine",
    "distance",
    "sign",
    "scale",
    "filled",
    "activation",
)


def optional_fields(config) -> tuple[str, ...]:
    """The shape-matching columns a run fills: ``kernel`` with several kernels,
    ``dilation`` with several dilations, ``distance`` with ``--normalize zscore``,
    ``channels`` (the joint channels a motif was scored over) with ``--min-channels``."""
    used = {
        "kernel": len(config.kernels) > 1,
        "dilation": len(config.dilations) > 1,
        "distance": config.normalize == "zscore",
        "channels": getattr(config, "min_channels", None) is not None,
        "filled": getattr(config, "fill", "none") != "none",
    }
    return tuple(name for name, on in used.items() if on)


def motif_fields(
    *, with_time: bool, with_file: bool = False, with_activation: bool = False, optional: Sequence[str] = ()
) -> tuple[str, ...]:
    """The columns of a run: :data:`MOTIF_FIELDS` less the optional ones it does not use.

    ``activation`` (the plain convolution) is used by ``--method conv`` and ``compare``;
    ``optional`` names the shape-matching columns used (see :func:`optional_fields`).
    """
    used = {
        "time": with_time,
        "file": with_file,
        "activation": with_activation,
        **{name: name in optional for name in ("kernel", "dilation", "distance", "channels", "filled")},
    }
    return tuple(name for name in MOTIF_FIELDS if used.get(name, True))


#: Significant digits of reported scores, cosines and scales. float64 round-off in a scan is
#: about 1e-15 relative, so 12 digits are all exact, and 1.0000000000000002 reads as 1.0.
DIGITS = 12


def _number(value: float):
    # JSON has no inf/NaN; a scale can overflow when the signal is 1e300 and the kernel tiny.
    return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else None


def motif_record(motif: Motif, fields: Sequence[str]) -> dict:
    """One motif as a dict of JSON-ready values, with the keys ``fields`` in that order."""
    values = {
        "file": motif.file,
        "channel": motif.channel,
        "channels": motif.channels,
        "kernel": motif.kernel,
        "start": motif.start,
        "end": motif.end,
        "time": format_time(motif.time),
        "dilation": motif.dilation,
        "score": _number(motif.score),
        "cosine": _number(motif.cosine),
        "distance": None if motif.distance is None else _number(motif.distance),
        "sign": motif.sign,
        "scale": _number(motif.scale),
        "filled": motif.filled,
        "activation": None if motif.activation is None else _number(motif.activation),
    }
    return {name: values[name] for name in fields}


#: The columns whose text comes from the input (file, column and kernel names).
NAME_FIELDS = ("file", "channel", "channels", "kernel")
#: What a spreadsheet reads as the start of a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@")


def csv_cells(motif: Motif, fields: Sequence[str]) -> list:
    """The motif's ``fields`` as one CSV row: absent values are empty cells, and names from
    the input are made safe to open in a spreadsheet (see :func:`csv_name`)."""
    record = motif_record(motif, fields)
    # (``filled`` is written as JSON writes it: true or false.)
    return [
        ""
        if record[f] is None
        else csv_name(record[f])
        if f in NAME_FIELDS
        else json.dumps(record[f])
        if isinstance(record[f], bool)
        else record[f]
        for f in fields
    ]


def csv_name(name: str) -> str:
    """A name from the input as CSV text: one that starts with ``=``, ``+``, ``-`` or ``@``
    gets a leading apostrophe, so that a spreadsheet shows it instead of running it as a
    formula (``=HYPERLINK(...)`` as a column name)."""
    return "'" + name if name.startswith(FORMULA_STARTS) else name


def csv_row(cells: Sequence) -> str:
    """One CSV line (RFC 4180, ``\\n`` ended): a text cell is quoted when it holds a comma, a
    double quote or any control character (``\\r``, ``\\n``, tab, escape, ...), quotes doubled;
    numbers in shortest round-trip form."""
    return ",".join(_csv_cell(cell) for cell in cells) + "\n"


def _csv_cell(cell) -> str:
    if not isinstance(cell, str):
        return repr(cell) if isinstance(cell, float) else str(cell)
    if any(c in ',"' or unicodedata.category(c) == "Cc" for c in cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def write_csv(
    stream: IO[str], motifs: Iterable[Motif], fields: Sequence[str], *, header: bool = True, flush: bool = False
) -> None:
    """Motifs as CSV (a header row unless ``header`` is False); numbers in shortest round-trip form.

    With ``flush`` every row is flushed as it is written, for live pipelines.
    """
    if header:
        stream.write(csv_row(fields))
    for motif in motifs:
        stream.write(csv_row(csv_cells(motif, fields)))
        if flush:
            stream.flush()


def write_jsonl(stream: IO[str], motifs: Iterable[Motif], fields: Sequence[str]) -> None:
    """One JSON object per motif and line, flushed at once so pipelines see it."""
    for motif in motifs:
        stream.write(json.dumps(motif_record(motif, fields)) + "\n")
        stream.flush()


def write_json(stream: IO[str], motifs: Iterable[Motif], fields: Sequence[str], report: dict) -> None:
    """One JSON document: the run's ``report`` fields followed by ``"motifs"``."""
    document = dict(report)
    document["motifs"] = [motif_record(motif, fields) for motif in motifs]
    json.dump(document, stream, indent=2)
    stream.write("\n")


#: Decimals of a numeric time in the table: microseconds when the time is in seconds.
#: CSV and JSON keep every digit; the table is for reading.
TABLE_TIME_DECIMALS = 6


def table_time(value) -> str:
    """A time as the table shows it: ISO 8601 text as it is, a number with at most
    :data:`TABLE_TIME_DECIMALS` decimals (``0.166667``, not ``0.16666666666666666``), and a
    tiny nonzero number in 6 significant digits rather than as ``0``."""
    if value is None or isinstance(value, str):
        return "" if value is None else value
    text = f"{value:.{TABLE_TIME_DECIMALS}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if value != 0 and text in ("0", "-0"):
        text = f"{value:.6g}"
    return text


def table_cells(motif: Motif, columns: Sequence[str]) -> list[str]:
    """The motif's ``columns`` as the table shows them (4 decimals for scores and cosines,
    readable times)."""
    record = motif_record(motif, columns)
    shown = {
        "time": table_time(record.get("time")),
        "score": f"{motif.score:+.4f}",
        "cosine": f"{motif.cosine:+.4f}",
        "distance": "" if motif.distance is None else f"{motif.distance:.4f}",
        "sign": "+1" if motif.sign > 0 else "-1",
        "scale": f"{motif.scale:.4g}",
        "activation": "" if motif.activation is None else f"{motif.activation:+.4g}",
    }
    return [shown.get(name, "" if record[name] is None else str(record[name])) for name in columns]


def table_console(stream: IO[str]):
    """A Rich console for ``stream``: colours only on a terminal, and never with NO_COLOR."""
    from rich.console import Console

    class PipeConsole(Console):
        # Rich turns a closed pipe into SIGPIPE's cousin exit(1), which means "no motif" for
        # us: let the BrokenPipeError reach the command line, which exits 141 like every format.
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    console = PipeConsole(file=stream)
    if not console.is_terminal:
        # A file or a pipe has no width to respect: never wrap a timestamp into two lines.
        console = PipeConsole(file=stream, width=200)
    return console


def write_table(stream: IO[str], motifs: list[Motif], fields: Sequence[str], caption: str, footer=None) -> None:
    """A Rich table for people, then the ``footer`` lines and the one-line ``caption``.

    ``footer``, a callable, gets the console's width and gives the lines (str or Rich
    ``Text``) printed under the table (the sparkline). Colours only on a terminal, and
    never with NO_COLOR.
    """
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # No "end" column: it is start + span, and the caption gives the span.
    columns = [name for name in fields if name != "end"]
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("file", "channel", "kernel", "time") else "right", no_wrap=True
        )
    for motif in motifs:
        table.add_row(*table_cells(motif, columns), style=None if motif.sign > 0 else "magenta")
    console = table_console(stream)
    console.print(table)
    print_footer(console, footer)
    console.print(caption, style="dim", highlight=False)


def print_footer(console, footer) -> None:
    """Print ``footer(console.width)``'s lines, unwrapped (see :func:`write_table`)."""
    for line in footer(console.width) if footer else ():
        console.print(line, highlight=False, no_wrap=True, crop=True)


def stdout_is_terminal() -> bool:
    """True when results go to a person: a terminal (Rich's rules, so TTY_COMPATIBLE works)."""
    from rich.console import Console

    return Console(file=sys.stdout).is_terminal


def score_format(path: str | None) -> str:
    """``parquet`` for ``.parquet``/``.pq`` outputs, else ``csv`` (also for stdout)."""
    if path is not None and path.lower().endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def write_scores(
    stream: IO[bytes], blocks, channels: list[str], time_column: str | None, fmt: str, time_zone=None
) -> None:
    """Write score blocks (``motifscan.scan_plan.ScoreBlock``) as one CSV or Parquet table.

    Columns: ``start``, the time column (when there is one), then ``<label>_score``,
    ``<label>_cosine``, ``<label>_scale`` (and ``<label>_distance`` for ``--normalize
    zscore``) for each track label in ``channels`` (the channel name, for one kernel at one
    dilation), and ``<channel>_activation`` when the blocks carry the plain convolution
    (``--method conv``). Unscored windows (NaN/inf in the window) are empty cells in CSV and
    nulls in Parquet, as are the last positions of a track whose windows are longer than
    others'. Timestamps are ISO 8601 text in CSV, as in the motifs (with the input's offset
    when ``time_zone`` is given), and Parquet timestamps in that zone.
    """
    import pyarrow as pa

    writer = None
    try:
        for block in blocks:
            columns = {"start": pa.array(np.arange(block.first_position, block.first_position + block.positions))}
            if time_column is not None and block.time is not None:
                columns[time_column] = _score_times(block.time, time_zone, fmt)
            for name in channels:
                track = block.tracks[name]
                for part in track._fields:
                    values = getattr(track, part)
                    if values.shape[0] < block.positions:  # longer windows end earlier
                        values = np.concatenate([values, np.full(block.positions - values.shape[0], np.nan)])
                    columns[f"{name}_{part}"] = pa.array(values, from_pandas=True)
                if block.activations is not None:
                    columns[f"{name}_activation"] = pa.array(block.activations[name], from_pandas=True)
            table = pa.table(columns)
            if writer is None:
                writer = _score_writer(stream, table.schema, fmt)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _score_times(values: np.ndarray, zone, fmt: str):
    import pyarrow as pa

    if values.dtype.kind != "M":
        return pa.array(values, from_pandas=True)
    if fmt == "parquet":
        return pa.array(values).cast(pa.timestamp(np.datetime_data(values.dtype)[0], tz=zone_to_arrow(zone)))
    return pa.array(iso_times(values, zone), pa.string())


def _score_writer(stream, schema, fmt: str):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(stream, schema)
    import pyarrow.csv as pcsv

    # pyarrow quotes every header name; the header is written like detect's (quoted only
    # where a name needs it), and pyarrow writes the rows.
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(schema.names)
    stream.write(header.getvalue().encode("utf-8"))
    return pcsv.CSVWriter(stream, schema, write_options=pcsv.WriteOptions(quoting_style="needed", include_header=False))


def run_report(summary, parameters: dict) -> dict:
    """The JSON header of a run: where the data came from, the options, what was seen.

    A run that computed the plain convolution adds ``strongest_activation`` per channel.
    """
    report = {
        "source": summary.source,
        "channels": summary.channels,
        "time_column": summary.time_column,
        "parameters": parameters,
        "device": summary.device,
        "samples": summary.samples,
        "positions": summary.positions,
        "skipped_windows": summary.skipped_windows,
        "suppressed_peaks": summary.suppressed_peaks,
        "large_offset": summary.large_offset,
        "motif_count": summary.motifs,
    }
    if "min_channels" in parameters:
        report["partial_windows"] = summary.partial_windows
    if str(parameters.get("threshold", "")).startswith(("mad:", "fa:")):
        report["thresholds"] = {label: _number(value) for label, value in summary.thresholds.items()}
    if "fill" in parameters:
        report["filled_samples"] = summary.filled_samples
        report["filled_windows"] = summary.filled_windows
    if summary.undecided:
        report["undecided_candidates"] = summary.undecided
    if summary.bad_lines is not None and summary.bad_lines.policy != "error":
        report["bad_lines"] = summary.bad_lines.report()
    if summary.strongest_activation:
        report["strongest_activation"] = {name: _number(value) for name, value in summary.strongest_activation.items()}
    return report


def write_motifs(
    stream: IO[str], run, fmt: str, *, after_header: str | None = None, footer=None, keep: list | None = None
) -> None:
    """Run ``run`` (a :class:`motifscan.batch.BatchRun`) and write its motifs as ``fmt``.

    JSON Lines is written while the signal streams; the other formats wait for the end so
    they can list the motifs in order. ``after_header`` is the header line of the CSV that
    the motifs are appended to: it must be this run's, and is not written again.
    ``footer`` gives the lines printed under a table once the run is over (see
    :func:`write_table`). ``keep``, a list, receives every motif written (for a figure).
    """
    if fmt == "jsonl":
        write_jsonl(stream, _kept(run.as_found(), keep), run.fields)
        return
    if fmt == "csv" and run.live:
        # A live input may never end: each row as soon as its motif is final.
        _check_header(after_header, run.fields)
        write_csv(stream, _kept(run.as_found(), keep), run.fields, header=after_header is None, flush=True)
        return
    motifs = list(run)
    if keep is not None:
        keep += motifs
    fields = run.fields  # known for sure once every input has been read
    if fmt == "csv":
        _check_header(after_header, fields)
        write_csv(stream, motifs, fields, header=after_header is None)
    elif fmt == "json":
        write_json(stream, motifs, fields, run.report())
    else:
        write_table(stream, motifs, fields, run.caption(), footer)


def _kept(motifs: Iterable[Motif], keep: list | None) -> Iterable[Motif]:
    """``motifs``, each also appended to ``keep`` on the way (unless it is None)."""
    if keep is None:
        return motifs
    return _keeping(motifs, keep)


def _keeping(motifs: Iterable[Motif], keep: list) -> Iterator[Motif]:
    for motif in motifs:
        keep.append(motif)
        yield motif


def _check_header(after_header: str | None, fields: Sequence[str]) -> None:
    if after_header is not None and after_header != ",".join(fields):
        raise MotifscanError(f"--append: the output's columns are {after_header}, this run's are {','.join(fields)}")


def output_format(fmt: str | None, path: str | None) -> str:
    """The motif format: as asked, else from the ``--output`` extension, else table on a
    terminal and CSV when piped."""
    if fmt is not None:
        return fmt
    if path is not None and path != "-":
        lowered = path.lower()
        for extension, name in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".txt", "table")):
            if lowered.endswith(extension):
                return name
        return "csv"
    return "table" if stdout_is_terminal() else "csv"


def write_fit_report(stream: IO[str], report: dict, fmt: str) -> None:
    """The report of ``motifscan fit``: JSON, or a table of every detector tried (the
    starting points and the fits) with its cross-validated and held-out scores."""
    if fmt == "json":
        json.dump(report, stream, indent=2)
        stream.write("\n")
        return
    from rich import box
    from rich.table import Table

    evaluation = report["evaluation"]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    held = evaluation["on"]
    columns = ("detector", "normalize", "metric", "p", "CV P", "CV R", "CV F1", "P", "R", "F1")
    for name in columns:
        table.add_column(name, justify="left" if name in columns[:3] else "right", no_wrap=True)

    def scores(judged):
        if judged is None:
            return ["-", "-", "-"]
        return [f"{judged['precision']:.3f}", f"{judged['recall']:.3f}", f"{judged['f1']:.3f}"]

    for row in report["candidates"]:
        kept = (
            row["detector"] == report["kept"]
            and row["metric"] == report["metric"]
            and row["normalize"] == report["normalize"]
        )
        table.add_row(
            row["detector"] + (" *" if kept else ""),
            row["normalize"],
            row["metric"],
            f"{row['p']:.3g}",
            *scores(row["cross_validation"]),
            *scores(row["held_out"] if held != "cross-validation" else None),
        )
    console = table_console(stream)
    console.print(table)
    split = report.get("split")
    console.print(
        f"* written · CV: {report['folds']}-fold cross-validation on the training labels, at the chosen cut-off"
        f" · P, R, F1: on {held} labels, {evaluation['source']}, {evaluation['positives']} positives"
        + (f" · split at row {split['row']}" if split else "")
        + f"\nlearned from {report['positives']} positives, {report['negatives']} negatives,"
        f" {report['mined_negatives']} mined"
        f" · normalize {report['normalize']} ({report['normalize_chosen_by']})"
        f" · cut-off cosine {report['cutoff_cosine']:.3f} ({report['cutoff_chosen_on']})",
        style="dim",
        highlight=False,
        soft_wrap=True,
    )
