"""motifscan: find a shape in long time series with a sliding sharpened cosine similarity.

Python API
----------
scan(signal, kernel, p=1, dilation=1)      -> score track, shape (n - span + 1,) or (.., channels)
detect(signal, kernel, p=1, ...)           -> list of Motif
(both take method="conv" for the plain convolution, the comparison mode)
motifs_to_frame(motifs)                    -> pandas.DataFrame
read_kernel(path)                          -> kernel values, or a FittedKernel from `motifscan fit`

Both share the streaming pipeline of the ``motifscan`` command. Heavy modules are imported
on first use so that ``motifscan --help`` starts at once.
"""

from __future__ import annotations

from typing import Any, Sequence

from motifscan.errors import MotifscanError

__all__ = ["scan", "detect", "motifs_to_frame", "read_kernel", "Motif", "FittedKernel", "MotifscanError", "__version__"]


def __getattr__(name):
    if name == "__version__":
        # One place for the version: pyproject.toml, read back from the installed metadata.
        from importlib.metadata import version

        return version("motifscan")
    if name == "Motif":
        from motifscan.motif import Motif

        return Motif
    if name == "FittedKernel":
        from motifscan.io.fitted_kernels import FittedKernel

        return FittedKernel
    raise AttributeError(f"module 'motifscan' has no attribute {name!r}")


def _as_source(signal, time, block_rows):
    """Wrap an array, Series, DataFrame or dict of arrays as a signal source."""
    import numpy as np

    from motifscan.signal import signal_from_arrays

    if hasattr(signal, "select_dtypes"):  # pandas DataFrame: numeric columns are channels
        numeric = signal.select_dtypes("number")
        channels = {str(name): numeric[name].to_numpy(dtype=np.float64) for name in numeric.columns}
        if time is None:
            time = _index_time(signal.index)
    elif hasattr(signal, "to_numpy") and hasattr(signal, "name"):  # pandas Series
        channels = {str(signal.name) if signal.name is not None else "signal": signal.to_numpy(dtype=np.float64)}
        if time is None:
            time = _index_time(signal.index)
    elif isinstance(signal, dict):
        channels = {str(name): values for name, values in signal.items()}
    else:
        try:
            array = np.asarray(signal, dtype=np.float64)
        except (TypeError, ValueError):
            raise MotifscanError("signal: must be numbers (a 1-D or 2-D array)") from None
        if array.ndim == 1:
            channels = {"signal": array}
        elif array.ndim == 2:
            channels = {f"channel{i}": array[:, i] for i in range(array.shape[1])}
        else:
            raise MotifscanError(f"signal: expected a 1-D or 2-D array, got {array.ndim} dimensions")
    return signal_from_arrays(channels, time=time, name="signal", block_rows=block_rows)


def _index_time(index):
    """A pandas index's datetimes as the signal's time; None for any other index."""
    dtype = getattr(index, "dtype", None)
    if dtype is None or getattr(dtype, "kind", None) != "M":
        return None
    return index  # not to_numpy(): a tz-aware index keeps its zone (signal_from_arrays reads it)


def _is_two_dimensional(kernel) -> bool:
    import numpy as np

    return hasattr(kernel, "columns") or (not isinstance(kernel, dict) and np.ndim(kernel) == 2)


def _joint_kernel(name: str, kernel):
    """A 2-D kernel, an ``(m, c)`` array or a DataFrame, as a joint :class:`Kernel`: one row
    per channel, named by the DataFrame's columns (``channel0``, ``channel1``, ... for an
    array, as a 2-D signal's channels are named)."""
    import numpy as np

    from motifscan.kernel import Kernel

    if hasattr(kernel, "columns"):
        names = [str(column) for column in kernel.columns]
        values = kernel.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(kernel, dtype=np.float64)
        names = [f"channel{i}" for i in range(values.shape[1])]
    return Kernel(name, tuple(tuple(column) for column in values.T.tolist()), tuple(names))


def _named_kernels(kernel, joint: bool) -> tuple:
    """Kernels given as a dict of name -> values (or of name -> dict of channel -> values),
    or one 2-D kernel; () for one plain kernel (or a FittedKernel)."""
    import numpy as np

    from motifscan.kernel import Kernel

    if isinstance(kernel, dict):
        return tuple(
            Kernel(str(name), tuple(tuple(row) for row in values.values()), tuple(values))
            if isinstance(values, dict)
            else _joint_kernel(str(name), values)
            if _is_two_dimensional(values)
            else Kernel(str(name), (tuple(np.asarray(values, dtype=np.float64).ravel()),))
            for name, values in kernel.items()
        )
    if _is_two_dimensional(kernel):
        if not joint:
            raise MotifscanError(
                "kernel: a 2-D kernel (m samples x c channels) is a joint kernel: pass "
                "joint=True to score its channels together"
            )
        return (_joint_kernel("kernel", kernel),)
    return ()


