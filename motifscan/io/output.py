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
#: Every field a motif row can have, in column order. The ones not in MOTIF_FIELDS are
#: written only by runs that fill them (see :func:`optional_fields`).
ALL_MOTIF_FIELDS = ("channel", "kernel", "start", "end", "time", "dilation", "score", "cosine",
                    "distance", "sign", "scale")


def optional_fields(config) -> tuple:
    """The optional motif fields a run writes: ``kernel`` with several kernels (or joint
    kernels), ``dilation`` with several dilations, ``distance`` with ``--normalize zscore``."""
    wanted = []
    if len(config.kernels) > 1:
        wanted.append("kernel")
    if len(config.dilations) > 1:
        wanted.append("dilation")
    if config.normalize == "zscore":
        wanted.append("distance")
    return tuple(wanted)


def motif_fields(with_time: bool, optional=()) -> list:
    """Column names of a motif table, in order."""
    return [f for f in ALL_MOTIF_FIELDS if (f in MOTIF_FIELDS and (with_time or f != "time")) or f in optional]


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


def motif_record(motif: Motif, with_time: bool, optional=()) -> dict:
    """One motif as a dict of JSON-ready values, in :func:`motif_fields` order."""
    values = {
        "channel": motif.channel,
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
    }
    return {name: values[name] for name in motif_fields(with_time, optional)}


def write_csv(stream: IO[str], motifs: Iterable[Motif], with_time: bool, optional=()) -> None:
    """Motifs as CSV with a header row; numbers in shortest round-trip form."""
    fields = motif_fields(with_time, optional)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for motif in motifs:
        record = motif_record(motif, with_time, optional)
        writer.writerow(["" if record[f] is None else record[f] for f in fields])


def write_jsonl(stream: IO[str], motifs: Iterable[Motif], with_time: bool, optional=()) -> None:
    """One JSON object per motif and line, flushed at once so pipelines see it."""
    for motif in motifs:
        stream.write(json.dumps(motif_record(motif, with_time, optional)) + "\n")
        stream.flush()


def write_json(stream: IO[str], motifs: Iterable[Motif], with_time: bool, report: dict, optional=()) -> None:
    """One JSON document: the run's ``report`` fields followed by ``"motifs"``."""
    document = dict(report)
    document["motifs"] = [motif_record(motif, with_time, optional) for motif in motifs]
    json.dump(document, stream, indent=2)
    stream.write("\n")


def write_table(stream: IO[str], motifs: list[Motif], with_time: bool, caption: str, optional=()) -> None:
    """A Rich table for people, then the one-line ``caption`` (the run's summary).

    Colours only on a terminal, and never with NO_COLOR.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # No "end" column: it is start + span, and the caption gives the span.
    fields = [name for name in motif_fields(with_time, optional) if name != "end"]
    for name in fields:
        table.add_column(name, justify="left" if name in ("channel", "kernel", "time") else "right", no_wrap=True)
    shown = {
        "score": lambda motif, record: f"{motif.score:+.4f}",
        "cosine": lambda motif, record: f"{motif.cosine:+.4f}",
        "distance": lambda motif, record: f"{motif.distance:.4f}",
        "sign": lambda motif, record: "+1" if motif.sign > 0 else "-1",
        "scale": lambda motif, record: f"{motif.scale:.4g}",
    }
    for motif in motifs:
        record = motif_record(motif, with_time, optional)
        row = [shown[name](motif, record) if name in shown else str(record[name]) for name in fields]
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

    Columns: ``start``, the time column (when there is one), then ``<label>_score``,
    ``<label>_cosine``, ``<label>_scale`` (and ``<label>_distance`` for ``--normalize
    zscore``) for each track label in ``channels`` (the channel name, for one kernel at one
    dilation). Unscored windows (NaN/inf in the window) are empty cells in CSV and nulls in
    Parquet, as are the last positions of a track whose windows are longer than others'.
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
                for part in track._fields:
                    values = getattr(track, part)
                    if values.shape[0] < block.positions:  # longer windows end earlier
                        values = np.concatenate([values, np.full(block.positions - values.shape[0], np.nan)])
                    columns[f"{name}_{part}"] = pa.array(values, from_pandas=True)
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
    optional = optional_fields(detection.config)
    if fmt == "jsonl":
        write_jsonl(stream, detection, with_time, optional)
        return
    motifs = sort_motifs(list(detection), detection.channel_rank, detection.kernel_rank)
    summary = detection.summary
    if fmt == "csv":
        write_csv(stream, motifs, with_time, optional)
    elif fmt == "json":
        write_json(stream, motifs, with_time, run_report(summary, detection.config.parameters()), optional)
    else:
        config = detection.config
        spans = f"{config.shortest_span}–{config.span}" if config.shortest_span != config.span else f"{config.span}"
        caption = (
            f"{len(motifs)} motif{'s' * (len(motifs) != 1)} in {summary.samples} samples"
            f" · p = {config.p:g} · threshold {config.threshold:g} · span {spans}"
        )
        write_table(stream, motifs, with_time, caption, optional)


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
