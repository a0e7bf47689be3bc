"""Writers: motifs as a table, JSON, JSON Lines or CSV; score tracks as CSV or Parquet.

Files named with ``--output`` are written to a temporary file beside the target and
renamed into place only when the run succeeded, so a failed or interrupted run never
leaves half a result behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
import tempfile
from typing import IO, Iterable, Iterator

import numpy as np

from motifscan.detection import Motif
from motifscan.errors import MotifscanError

FORMATS = ("table", "json", "jsonl", "csv")
MOTIF_FIELDS = ("channel", "start", "end", "time", "score", "cosine", "sign", "scale")


def format_time(value):
    """A time value as JSON-ready text or number: ISO 8601 for timestamps."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        nanoseconds = int(value.astype("datetime64[ns]").astype(np.int64))
        for unit, size in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
            if nanoseconds % size == 0:
                return np.datetime_as_string(value, unit=unit)
        return np.datetime_as_string(value, unit="ns")
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


#: Significant digits of reported scores, cosines and scales. float64 round-off in a scan is
#: about 1e-15 relative, so 12 digits are all exact, and 1.0000000000000002 reads as 1.0.
DIGITS = 12


def _number(value: float):
    # JSON has no inf/NaN; a scale can overflow when the signal is 1e300 and the kernel tiny.
    return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else None


def motif_record(motif: Motif, with_time: bool) -> dict:
    """One motif as a dict of JSON-ready values, in :data:`MOTIF_FIELDS` order."""
    record = {
        "channel": motif.channel,
        "start": motif.start,
        "end": motif.end,
        "time": format_time(motif.time),
        "score": _number(motif.score),
        "cosine": _number(motif.cosine),
        "sign": motif.sign,
        "scale": _number(motif.scale),
    }
    if not with_time:
        del record["time"]
    return record


def write_csv(stream: IO[str], motifs: Iterable[Motif], with_time: bool) -> None:
    """Motifs as CSV with a header row; numbers in shortest round-trip form."""
    fields = [f for f in MOTIF_FIELDS if with_time or f != "time"]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for motif in motifs:
        record = motif_record(motif, with_time)
        writer.writerow(["" if record[f] is None else record[f] for f in fields])


def write_jsonl(stream: IO[str], motifs: Iterable[Motif], with_time: bool) -> None:
    """One JSON object per motif and line, flushed at once so pipelines see it."""
    for motif in motifs:
        stream.write(json.dumps(motif_record(motif, with_time)) + "\n")
        stream.flush()


def write_json(stream: IO[str], motifs: Iterable[Motif], with_time: bool, report: dict) -> None:
    """One JSON document: the run's ``report`` fields followed by ``"motifs"``."""
    document = dict(report)
    document["motifs"] = [motif_record(motif, with_time) for motif in motifs]
    json.dump(document, stream, indent=2)
    stream.write("\n")


def write_table(stream: IO[str], motifs: list[Motif], with_time: bool, caption: str) -> None:
    """A Rich table for people, then the one-line ``caption`` (the run's summary).

    Colours only on a terminal, and never with NO_COLOR.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # No "end" column: it is start + span, and the caption gives the span.
    for name in MOTIF_FIELDS:
        if name == "end" or (name == "time" and not with_time):
            continue
        table.add_column(name, justify="left" if name in ("channel", "time") else "right", no_wrap=True)
    for motif in motifs:
        record = motif_record(motif, with_time)
        row = [
            record["channel"],
            str(record["start"]),
            *([str(record["time"])] if with_time else []),
            f"{motif.score:+.4f}",
            f"{motif.cosine:+.4f}",
            "+1" if motif.sign > 0 else "-1",
            f"{motif.scale:.4g}",
        ]
        table.add_row(*row, style=None if motif.sign > 0 else "magenta")
    console = Console(file=stream)
    if not console.is_terminal:
        # A file or a pipe has no width to respect: never wrap a timestamp into two lines.
        console = Console(file=stream, width=200)
    console.print(table)
    console.print(caption, style="dim", highlight=False)


def stdout_is_terminal() -> bool:
    """True when results go to a person: a terminal (Rich's rules, so TTY_COMPATIBLE works)."""
    from rich.console import Console

    return Console(file=sys.stdout).is_terminal


@contextlib.contextmanager
def open_output(path: str | None, binary: bool = False) -> Iterator[IO]:
    """Yield a stream for the result: stdout, or a temporary file renamed to ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and the
    target is left as it was.
    """
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MotifscanError(f"--output: directory {os.path.dirname(path) or '.'} does not exist")
    if os.path.isdir(path):
        raise MotifscanError(f"--output: {path} is a directory")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".motifscan-", suffix=".part", dir=directory)
    except OSError as error:
        raise MotifscanError(f"--output: cannot write in {directory} ({error.strerror})") from None
    try:
        with os.fdopen(handle, "wb" if binary else "w", encoding=None if binary else "utf-8",
                       newline=None if binary else "") as stream:
            yield stream
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


