"""Command line: options -> DetectConfig -> library calls. No arithmetic lives here."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys

import click

from motifscan.choices import (
    BAD_LINES,
    COMMAND_LINE_BACKENDS,
    COMPARE_FORMATS,
    DETECT_FORMATS,
    DEVICES,
    FILL,
    FIT_REPORT_FORMATS,
    METHODS,
    METRICS,
    NORMALIZE,
    OVERLAP,
    SIGNS,
)
from motifscan.errors import MotifscanError, SignalTooShort

EXIT_FOUND, EXIT_NONE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
# 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe.
EXIT_BROKEN_PIPE = 141
# What writing to stdout fails with when the disk, a quota or `ulimit -f` says no, or stdout is
# closed. (A file's are motifscan.io.files.WRITE_ERRNOS: not EIO or EBADF, which reading an
# input can raise too.)
STDOUT_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EBADF})


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (every temporary file removed, every
    worker stopped), then exit with 128 + the signal's number, as a shell reports it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on(signum, frame) -> None:
    raise Stopped(signum)


class _ClosedStdout(io.TextIOBase):
    """Stands for stdout when the caller closed it (``motifscan ... >&-``): writing to it is
    the write error it is, not a crash on ``None``."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    @property
    def buffer(self):
        return self


def _input_options(command):
    """Options shared by every command that reads a signal and a kernel."""
    options = [
        click.option(
            "--kernel",
            "-k",
            "kernels",
            multiple=True,
            metavar="[NAME=]V1,V2,...",
            help="Kernel values, e.g. 1,2,3 or rise=1,2,3 (repeatable: several kernels).",
        ),
        click.option(
            "--kernel-file",
            "kernel_files",
            multiple=True,
            metavar="PATH",
            help="Kernels from a file: one value per line, CSV (a kernel per column), a JSON "
            "list or object of named lists (repeatable), or a fitted kernel file from "
            "`motifscan fit` (with its p, threshold and metric).",
        ),
        click.option(
            "--kernel-column",
            "kernel_columns",
            multiple=True,
            metavar="NAME",
            help="Use only this column of --kernel-file (repeatable).",
        ),
        click.option(
            "--kernel-from",
            "kernel_froms",
            multiple=True,
            metavar="[NAME=]FILE[:COLUMN]@START:END",
            help="Cut the kernel from a recording: rows START..END-1, or times when FILE "
            "has a time column (repeatable).",
        ),
        click.option(
            "--joint", is_flag=True, help="Score each kernel's channels together: one cosine over all of them."
        ),
        click.option(
            "--fill",
            type=click.Choice(FILL),
            default="none",
            show_default=True,
            help="Fill gaps (missing values) of at most --max-gap samples before scanning: a "
            "straight line between the neighbours, or the last value before.",
        ),
        click.option(
            "--max-gap", "max_gap", type=int, default=None, metavar="G", help="Longest gap --fill fills, in samples."
        ),
        click.option(
            "--min-channels",
            "min_channels",
            type=int,
            default=None,
            metavar="N",
            help="With --joint: score a window with missing channels (NaN, inf) over the "
            "channels present when at least N are.  [default: all]",
        ),
        click.option(
            "--p",
            "p",
            type=float,
            default=None,
            help="Sharpness: score = sign(cos) * |cos| ** (p*p). 1 is the plain cosine.  "
            "[default: 1, or the fitted kernel file's]",
        ),
        click.option(
            "--dilation",
            default="1",
            show_default=True,
            metavar="D|D1,D2|LOW..HIGH",
            help="Samples between kernel taps (the window spans (m-1)*dilation+1 samples); "
            "several: scan all, report the best per motif.",
        ),
        click.option(
            "--normalize",
            type=click.Choice(NORMALIZE),
            default=None,
            help="center: remove each window's mean (Pearson's r); zscore: also report "
            "the z-normalized distance.  [default: none, or the fitted kernel file's]",
        ),
        click.option(
            "--noise-floor",
            default="0",
            show_default=True,
            metavar="Q|auto",
            help="Add Q to each window's norm, so flat noisy stretches stop matching; "
            "auto: the norm of a window of the signal's noise.",
        ),
        click.option(
            "--column",
            "-c",
            "columns",
            multiple=True,
            metavar="NAME",
            help="Channel to scan (repeatable). Default: every numeric column.",
        ),
        click.option(
            "--time-column",
            metavar="NAME",
            help="Column carried to the output as time. Default: detected by type or name.",
        ),
        click.option("--delimiter", metavar="CHAR", help="CSV field delimiter. Default: from the extension."),
        click.option(
            "--bad-lines",
            type=click.Choice(BAD_LINES),
            default="error",
            show_default=True,
            help="A line that cannot be read (a field too many or too few, a cell that is "
            "not a number): stop with an error, skip it, or read it as missing values.",
        ),
        click.option(
            "--header/--no-header",
            default=None,
            help="Whether the first CSV line names the columns. Default: detected.",
        ),
        click.option(
            "--block-rows",
            type=int,
            default=None,
            metavar="N",
            help="Rows read per block (memory knob; results never change).",
        ),
        click.option(
            "--backend",
            type=click.Choice(COMMAND_LINE_BACKENDS),
            default="auto",
            show_default=True,
            help="Similarity backend.",
        ),
        click.option(
            "--device",
            type=click.Choice(DEVICES),
            default="auto",
            show_default=True,
            help="Where to scan: gpu needs an NVIDIA GPU and motifscan[gpu]; "
            "auto takes it for large inputs when usable.",
        ),
        click.option(
            "--threads",
            type=int,
            default=None,
            metavar="N",
            help="Threads of the CPU scan (at most NUMBA_NUM_THREADS).  [default: all cores]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _prepare(options: dict, threshold=None, method="cosine", sign=None, quiet: bool = False, **detection):
    """:func:`_prepare_config`, with ``--threshold mad:K`` and ``fa:RATE`` taken apart."""
    adaptive = {}
    if isinstance(threshold, tuple):  # --threshold mad:K or fa:RATE
        adaptive = {f"threshold_{threshold[0]}": threshold[1]}
        threshold = None
    return _prepare_config(options, threshold, method, sign, quiet, **adaptive, **detection)


def _prepare_config(options: dict, threshold, method, sign, quiet: bool, **detection):
    """Turn parsed options into (config, read options), the library's two inputs.

    A fitted kernel file brings its p, threshold, normalisation, sign and metric; options
    given on the command line take precedence (:func:`motifscan.config.kernel_settings`).
    """
    from motifscan.file_run import ReadOptions
    from motifscan.config import DEFAULT_BLOCK_ROWS, DetectConfig, kernel_settings
    from motifscan.kernel import Kernel
    from motifscan.io.kernels import collect_kernels, read_fitted_kernel

    files = options["kernel_files"]
    fitted = None
    if len(files) == 1 and not options["kernels"] and not options["kernel_froms"]:
        fitted = read_fitted_kernel(files[0])
    if fitted is not None:
        if options["kernel_columns"]:
            raise MotifscanError(f"{files[0]}: --kernel-column does not apply to a fitted kernel file")
        kernels = (Kernel("kernel", (tuple(fitted.values.tolist()),)),)
    else:
        kernels = collect_kernels(
            options["kernels"],
            files,
            options["kernel_columns"],
            options["joint"],
            options["columns"],
            options["kernel_froms"],
            options["time_column"],
        )
        if not quiet:
            for kernel in kernels:
                if kernel.origin is not None:
                    click.echo(f"motifscan: kernel {kernel.name}: {kernel.origin}", err=True)
    block_rows = DEFAULT_BLOCK_ROWS if options["block_rows"] is None else options["block_rows"]
    config = DetectConfig(
        kernels=kernels,
        dilation=options["dilation"],
        backend=options["backend"],
        device=options["device"],
        threads=options["threads"],
        block_rows=block_rows,
        noise_floor=options["noise_floor"],
        joint=options["joint"],
        min_channels=options["min_channels"],
        fill=options["fill"],
        max_gap=options["max_gap"],
        method=method,
        **detection,
        **kernel_settings(
            fitted, p=options["p"], threshold=threshold, normalize=options["normalize"], sign=sign, method=method
        ),
    )
    read = ReadOptions(
        tuple(options["columns"]), options["time_column"], options["delimiter"], options["header"], options["bad_lines"]
    )
    return config, read


def _warn_skipped(summary) -> None:
    """The run's warnings about what it saw, a line each: notes on its columns, bad lines,
    skipped windows, a large offset."""
    if summary is None:
        return
    for note in summary.notes:
        click.echo(f"motifscan: {note}", err=True)
    bad = summary.bad_lines
    if bad is not None and bad.count:
        done = "skipped" if bad.policy == "skip" else "read as missing values"
        click.echo(
            f"motifscan: {bad.count} bad line(s) {done} (--bad-lines {bad.policy}) in "
            f"{summary.source}; the first: {bad.first}",
            err=True,
        )
    if summary.skipped_windows:
        click.echo(
            f"motifscan: {summary.skipped_windows} window(s) skipped: they contain NaN or inf "
            f"(missing or non-finite values in {summary.source})",
            err=True,
        )
    if summary.partial_windows:
        click.echo(
            f"motifscan: {summary.partial_windows} window(s) scored over fewer channels than their joint "
            f"kernel has (--min-channels): missing or non-finite values in {summary.source}",
            err=True,
        )
    if summary is not None and getattr(summary, "filler", None) is not None:
        click.echo(
            f"motifscan: {summary.filled_samples} sample(s) filled in gaps of at most "
            f"{summary.filler.max_gap} ({summary.filler.method}); {summary.filled_windows} window(s) hold a "
            f"filled sample ({summary.source})",
            err=True,
        )
    if summary is not None and getattr(summary, "thresholds", None):
        shown = ", ".join(f"{label} {value:.4g}" for label, value in summary.thresholds.items())
        estimate = (
            "the median absolute deviation"
            if summary.adaptive_threshold.startswith("mad:")
            else f"the false-alarm rate {summary.adaptive_threshold}"
        )
        click.echo(f"motifscan: thresholds from {estimate} ({summary.source}): {shown}", err=True)
    elif summary.adaptive_threshold and summary.tail is not None and summary.tail.rows:
        from motifscan.scanning import REFERENCE_POSITIONS

        click.echo(
            f"motifscan: {summary.source}: {summary.tail.rows} row(s) held for the next run: the "
            f"{summary.adaptive_threshold} thresholds wait for the first {REFERENCE_POSITIONS} windows",
            err=True,
        )
    if summary is not None and summary.large_offset:
        click.echo(
            f"motifscan: {summary.source}: {summary.near_unit_cosine_windows} of {summary.scored_windows} "
            "windows have |cosine| > 0.99: the signal has a large offset, so nearly every window "
            "matches; --normalize center compares shapes",
            err=True,
        )


def _warn_suppressed(summary) -> None:
    if summary is not None and summary.suppressed_peaks:
        count = summary.suppressed_peaks
        click.echo(
            f"motifscan: {count} peak{'s' * (count != 1)} at or above the threshold in {summary.source} "
            f"{'were' if count != 1 else 'was'} within --min-gap of a stronger motif and not reported "
            "(a smaller --min-gap shows them)",
            err=True,
        )


class _MotifscanGroup(click.Group):
    """A Click group whose every outcome is an exit status and at most one line on stderr."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        try:
            status = super().main(args=args, prog_name=prog_name or "motifscan", standalone_mode=False, **extra)
            sys.stdout.flush()
            if _stream_interrupted():
                # Ctrl-C ended a live stream; what it had read is decided and written.
                click.echo("motifscan: interrupted", err=True)
                status = EXIT_INTERRUPTED
        except SignalTooShort as error:
            # A live stream stopped by Ctrl-C before a whole window came: nothing to report.
            status = _fail(str(error)) if not _stream_interrupted() else EXIT_INTERRUPTED
            if status == EXIT_INTERRUPTED:
                click.echo("motifscan: interrupted", err=True)
        except MotifscanError as error:
            status = _fail(error.command_line_message())
        except click.exceptions.UsageError as error:
            status = _fail(" ".join(error.format_message().split()))
        except click.exceptions.Exit as done:
            status = done.exit_code
        except (KeyboardInterrupt, click.exceptions.Abort) as error:
            # Click turns KeyboardInterrupt (and so Stopped) into Abort, the signal its cause.
            stopped = error if isinstance(error, Stopped) else error.__cause__
            if isinstance(stopped, Stopped):
                status = _stopped(stopped)
            else:
                click.echo("motifscan: interrupted", err=True)
                status = EXIT_INTERRUPTED
        except BrokenPipeError:
            status = _stdout_gone()
        except OSError as error:
            if error.errno in STDOUT_WRITE_ERRNOS:
                status = _fail(f"writing <stdout>: {error.strerror}")
            else:
                # Not a file of the run (those are MotifscanError): the system refused the
                # process something, e.g. mapping Numba's compiler library under `ulimit -v`.
                said = " ".join(str(error).split()).split(". ")[0]
                status = _fail(f"the system refused: {said} (too little memory, e.g. under ulimit -v?)")
        except ImportError as error:
            # A compiled module that cannot be mapped (`ulimit -v`) or a broken install.
            said = " ".join(str(error).split())
            status = _fail(f"cannot load {error.name or 'a module'}: {said}")
        except MemoryError as error:
            # numpy says what it could not allocate ("Unable to allocate 7.5 GiB for an array
            # with shape ..."); a bare MemoryError says nothing, so the knob is named instead.
            said = " ".join(str(error).split())
            status = _fail(f"out of memory: {said or 'the data'} (a smaller --block-rows uses less)")
        sys.exit(status if isinstance(status, int) else EXIT_FOUND)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Stopped as stopped:
            # Here, before Click's handler of KeyboardInterrupt adds an empty line to stderr.
            return _stopped(stopped)
        except KeyboardInterrupt:
            # Ctrl-C, caught here for the same reason: the one line is all stderr gets. (A
            # live stream that Ctrl-C ended is said once, by main().)
            if not _stream_interrupted():
                click.echo("motifscan: interrupted", err=True)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`motifscan ... | head`): stop quietly with the status a
            # shell gives a tool stopped by SIGPIPE. Caught here, before Click's own handler
            # turns it into status 1, which means "no motif" for us.
            return _stdout_gone()
        except OSError as error:
            # Caught here too, before Click turns it into status 1 with a traceback.
            if error.errno not in STDOUT_WRITE_ERRNOS:
                raise
            return _fail(f"writing <stdout>: {error.strerror}")


def _stopped(stopped: Stopped) -> int:
    click.echo(f"motifscan: stopped by {signal.Signals(stopped.signum).name}", err=True)
    return 128 + stopped.signum


def _stdout_gone() -> int:
    """Point stdout at /dev/null (so the final flush cannot fail again); the SIGPIPE status."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with _suppressed_os_errors():
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _suppressed_os_errors():
    import contextlib

    return contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation)


@click.group(cls=_MotifscanGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="motifscan")
def cli():
    """Find a shape (a kernel) in long time series with a sliding sharpened cosine similarity.

    Exit status: 0 motifs found, 1 none found, 2 error, 130 interrupted.
    """


class _ThresholdType(click.ParamType):
    """A number, or ``mad:K`` / ``fa:RATE`` (returned as ``("mad", K)`` / ``("fa", RATE)``)."""

    name = "threshold"

    def convert(self, value, param, ctx):
        if isinstance(value, (float, tuple)):
            return value
        text = str(value).strip()
        try:
            for kind in ("mad", "fa"):
                if text.lower().startswith(kind + ":"):
                    return (kind, float(text[len(kind) + 1 :]))
            return float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number, mad:K or fa:RATE", param, ctx)


_THRESHOLD = _ThresholdType()


def _parse_min_gap(ctx, param, value):
    from motifscan.option_values import parse_min_gap

    return None if value is None else parse_min_gap(value)


def _detection_options(command):
    """Options that decide which motifs a detecting command reports."""
    options = [
        click.option(
            "--threshold",
            "-t",
            type=_THRESHOLD,
            default=None,
            metavar="T|mad:K|fa:RATE",
            help="Minimum |score| of a motif, in [0, 1]; mad:K: K times each score track's "
            "median absolute deviation over its first 100 000 windows; fa:RATE: the level "
            "RATE windows per hour (per million windows without a time column) of those "
            "reach; for the "
            "convolution (--method conv, and the conv side of compare), minimum "
            "|activation| as a fraction of the channel's strongest.  "
            "[default: 0.5, or the fitted kernel file's]",
        ),
        click.option(
            "--sign",
            type=click.Choice(SIGNS),
            default=None,
            help="Report matches, inverted matches, or both.  [default: any, or the fitted kernel file's]",
        ),
        click.option(
            "--min-gap",
            default=None,
            callback=_parse_min_gap,
            metavar="N|Fspan|TIME",
            help="Minimum distance between two motifs of a channel: N samples, a fraction of "
            "the span (0.25span), or a time (250ms, 0.3s, 2min, 1h, 1d; needs a time "
            "column).  [default: 0.5span]",
        ),
        click.option("--top", type=int, default=None, metavar="K", help="Keep only the K strongest motifs."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _detection(threshold, sign, min_gap, top, method="cosine") -> dict:
    return dict(threshold=threshold, sign=sign, min_gap=min_gap, top=top, method=method)


_METHOD = click.option(
    "--method",
    type=click.Choice(METHODS),
    default="cosine",
    show_default=True,
    help="Detect on the sharpened cosine score, or on the plain convolution (for comparison).",
)
_QUIET = click.option("--quiet", "-q", is_flag=True, help="Nothing on stderr unless something is wrong.")
_PLOT = click.option(
    "--plot", metavar="PATH", help="Also draw a figure to PATH (.png, .svg or .pdf; needs motifscan[plot])."
)


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
@_input_options
@_detection_options
@_METHOD
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
@_QUIET
@_PLOT
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

    config, read = _prepare(options, overlap=overlap, quiet=quiet, **_detection(threshold, sign, min_gap, top, method))
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
            _warn_skipped(run.summary)
            _warn_suppressed(run.summary)
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
            on_error=lambda message: _fail(message),
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
@_input_options
@_detection_options
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(COMPARE_FORMATS),
    default=None,
    help="Output format.  [default: table on a terminal, else CSV]",
)
@click.option("--output", "-o", metavar="PATH", help="Write the result to PATH (atomically) instead of stdout.")
@_QUIET
@_PLOT
def compare(file, threshold, sign, min_gap, top, fmt, output, quiet, plot, **options):
    """Run the cosine scan and the plain convolution on FILE and show their motifs side by side."""
    from motifscan.compare import Comparison
    from motifscan.io.comparison import write_comparison
    from motifscan.io.files import open_output
    from motifscan.io.output import output_format
    from motifscan.io.sparkline import comparison_sparklines
    from motifscan.plot import comparison_figure, figure_output

    config, read = _prepare(options, **_detection(threshold, sign, min_gap, top))
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
        _warn_skipped(run.summary)
        _warn_suppressed(run.summary)
    return EXIT_FOUND if run.summary.motifs else EXIT_NONE


@cli.command()
@click.argument("file", metavar="FILE|-")
@_input_options
@_METHOD
@click.option(
    "--output", "-o", metavar="PATH", help="Write to PATH: Parquet for .parquet/.pq, else CSV. Default: CSV on stdout."
)
@_QUIET
@_PLOT
def scores(file, method, output, quiet, plot, **options):
    """Write the full per-position score track of FILE (for plots and other tools).

    With --method conv it adds the plain convolution, <channel>_activation.
    """
    from motifscan.envelope import RunRecorder
    from motifscan.io.files import open_output
    from motifscan.io.output import score_format, write_scores
    from motifscan.scanning import RunSummary, StreamScanner, watched_blocks
    from motifscan.plot import figure_output, scores_figure

    config, read = _prepare(options, method=method)
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
        _warn_skipped(summary)
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
@_QUIET
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


def _stream_interrupted() -> bool:
    """Whether Ctrl-C ended a live stream (see ``motifscan.io.streams.stream_interrupted``).
    Looked up only when the reader was imported, so a run that read nothing pays no import."""
    streams = sys.modules.get("motifscan.io.streams")
    return streams is not None and streams.stream_interrupted()


def _fail(message: str) -> int:
    click.echo(f"motifscan: error: {message}", err=True)
    return EXIT_ERROR


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
        signal.signal(signum, _stop_on)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    elif hasattr(sys.stdout, "reconfigure"):
        # A file name that is not UTF-8 reaches the output as the bytes it was given as.
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        cli.main()
        status = EXIT_FOUND
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else EXIT_ERROR if done.code else EXIT_FOUND
    if "concurrent.futures.process" in sys.modules:
        import gc

        # A stopped worker pool's queues (named semaphores) are unlinked when collected;
        # os._exit would leave them to the resource tracker and its "leaked" warning.
        gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            status = EXIT_BROKEN_PIPE
        except OSError as error:
            if stream is sys.stdout and error.errno in STDOUT_WRITE_ERRNOS and status in (EXIT_FOUND, EXIT_NONE):
                status = _fail(f"writing <stdout>: {error.strerror}")
        except (ValueError, AttributeError):  # closed by the caller: nothing left to lose
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
