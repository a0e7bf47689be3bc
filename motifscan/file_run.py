"""One input's detection: how inputs are read (:class:`ReadOptions`), what one input gave
(:class:`FileRun`) and :func:`run_file`, which runs the pipeline on one input and catches
its error.

The unit that both the batch run (:mod:`motifscan.batch`, local worker processes) and the
cluster run (:mod:`motifscan.distributed`, Dask tasks) hand out, so neither imports the
other's internals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterator

from motifscan.config import DetectConfig
from motifscan.motif import sort_motifs
from motifscan.errors import MotifscanError, SignalTooShort
from motifscan.io.signals import read_signal
from motifscan.pipeline import Detection
from motifscan.scan_plan import RunSummary
from motifscan.signal import SignalSource, drop_rows, prepend_rows, same_input


@dataclass(frozen=True)
class ReadOptions:
    """How to read every input: the keyword arguments of :func:`motifscan.io.signals.read_signal`."""

    columns: tuple = ()
    time_column: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    # What to do with a line that cannot be read (see read_signal). Not among the
    # parameters a --state file must keep: a run that stopped on a bad line may go on with
    # skip or nan, since the state holds only data already scanned.
    bad_lines: str = "error"

    def open(
        self,
        name: str,
        block_rows: int,
        byte_range: tuple[int, int] | None = None,
        follow: bool = False,
        row_groups: tuple[int, int] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ):
        """Open the input ``name`` (a path, ``-`` or a Parquet dataset directory); the other
        arguments are those of :func:`~motifscan.io.signals.read_signal`."""
        return read_signal(
            name,
            columns=list(self.columns) or None,
            time_column=self.time_column,
            delimiter=self.delimiter,
            header=self.header,
            block_rows=block_rows,
            byte_range=byte_range,
            follow=follow,
            row_groups=row_groups,
            on_notice=on_notice,
            bad_lines=self.bad_lines,
        )

    def parameters(self) -> dict:
        """The options that decide what is read, as JSON-ready values."""
        return {
            "columns": list(self.columns),
            "time_column": self.time_column,
            "delimiter": self.delimiter,
            "header": self.header,
        }


@dataclass
class FileRun:
    """What one input gave: its motifs, or the one-line reason it failed.

    Attributes
    ----------
    name : str
        The input as named in the output's ``file`` column.
    motifs : list of Motif
        In signal order (``ordered``) or in the order they became final.
    summary : RunSummary or None
        None when the input could not be opened.
    error : str or None
        The error message (it starts with the input's name), or None.
    resume : Resume or None
        With ``--state``: where this run started in the input (None: nothing new to read).
    undecided : motifscan.pipeline.Undecided or None
        With ``--state``: what the run left for the next one to decide.
    """

    name: str
    motifs: list
    summary: RunSummary | None
    error: str | None = None
    resume: object = None
    undecided: object = None


def _counted(source: SignalSource, on_rows: Callable[[int], None]) -> SignalSource:
    """``source``, calling ``on_rows`` with the row count of each block as it goes by."""

    def blocks() -> Iterator:
        for block in source:
            on_rows(block.rows)
            yield block

    counted = same_input(
        source,
        SignalSource(
            source.name, source.channels, source.time_column, blocks, source.rows_hint, read_ahead=source.read_ahead
        ),
    )
    counted.rows_estimate = source.rows_estimate
    return counted


def run_file(
    name: str,
    config: DetectConfig,
    read: ReadOptions,
    *,
    label: bool,
    ordered: bool,
    resume=None,
    on_rows: Callable[[int], None] | None = None,
) -> FileRun:
    """Detect motifs in one input, catching its error.

    Parameters
    ----------
    name : str
        Path, ``-`` or dataset directory.
    label : bool
        Set each motif's ``file`` to ``name``.
    ordered : bool
        Return the motifs in signal order rather than in the order they became final.
    resume : motifscan.state.Resume, optional
        Go on where an earlier run stopped (``--state``), and stop as if more rows were to
        come: motifs that later rows could still change are left undecided
        (``FileRun.undecided``) for the next run. A signal still shorter than the kernel is
        then no error: it gives no motif yet.
    on_rows : callable(int), optional
        Called with the number of rows of each block read (for a progress bar).
    """
    try:
        if resume is None:
            source = read.open(name, config.block_rows)
        else:
            source = read.open(name, config.block_rows, resume.byte_range)
            resume.check_source(source)
            if resume.skip_rows:
                source = drop_rows(source, resume.skip_rows)
            if resume.carry is not None:
                source = prepend_rows(source, resume.carry)
            # Every run over a state scans with the backend of a stream of unknown length,
            # so that the scores of all its runs agree to the last bit.
            source.rows_hint = None
        if on_rows is not None:
            source = _counted(source, on_rows)
        if resume is None:
            run = Detection(source, config)
        else:
            run = Detection(source, config, first_row=resume.first_row, undecided=resume.undecided, hold=True)
        motifs = list(run)
    except SignalTooShort as error:
        if resume is None:
            return FileRun(name, [], None, str(error))
        return FileRun(name, [], None)
    except MotifscanError as error:
        return FileRun(name, [], None, str(error))
    if ordered:
        motifs = sort_motifs(motifs, run.channel_rank, run.kernel_rank)
    if label:
        motifs = [dataclasses.replace(motif, file=name) for motif in motifs]
    return FileRun(name, motifs, run.summary, resume=resume, undecided=run.undecided if run.hold else None)