def _plain_values(kernel):
    """One kernel's values and its FittedKernel (None for plain values)."""
    import numpy as np

    from motifscan.io.fitted_kernels import FittedKernel

    if isinstance(kernel, FittedKernel):
        return tuple(kernel.values), kernel
    return tuple(np.asarray(kernel, dtype=np.float64).ravel()), None


def _config(kernel, *, p, threshold, normalize, metric, method, joint=False, sign=None, **options):
    """The run's :class:`DetectConfig`, settings decided as the command line decides them."""
    from motifscan.config import DetectConfig, kernel_settings

    kernels = _named_kernels(kernel, joint)
    values, fitted = (None, None) if kernels else _plain_values(kernel)
    if isinstance(threshold, str) and threshold.strip().lower().startswith(("mad:", "fa:")):
        kind, _, number = threshold.strip().partition(":")
        try:
            options[f"threshold_{kind.lower()}"] = float(number)
        except ValueError:
            raise MotifscanError(
                f"threshold: {threshold!r} is not mad:K or fa:RATE with a number", ("threshold",)
            ) from None
        threshold = None
    settings = kernel_settings(
        fitted, p=p, threshold=threshold, normalize=normalize, metric=metric, sign=sign, method=method
    )
    return DetectConfig(kernel=values, kernels=kernels, method=method, joint=joint, **settings, **options)


def read_kernel(path):
    """Read a kernel file: the values (float64, shape (m,)), or a :class:`FittedKernel`
    (values, p, threshold, normalisation, metric) for a file written by ``motifscan fit``."""
    from motifscan.io.kernels import read_kernel as read

    return read(str(path))


def scan(
    signal: Any,
    kernel: Any,
    *,
    p: float | None = None,
    dilation: int = 1,
    backend: str = "auto",
    device: str = "auto",
    metric: Any = None,
    method: str = "cosine",
    normalize: str | None = None,
    noise_floor: float | str = 0.0,
    full: bool = False,
) -> Any:
    """Sharpened cosine similarity of ``kernel`` at every valid position of ``signal``.

    Parameters
    ----------
    signal : array_like (n,) or (n, c), pandas Series or DataFrame, or dict of name -> array
        The time series; every channel (column) is scanned on its own.
    kernel : array_like, shape (m,), or FittedKernel
        The template; finite, not all zero. A :class:`FittedKernel` (from :func:`read_kernel`
        or ``motifscan fit``) also supplies ``p``, ``normalize`` and ``metric`` when they
        are not given. A 2-D kernel is a joint kernel: see :func:`detect`.
    p : float, default 1
        Sharpness > 0: ``score = sign(cos) * |cos| ** (p*p)``.
    dilation : int, default 1
        Samples between kernel taps; the window spans ``(m - 1) * dilation + 1`` samples.
    backend : {"auto", "numpy", "numba", "fft", "cuda"}
    device : {"auto", "cpu", "gpu"}
        ``gpu`` runs the CUDA backend (an NVIDIA GPU and ``motifscan[gpu]``); ``auto`` does
        so only for large inputs when a GPU is usable.
    metric : array_like, shape (m,) or (r, m), optional
        A learned metric ``M`` (diagonal weights or a matrix): windows and kernel are
        compared as ``M w`` and ``M k``. Scanned on the CPU.
    method : {"cosine", "conv"}, default "cosine"
        ``conv`` returns the plain convolution instead: the dot product of each window
        with the kernel, ``numpy.correlate(signal, kernel, "valid")`` for ``dilation=1``.
    normalize : {"none", "center", "zscore"}, default "none"
        ``center`` and ``zscore`` remove each window's and the kernel's mean first, so the
        cosine is Pearson's r.
    noise_floor : float or "auto"
        ``q >= 0`` added to each window's norm (see docs/method.md).
    full : bool, default False
        Return every track of each channel, as ``motifscan scores`` writes them:
        ``<channel>_score``, ``_cosine``, ``_scale`` (and ``_distance`` with ``zscore``;
        ``_activation`` with ``conv``), as a DataFrame.

    Returns
    -------
    numpy.ndarray, pandas.Series or pandas.DataFrame
        Scores in [-1, 1] (activations for ``conv``); NaN where the window holds NaN or
        inf. For an array: float64 of shape ``(n - span + 1,)`` or ``(n - span + 1, c)``.
        For a Series or DataFrame: the same type, indexed like the input at each window's
        first sample. With ``full=True``: a DataFrame, indexed like that (0, 1, ... for
        arrays), one column per track.
    """
    import numpy as np

    from motifscan.scan_plan import RunSummary
    from motifscan.scanning import score_blocks

    if _is_two_dimensional(kernel):
        raise MotifscanError(
            "kernel: scan() takes one kernel of shape (m,); detect(..., joint=True) "
            "scores a 2-D kernel's channels together"
        )
    config = _config(
        kernel,
        p=p,
        threshold=None,
        normalize=normalize,
        metric=metric,
        method=method,
        dilation=dilation,
        backend=backend,
        device=device,
        noise_floor=noise_floor,
    )
    if len(config.dilations) > 1:
        raise MotifscanError("scan: one dilation at a time (detect() searches a range)")
    source = _as_source(signal, None, None)
    summary = RunSummary(source.name, list(source.channels), None)
    blocks = list(score_blocks(source, config, summary, activation=method == "conv"))
    index = getattr(signal, "index", None)
    index = index if hasattr(index, "to_numpy") else None  # a pandas index (a list's .index is a method)
    if full:
        return _full_tracks(blocks, list(source.channels), method, index)
    tracks = [np.concatenate([_main_track(block, name, method) for block in blocks]) for name in source.channels]
    if hasattr(signal, "select_dtypes"):
        import pandas as pd

        # A DataFrame always has an index.
        return pd.DataFrame(
            dict(zip(source.channels, tracks)), index=None if index is None else index[: len(tracks[0])]
        )
    if index is not None:
        import pandas as pd

        return pd.Series(tracks[0], index=index[: len(tracks[0])], name=signal.name)
    return tracks[0] if np.ndim(signal) == 1 and not isinstance(signal, dict) else np.stack(tracks, axis=1)


