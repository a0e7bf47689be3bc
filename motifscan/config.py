"""The validated options of a run, as one frozen object.

The command line and the Python API both build a :class:`DetectConfig`; everything after
that trusts it. Messages name the command-line option, which is also the keyword argument
of the Python API without the dashes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from motifscan.choices import BACKENDS, DEVICES, FILL, METHODS, NORMALIZE, OVERLAP, SIGNS, check_choice
from motifscan.errors import MotifscanError
from motifscan.signal import DEFAULT_BLOCK_ROWS
from motifscan.kernel import Kernel
from motifscan.similarity import span

#: Default detection threshold on |score|. The score of a window is |cosine| ** (p*p), so
#: one number means "at least half as good as a perfect match" at every sharpness: with
#: p = 1 it accepts cosine >= 0.5, with p = 3 cosine >= 0.926, with p = 9 cosine >= 0.9915.
DEFAULT_THRESHOLD = 0.5

#: Default ``--min-gap``: half the span. Chosen from the measurements on real recordings in
#: docs/method.md ("Why the default gap is half the span"): with kernels cut as one beat or
#: one stride, the old default (the span) hid 7 of 26 heart beats, half the span none; a
#: quarter also hid none but reported one event twice where a shape resembles itself shifted.
DEFAULT_MIN_GAP = "0.5span"

#: Units of a ``--min-gap`` given as a time, in seconds.
TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_GAP_FORM = re.compile(rf"^({_NUMBER})\s*(span|ms|s|min|h|d)?$")
#: A quotient within this of a whole number of samples is that number (round-off of
#: decimal times and steps, e.g. 0.25 s / (1/360 s) = 90.00000000000001).
_WHOLE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MinGap:
    """``--min-gap``: how close two motifs of one channel may be, in one of three forms.

    Exactly one of ``samples``, ``span_fraction`` and ``seconds`` is set. The gap in samples
    (:meth:`samples_for`) is ``samples``; or ``ceil(span_fraction * span)`` of the span of
    the window in question (each dilation its own), at least 2 when the span is 2 or more
    (a gap of 1 suppresses nothing); or ``ceil(seconds / step)`` where
    ``step`` is the sampling step of the time column in seconds.

    Attributes
    ----------
    samples : int or None
        A number of samples, >= 0.
    span_fraction : fractions.Fraction or None
        A fraction of the span, >= 0 (``0.25span``).
    seconds : float or None
        A duration in seconds, >= 0 (``250ms``, ``0.3s``, ``2min``, ``1h``, ``1d``).
    text : str
        The form as given (normalised), for reports and messages.
    """

    samples: int | None = None
    span_fraction: Fraction | None = None
    seconds: float | None = None
    text: str = ""

    @property
    def is_time(self) -> bool:
        """Whether the gap is a time, which needs the input's time column."""
        return self.seconds is not None

    def samples_for(self, span_: int, step: float | None = None) -> int:
        """The gap in samples for windows of ``span_`` samples; ``step`` is the sampling step
        of the time column in seconds (needed by a time only)."""
        if self.samples is not None:
            return self.samples
        if self.span_fraction is not None:
            if self.span_fraction == 0:
                return 0
            # At least 2 samples (when the window has 2): a gap of 1 suppresses nothing, so
            # the neighbouring positions of one peak of a short kernel would all be motifs.
            return max(math.ceil(self.span_fraction * span_), min(2, span_))
        if step is None:
            raise MotifscanError(f"min_gap {self.text}: a time needs the sampling step of a time column", ("min_gap",))
        if self.seconds is None:
            raise ValueError("a MinGap sets one of samples, span_fraction and seconds")
        quotient = self.seconds / step
        whole = round(quotient)
        return (
            int(whole) if abs(quotient - whole) <= _WHOLE_TOLERANCE * max(1.0, abs(quotient)) else math.ceil(quotient)
        )

    def parameter(self):
        """The value reported in a run's parameters: samples as a number, else the text."""
        return self.samples if self.samples is not None else self.text


