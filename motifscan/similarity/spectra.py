"""Spectra shared by the FFT scans: the products of segment and kernel spectra, and the
kernel spectra of a bank, kept between the pieces of a stream."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from numba import njit, prange

from motifscan.similarity import span


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def multiply_spectra(segments, kernels, out):
    """``out[k, g] = segments[g] * kernels[k]`` (complex, element by element) on every
    thread: NumPy's product of the two spectra runs on one core, and took as long as the
    inverse transforms that follow it.

    Parameters
    ----------
    segments : complex128 array, shape (G, F)
    kernels : complex128 array, shape (K, F)
    out : complex128 array, shape (K, G, F); may be ``segments`` itself when K = 1
    """
    n_segments = segments.shape[0]
    for row in prange(kernels.shape[0] * n_segments):
        k = row // n_segments
        g = row - k * n_segments
        a = segments[g]
        b = kernels[k]
        o = out[k, g]
        for f in range(a.shape[0]):
            o[f] = a[f] * b[f]


#: Kernel spectra of recent banks, by kernels, dilation and transform length: a run scans
#: a stream piece by piece with the same bank, and a bank of 256 kernels would otherwise
#: repeat 256 transforms per piece. Bounded by :data:`SPECTRA_CACHE_BYTES`.
_spectra_cache: OrderedDict = OrderedDict()
_spectra_lock = threading.Lock()

#: Bytes of kernel spectra kept between calls (a bank of 256 kernels of one channel at
#: N = 2**14 is 34 MB).
SPECTRA_CACHE_BYTES = 64 << 20


def bank_spectra(units: np.ndarray, dilation: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``conj(rfft(dilated unit kernel))`` of every kernel and channel, each kernel channel
    scaled by ``2**-exponent`` (exact) so that its largest tap lies in [0.5, 1).

    Parameters
    ----------
    units : float64 array, shape (K, C, m)
    dilation : int
    length : int
        The transform length N.

    Returns
    -------
    spectra : complex128 array, shape (K, C, N // 2 + 1)
    exponents : int64 array, shape (K, C)
    """
    key = (units.shape, units.tobytes(), dilation, length)
    with _spectra_lock:
        found = _spectra_cache.get(key)
        if found is not None:
            _spectra_cache.move_to_end(key)
            return found
    import scipy.fft

    n_kernels, n_channels, m = units.shape
    largest = np.max(np.abs(units), axis=2)
    exponents = np.where(largest > 0, np.frexp(largest)[1], 0).astype(np.int64)
    dilated = np.zeros((n_kernels, n_channels, length))
    dilated[:, :, : span(m, dilation) : dilation] = np.ldexp(units, -exponents[:, :, None])
    spectra = np.conj(scipy.fft.rfft(dilated, axis=2))
    spectra.flags.writeable = exponents.flags.writeable = False  # shared between calls
    found = (spectra, exponents)
    if spectra.nbytes <= SPECTRA_CACHE_BYTES:
        with _spectra_lock:
            _spectra_cache[key] = found
            while sum(entry[0].nbytes for entry in _spectra_cache.values()) > SPECTRA_CACHE_BYTES:
                _spectra_cache.popitem(last=False)
    return found