def _main_track(block, channel: str, method: str):
    return block.activations[channel] if method == "conv" else block.tracks[channel].score


def _full_tracks(blocks, channels: list, method: str, index):
    """Every track of every channel as one DataFrame (the columns of ``motifscan scores``)."""
    import numpy as np
    import pandas as pd

    columns = {}
    for channel in channels:
        for field in blocks[0].tracks[channel]._fields:
            parts = [getattr(block.tracks[channel], field) for block in blocks]
            if all(part is not None for part in parts):
                columns[f"{channel}_{field}"] = np.concatenate(parts)
        if method == "conv":
            columns[f"{channel}_activation"] = np.concatenate([block.activations[channel] for block in blocks])
    positions = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=None if index is None else index[:positions])


def detect(
    signal: Any,
    kernel: Any,
    *,
    p: float | None = None,
    dilation: int | str | Sequence[int] = 1,
    threshold: float | str | None = None,
    sign: str | None = None,
    min_gap: int | None = None,
    top: int | None = None,
    time: Any = None,
    block_rows: int | None = None,
    backend: str = "auto",
    device: str = "auto",
    metric: Any = None,
    method: str = "cosine",
    normalize: str | None = None,
    noise_floor: float | str = 0.0,
    overlap: str = "best",
    joint: bool = False,
    min_channels: int | None = None,
    fill: str = "none",
    max_gap: int | None = None,
    summary: bool = False,
) -> Any:
    """Find the kernel's shape in ``signal``.

    Parameters
    ----------
    signal : array_like (n,) or (n, c), pandas Series/DataFrame, or dict of name -> array
        Numeric columns of a DataFrame are channels; a DatetimeIndex becomes the time.
    kernel : array_like (m,), FittedKernel, 2-D kernel, or dict of name -> kernel
        One kernel (see :func:`scan`), or several named ones (each motif then has its
        ``kernel`` name). A 2-D kernel (an ``(m, c)`` array or a DataFrame with a column
        per channel) or a dict of channel -> values is a joint kernel and needs
        ``joint=True``: its channels are matched to the signal's by name (DataFrame
        columns; ``channel0``, ``channel1``, ... for an array), or by position when no
        name occurs. It is never flattened.
    p, backend, device, metric, normalize, noise_floor
        As in :func:`scan`.
    dilation : int, sequence of int, or str such as ``"1..8"``
        Several dilations are all scanned; each motif has the ``dilation`` that matched best.
    threshold : float or str, default 0.5
        Minimum |score| of a motif (a FittedKernel's own threshold when not given), or
        ``"mad:K"``: K times each score track's median absolute deviation over its first
        100 000 windows, or ``"fa:RATE"``: the level that RATE windows per hour (per million
        windows without times) of those reach (docs/method.md, "Noise-adaptive threshold"); with
        ``method="conv"``, minimum |activation| as a fraction of the channel's strongest
        |activation| (a fitted threshold, a cut-off on |score|, does not apply there).
    sign : {"any", "positive", "negative"}, optional
        Default ``any``, or a FittedKernel's (``fit`` writes ``positive``).
    min_gap : int or str, optional
        Minimum distance between motifs of one channel: samples (int), a fraction of the
        span (``"0.25span"``) or a time (``"250ms"``, ``"2min"``; needs ``time``). Default
        ``"0.5span"``, half the span (see docs/method.md). Peaks at or above the threshold
        that it hid are counted in the summary's ``suppressed_peaks`` (``summary=True``).
    top : int, optional
        Keep the ``top`` strongest motifs.
    time : array_like, shape (n,), optional
        Time of each sample, carried to ``Motif.time``: numbers, ``datetime64``, or a
        pandas ``DatetimeIndex`` (tz-aware too; also a DataFrame's index). With a zone,
        ``Motif.time`` is a ``pandas.Timestamp`` in that zone.
    block_rows : int, optional
        Feed the pipeline in blocks of this many rows (results never change).
    method : {"cosine", "conv"}, default "cosine"
        Detect on the sharpened cosine score, or on the plain convolution (comparison
        mode; motifs then carry ``activation``).
    overlap : {"best", "keep"}
        Overlapping motifs of different kernels on one channel: only the strongest, or all.
    joint : bool
        Score each joint kernel's channels together (one cosine over all of them).
    min_channels : int, optional
        With ``joint``: score a window with missing channels (NaN, inf) over the channels
        present when at least this many are; each motif's ``channels`` names them.
        Default: every channel must be present.
    fill : {"none", "linear", "previous"}, default "none"
        Fill gaps (NaN runs) of at most ``max_gap`` samples before scanning; each motif's
        ``filled`` says whether its window holds a filled sample.
    max_gap : int, optional
        Longest gap filled, in samples; required with ``fill``.
    summary : bool, default False
        Also return the run's :class:`~motifscan.scan_plan.RunSummary` (samples, positions,
        skipped windows, device, ...).

    Returns
    -------
    list of Motif, or (list of Motif, RunSummary) with ``summary=True``
        Motifs in signal order (start, then channel).
    """
    from motifscan.pipeline import detect_all

    config = _config(
        kernel,
        p=p,
        threshold=threshold,
        normalize=normalize,
        metric=metric,
        method=method,
        joint=joint,
        dilation=dilation,
        sign=sign,
        min_gap=min_gap,
        top=top,
        backend=backend,
        device=device,
        noise_floor=noise_floor,
        overlap=overlap,
        min_channels=min_channels,
        fill=fill,
        max_gap=max_gap,
    )
    source = _as_source(signal, time, block_rows)
    motifs, run = detect_all(source, config)
    if source.time_zone is not None:  # a tz-aware index: times as pandas.Timestamp in its zone
        from motifscan.io.times import in_zone

        motifs = list(in_zone(motifs, source.time_zone))
    return (motifs, run) if summary else motifs


def motifs_to_frame(motifs):
    """The motifs as a pandas DataFrame with one row per motif and one column per field.

    ``activation`` is a column only when the motifs carry it (``method="conv"``).
    The ``file`` column is there only when some motif has a file (runs over several inputs).
    """
    import dataclasses

    import pandas as pd

    from motifscan.motif import Motif

    motifs = list(motifs)
    columns = [f.name for f in dataclasses.fields(Motif)]
    if not any(m.file is not None for m in motifs):
        columns.remove("file")
    # Likewise kernel, dilation, distance, channels and filled: only when the run set them.
    for name in ("activation", "kernel", "dilation", "distance", "channels", "filled"):
        if all(getattr(m, name) is None for m in motifs):
            columns.remove(name)
    return pd.DataFrame([{name: getattr(m, name) for name in columns} for m in motifs], columns=columns)
