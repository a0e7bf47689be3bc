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

from motifscan.errors import MotifscanError

__version__ = "0.1.0"
__all__ = ["scan", "detect", "motifs_to_frame", "read_kernel", "Motif", "FittedKernel",
           "MotifscanError", "__version__"]


def __getattr__(name):
    if name == "Motif":
        from motifscan.detection import Motif

        return Motif
    if name == "FittedKernel":
        from motifscan.io.kernels import FittedKernel

        return FittedKernel
    raise AttributeError(f"module 'motifscan' has no attribute {name!r}")


def _as_source(signal, time, block_rows):
    """Wrap an array, Series, DataFrame or dict of arrays as a signal source."""
    import numpy as np

    from motifscan.io.signals import signal_from_arrays

    if hasattr(signal, "select_dtypes"):  # pandas DataFrame: numeric columns are channels
        numeric = signal.select_dtypes("number")
        channels = {str(name): numeric[name].to_numpy(dtype=np.float64) for name in numeric.columns}
        if time is None and getattr(signal.index, "dtype", None) is not None and signal.index.dtype.kind == "M":
            time = signal.index.to_numpy()
    elif hasattr(signal, "to_numpy") and hasattr(signal, "name"):  # pandas Series
        channels = {str(signal.name) if signal.name is not None else "signal": signal.to_numpy(dtype=np.float64)}
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


def _kernel_settings(kernel, p, threshold, metric):
    """``(values, p, threshold, metric)``: a FittedKernel supplies what is not given."""
    import numpy as np

    from motifscan.config import DEFAULT_THRESHOLD
    from motifscan.io.kernels import FittedKernel

    if isinstance(kernel, FittedKernel):
        return (tuple(kernel.values), kernel.p if p is None else p,
                kernel.threshold if threshold is None else threshold,
                kernel.metric if metric is None else metric)
    return (tuple(np.asarray(kernel, dtype=np.float64).ravel()), 1.0 if p is None else p,
            DEFAULT_THRESHOLD if threshold is None else threshold, metric)


def read_kernel(path):
    """Read a kernel file: the values (float64, shape (m,)), or a :class:`FittedKernel`
    (values, p, threshold, metric) for a file written by ``motifscan fit``."""
    from motifscan.io.kernels import read_kernel as read

    return read(str(path))


def scan(signal, kernel, p: float | None = None, dilation: int = 1, backend: str = "auto", device: str = "auto",
         metric=None, method: str = "cosine", normalize: str = "none", noise_floor: float = 0.0):
    """Sharpened cosine similarity of ``kernel`` at every valid position of ``signal``.

    Parameters
    ----------
    signal : array_like, shape (n,) or (n, c)
        The time series; a 2-D array is scanned column by column.
    kernel : array_like, shape (m,), or FittedKernel
        The template; finite, not all zero. A :class:`FittedKernel` (from :func:`read_kernel`
        or ``motifscan.fitting.fit``) also supplies ``p`` and ``metric`` when they are not
        given.
    p : float, default 1
        Sharpness > 0: ``score = sign(cos) * |cos| ** (p*p)``.
    dilation : int, default 1
        Samples between kernel taps; the window spans ``(m - 1) * dilation + 1`` samples.
    backend : {"auto", "numpy", "numba", "cuda"}
    device : {"auto", "cpu", "gpu"}
        ``gpu`` runs the CUDA backend (an NVIDIA GPU and ``motifscan[gpu]``); ``auto`` does
        so only for large inputs when a GPU is usable.
    metric : array_like, shape (m,) or (r, m), optional
        A learned metric ``M`` (diagonal weights or a matrix): windows and kernel are
        compared as ``M w`` and ``M k``. Scanned on the CPU.
    method : {"cosine", "conv"}, default "cosine"
        ``conv`` returns the plain convolution instead: the dot product of each window
        with the kernel, ``numpy.correlate(signal, kernel, "valid")`` for ``dilation=1``.
    normalize : {"none", "center", "zscore"}
        ``center`` and ``zscore`` remove each window's and the kernel's mean first, so the
        cosine is Pearson's r.
    noise_floor : float or "auto"
        ``q >= 0`` added to each window's norm (see docs/method.md).

    Returns
    -------
    numpy.ndarray, float64, shape (n - span + 1,) or (n - span + 1, c)
        Scores in [-1, 1] (activations for ``conv``); NaN where the window holds NaN or inf.
    """
    import numpy as np

    from motifscan.config import DetectConfig
    from motifscan.pipeline import RunSummary, score_blocks

    values, p, _, metric = _kernel_settings(kernel, p, None, metric)
    config = DetectConfig(kernel=values, p=p, dilation=dilation, backend=backend, device=device,
                          metric=None if metric is None else np.asarray(metric).tolist(), method=method,
                          normalize=normalize, noise_floor=noise_floor)
    if len(config.dilations) > 1:
        raise MotifscanError("scan: one dilation at a time (detect() searches a range)")
    was_1d = np.ndim(signal) == 1
    source = _as_source(signal, None, None)
    summary = RunSummary(source.name, list(source.channels), None)
    blocks = list(score_blocks(source, config, summary))

    def track(block, name):
        return block.activations[name] if method == "conv" else block.tracks[name].score

    tracks = [np.concatenate([track(b, name) for b in blocks]) for name in source.channels]
    return tracks[0] if was_1d else np.stack(tracks, axis=1)


