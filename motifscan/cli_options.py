"""The options the commands share (reading inputs, detection, method, quiet, plot) and how
they become one :class:`~motifscan.config.DetectConfig`, with the reading options beside it.
"""

from __future__ import annotations

import click

from motifscan.choices import BAD_LINES, COMMAND_LINE_BACKENDS, DEVICES, FILL, METHODS, NORMALIZE, SIGNS
from motifscan.errors import MotifscanError


def input_options(command):
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


def prepare(options: dict, threshold=None, method="cosine", sign=None, quiet: bool = False, **detection):
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


def detection_options(command):
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


def detection_settings(threshold, sign, min_gap, top, method="cosine") -> dict:
    return dict(threshold=threshold, sign=sign, min_gap=min_gap, top=top, method=method)


METHOD = click.option(
    "--method",
    type=click.Choice(METHODS),
    default="cosine",
    show_default=True,
    help="Detect on the sharpened cosine score, or on the plain convolution (for comparison).",
)
QUIET = click.option("--quiet", "-q", is_flag=True, help="Nothing on stderr unless something is wrong.")
PLOT = click.option(
    "--plot", metavar="PATH", help="Also draw a figure to PATH (.png, .svg or .pdf; needs motifscan[plot])."
)