SCORE_FORMATS = ("csv", "parquet")


def score_format(path: str | None) -> str:
    """``parquet`` for ``.parquet``/``.pq`` outputs, else ``csv`` (also for stdout)."""
    if path is not None and path.lower().endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def write_scores(stream: IO[bytes], blocks, channels: list[str], time_column: str | None, fmt: str) -> None:
    """Write score blocks (``motifscan.pipeline.ScoreBlock``) as one CSV or Parquet table.

    Columns: ``start``, the time column (when there is one), then ``<channel>_score``,
    ``<channel>_cosine``, ``<channel>_scale`` for each channel. Unscored windows (NaN/inf in
    the window) are empty cells in CSV and nulls in Parquet.
    """
    import pyarrow as pa

    writer = None
    try:
        for block in blocks:
            columns = {"start": pa.array(np.arange(block.first_position,
                                                   block.first_position + block.positions))}
            if time_column is not None and block.time is not None:
                columns[time_column] = pa.array(block.time)
            for name in channels:
                track = block.tracks[name]
                for part in ("score", "cosine", "scale"):
                    columns[f"{name}_{part}"] = pa.array(getattr(track, part), from_pandas=True)
            table = pa.table(columns)
            if writer is None:
                writer = _score_writer(stream, table.schema, fmt)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _score_writer(stream, schema, fmt: str):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(stream, schema)
    import pyarrow.csv as pcsv

    return pcsv.CSVWriter(stream, schema, write_options=pcsv.WriteOptions(quoting_style="needed"))


def run_report(summary, parameters: dict) -> dict:
    """The JSON header of a run: where the data came from, the options, what was seen."""
    return {
        "source": summary.source,
        "channels": summary.channels,
        "time_column": summary.time_column,
        "parameters": parameters,
        "device": summary.device,
        "samples": summary.samples,
        "positions": summary.positions,
        "skipped_windows": summary.skipped_windows,
        "motif_count": summary.motifs,
    }


def write_motifs(stream: IO[str], detection, fmt: str) -> None:
    """Run ``detection`` (a ``motifscan.pipeline.Detection``) and write its motifs as ``fmt``.

    JSON Lines is written while the signal streams; the other formats wait for the end so
    they can list the motifs in signal order.
    """
    from motifscan.detection import sort_motifs

    with_time = detection.source.time_column is not None
    if fmt == "jsonl":
        write_jsonl(stream, detection, with_time)
        return
    motifs = sort_motifs(list(detection), detection.channel_rank)
    summary = detection.summary
    if fmt == "csv":
        write_csv(stream, motifs, with_time)
    elif fmt == "json":
        write_json(stream, motifs, with_time, run_report(summary, detection.config.parameters()))
    else:
        config = detection.config
        caption = (
            f"{len(motifs)} motif{'s' * (len(motifs) != 1)} in {summary.samples} samples"
            f" · p = {config.p:g} · threshold {config.threshold:g} · span {config.span}"
        )
        write_table(stream, motifs, with_time, caption)


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
    """The report of ``motifscan fit``: JSON, or a table comparing the starting point (the
    mean of the positives, p = 1, threshold 0.5) with the fitted detector."""
    if fmt == "json":
        json.dump(report, stream, indent=2)
        stream.write("\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    evaluation = report["evaluation"]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("detector", "p", "threshold", "found", "precision", "recall", "F1"):
        table.add_column(name, justify="left" if name == "detector" else "right", no_wrap=True)
    for key, title in (("starting_point", "starting point"), ("fitted", "fitted")):
        row = evaluation[key]
        table.add_row(title, f"{row['p']:.3g}", f"{row['threshold']:.3g}", str(row["found"]),
                      f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}")
    console = Console(file=stream)
    if not console.is_terminal:
        console = Console(file=stream, width=200)
    console.print(table)
    console.print(
        f"judged on {evaluation['on']} labels: {evaluation['source']}, {evaluation['positives']} positives\n"
        f"learned from {report['positives']} positives, {report['negatives']} negatives,"
        f" {report['mined_negatives']} mined · metric {report['metric']}"
        f" · cut-off cosine {report['cutoff_cosine']:.3f}",
        style="dim", highlight=False, soft_wrap=True,
    )