def parse_min_gap(value) -> MinGap:
    """``min_gap`` (``--min-gap``) as a :class:`MinGap`.

    Accepts a whole number of samples (``10``, or an int), a fraction of the span
    (``0.25span``), or a time (``250ms``, ``0.3s``, ``2min``, ``1h``, ``1d``). Errors name
    ``min_gap`` (the command line shows ``--min-gap``).
    """
    if isinstance(value, MinGap):
        return value
    if isinstance(value, bool):
        raise MotifscanError(
            f"min_gap must be a number of samples, a fraction of the span (0.25span) or a time (250ms), got {value!r}",
            ("min_gap",),
        )
    if not isinstance(value, str):
        return MinGap(samples=_check_integer("min_gap", value, minimum=0), text=str(value))
    text = value.strip()
    match = _GAP_FORM.match(text)
    if match is None:
        raise MotifscanError(
            "min_gap must be a number of samples (10), a fraction of the span (0.25span) "
            f"or a time (250ms, 0.3s, 2min, 1h, 1d), got {value!r}",
            ("min_gap",),
        )
    number, unit = match.groups()
    if unit is None:
        return MinGap(samples=_check_integer("min_gap", number, minimum=0), text=number)
    if unit == "span":
        return MinGap(span_fraction=Fraction(number), text=f"{number}span")
    seconds = float(number) * TIME_UNITS[unit]
    if not math.isfinite(seconds):
        raise MotifscanError(f"min_gap must be a finite time, got {value!r}", ("min_gap",))
    return MinGap(seconds=seconds, text=f"{number}{unit}")


def _check_number(name: str, value, *, minimum: float, inclusive: bool = True) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MotifscanError(f"{name}: {value!r} is not a number", (name,)) from None
    too_small = number < minimum if inclusive else number <= minimum
    if not math.isfinite(number) or too_small:
        relation = "at least" if inclusive else "greater than"
        raise MotifscanError(f"{name} must be a finite number {relation} {minimum:g}, got {value}", (name,))
    return number


#: The largest whole number an option takes: positions and counts are int64 in the scans.
MAX_INTEGER = 2**62


def _check_integer(name: str, value, *, minimum: int, maximum: int = MAX_INTEGER) -> int:
    whole = _whole_number(value)
    if whole is None:
        raise MotifscanError(f"{name} must be a whole number, got {value!r}", (name,))
    if whole < minimum:
        raise MotifscanError(f"{name} must be at least {minimum}, got {value}", (name,))
    if whole > maximum:
        raise MotifscanError(f"{name} must be at most {maximum}, got {value}", (name,))
    return whole


def _whole_number(value) -> int | None:
    """``value`` as an int when it is a whole number (``3``, ``"3"``, ``3.0``, ``"1e2"``), else None."""
    if isinstance(value, bool):
        return None
    if hasattr(value, "__index__"):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass  # "1e2", "3.0": read as a number below
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None


def parse_dilations(value) -> tuple[int, ...]:
    """``--dilation`` as a sorted tuple of distinct dilations.

    Accepts an int, a sequence of ints, or text: ``3``, a list ``1,2,4`` or a range
    ``1..8`` (both ends included; items of a list may be ranges too: ``1..3,6``).
    """
    if isinstance(value, str):
        values: list[int] = []
        for item in value.split(","):
            item = item.strip()
            if ".." in item:
                low_text, _, high_text = item.partition("..")
                if not low_text.strip() or not high_text.strip():
                    raise MotifscanError(
                        f"dilation: the range {item!r} needs both ends (write LOW..HIGH)", ("dilation",)
                    )
                low = _check_integer("dilation", low_text.strip(), minimum=1)
                high = _check_integer("dilation", high_text.strip(), minimum=1)
                if high < low:
                    raise MotifscanError(f"dilation: the range {item} is empty (write LOW..HIGH)", ("dilation",))
                values += range(low, high + 1)
            elif not item:
                raise MotifscanError(f"dilation: empty item in {value!r}", ("dilation",))
            else:
                values.append(_check_integer("dilation", item, minimum=1))
    elif isinstance(value, (int, float)) or hasattr(value, "__index__"):
        values = [_check_integer("dilation", value, minimum=1)]
    else:
        try:
            values = [_check_integer("dilation", v, minimum=1) for v in value]
        except TypeError:
            raise MotifscanError(
                f"dilation must be a whole number, a list or a range, got {value!r}", ("dilation",)
            ) from None
    if not values:
        raise MotifscanError("dilation: no dilation given", ("dilation",))
    return tuple(sorted(set(values)))


