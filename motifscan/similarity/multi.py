"""Several kernels in one pass, normalised windows, a noise floor and joint channels.

The general scan behind ``--normalize``, ``--noise-floor``, repeated ``--kernel`` and
``--joint``. A *window* here may span several channels (a joint kernel scores the
concatenation of the channels' windows); every kernel of one batch has the same length, so
the window's norm (and, for ``center``/``zscore``, its per-channel means) is computed once
and shared by all of them: K kernels cost one norm plus K dot products per window, not K
full scans.

For window ``w`` (shape (C, m), C channels) and kernel ``k`` (shape (C, m)):

- ``normalize="none"``: ``cosine = w·k / (|w| |k|)`` (the plain scan).
- ``normalize="center"``: each channel of the window and of the kernel has its own mean
  removed first, so ``cosine`` is Pearson's r of the two (for one channel). Constant
  windows score 0.
- ``normalize="zscore"``: as ``center``, plus ``distance = sqrt(2 M (1 - r))`` with
  ``M = C m`` taps: the Euclidean distance between the z-normalised window and kernel, as
  ``stumpy.mass`` reports it. A constant window has distance ``sqrt(M)`` (z-normalising it
  gives zeros), as in STUMPY, and distances within round-off of 0 are 0.
- ``noise_floor`` ``q``: ``score = sharpen(w·k / ((|w| + q) |k|))``; ``cosine`` stays the
  plain one. See ``docs/method.md`` for why ``q`` is added to the window's norm only.
"""

from __future__ import annotations

import math

import numpy as np

from motifscan.choices import NORMALIZE, check_choice
from motifscan.errors import MotifscanError
from motifscan.similarity import CandidateTrack, DistanceTrack, Track, empty_track, resolve_backend, span


#: Squared z-normalised distances below this are round-off of an exact match (r = 1 within
#: a few ulps gives 2M(1 - r) ~ 1e-15) and are reported as 0, as ``stumpy.mass`` does with
#: the same threshold (``stumpy.config.STUMPY_D_SQUARED_THRESHOLD``).
EXACT_SQUARED_DISTANCE = 1e-14

#: Samples of each channel used by ``--noise-floor auto`` (the first ones of the signal), so
#: the floor is known early in a stream and never depends on how the input is cut in blocks.
AUTO_NOISE_SAMPLES = 100_000

#: Median of |N(0, 2)|: the median absolute first difference of white noise of unit
#: standard deviation is 0.6745 * sqrt(2) = 0.9539.
_MEDIAN_ABS_DIFF = 0.6744897501960817 * math.sqrt(2.0)


