"""Sliding sharpened cosine similarity: one reference and the fast backends.

Every backend computes, for each valid window position, the same three numbers
(docs/architecture.md, "Definitions"): the sharpened ``score``, the plain ``cosine`` and the least-squares
amplitude ``scale``. They differ only in speed and round-off; the NumPy reference is the
oracle the others are tested against.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from motifscan.choices import BACKENDS
from motifscan.errors import MotifscanError

#: Below this many multiply-adds (windows x kernel taps) the NumPy reference is used by
#: ``backend="auto"`` in a process that has already loaded Numba: it answers at once.
SMALL_WORK = 200_000

#: The same bound while Numba is not loaded yet: importing it and loading the cached
#: machine code costs about 0.7 s on the development machine (a first-ever compilation
#: several seconds), while the NumPy reference scores about 5e7 multiply-adds a second, so
#: a small file is answered before a compiled backend could start.
COLD_SMALL_WORK = 10_000_000

#: From this many kernel taps on, ``backend="auto"`` takes the FFT backend rather than the
#: direct Numba scan: measured crossover, see docs/performance.md ("Direct or FFT").
FFT_MIN_TAPS = 256

#: The crossover of the plain scan of one kernel (``sliding_cosine`` and the fused
#: ``sliding_candidates``, a run without ``--normalize``, noise floor or ``--joint``):
#: measured again at the end of the second round, its direct scan beats the FFT up to
#: about 330 taps (n = 1e7: 256 taps 131 ms direct against 164 ms FFT, 320 taps 154
#: against 168, 384 taps 177 against 156; docs/performance.md, "Direct or FFT").
PLAIN_FFT_MIN_TAPS = 320

#: The same crossover for the centred scans (``normalize="center"`` or ``"zscore"``): their
#: direct scan costs more per tap (a subtraction and two more sums), their FFT more than
#: the plain one (norms, mean shift), so the FFT takes over at fewer taps; measured in
#: CPU time on one thread, which the machine's load moves least (docs/performance.md).
CENTERED_FFT_MIN_TAPS = 192


class ScoreTrack(NamedTuple):
    """Per-position results of one scan, each a float64 array of shape ``(n - span + 1,)``.

    Positions whose window holds NaN or +-inf are NaN in all three arrays.
    """

    score: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray


class DistanceTrack(NamedTuple):
    """A :class:`ScoreTrack` plus the z-normalised Euclidean ``distance`` of each window
    (``normalize="zscore"``), all float64 arrays of shape ``(n - span + 1,)``."""

    score: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    distance: np.ndarray


class CandidateTrack(NamedTuple):
    """What detection needs of a scan, without every window's results (the fused scan of
    :func:`sliding_candidates`).

    ``position`` (int64, relative to the scan's first position, ascending) names the
    *finished* windows, and ``score``, ``cosine``, ``scale`` are their results exactly as
    the full scan computes them. Every window that could be a candidate for the threshold
    and every window without a score (NaN) is finished; so may be a few others (those
    close to a bound). ``length`` is how many positions the scan covered, and
    ``near_unit_cosine`` how many unfinished windows have ``|cosine|`` above the scan's
    ``near_cosine`` (the finished ones are counted from their cosine). ``distance`` holds
    the finished windows' z-normalised distances (``normalize="zscore"``), else None.
    """

    position: np.ndarray
    score: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    length: int
    near_unit_cosine: int
    distance: np.ndarray | None = None


def track_length(track) -> int:
    """Positions a score track covers: its length, full or fused (:class:`CandidateTrack`)."""
    return track.length if isinstance(track, CandidateTrack) else track.score.shape[0]


def join_candidates(first: CandidateTrack, second: CandidateTrack) -> CandidateTrack:
    """The fused track of two consecutive stretches of positions (``second`` starting right
    after the ``first.length`` positions of ``first``)."""
    return CandidateTrack(
        np.concatenate([first.position, second.position + first.length]),
        np.concatenate([first.score, second.score]),
        np.concatenate([first.cosine, second.cosine]),
        np.concatenate([first.scale, second.scale]),
        first.length + second.length,
        first.near_unit_cosine + second.near_unit_cosine,
        None if first.distance is None else np.concatenate([first.distance, second.distance]),
    )


#: One kernel's scan result: a :class:`DistanceTrack` for ``normalize="zscore"``, else a
#: :class:`ScoreTrack`.
Track = ScoreTrack | DistanceTrack


def span(kernel_length: int, dilation: int) -> int:
    """Number of signal samples one window covers: ``(m - 1) * dilation + 1``."""
    return (kernel_length - 1) * dilation + 1


def scan_inputs(signal, kernel, dilation: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The signal and kernel as contiguous float64 arrays, and the number of valid window
    positions ``n - span + 1`` (<= 0 when the signal is shorter than one window)."""
    x = np.ascontiguousarray(signal, dtype=np.float64)
    k = np.ascontiguousarray(kernel, dtype=np.float64)
    return x, k, x.shape[0] - span(k.shape[0], dilation) + 1


def empty_track() -> ScoreTrack:
    """The result of a scan with no valid window: three empty arrays."""
    empty = np.empty(0)
    return ScoreTrack(empty, empty.copy(), empty.copy())


def resolve_backend(
    backend: str, rows: int | None, kernel_length: int, normalize: str = "none", plain: bool = False
) -> str:
    """Turn ``"auto"`` into a concrete backend for a whole run.

    A run uses one backend from start to end, so that every window is computed the same
    way whatever block it falls in (backends agree only to round-off). ``rows`` is an upper
    bound on the signal's length, or None when unknown (a stream): then a compiled backend,
    the direct Numba scan below :data:`FFT_MIN_TAPS` taps (:data:`PLAIN_FFT_MIN_TAPS` for
    the ``plain`` scan of one kernel, :data:`CENTERED_FFT_MIN_TAPS` when ``normalize`` is
    ``"center"`` or ``"zscore"``) and the FFT from there on. Small work takes the NumPy
    reference: below :data:`SMALL_WORK` multiply-adds, or below :data:`COLD_SMALL_WORK`
    while Numba is not loaded yet.
    """
    if backend != "auto":
        return backend
    small = SMALL_WORK if "numba" in sys.modules else COLD_SMALL_WORK
    if rows is not None and rows * kernel_length < small:
        return "numpy"
    if normalize != "none":
        crossover = CENTERED_FFT_MIN_TAPS
    else:
        crossover = PLAIN_FFT_MIN_TAPS if plain else FFT_MIN_TAPS
    return "fft" if kernel_length >= crossover else "numba"


def sliding_cosine(
    signal: np.ndarray,
    kernel: np.ndarray,
    p: float = 1.0,
    dilation: int = 1,
    backend: str = "auto",
) -> ScoreTrack:
    """Scan ``signal`` with ``kernel`` and return the score track.

    Parameters
    ----------
    signal : float64 array, shape (n,)
        One channel. NaN and +-inf make every window containing them unscored (NaN).
    kernel : float64 array, shape (m,)
        The template; finite, not all zero.
    p : float
        Sharpness, > 0. ``score = sign(cosine) * |cosine| ** (p * p)``.
    dilation : int
        Gap between kernel taps in samples, >= 1.
    backend : {"auto", "numpy", "numba", "fft", "cuda"}
        ``numba`` is the direct multicore scan, ``fft`` the overlap-save FFT scan; ``auto``
        takes NumPy for small work and otherwise the faster of the two for the kernel's
        length (see :func:`resolve_backend`); ``cuda`` runs on an NVIDIA GPU (the ``gpu``
        extra).

    Returns
    -------
    ScoreTrack
        ``score``, ``cosine``, ``scale``, each of shape ``(max(n - span + 1, 0),)``.
    """
    x, k, n_out = scan_inputs(signal, kernel, dilation)
    if n_out <= 0:
        return empty_track()
    backend = resolve_backend(backend, n_out, k.shape[0], plain=True)
    if backend == "numpy":
        from motifscan.similarity.reference import sliding_cosine_reference

        return sliding_cosine_reference(x, k, p, dilation)
    if backend == "numba":
        from motifscan.similarity.cpu import sliding_cosine_numba

        return sliding_cosine_numba(x, k, p, dilation)
    if backend == "fft":
        from motifscan.similarity.fft import sliding_cosine_fft

        return sliding_cosine_fft(x, k, p, dilation)
    if backend == "cuda":
        from motifscan.similarity.gpu import sliding_cosine_cuda

        return sliding_cosine_cuda(x, k, p, dilation)
    raise MotifscanError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


def sliding_dot(signal: np.ndarray, kernel: np.ndarray, dilation: int = 1, backend: str = "auto") -> np.ndarray:
    """Plain dot product of ``kernel`` with every window: the convolution of deep learning.

    ``dot[i] = sum_j kernel[j] * signal[i + j * dilation]`` (cross-correlation, the kernel
    is not flipped).

    Parameters
    ----------
    signal : float64 array, shape (n,)
    kernel : float64 array, shape (m,), finite
    dilation : int
        Gap between kernel taps in samples, >= 1.
    backend : {"auto", "numpy", "numba", "fft"}
        As for :func:`sliding_cosine` (no GPU version).

    Returns
    -------
    float64 array, shape (max(n - span + 1, 0),)
        IEEE arithmetic: a window holding NaN gives NaN, one holding inf gives +-inf or NaN,
        huge values may overflow to +-inf. The backends agree within round-off relative to
        ``sum_j |kernel[j] * w[j]|`` (direct) or ``|w| * |kernel|`` (FFT).
    """
    x, k, n_out = scan_inputs(signal, kernel, dilation)
    if n_out <= 0:
        return np.empty(0)
    backend = resolve_backend(backend, n_out, k.shape[0])
    if backend == "numpy":
        from motifscan.similarity.reference import sliding_dot_reference

        return sliding_dot_reference(x, k, dilation)
    if backend == "numba":
        from motifscan.similarity.cpu import sliding_dot_numba

        return sliding_dot_numba(x, k, dilation)
    if backend == "fft":
        from motifscan.similarity.fft import sliding_dot_fft

        return sliding_dot_fft(x, k, dilation)
    raise MotifscanError(f"sliding_dot: unknown backend {backend!r} (choose from auto, numpy, numba, fft)")


def sliding_candidates(
    signal: np.ndarray,
    kernel: np.ndarray,
    p: float,
    dilation: int,
    backend: str,
    threshold: float,
    near_cosine: float,
) -> CandidateTrack:
    """Scan for detection only: the windows that may have ``|score| >= threshold``, and
    every window without a score, finished exactly as :func:`sliding_cosine` finishes them.

    The compiled direct and FFT backends test ``dot**2 >= c**2 |w|**2`` (``c = threshold **
    (1 / p**2)``, the unit kernel) before any square root, division or power, with a margin
    that sends every window within round-off of the threshold to the full formula
    (docs/method.md, "Fused detection"); the others compute the full track and keep those
    windows (:func:`motifscan.similarity.reference.candidates_of_track`).

    Parameters
    ----------
    signal, kernel, p, dilation, backend
        As for :func:`sliding_cosine` (``backend`` concrete, not ``"auto"``).
    threshold : float
        The detector's threshold on ``|score|``, in [0, 1].
    near_cosine : float
        Unfinished windows with ``|cosine|`` above this are counted
        (``CandidateTrack.near_unit_cosine``).

    Returns
    -------
    CandidateTrack
        ``length`` is ``max(n - span + 1, 0)``.
    """
    x, k, n_out = scan_inputs(signal, kernel, dilation)
    if n_out > 0 and backend == "numba":
        from motifscan.similarity.cpu import sliding_candidates_numba

        return sliding_candidates_numba(x, k, p, dilation, threshold, near_cosine)
    if n_out > 0 and backend == "fft":
        from motifscan.similarity.fft import sliding_candidates_fft

        return sliding_candidates_fft(x, k, p, dilation, threshold, near_cosine)
    from motifscan.similarity.reference import candidates_of_track

    return candidates_of_track(sliding_cosine(x, k, p, dilation, backend), threshold, near_cosine)
