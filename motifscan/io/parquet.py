"""Parquet files and dataset directories, read row group by row group."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.io.columns import (
    _NUMBER,
    _OTHER,
    _ReadOptions,
    _TEXT,
    _arrow_kind,
    _choose_columns,
    _columns_to_read,
    _float64_from_arrow,
    _format_of,
    _read_errors,
    _time_like_notes,
    zone_from_arrow,
)
from motifscan.io.csv_blocks import _parquet_piece
from motifscan.signal import SignalBlock, SignalSource, _one_line, _reblock


# Files that writers of Parquet datasets (Spark, Dask, pyarrow) leave beside the parts.
DATASET_MARKERS = frozenset({"_SUCCESS", "_metadata", "_common_metadata"})
# Rows of a Parquet file that tell a numeric time column from a channel.
PARQUET_HEAD_ROWS = 1 << 16


@contextlib.contextmanager
def _parquet_file(path: str) -> Iterator[Any]:
    """``path`` open as a ``pyarrow.parquet.ParquetFile``, closed on leaving.

    Opened by its bytes: pyarrow encodes a path given as text in UTF-8, which a file name
    that is not UTF-8 (``b"\\xff.parquet"``, in Python text as a surrogate escape) cannot be,
    so such a file would be refused where a CSV file of that name is read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pa.OSFile(os.fsencode(path))
    try:
        parquet = pq.ParquetFile(source)
        try:
            yield parquet
        finally:
            parquet.close()
    finally:
        source.close()


def parquet_row_groups(path: str) -> list[int]:
    """The number of rows in each row group of a Parquet file."""
    try:
        with _parquet_file(path) as parquet:
            metadata = parquet.metadata
            return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    except _read_errors() as exc:
        raise MotifscanError(f"{path}: not a valid Parquet file ({_one_line(exc)})") from None


def _open_parquet(
    path: str, name: str, options: _ReadOptions, row_groups: tuple[int, int] | None = None
) -> SignalSource:
    errors = _read_errors()
    try:
        with _parquet_file(path) as parquet:
            schema = parquet.schema_arrow
    except errors as exc:
        raise MotifscanError(f"{name}: not a valid Parquet file ({_one_line(exc)})") from None

    names = list(schema.names)
    if len(set(names)) != len(names):
        duplicate = next(column for column in names if names.count(column) > 1)
        raise MotifscanError(f"{name}: column '{duplicate}' appears twice")
    kinds = {field.name: _arrow_kind(field.type) for field in schema}
    # Parquet types are exact: a text column is never a numeric one with a bad cell.
    kinds = {column: _OTHER if kind == _TEXT else kind for column, kind in kinds.items()}

    def not_numeric(column: str) -> MotifscanError:
        column_type = schema.field(column).type
        return MotifscanError(f"{name}: column '{column}' is not numeric ({column_type})")

    @functools.cache
    def head() -> Any:
        numeric = [column for column in names if kinds[column] == _NUMBER]
        try:
            with _parquet_file(path) as parquet:
                return next(parquet.iter_batches(batch_size=PARQUET_HEAD_ROWS, columns=numeric), None)
        except errors:
            return None

    def head_values(column: str) -> np.ndarray | None:
        if kinds.get(column) != _NUMBER or head() is None:
            return None
        try:
            return _float64_from_arrow(head().column(column))
        except errors:
            return None  # integers beyond 2**53: the column is refused when it is read

    channels, time_column = _choose_columns(name, names, kinds, options, not_numeric, head_values)
    notes = _time_like_notes(name, channels, options, head_values)
    read_columns = _columns_to_read(channels, time_column)

    def pieces() -> Iterator[SignalBlock]:
        with contextlib.ExitStack() as opened:
            try:
                parquet = opened.enter_context(_parquet_file(path))
            except errors as exc:
                raise MotifscanError(f"{name}: not a valid Parquet file ({_one_line(exc)})") from None
            groups = None if row_groups is None else list(range(*row_groups))
            batches = parquet.iter_batches(batch_size=options.block_rows, columns=read_columns, row_groups=groups)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except errors as exc:
                    problem = f"not a valid Parquet file ({_one_line(exc)})"
                    raise MotifscanError(f"{name}: {problem}") from None
                yield _parquet_piece(batch, channels, time_column, name)

    def blocks() -> Iterator[SignalBlock]:
        yield from _reblock(pieces(), options.block_rows, full_blocks=True)

    source = SignalSource(name, channels, time_column, blocks, read_ahead=True)
    source.notes = notes
    if time_column is not None:
        source.time_zone = zone_from_arrow(getattr(schema.field(time_column).type, "tz", None))
    groups = parquet_row_groups(path)
    source.rows_estimate = sum(groups if row_groups is None else groups[slice(*row_groups)])
    return source


def is_parquet_dataset(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory holding one Parquet dataset (one signal in parts).

    A directory is a dataset when its name ends in ``.parquet`` or ``.pq``, or it holds a
    ``_SUCCESS``, ``_metadata`` or ``_common_metadata`` file, or Hive-style ``key=value``
    subdirectories, or only files named ``part-*`` / ``part.*``; and it holds at least one
    Parquet part. Any other directory is a folder of separate inputs.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError:
        return False
    names = [entry.name for entry in entries if not entry.name.startswith(".")]
    partitioned = any(entry.is_dir() and "=" in entry.name for entry in entries)
    files = [name for name in names if name not in DATASET_MARKERS and os.path.isfile(os.path.join(path, name))]
    marked = (
        path.rstrip(os.sep).lower().endswith((".parquet", ".pq"))
        or bool(DATASET_MARKERS.intersection(names))
        or partitioned
        or (bool(files) and all(name.startswith(("part-", "part.")) for name in files))
    )
    return marked and bool(parquet_dataset_files(path))


def parquet_dataset_files(path: str) -> list[str]:
    """The Parquet parts of a dataset directory, in the order they are read (by path)."""
    parts = []
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith((".", "_")))
        for name in sorted(files):
            if name.startswith((".", "_")) or name.endswith(".crc"):
                continue
            parts.append(os.path.join(folder, name))
    return [part for part in parts if _format_of(part) == ("parquet", False) or "." not in os.path.basename(part)]


def _open_parquet_dataset(path: str, name: str, options: _ReadOptions) -> SignalSource:
    """A dataset directory read as one signal: its parts one after the other, by path."""
    parts = parquet_dataset_files(path)
    sources = [_open_parquet(part, f"{name}: {os.path.relpath(part, path)}", options) for part in parts]
    first = sources[0]
    for other in sources[1:]:
        if (other.channels, other.time_column) != (first.channels, first.time_column):
            raise MotifscanError(
                f"{other.name}: columns differ from {os.path.relpath(parts[0], path)} "
                f"(channels {', '.join(other.channels)} vs {', '.join(first.channels)})"
            )

    def blocks() -> Iterator[SignalBlock]:
        pieces = (block for source in sources for block in source)
        yield from _reblock(pieces, options.block_rows, full_blocks=True)

    dataset = SignalSource(name, first.channels, first.time_column, blocks, read_ahead=True)
    dataset.notes = first.notes
    dataset.time_zone = first.time_zone
    estimates = [source.rows_estimate for source in sources]  # each file's, from its metadata
    dataset.rows_estimate = sum(estimate for estimate in estimates if estimate is not None)
    return dataset
