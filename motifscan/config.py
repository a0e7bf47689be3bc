"""The validated options of a run, as one frozen object.

The command line and the Python API both build a :class:`DetectConfig`; everything after
that trusts it. Messages name the command-line option, which is also the keyword argument
of the Python API without the dashes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from motifscan.choices import BACKENDS, DEVICES, FILL, METHODS, NORMALIZE, OVERLAP, SIGNS, check_choice
from motifscan.errors import MotifscanError
from motifscan.signal import DEFAULT_BLOCK_ROWS
from motifscan.kernel import Kernel
from motifscan.similarity import span
from motifscan.option_values import (
    DEFAULT_MIN_GAP,
    MinGap,
    check_integer,
    check_number,
    parse_dilations,
    parse_min_gap,
)

#: Default detection threshold on |score|. The score of a window is |cosine| ** (p*p), so
#: one number means "at least half as good as a perfect match" at every sharpness: with
#: p = 1 it accepts cosine >= 0.5, with p = 3 cosine >= 0.926, with p = 9 cosine >= 0.9915.
DEFAULT_THRESHOLD = 0.5


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
                    set_(self, name, check_number(name, value, minimum=0, inclusive=False))
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
            set_(self, "max_gap", check_integer("max_gap", self.max_gap, minimum=1))
        elif self.max_gap is not None:
            raise MotifscanError("max_gap applies with fill linear or previous", ("max_gap", "fill"))
        if self.min_channels is not None:
            least = check_integer("min_channels", self.min_channels, minimum=1)
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
            set_(self, "noise_floor", check_number("noise_floor", self.noise_floor, minimum=0))
        set_(self, "p", check_number("p", self.p, minimum=0, inclusive=False))
        dilations = parse_dilations(self.dilation)
        set_(self, "dilation", dilations[0] if len(dilations) == 1 else dilations)
        threshold = check_number("threshold", self.threshold, minimum=0)
        if threshold > 1:
            raise MotifscanError(
                f"threshold must be at most 1 (scores lie in [-1, 1]), got {self.threshold}", ("threshold",)
            )
        set_(self, "threshold", threshold)
        check_choice("sign", self.sign, SIGNS)
        set_(self, "min_gap", parse_min_gap(DEFAULT_MIN_GAP if self.min_gap is None else self.min_gap))
        if self.top is not None:
            set_(self, "top", check_integer("top", self.top, minimum=1))
        check_choice("backend", self.backend, BACKENDS)
        check_choice("device", self.device, DEVICES)
        set_(self, "block_rows", check_integer("block_rows", self.block_rows, minimum=1))
        # Speed (--threads)
        if self.threads is not None:
            set_(self, "threads", check_integer("threads", self.threads, minimum=1))
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
