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
#: Fields a run reports only when they mean something (``extra`` in the writers below):
#: ``activation`` with ``--method conv`` and in ``compare``.
OPTIONAL_FIELDS = ("activation",)


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


def motif_fields(with_time: bool, extra=()) -> list[str]:
    """The output columns: :data:`MOTIF_FIELDS` (``time`` only ``with_time``), then ``extra``."""
    return [f for f in MOTIF_FIELDS if with_time or f != "time"] + [f for f in OPTIONAL_FIELDS if f in extra]


def motif_record(motif: Motif, with_time: bool, extra=()) -> dict:
    """One motif as a dict of JSON-ready values, in :func:`motif_fields` order.

    ``extra`` names the :data:`OPTIONAL_FIELDS` to include.
    """
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
    if "activation" in extra:
        record["activation"] = None if motif.activation is None else _number(motif.activation)
    return record


def write_csv(stream: IO[str], motifs: Iterable[Motif], with_time: bool, extra=()) -> None:
    """Motifs as CSV with a header row; numbers in shortest round-trip form."""
    fields = motif_fields(with_time, extra)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for motif in motifs:
        record = motif_record(motif, with_time, extra)
        writer.writerow(["" if record[f] is None else record[f] for f in fields])


def write_jsonl(stream: IO[str], motifs: Iterable[Motif], with_time: bool, extra=()) -> None:
    """One JSON object per motif and line, flushed at once so pipelines see it."""
    for motif in motifs:
        stream.write(json.dumps(motif_record(motif, with_time, extra)) + "\n")
        stream.flush()


def write_json(stream: IO[str], motifs: Iterable[Motif], with_time: bool, report: dict, extra=()) -> None:
    """One JSON document: the run's ``report`` fields followed by ``"motifs"``."""
    document = dict(report)
    document["motifs"] = [motif_record(motif, with_time, extra) for motif in motifs]
    json.dump(document, stream, indent=2)
    stream.write("\n")


def table_cell(motif: Motif, field: str, with_time: bool) -> str:
    """One field of a motif as the table shows it (4 decimals for scores and cosines)."""
    if field == "score" or field == "cosine":
        return f"{getattr(motif, field):+.4f}"
    if field == "sign":
        return "+1" if motif.sign > 0 else "-1"
    if field == "scale":
        return f"{motif.scale:.4g}"
    if field == "activation":
        return f"{motif.activation:+.4g}"
    return str(motif_record(motif, with_time)[field])


def table_console(stream: IO[str]):
    """A Rich console for ``stream``: colours only on a terminal, never with NO_COLOR."""
    from rich.console import Console

    console = Console(file=stream)
    if not console.is_terminal:
        # A file or a pipe has no width to respect: never wrap a timestamp into two lines.
        console = Console(file=stream, width=200)
    return console


def write_table(stream: IO[str], motifs: list[Motif], with_time: bool, caption: str, extra=(),
                footer=()) -> None:
    """A Rich table for people, then the ``footer`` lines and the one-line ``caption``.

    Colours only on a terminal, and never with NO_COLOR.
    """
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # No "end" column: it is start + span, and the caption gives the span.
    fields = [f for f in motif_fields(with_time, extra) if f != "end"]
    for name in fields:
        table.add_column(name, justify="left" if name in ("channel", "time") else "right", no_wrap=True)
    for motif in motifs:
        table.add_row(*(table_cell(motif, name, with_time) for name in fields),
                      style=None if motif.sign > 0 else "magenta")
    console = table_console(stream)
    console.print(table)
    for line in footer:
        console.print(line, highlight=False)
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
    ``<channel>_cosine``, ``<channel>_scale`` for each channel, and ``<channel>_activation``
    when the blocks carry the plain convolution (``--method conv``). Unscored windows
    (NaN/inf in the window) are empty cells in CSV and nulls in Parquet.
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
                if block.activations is not None:
                    columns[f"{name}_activation"] = pa.array(block.activations[name], from_pandas=True)
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


def write_motifs(stream: IO[str], detection, fmt: str, footer=None) -> None:
    """Run ``detection`` (a ``motifscan.pipeline.Detection``) and write its motifs as ``fmt``.

    JSON Lines is written while the signal streams; the other formats wait for the end so
    they can list the motifs in signal order. ``footer``, a callable, gives the lines to
    print under a table once the run is over (the score sparkline).
    """
    from motifscan.detection import sort_motifs

    with_time = detection.source.time_column is not None
    config = detection.config
    extra = ("activation",) if config.method == "conv" else ()
    if fmt == "jsonl":
        write_jsonl(stream, detection, with_time, extra)
        return
    motifs = sort_motifs(list(detection), detection.channel_rank)
    summary = detection.summary
    if fmt == "csv":
        write_csv(stream, motifs, with_time, extra)
    elif fmt == "json":
        report = run_report(summary, config.parameters())
        if config.method == "conv":
            report["strongest_activation"] = {name: _number(value) for name, value
                                              in detection.strongest_activation.items()}
        write_json(stream, motifs, with_time, report, extra)
    else:
        threshold = f"threshold {config.threshold:g}"
        if config.method == "conv":
            threshold = f"conv · threshold {config.threshold:g} × strongest |activation|"
        caption = (
            f"{len(motifs)} motif{'s' * (len(motifs) != 1)} in {summary.samples} samples"
            f" · p = {config.p:g} · {threshold} · span {config.span}"
        )
        write_table(stream, motifs, with_time, caption, extra, footer() if footer else ())


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