def _as_kernels(kernels) -> tuple:
    """Kernels given as Kernel objects, or as a dict of name -> values."""
    if isinstance(kernels, dict):
        kernels = [Kernel(str(name), (tuple(values),)) for name, values in kernels.items()]
    out = []
    for kernel in kernels:
        if not isinstance(kernel, Kernel):
            raise MotifscanError("kernels must be Kernel objects or a dict of name -> values")
        out.append(kernel)
    return tuple(out)


def _check_named_kernel(kernel: Kernel, center: bool, joint: bool) -> Kernel:
    """Validate one kernel; its values come back as tuples of floats."""
    from motifscan.kernel import check_kernel

    if not isinstance(kernel.name, str) or not kernel.name.strip():
        raise MotifscanError("a kernel name must not be empty")
    where = "kernel" if kernel.name == "kernel" else f"kernel {kernel.name!r}"
    try:
        rows = tuple(tuple(float(v) for v in check_kernel(row, where, allow_zeros=joint)) for row in kernel.values)
    except MotifscanError as error:
        raise MotifscanError(str(error), ("kernel",) if kernel.name == "kernel" else ()) from None
    if joint and rows and not any(any(row) for row in rows):
        raise MotifscanError(f"{where}: the kernel is all zeros, so it has no shape to match")
    if not rows or len({len(row) for row in rows}) != 1:
        raise MotifscanError(f"{where}: every channel of a kernel needs the same number of values")
    channels = tuple(str(name) for name in kernel.channels)
    if channels and len(channels) != len(rows):
        raise MotifscanError(f"{where}: {len(rows)} rows of values but {len(channels)} channel names")
    if joint and not channels:
        raise MotifscanError(
            f"joint: kernel {kernel.name!r} has no channels; give a kernel file with one column per channel", ("joint",)
        )
    if not joint and len(rows) > 1:
        raise MotifscanError(f"{where} has {len(rows)} channels: scan them together with joint", ("joint",))
    if center and all(min(row) == max(row) for row in rows):  # (one flat channel of several is fine)
        raise MotifscanError(
            f"{where} is constant, so once centred (normalize) it has no shape to match", ("normalize",)
        )
    weights = tuple(float(w) for w in kernel.weights)
    if weights:
        if len(weights) != len(rows):
            raise MotifscanError(f"{where}: {len(rows)} rows of values but {len(weights)} channel weights")
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
            raise MotifscanError(f"{where}: channel weights must be finite, >= 0 and not all 0")
        if all(w == 1.0 for w in weights):
            weights = ()
    return Kernel(kernel.name, rows, channels, weights)


def kernel_settings(
    fitted=None, *, p=None, threshold=None, normalize=None, metric=None, sign=None, method: str = "cosine"
) -> dict:
    """``p``, ``threshold``, ``normalize``, ``metric`` and ``sign`` of a run, decided in this
    one place for the command line and the Python API.

    A value given by the caller wins; then the fitted kernel's (``motifscan fit``); then
    the default. With ``method="conv"`` the fitted threshold does not apply: it is a cut-off
    on |score|, while the convolution's threshold is a fraction of the channel's strongest
    |activation| (:data:`DEFAULT_THRESHOLD` unless given). The fitted p, normalisation and
    metric still shape the score reported beside each activation. A fitted metric on
    centred windows is scanned with the centring folded into it (``M C``, see
    :meth:`motifscan.io.fitted_kernels.FittedKernel.scan_metric`) and ``normalize="none"``: the
    same scores.

    Parameters
    ----------
    fitted : FittedKernel or None
        The fitted kernel, or None for plain kernel values.
    p, threshold, normalize, metric, sign : optional
        What the caller gave; None means "not given".
    method : {"cosine", "conv"}

    Returns
    -------
    dict
        Keyword arguments for :class:`DetectConfig`.
    """
    from dataclasses import replace

    use_fitted = fitted is not None
    normalize = normalize if normalize is not None else fitted.normalize if use_fitted else "none"
    if metric is None and use_fitted and fitted.metric is not None:
        metric = replace(fitted, normalize=normalize).scan_metric()
        normalize = "none"
    return {
        "p": p if p is not None else fitted.p if use_fitted else 1.0,
        "threshold": threshold
        if threshold is not None
        else fitted.threshold
        if use_fitted and method != "conv"
        else DEFAULT_THRESHOLD,
        "normalize": normalize,
        "metric": None if metric is None else _plain_lists(metric),
        "sign": sign if sign is not None else fitted.sign if use_fitted else "any",
    }


