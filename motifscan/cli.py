"""Command line: options -> DetectConfig -> library calls. No arithmetic lives here.

The commands are here; the options they share and the config built from them are in
:mod:`motifscan.cli_options`, how a command ends (statuses, signals, stderr) in
:mod:`motifscan.cli_stderr`.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from motifscan.choices import (
    COMPARE_FORMATS,
    DETECT_FORMATS,
    FIT_REPORT_FORMATS,
    METRICS,
    NORMALIZE,
    OVERLAP,
)
from motifscan.errors import MotifscanError
from motifscan.cli_options import (
    METHOD,
    PLOT,
    QUIET,
    detection_options,
    detection_settings,
    input_options,
    prepare,
)
from motifscan.cli_stderr import (
    ClosedStdout,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_NONE,
    MotifscanGroup,
    STDOUT_WRITE_ERRNOS,
    fail,
    stop_on,
    warn_skipped,
    warn_suppressed,
)


@click.group(cls=MotifscanGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="motifscan")
def cli():
    """Find a shape (a kernel) in long time series with a sliding sharpened cosine similarity.

    Exit status: 0 motifs found, 1 none found, 2 error, 130 interrupted.
    """


def _watch(plot, fmt: str, output):
    """What the run must record for the figure and the table's sparkline: a RunRecorder, or
    None. The sparkline goes under a table on a terminal only."""
    from motifscan.envelope import RunRecorder
    from motifscan.io.output import stdout_is_terminal

    sparkline = fmt == "table" and output in (None, "-") and stdout_is_terminal()
    if plot is None and not sparkline:
        return None, False
    return RunRecorder(with_signal=plot is not None), sparkline


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...|-")
@input_options
@detection_options
@METHOD
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(DETECT_FORMATS),
    default=None,
    help="Output format.  [default: table on a terminal, else CSV]",
)
@click.option("--output", "-o", metavar="PATH", help="Write the result to PATH (atomically) instead of stdout.")
@click.option(
    "--jobs",
    "-j",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Inputs processed in parallel (worker processes); the output never changes.",
)
@click.option(
    "--append",
    is_flag=True,
    help="Add to the --output file (atomically: the old file and the new motifs, renamed into place).",
)
@click.option(
    "--state",
    metavar="FILE",
    help="Remember in FILE what was read (files, byte offsets); the next run reads only new data.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Follow FILE like tail -F (through rotation and truncation): report each motif "
    "as soon as it is final, until Ctrl-C.",
)
@click.option(
    "--dask", metavar="ADDRESS|local", help="Run on a Dask cluster (motifscan[dask]): a scheduler address, or local."
)
@click.option(
    "--split-bytes",
    metavar="N",
    help="With --dask, split files larger than N bytes (e.g. 256M) into ranges.  [default: 256M]",
)
@QUIET
@PLOT
@click.option(
    "--overlap",
    type=click.Choice(OVERLAP),
    default="best",
    show_default=True,
    help="Overlapping motifs of different kernels on a channel: keep the strongest, or all.",
)
def detect(
    files,
    threshold,
    sign,
    min_gap,
    top,
    method,
    fmt,
    output,
    jobs,
    append,
    state,
    follow,
    dask,
    split_bytes,
    quiet,
    plot,
    overlap,
    **options,
):
    """Report where the kernel's shape occurs in each FILE.

    FILE is CSV/TSV/TXT (optionally .gz), Parquet, a Parquet dataset directory, a directory
    of such files, or - for stdin. With several inputs each motif names its file; a bad
    input is reported and the others still run (exit status 2 at the end).
    """
    import contextlib

    from motifscan.batch import BatchRun
    from motifscan.batch_config import BatchConfig
    from motifscan.io.files import check_target, first_line, locked, open_output
    from motifscan.io.output import output_format, write_motifs
    from motifscan.io.sparkline import detection_sparklines
    from motifscan.plot import detection_figure, figure_output
    from motifscan.progress import RunProgress
    from motifscan.state import StateFile

    config, read = prepare(
        options, overlap=overlap, quiet=quiet, **detection_settings(threshold, sign, min_gap, top, method)
    )
    batch = BatchConfig(
        jobs=jobs,
        state=state,
        output=output,
        append=append,
        follow=follow,
        dask=dask,
        split_bytes=split_bytes,
        plot=plot,
    )
    fmt = output_format(fmt if fmt is not None or not follow else "jsonl", output)
    batch.check_format(fmt, config)
    recorder, sparkline = _watch(plot, fmt, output)

    def file_done(run) -> None:
        if not quiet:
            warn_skipped(run.summary)
            warn_suppressed(run.summary)
            if run.summary is not None and run.summary.undecided:
                click.echo(
                    f"motifscan: {run.summary.undecided} candidate(s) near the end of {run.summary.source} "
                    f"wait in the state for more rows before they are decided",
                    err=True,
                )

    def waiting() -> None:
        if not quiet:
            click.echo(f"motifscan: waiting for another run to finish with {batch.state}", err=True)

    with contextlib.ExitStack() as held:
        memory = None
        if batch.state is not None:
            # The backend too: runs over one state must agree to the last bit.
            memory = held.enter_context(
                StateFile.open(
                    batch.state,
                    {**config.parameters(), **read.parameters(), "backend": config.backend, "device": config.device},
                    on_wait=waiting,
                )
            )
        if batch.append and output not in (None, "-"):
            # Runs appending to one file take turns, whatever their --state: each copies
            # the file as the last one left it.
            check_target(output, "--output")
            held.enter_context(
                locked(
                    output,
                    on_wait=lambda: (
                        quiet or click.echo(f"motifscan: waiting for another run to finish with {output}", err=True)
                    ),
                )
            )
        run = BatchRun(
            files,
            config,
            read,
            jobs=batch.jobs,
            on_error=lambda message: fail(message),
            on_file_done=file_done,
            state=memory,
            follow=batch.follow,
            watch=recorder,
            dask=batch.dask,
            split_bytes=batch.split_bytes,
            on_notice=lambda notice: click.echo(f"motifscan: {notice}", err=True),
        )
        if plot is not None and run.several:
            raise MotifscanError("--plot draws one input; several were given")
        # Under the state's lock: another run may just have appended.
        header = first_line(output) if batch.append and fmt == "csv" else None
        motifs = [] if plot is not None or sparkline else None
        footer = detection_sparklines(recorder, config.method, motifs) if sparkline else None
        # With --state and an output file in a line format, output and state are one commit
        # (see motifscan.state): the state is saved, naming the new output, just before the
        # output is renamed into place; what a run killed in between left out comes first.
        committed = memory is not None and output not in (None, "-") and fmt in ("csv", "jsonl")
        unfinished_header, unfinished = memory.unfinished_output(output) if committed else (None, "")
        before_replace = None
        if committed:

            def before_replace(temporary, previous_bytes):
                memory.commit_before_rename(output, fmt, temporary, previous_bytes)

        try:
            with (
                RunProgress.shown(len(run.inputs), enabled=not quiet) as run.progress,
                open_output(output, append=batch.append, before_replace=before_replace) as stream,
                figure_output(plot) as (figure, figure_format),
            ):
                if unfinished:
                    if fmt == "csv" and header is None:
                        header = unfinished_header
                        stream.write(header + "\n")
                    stream.write(unfinished)
                write_motifs(stream, run, fmt, after_header=header, footer=footer, keep=motifs)
                if output not in (None, "-") and run.files and len(run.failed) == len(run.files) and not unfinished:
                    # Every input failed (each said why): the output file keeps what it held.
                    raise _NothingWritten
                if figure is not None:
                    detection_figure(figure, figure_format, recorder, config, run.files[0].summary, motifs)
        except _NothingWritten:
            return EXIT_ERROR
        if committed:
            memory.output_in_place()
        elif memory is not None:
            memory.save()  # after the output: a crash in between repeats motifs, never loses them
    if run.failed:
        return EXIT_ERROR
    return EXIT_FOUND if run.motif_count else EXIT_NONE


@cli.command()
@click.argument("file", metavar="FILE|-")
@input_options
@detection_options
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(COMPARE_FORMATS),
    default=None,
    help="Output format.  [default: table on a terminal, else CSV]",
)
@click.option("--output", "-o", metavar="PATH", help="Write the result to PATH (atomically) instead of stdout.")
@QUIET
@PLOT
def compare(file, threshold, sign, min_gap, top, fmt, output, quiet, plot, **options):
    """Run the cosine scan and the plain convolution on FILE and show their motifs side by side."""
    from motifscan.compare import Comparison
    from motifscan.io.comparison import write_comparison
    from motifscan.io.files import open_output
    from motifscan.io.output import output_format
    from motifscan.io.sparkline import comparison_sparklines
    from motifscan.plot import comparison_figure, figure_output

    config, read = prepare(options, **detection_settings(threshold, sign, min_gap, top))
    if config.adaptive_threshold:
        kind = "mad:K" if config.threshold_mad is not None else "fa:RATE"
        raise MotifscanError(f"--threshold {kind} applies to detect; compare takes a number")
    fmt = output_format(fmt, output)
    if fmt not in COMPARE_FORMATS:
        raise MotifscanError(f"--output: compare writes table, json or csv, not {fmt}")
    recorder, sparkline = _watch(plot, fmt, output)
    run = Comparison(read.open(file, config.block_rows), config, recorder)
    with open_output(output) as stream, figure_output(plot) as (figure, figure_format):
        run.run()
        write_comparison(stream, run, fmt, comparison_sparklines(recorder, run.motifs) if sparkline else None)
        if figure is not None:
            comparison_figure(figure, figure_format, recorder, run)
    if not quiet:
        warn_skipped(run.summary)
        warn_suppressed(run.summary)
    return EXIT_FOUND if run.summary.motifs else EXIT_NONE


@cli.command()
@click.argument("file", metavar="FILE|-")
@input_options
@METHOD
@click.option(
    "--output", "-o", metavar="PATH", help="Write to PATH: Parquet for .parquet/.pq, else CSV. Default: CSV on stdout."
)
@QUIET
@PLOT
def scores(file, method, output, quiet, plot, **options):
    """Write the full per-position score track of FILE (for plots and other tools).

    With --method conv it adds the plain convolution, <channel>_activation.
    """
    from motifscan.envelope import RunRecorder
    from motifscan.io.files import open_output
    from motifscan.io.output import score_format, write_scores
    from motifscan.scan_plan import RunSummary
    from motifscan.scanning import StreamScanner, watched_blocks
    from motifscan.plot import figure_output, scores_figure

    config, read = prepare(options, method=method)
    source = read.open(file, config.block_rows)
    summary = RunSummary.of(source)
    scanner = StreamScanner(
        source.channels, config, getattr(source, "rows_hint", None), method == "conv", source_name=source.name
    )
    recorder = None if plot is None else RunRecorder()
    with open_output(output, binary=True) as stream, figure_output(plot) as (figure, figure_format):
        write_scores(
            stream,
            watched_blocks(source, config, summary, recorder, scanner=scanner),
            [scan.label for scan in scanner.scans],
            source.time_column,
            score_format(output),
            source.time_zone,
        )
        if figure is not None:
            scores_figure(figure, figure_format, recorder, config, summary)
    if not quiet:
        warn_skipped(summary)
    return EXIT_FOUND


@cli.command()
@click.argument("file", metavar="FILE")
@click.option("--labels", metavar="PATH", help="CSV of labelled windows: start[,end],label (positive or negative).")
@click.option("--positives", metavar="R1,R2,...", help="Starts of windows that hold the shape (rows or times).")
@click.option("--negatives", metavar="R1,R2,...", help="Starts of look-alikes that must not match (rows or times).")
@click.option(
    "--length",
    type=int,
    default=None,
    metavar="M",
    help="Window (kernel) length in samples.  [default: the median end - start of the labels]",
)
@click.option(
    "--metric",
    type=click.Choice(METRICS + ("all",)),
    multiple=True,
    help="Also learn a linear map M: the scan then compares M w with M k. Repeat (or all) "
    "to fit several and keep the one that validates best.  [default: none]",
)
@click.option(
    "--normalize",
    type=click.Choice(("auto",) + NORMALIZE),
    default="auto",
    show_default=True,
    help="Learn on the windows detect --normalize scores; auto tries none and center and "
    "keeps the one that validates better.",
)
@click.option(
    "--folds",
    type=int,
    default=5,
    show_default=True,
    metavar="K",
    help="Cross-validation folds over the training labels (choose the cut-off, and the "
    "detector when nothing is held out).",
)
@click.option(
    "--keep",
    type=click.Choice(("best", "fitted")),
    default="best",
    show_default=True,
    help="When every fit validates worse than the starting point: write the starting point "
    "(best) or the fit (fitted); either way stderr says so.",
)
@click.option("--margin", type=float, default=0.1, show_default=True, help="Triplet margin, in cosine distance.")
@click.option(
    "--mine",
    type=int,
    default=20,
    show_default=True,
    metavar="N",
    help="Hard negatives mined from the training signal per round (0: none).",
)
@click.option(
    "--split",
    type=float,
    default=None,
    metavar="F",
    help="Learn from the first F of the rows, judge on the rest (held-out labels); the cut "
    "moves to the first label boundary at or after it.",
)
@click.option("--validate", metavar="FILE", help="A held-out recording to judge the fit on (with --validate-labels).")
@click.option("--validate-labels", metavar="PATH", help="Labels CSV of the --validate recording.")
@click.option("--column", "-c", metavar="NAME", help="The channel to learn from. Default: the only numeric column.")
@click.option("--time-column", metavar="NAME", help="Column read as time (for positions given as times).")
@click.option("--delimiter", metavar="CHAR", help="CSV field delimiter. Default: from the extension.")
@click.option("--header/--no-header", default=None, help="Whether the first CSV line names the columns.")
@click.option("--output", "-o", metavar="PATH", required=True, help="Write the fitted kernel file (JSON) to PATH.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FIT_REPORT_FORMATS),
    default=None,
    help="Report format.  [default: table on a terminal, else JSON]",
)
@QUIET
def fit(file, output, fmt, quiet, **options):
    """Learn a kernel, p, a threshold, the normalisation (and a metric) from labelled windows of FILE.

    Judges every candidate on labels it was not fitted on, writes the best as a kernel file
    for `motifscan detect --kernel-file`, and reports precision, recall and F1 of each
    against the starting point (the mean of the positives).
    """
    from motifscan.io.files import open_output
    from motifscan.io.output import stdout_is_terminal, write_fit_report
    from motifscan.training import FitConfig, run_fit

    if output == "-":
        raise MotifscanError("--output: give a file for the kernel file (the report goes to stdout)")
    options["metric"] = options["metric"] or ("none",)
    outcome = run_fit(FitConfig(file=file, **options))
    with open_output(output) as stream:
        stream.write(outcome.kernel.to_json())
    # -q keeps the notes (where --split cut, no cross-validation) off stderr, never the
    # warning that the written detector validates worse than the starting point.
    for warning in outcome.warnings:
        if not quiet or warning == outcome.report["warning"]:
            click.echo(f"motifscan: {warning}", err=True)
    report = {"kernel_file": output, **outcome.report}
    write_fit_report(sys.stdout, report, fmt or ("table" if stdout_is_terminal() else "json"))
    return EXIT_FOUND


class _NothingWritten(Exception):
    """Leave the --output file as it was: the run has nothing to put there."""


def main() -> None:
    """Console entry point (``motifscan`` and ``python -m motifscan``).

    Once the command is done and its output flushed, the process ends with ``os._exit``,
    skipping the interpreter's shutdown: there, pyarrow's native thread pools are torn down
    by C++ destructors that now and then abort the process ("terminate called without an
    active exception", SIGABRT) after every result was written, which would turn a good
    run into a crash for the shell, cron or a pipeline. Every file the command wrote is
    closed by then, and no thread of a finished command has work left.
    """
    for signum in (signal.SIGTERM, signal.SIGHUP):
        # Like Ctrl-C: temporary files removed and workers stopped on the way out.
        signal.signal(signum, stop_on)
    if sys.stdout is None:
        sys.stdout = ClosedStdout()
    elif hasattr(sys.stdout, "reconfigure"):
        # A file name that is not UTF-8 reaches the output as the bytes it was given as.
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        cli.main()
        status = EXIT_FOUND
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else EXIT_ERROR if done.code else EXIT_FOUND
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            status = EXIT_BROKEN_PIPE
        except OSError as error:
            if stream is sys.stdout and error.errno in STDOUT_WRITE_ERRNOS and status in (EXIT_FOUND, EXIT_NONE):
                status = fail(f"writing <stdout>: {error.strerror}")
        except (ValueError, AttributeError):  # closed by the caller: nothing left to lose
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