def prepare_kernels(kernels: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unit kernels and their norms.

    Parameters
    ----------
    kernels : float64 array, shape (K, C, m)
        K kernels of C channels and m taps, finite; not all zero (after centring, when
        ``center``): the caller has checked.
    center : bool
        Remove each channel's mean from each kernel first.

    Returns
    -------
    units : float64 array, shape (K, C, m)
        Each kernel divided by its norm (over all its channels).
    norms : float64 array, shape (K,)
        ``|k|`` (of the centred kernel, when ``center``).
    """
    from motifscan.similarity.reference import unit_kernel

    kernels = np.asarray(kernels, dtype=np.float64)
    if center:
        kernels = kernels - kernels.mean(axis=2, keepdims=True)
    units = np.empty_like(kernels)
    norms = np.empty(kernels.shape[0])
    for index, kernel in enumerate(kernels):
        unit, norm = unit_kernel(kernel.ravel())
        units[index] = unit.reshape(kernel.shape)
        norms[index] = norm
    return units, norms


def scan_kernels(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float = 1.0,
    dilation: int = 1,
    normalize: str = "none",
    noise_floor: float = 0.0,
    backend: str = "auto",
) -> list[Track]:
    """Score every valid window of ``signal`` against each of ``kernels``.

    Parameters
    ----------
    signal : float64 array, shape (C, n) or (n,)
        C channels scanned jointly (one channel: shape (n,) is fine). NaN and +-inf make
        every window containing them unscored (NaN).
    kernels : float64 array, shape (K, C, m) or (K, m)
        K kernels of the same length m and the signal's number of channels.
    p : float
        Sharpness, > 0.
    dilation : int
        Gap between taps in samples, >= 1.
    normalize : {"none", "center", "zscore"}
    noise_floor : float
        ``q >= 0``, in the signal's units, added to each window's norm.
    backend : {"auto", "numpy", "numba", "fft"}
        ``auto`` as for :func:`motifscan.similarity.sliding_cosine`, from the taps per
        channel; ``fft`` is the overlap-save FFT (:mod:`motifscan.similarity.multi_fft`),
        ``numba`` the direct multicore scan.

    Returns
    -------
    list of ScoreTrack, or of DistanceTrack for ``normalize="zscore"``
        One per kernel, arrays of shape ``(max(n - span + 1, 0),)``.
    """
    x, k, n_out, backend = _batch_inputs(signal, kernels, dilation, normalize, backend)
    if n_out <= 0:
        if normalize == "zscore":
            return [DistanceTrack(*empty_track(), np.empty(0)) for _ in k]
        return [empty_track() for _ in k]
    if backend == "numpy":
        from motifscan.similarity.reference import scan_kernels_reference

        return scan_kernels_reference(x, k, p, dilation, normalize, noise_floor)
    if backend == "fft":
        from motifscan.similarity.multi_fft import scan_kernels_fft

        return scan_kernels_fft(x, k, p, dilation, normalize, noise_floor)
    if backend == "numba":
        from motifscan.similarity.multi_cpu import scan_kernels_numba

        return scan_kernels_numba(x, k, p, dilation, normalize, noise_floor)
    raise MotifscanError(f"backend {backend!r} cannot run this scan (choose numpy, numba or fft)")


def _batch_inputs(signal, kernels, dilation: int, normalize: str, backend: str) -> tuple:
    """``(signal (C, n), kernels (K, C, m), n_out, concrete backend)`` of a batch scan (the
    backend left as given when there is nothing to scan)."""
    x = np.ascontiguousarray(np.atleast_2d(signal), dtype=np.float64)
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 2:
        k = k[:, None, :]
    check_choice("normalize", normalize, NORMALIZE)
    n_out = x.shape[1] - span(k.shape[2], dilation) + 1
    if n_out > 0:
        # Both the direct scan and the FFT cost in proportion to the channels, so the
        # crossover between them is in the taps per channel; the work that decides for
        # NumPy counts all.
        backend = resolve_backend(backend, n_out * k.shape[1], k.shape[2], normalize)
    return x, k, n_out, backend


def scan_candidates(
    signal: np.ndarray,
    kernels: np.ndarray,
    p: float,
    dilation: int,
    normalize: str,
    noise_floor: float,
    backend: str,
    threshold: float,
    near_cosine: float,
) -> list[CandidateTrack]:
    """:func:`scan_kernels` for detection only: per kernel, the windows that may have
    ``|score| >= threshold`` and every window without a score, finished exactly as
    :func:`scan_kernels` finishes them (the fused scan, docs/method.md "Fused detection").

    Parameters
    ----------
    signal, kernels, p, dilation, normalize, noise_floor, backend
        As for :func:`scan_kernels`.
    threshold : float
        The detectors' threshold on ``|score|``, in [0, 1].
    near_cosine : float
        Unfinished windows with ``|cosine|`` above this are counted
        (``CandidateTrack.near_unit_cosine``).

    Returns
    -------
    list of CandidateTrack
        One per kernel, with ``distance`` for ``normalize="zscore"``. The compiled direct
        and FFT backends test each window before its last step
        (:mod:`motifscan.similarity.multi_candidates`); NumPy finishes every window and
        keeps the candidates (:func:`motifscan.similarity.reference.candidates_of_track`).
    """
    x, k, n_out, backend = _batch_inputs(signal, kernels, dilation, normalize, backend)
    if n_out > 0 and backend == "numba":
        from motifscan.similarity.multi_candidates import scan_candidates_numba

        return scan_candidates_numba(x, k, p, dilation, normalize, noise_floor, threshold, near_cosine)
    if n_out > 0 and backend == "fft":
        from motifscan.similarity.multi_fft import scan_candidates_fft

        return scan_candidates_fft(x, k, p, dilation, normalize, noise_floor, threshold, near_cosine)
    from motifscan.similarity.reference import candidates_of_track

    tracks = scan_kernels(x, k, p, dilation, normalize, noise_floor, backend)
    return [candidates_of_track(track, threshold, near_cosine) for track in tracks]


def estimate_noise_floor(samples: np.ndarray, taps: int, weights=None) -> float:
    """The ``--noise-floor auto`` value for a (joint) channel group.

    The noise level of each channel is estimated from its first differences, which a
    drifting baseline barely touches and rare events cannot move: ``sigma =
    median(|diff(x)|) / (0.6745 * sqrt(2))`` (exact for white noise). The floor is the norm
    of a window of pure noise, ``q = sqrt(taps * sum(sigma_c ** 2))``: on a flat noisy
    stretch it halves the cosine, while a match ten times louder than the noise keeps
    ``1 / 1.1 = 91 %`` of it. With channel weights ``a_c`` the window norm is weighted
    (``sqrt(sum_c a_c |w_c|²)``, docs/method.md), and so is the floor:
    ``q = sqrt(taps * sum(a_c * sigma_c ** 2))``.

    Parameters
    ----------
    samples : float64 array, shape (C, n)
        The first samples of each channel (NaN and inf are ignored).
    taps : int
        Kernel taps per channel, m.
    weights : sequence of float, shape (C,), optional
        The joint kernel's channel weights; None: every channel weighs 1.
    """
    rows = np.atleast_2d(samples)
    weights = (1.0,) * rows.shape[0] if weights is None else tuple(weights)
    total = 0.0
    for channel, weight in zip(rows, weights):
        steps = np.abs(np.diff(channel))
        steps = steps[np.isfinite(steps)]
        if steps.size:
            sigma = float(np.median(steps)) / _MEDIAN_ABS_DIFF
            total += weight * sigma * sigma
    return math.sqrt(taps * total)