def _plain_lists(metric):
    """A metric (array, nested sequences) as plain lists of floats."""
    import numpy as np

    return np.asarray(metric, dtype=np.float64).tolist()


@dataclass(frozen=True)
class DetectConfig:
    """Everything that decides which motifs a run reports.

    Attributes
    ----------
    kernel : tuple of float
        The template, finite and not all zero (see :func:`motifscan.kernel.check_kernel`).
    p : float
        Sharpness, > 0.
    dilation : int
        Gap between kernel taps in samples, >= 1.
    threshold : float
        In [0, 1]. With ``method="cosine"`` the minimum |score| of a motif; with
        ``method="conv"`` the minimum |activation| as a fraction of the channel's strongest
        |activation|.
    sign : {"any", "positive", "negative"}
        Which matches to report: the shape, its inversion, or both.
    min_gap : MinGap
        Minimum distance between two reported motifs of one channel. Given as an int
        (samples), text (``"10"``, ``"0.25span"``, ``"250ms"``; see :func:`parse_min_gap`)
        or a MinGap; None means :data:`DEFAULT_MIN_GAP`, a quarter of the span.
    top : int or None
        Report only the ``top`` strongest motifs (over all channels): by |score| with
        ``method="cosine"``, by |activation| with ``method="conv"``.
    backend : {"auto", "numpy", "numba", "cuda"}
        Similarity backend.
    device : {"auto", "cpu", "gpu"}
        Where the scan runs (see :func:`motifscan.similarity.device.resolve_device`).
    block_rows : int
        Rows per streaming block; changes memory use, never results.
    kernels : tuple of Kernel
        Every kernel of the run, named; built from ``kernel`` (named ``kernel``) when not
        given. ``kernel`` is then the first kernel's values.
    normalize : {"none", "center", "zscore"}
        Remove each window's and kernel's mean first (Pearson's r); ``zscore`` also
        reports the z-normalised Euclidean distance.
    noise_floor : float or "auto"
        ``q >= 0`` added to each window's norm: ``score = sharpen(w·k / ((|w| + q) |k|))``.
    overlap : {"keep", "best"}
        Overlapping motifs of different kernels on one channel: keep them all, or only the
        strongest.
    joint : bool
        Each kernel has one row per channel and scores the channels' windows together.
    threshold_mad : float or None
        K of ``--threshold mad:K``: each score track's threshold is K times the median
        absolute deviation of its scores over its first positions (docs/method.md); None
        uses ``threshold``.
    threshold_fa : float or None
        RATE of ``--threshold fa:RATE``: each score track's threshold lets through RATE
        windows per hour of its reference stretch (per million windows when the input has
        no time column); None uses ``threshold`` (docs/method.md).
    fill : {"none", "linear", "previous"}
        Fill gaps (runs of NaN in a channel) of at most ``max_gap`` samples before
        scanning: a straight line between the neighbours, or the last value before
        (:mod:`motifscan.fill`); motifs whose window holds a filled sample are flagged.
    max_gap : int or None
        Longest gap filled, in samples; required with ``fill``.
    min_channels : int or None
        With ``joint``: a window where some channels are missing (NaN or inf) is scored
        over the channels present when at least this many are (see docs/method.md, "Missing
        channels"); None: every channel must be present.

    ``dilation`` may be one dilation or several (a tuple, or text such as ``"1..8"``):
    every one is scanned and each motif reports the dilation that matched best.
    method : {"cosine", "conv"}
        Detect on the sharpened cosine score, or on the plain convolution (comparison mode).
    metric : tuple or None
        A learned metric from a fitted kernel file (``motifscan fit``): diagonal weights
        (m values) or a full matrix (rows of m values); windows and kernel are compared as
        ``M w`` and ``M k``. None compares them directly.
    threads : int or None
        Threads of the compiled CPU scans (at most ``NUMBA_NUM_THREADS``, which defaults
        to the number of cores); None uses them all. Never changes results.
    """

    kernel: tuple | None = None
    p: float = 1.0
    dilation: int | tuple = 1
    threshold: float = DEFAULT_THRESHOLD
    sign: str = "any"
    min_gap: MinGap | int | str | None = None
    top: int | None = None
    backend: str = "auto"
    device: str = "auto"
    block_rows: int = DEFAULT_BLOCK_ROWS
    # Matching real shapes: several named kernels, normalisation, noise floor, joint
    # channels (dilation ranges live in ``dilation``). See docs/method.md.
    kernels: tuple = ()
    normalize: str = "none"
    noise_floor: float | str = 0.0
    overlap: str = "best"
    joint: bool = False
    # Gap-aware joint scores (--min-channels): None means all channels must be present.
    min_channels: int | None = None
    # Noise-adaptive threshold (--threshold mad:K): K, or None for the fixed ``threshold``.
    threshold_mad: float | None = None
    # Target false-alarm rate (--threshold fa:RATE): RATE, or None for the fixed ``threshold``.
    threshold_fa: float | None = None
    # Short gaps filled before scanning (--fill, --max-gap)
    fill: str = "none"
    max_gap: int | None = None
    # Detection method (--method)
    method: str = "cosine"
    # Learned metric (fitted kernel files, ``motifscan fit``)
    metric: tuple | None = None
    # Speed (--threads): threads of the compiled scans; None: NUMBA_NUM_THREADS or all cores
    threads: int | None = None

    def __post_init__(self):
        from motifscan.kernel import check_kernel

        set_ = object.__setattr__  # frozen: normalise the values once, here
        check_choice("normalize", self.normalize, NORMALIZE)
        check_choice("overlap", self.overlap, OVERLAP)
        set_(self, "joint", bool(self.joint))
        kernels = _as_kernels(self.kernels)
        if kernels and self.kernel is not None:
            raise MotifscanError("give either kernel or kernels, not both")
        if not kernels:
            if self.kernel is None:
                raise MotifscanError(
                    "a kernel is required: give kernel=[1, 2, 3] (--kernel 1,2,3 or "
                    "--kernel-file FILE on the command line)"
                )
            try:
                values = tuple(float(v) for v in check_kernel(self.kernel, "kernel"))
            except MotifscanError as error:
                raise MotifscanError(str(error), ("kernel",)) from None
            kernels = (Kernel("kernel", (values,)),)
        center = self.normalize != "none"
        kernels = tuple(_check_named_kernel(kernel, center, self.joint) for kernel in kernels)
        names = [kernel.name for kernel in kernels]
        if len(set(names)) != len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise MotifscanError(f"two kernels are named {twice!r}; name them apart (NAME=...)")
        set_(self, "kernels", kernels)
        set_(self, "kernel", kernels[0].values[0])
        for name, kind in (("threshold_mad", "mad:K needs K"), ("threshold_fa", "fa:RATE needs RATE")):
            value = getattr(self, name)
            if value is not None:
                try:
                    set_(self, name, _check_number(name, value, minimum=0, inclusive=False))
                except MotifscanError:  # named as the user wrote it: --threshold mad:K
                    raise MotifscanError(
                        f"threshold {kind} to be a finite number greater than 0, got {value}", ("threshold",)
                    ) from None
        if self.threshold_mad is not None and self.threshold_fa is not None:
            raise MotifscanError("give threshold mad:K or fa:RATE, not both", ("threshold",))
        if self.adaptive_threshold and self.method == "conv":
            raise MotifscanError(
                f"threshold {'mad:K' if self.threshold_mad is not None else 'fa:RATE'} applies to the "
                "cosine score, not to method conv",
                ("threshold", "method"),
            )
        check_choice("fill", self.fill, FILL)
        if self.fill != "none":
            if self.max_gap is None:
                raise MotifscanError(
                    f"fill {self.fill} needs max_gap: the longest gap to fill, in samples", ("fill", "max_gap")
                )
            set_(self, "max_gap", _check_integer("max_gap", self.max_gap, minimum=1))
        elif self.max_gap is not None:
            raise MotifscanError("max_gap applies with fill linear or previous", ("max_gap", "fill"))
        if self.min_channels is not None:
            least = _check_integer("min_channels", self.min_channels, minimum=1)
            if not self.joint:
                raise MotifscanError(
                    "min_channels needs joint (it counts the channels of a joint kernel)", ("min_channels", "joint")
                )
            fewest = min(len(kernel.values) for kernel in kernels)
            if least > fewest:
                raise MotifscanError(
                    f"min_channels must be at most the channels of a joint kernel ({fewest}), got {least}",
                    ("min_channels",),
                )
            set_(self, "min_channels", least)
        if self.noise_floor != "auto":
            set_(self, "noise_floor", _check_number("noise_floor", self.noise_floor, minimum=0))
        set_(self, "p", _check_number("p", self.p, minimum=0, inclusive=False))
        dilations = parse_dilations(self.dilation)
        set_(self, "dilation", dilations[0] if len(dilations) == 1 else dilations)
        threshold = _check_number("threshold", self.threshold, minimum=0)
        if threshold > 1:
            raise MotifscanError(
                f"threshold must be at most 1 (scores lie in [-1, 1]), got {self.threshold}", ("threshold",)
            )
        set_(self, "threshold", threshold)
        check_choice("sign", self.sign, SIGNS)
        set_(self, "min_gap", parse_min_gap(DEFAULT_MIN_GAP if self.min_gap is None else self.min_gap))
        if self.top is not None:
            set_(self, "top", _check_integer("top", self.top, minimum=1))
        check_choice("backend", self.backend, BACKENDS)
        check_choice("device", self.device, DEVICES)
        set_(self, "block_rows", _check_integer("block_rows", self.block_rows, minimum=1))
        # Speed (--threads)
        if self.threads is not None:
            set_(self, "threads", _check_integer("threads", self.threads, minimum=1))
        # Detection method (--method)
        check_choice("method", self.method, METHODS)
        # Learned metric: checked here, scanned on the CPU only.
        if self.metric is not None:
            from motifscan.similarity.metric import METRIC_BACKENDS, check_metric

            matrix = check_metric(self.metric, len(self.kernel), "metric")
            set_(
                self,
                "metric",
                tuple(matrix.tolist()) if matrix.ndim == 1 else tuple(tuple(row) for row in matrix.tolist()),
            )
            if self.device == "gpu" or self.backend == "cuda":
                raise MotifscanError("device gpu: a kernel with a learned metric is scanned on the CPU", ("device",))
            if self.backend not in METRIC_BACKENDS:
                raise MotifscanError(
                    f"backend {self.backend}: a learned metric is scanned with numpy or numba", ("backend",)
                )
        # The convolution and a learned metric apply to one plain kernel at one dilation.
        batch = ("normalize", "noise_floor", "joint")
        for option, used in (("method conv", self.method == "conv"), ("a learned metric", self.metric is not None)):
            if used and (len(self.kernels) > 1 or len(self.dilations) > 1 or self.batch_scan):
                raise MotifscanError(
                    f"{option} works with one kernel at one dilation, without normalize, noise_floor or joint",
                    ("method", *batch),
                )
        if self.batch_scan and (self.device == "gpu" or self.backend == "cuda"):
            raise MotifscanError(
                "device gpu runs the plain scan only (no normalize, noise_floor or joint); use device cpu",
                ("device", *batch),
            )

    @property
    def batch_scan(self) -> bool:
        """Whether windows are centred, floored or joint: the batch scan
        (:func:`motifscan.similarity.multi.scan_kernels`) runs them, on the CPU only."""
        return self.normalize != "none" or self.noise_floor != 0 or self.joint

    @property
    def adaptive_threshold(self) -> bool:
        """Whether each score track's threshold is estimated from its reference stretch
        (``mad:K`` or ``fa:RATE``) rather than fixed."""
        return self.threshold_mad is not None or self.threshold_fa is not None

    @property
    def adaptive_threshold_text(self) -> str:
        """``mad:K`` or ``fa:RATE`` as given (the ``threshold`` parameter of reports and
        state files); empty for a fixed threshold."""
        if self.threshold_mad is not None:
            return f"mad:{self.threshold_mad:g}"
        if self.threshold_fa is not None:
            return f"fa:{self.threshold_fa:g}"
        return ""

    @property
    def dilations(self) -> tuple[int, ...]:
        """Every dilation scanned, ascending."""
        return self.dilation if isinstance(self.dilation, tuple) else (self.dilation,)

    @property
    def span(self) -> int:
        """Samples covered by the longest window: ``(m - 1) * dilation + 1`` at its largest."""
        return max(span(kernel.length, d) for kernel in self.kernels for d in self.dilations)

    @property
    def shortest_span(self) -> int:
        """Samples covered by the shortest window of the run."""
        return min(span(kernel.length, d) for kernel in self.kernels for d in self.dilations)

    @property
    def gap(self) -> int:
        """``min_gap`` in samples for windows of :attr:`span` (not for a time: that needs
        the input's time column, see :func:`motifscan.pipeline.sampling_step`)."""
        return self.parsed_min_gap.samples_for(self.span)

    @property
    def parsed_min_gap(self) -> MinGap:
        """``min_gap`` as construction normalised it (given as text, a number or None)."""
        if not isinstance(self.min_gap, MinGap):
            raise TypeError("DetectionConfig.min_gap is a MinGap once the config is built")
        return self.min_gap

    def parameters(self) -> dict:
        """The options as plain JSON-ready values, for reports."""
        several = len(self.kernels) > 1 or self.joint
        parameters = {
            "kernel": list(self.kernel or ()),  # construction sets it: never None here
            "p": self.p,
            "dilation": list(self.dilations) if isinstance(self.dilation, tuple) else self.dilation,
            "span": self.span,
            "threshold": self.threshold,
            "sign": self.sign,
            "min_gap": self.parsed_min_gap.parameter(),
            "top": self.top,
            "normalize": self.normalize,
            "noise_floor": self.noise_floor,
        }
        if several:
            del parameters["kernel"]
            parameters["kernels"] = {
                kernel.name: (
                    {name: list(row) for name, row in zip(kernel.channels, kernel.values)}
                    if self.joint
                    else list(kernel.values[0])
                )
                for kernel in self.kernels
            }
            parameters["overlap"] = self.overlap
            parameters["joint"] = self.joint
            weighted = {
                kernel.name: dict(zip(kernel.channels, kernel.weights)) for kernel in self.kernels if kernel.weights
            }
            if weighted:
                parameters["weights"] = weighted
            if self.min_channels is not None:
                parameters["min_channels"] = self.min_channels
        if self.adaptive_threshold:
            parameters["threshold"] = self.adaptive_threshold_text
        if self.fill != "none":
            parameters["fill"] = self.fill
            parameters["max_gap"] = self.max_gap
        parameters["method"] = self.method
        if self.metric is not None:
            parameters["metric"] = self.metric_kind
        return parameters

    @property
    def metric_kind(self) -> str | None:
        """``"diagonal"``, ``"full"``, or None without a learned metric."""
        if self.metric is None:
            return None
        return "full" if isinstance(self.metric[0], tuple) else "diagonal"


