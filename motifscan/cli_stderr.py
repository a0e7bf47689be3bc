"""How a command ends: the exit status (grep's: 0 found, 1 none, 2 error; 128 + n for a
signal, 141 for a closed pipe), at most one line on stderr for it, and the run's own
notes on stderr (bad lines, skipped windows, suppressed peaks, thresholds).
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys

import click

from motifscan.errors import MotifscanError, SignalTooShort


# grep's statuses: a motif found, none found, an error; 130 = 128 + SIGINT, as a shell reports Ctrl-C.
EXIT_FOUND = 0
EXIT_NONE = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
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


def stop_on(signum, frame) -> None:
    raise Stopped(signum)


class ClosedStdout(io.TextIOBase):
    """Stands for stdout when the caller closed it (``motifscan ... >&-``): writing to it is
    the write error it is, not a crash on ``None``."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    @property
    def buffer(self):
        return self


def warn_skipped(summary) -> None:
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
        from motifscan.scan_plan import REFERENCE_POSITIONS

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


def warn_suppressed(summary) -> None:
    if summary is not None and summary.suppressed_peaks:
        count = summary.suppressed_peaks
        click.echo(
            f"motifscan: {count} peak{'s' * (count != 1)} at or above the threshold in {summary.source} "
            f"{'were' if count != 1 else 'was'} within --min-gap of a stronger motif and not reported "
            "(a smaller --min-gap shows them)",
            err=True,
        )


class MotifscanGroup(click.Group):
    """A Click group whose every outcome is an exit status and at most one line on stderr."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        try:
            status = super().main(args=args, prog_name=prog_name or "motifscan", standalone_mode=False, **extra)
            sys.stdout.flush()
            if stream_interrupted():
                # Ctrl-C ended a live stream; what it had read is decided and written.
                click.echo("motifscan: interrupted", err=True)
                status = EXIT_INTERRUPTED
        except SignalTooShort as error:
            # A live stream stopped by Ctrl-C before a whole window came: nothing to report.
            status = fail(str(error)) if not stream_interrupted() else EXIT_INTERRUPTED
            if status == EXIT_INTERRUPTED:
                click.echo("motifscan: interrupted", err=True)
        except MotifscanError as error:
            status = fail(error.command_line_message())
        except click.exceptions.UsageError as error:
            status = fail(" ".join(error.format_message().split()))
        except click.exceptions.Exit as done:
            status = done.exit_code
        except (KeyboardInterrupt, click.exceptions.Abort) as error:
            # Click turns KeyboardInterrupt (and so Stopped) into Abort, the signal its cause.
            stopped = error if isinstance(error, Stopped) else error.__cause__
            if isinstance(stopped, Stopped):
                status = report_stopped(stopped)
            else:
                click.echo("motifscan: interrupted", err=True)
                status = EXIT_INTERRUPTED
        except BrokenPipeError:
            status = stdout_gone()
        except OSError as error:
            if error.errno in STDOUT_WRITE_ERRNOS:
                status = fail(f"writing <stdout>: {error.strerror}")
            else:
                # Not a file of the run (those are MotifscanError): the system refused the
                # process something, e.g. mapping Numba's compiler library under `ulimit -v`.
                said = " ".join(str(error).split()).split(". ")[0]
                status = fail(f"the system refused: {said} (too little memory, e.g. under ulimit -v?)")
        except ImportError as error:
            # A compiled module that cannot be mapped (`ulimit -v`) or a broken install.
            said = " ".join(str(error).split())
            status = fail(f"cannot load {error.name or 'a module'}: {said}")
        except MemoryError as error:
            # numpy says what it could not allocate ("Unable to allocate 7.5 GiB for an array
            # with shape ..."); a bare MemoryError says nothing, so the knob is named instead.
            said = " ".join(str(error).split())
            status = fail(f"out of memory: {said or 'the data'} (a smaller --block-rows uses less)")
        sys.exit(status if isinstance(status, int) else EXIT_FOUND)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Stopped as stopped:
            # Here, before Click's handler of KeyboardInterrupt adds an empty line to stderr.
            return report_stopped(stopped)
        except KeyboardInterrupt:
            # Ctrl-C, caught here for the same reason: the one line is all stderr gets. (A
            # live stream that Ctrl-C ended is said once, by main().)
            if not stream_interrupted():
                click.echo("motifscan: interrupted", err=True)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`motifscan ... | head`): stop quietly with the status a
            # shell gives a tool stopped by SIGPIPE. Caught here, before Click's own handler
            # turns it into status 1, which means "no motif" for us.
            return stdout_gone()
        except OSError as error:
            # Caught here too, before Click turns it into status 1 with a traceback.
            if error.errno not in STDOUT_WRITE_ERRNOS:
                raise
            return fail(f"writing <stdout>: {error.strerror}")


def report_stopped(stopped: Stopped) -> int:
    click.echo(f"motifscan: stopped by {signal.Signals(stopped.signum).name}", err=True)
    return 128 + stopped.signum


def stdout_gone() -> int:
    """Point stdout at /dev/null (so the final flush cannot fail again); the SIGPIPE status."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with _suppressed_os_errors():
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _suppressed_os_errors():
    import contextlib

    return contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation)


def stream_interrupted() -> bool:
    """Whether Ctrl-C ended a live stream (see ``motifscan.io.streams.stream_interrupted``).
    Looked up only when the reader was imported, so a run that read nothing pays no import."""
    streams = sys.modules.get("motifscan.io.streams")
    return streams is not None and streams.stream_interrupted()


def fail(message: str) -> int:
    click.echo(f"motifscan: error: {message}", err=True)
    return EXIT_ERROR