def detect(
    signal,
    kernel,
    p: float | None = None,
    dilation: int = 1,
    threshold: float | None = None,
    sign: str = "any",
    min_gap: int | None = None,
    top: int | None = None,
    time=None,
    block_rows: int | None = None,
    backend: str = "auto",
    device: str = "auto",
    metric=None,
    method: str = "cosine",
    normalize: str = "none",
    noise_floor: float = 0.0,
    overlap: str = "best",
    joint: bool = False,
):
    """Find the kernel's shape in ``signal``.

    Parameters
    ----------
    signal : array_like (n,) or (n, c), pandas Series/DataFrame, or dict of name -> array
        Numeric columns of a DataFrame are channels; a DatetimeIndex becomes the time.
    kernel : array_like (m,), FittedKernel, or dict of name -> array_like
        One kernel (see :func:`scan`), or several named ones (each motif then has its
        ``kernel`` name); with ``joint=True`` each value is a dict of channel -> values.
    p, backend, device, metric, normalize, noise_floor
        As in :func:`scan`.
    dilation : int, sequence of int, or str such as ``"1..8"``
        Several dilations are all scanned; each motif has the ``dilation`` that matched best.
    overlap : {"best", "keep"}
        Overlapping motifs of different kernels on one channel: only the strongest, or all.
    joint : bool
        Score each joint kernel's channels together (one cosine over all of them).
    threshold : float, default 0.5
        Minimum |score| of a motif (a FittedKernel's own threshold when not given); with
        ``method="conv"``, minimum |activation| as a fraction of the channel's strongest
        |activation|.
    sign : {"any", "positive", "negative"}
    min_gap : int or str, optional
        Minimum distance between motifs of one channel: samples (int), a fraction of the
        span (``"0.25span"``) or a time (``"250ms"``, ``"2min"``; needs ``time``). Default
        ``"0.5span"``, half the span (see docs/method.md). :func:`motifscan.pipeline.detect_all`
        also returns the run's summary, whose ``suppressed_peaks`` counts peaks hidden by it.
    top : int, optional
        Keep the ``top`` strongest motifs.
    time : array_like, shape (n,), optional
        Time of each sample, carried to ``Motif.time``.
    block_rows : int, optional
        Feed the pipeline in blocks of this many rows (results never change).
    method : {"cosine", "conv"}, default "cosine"
        Detect on the sharpened cosine score, or on the plain convolution (comparison
        mode; motifs then carry ``activation``).

    Returns
    -------
    list of Motif
        In signal order (start, then channel).
    """
    import numpy as np

    from motifscan.config import DetectConfig
    from motifscan.pipeline import detect_all

    from motifscan.io.kernels import Kernel

    kernels = ()
    if isinstance(kernel, dict):
        kernels = tuple(
            Kernel(str(name), tuple(tuple(row) for row in values.values()), tuple(values))
            if isinstance(values, dict) else Kernel(str(name), (tuple(np.asarray(values, dtype=np.float64).ravel()),))
            for name, values in kernel.items()
        )
        kernel = [1.0]  # placeholder for the settings below; the named kernels are used
    values, p, threshold, metric = _kernel_settings(kernel, p, threshold, metric)
    config = DetectConfig(
        kernel=None if kernels else values, kernels=kernels, p=p, dilation=dilation, threshold=threshold,
        sign=sign, min_gap=min_gap, top=top, backend=backend, device=device,
        metric=None if metric is None else np.asarray(metric).tolist(), method=method,
        normalize=normalize, noise_floor=noise_floor, overlap=overlap, joint=joint,
    )
    motifs, _ = detect_all(_as_source(signal, time, block_rows), config)
    return motifs


def motifs_to_frame(motifs):
    """The motifs as a pandas DataFrame with one row per motif and one column per field.

    ``activation`` is a column only when the motifs carry it (``method="conv"``).
    The ``file`` column is there only when some motif has a file (runs over several inputs).
    """
    import dataclasses

    import pandas as pd

    from motifscan.detection import Motif

    motifs = list(motifs)
    columns = [f.name for f in dataclasses.fields(Motif)]
    if not any(m.file is not None for m in motifs):
        columns.remove("file")
    # Likewise kernel, dilation and distance: only when the run filled them.
    for name in ("activation", "kernel", "dilation", "distance"):
        if all(getattr(m, name) is None for m in motifs):
            columns.remove(name)
    return pd.DataFrame([{name: getattr(m, name) for name in columns} for m in motifs], columns=columns)