# Batch jobs, live logs and clusters: how a run over many inputs is carried out. None of
# these options changes which motifs an input has.


def _check_size(name: str, value) -> int:
    text = str(value).strip().upper()
    factor = 1
    if text[-1:] in ("K", "M", "G"):
        factor = 1024 ** ("KMG".index(text[-1]) + 1)
        text = text[:-1]
    try:
        number = float(text)
    except ValueError:
        raise MotifscanError(f"{name} must be a number of bytes such as 268435456 or 256M, got {value!r}") from None
    if not math.isfinite(number) or number * factor < 1:
        raise MotifscanError(f"{name} must be at least 1 byte, got {value!r}")
    return int(number * factor)


@dataclass(frozen=True)
class BatchConfig:
    """How the inputs of a ``detect`` run are processed.

    Attributes
    ----------
    jobs : int
        Inputs processed in parallel by worker processes, >= 1.
    state : str or None
        State file remembering what earlier runs read (``--state``).
    output : str or None
        Where the motifs go (None or ``-``: stdout).
    append : bool
        Append to ``output`` instead of replacing it.
    follow : bool
        Follow the one input like ``tail -f`` (``--follow``).
    dask : str or None
        ``"local"`` or the address of a Dask scheduler to run the work on (``--dask``).
    split_bytes : int or None
        With ``dask``, inputs larger than this many bytes are split into ranges
        (``--split-bytes``; a number with an optional K, M or G suffix, powers of 1024).
    plot : str or None
        Where to draw the run's figure (``--plot``): one whole input scanned here.
    """

    jobs: int = 1
    state: str | None = None
    output: str | None = None
    append: bool = False
    follow: bool = False
    dask: str | None = None
    split_bytes: int | str | None = None
    plot: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "jobs", _check_integer("--jobs", self.jobs, minimum=1))
        if self.dask is not None and not str(self.dask).strip():
            raise MotifscanError("--dask needs a scheduler address or local")
        if self.split_bytes is not None:
            if self.dask is None:
                raise MotifscanError("--split-bytes only applies with --dask")
            object.__setattr__(self, "split_bytes", _check_size("--split-bytes", self.split_bytes))
        if self.append and self.output in (None, "-"):
            raise MotifscanError("--append needs --output FILE")
        if self.state is not None and self.state in ("", "-"):
            raise MotifscanError(f"--state must name a file, got {self.state!r}")
        if self.plot is not None and self.state is not None:
            raise MotifscanError("--plot draws one whole input, not the new part that --state reads")
        if self.plot is not None and self.follow:
            raise MotifscanError("--plot draws one whole input, but --follow never ends")
        if self.plot is not None and self.dask is not None:
            raise MotifscanError("--plot draws the scores of this machine's scan, not a cluster's")

    def check_format(self, fmt: str, config: DetectConfig) -> None:
        """Refuse combinations that cannot work with the output format or the detection."""
        if self.follow and fmt not in ("jsonl", "csv"):
            raise MotifscanError(f"--follow never ends, so it writes jsonl or csv, not {fmt}")
        if self.follow and self.output not in (None, "-"):
            raise MotifscanError("--follow writes to stdout: --output is renamed into place only at the end")
        if self.follow and config.top is not None:
            raise MotifscanError("--top waits for the end of the input, which --follow never reaches")
        if self.append and fmt == "json":
            raise MotifscanError("--append cannot add to a JSON document; use --format jsonl or csv")
        if self.state is not None and config.fill != "none":
            raise MotifscanError(
                "--fill with --state: a gap open at the end of one run cannot be held back "
                "for the next; fill the data first or run without --state"
            )
        if self.state is not None and config.min_channels is not None:
            raise MotifscanError(
                "--min-channels with --state: which channels a waiting candidate was scored on "
                "is not kept in the state yet; run without --state"
            )
        if self.dask is not None and config.fill != "none":
            raise MotifscanError("--fill with --dask: a gap across two byte ranges cannot be filled in either")
        if self.state is not None and config.method == "conv":
            raise MotifscanError(
                "--method conv cannot be combined with --state: its threshold is "
                "relative to the strongest activation of the whole signal"
            )
        if self.dask is not None and (
            len(config.kernels) > 1 or len(config.dilations) > 1 or config.joint or config.noise_floor == "auto"
        ):
            raise MotifscanError("--dask scans one kernel at one dilation (no --joint, no --noise-floor auto)")
        if config.parsed_min_gap.is_time and (self.state is not None or self.dask is not None):
            raise MotifscanError(
                f"--min-gap {config.parsed_min_gap.text}: a time is converted with the sampling step of "
                "the whole input, which --state and --dask runs do not see; give samples "
                "or a fraction of the span"
            )
        if self.state is not None and config.top is not None:
            raise MotifscanError(
                "--top cannot be combined with --state: the strongest of new data only is rarely what is meant"
            )
