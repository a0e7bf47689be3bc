"""Kernels (templates) as the package speaks of them: a named :class:`Kernel` with one row of
values per channel, and :func:`check_kernel`, the one check that values can be a kernel.

Below the readers of kernel files (``motifscan.io.kernels``) and the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from motifscan.errors import MotifscanError


def check_kernel(values: Iterable, where: str, allow_zeros: bool = False) -> np.ndarray:
    """Return ``values`` as a float64 array, or raise if it cannot be a kernel.

    Parameters
    ----------
    values : iterable of numbers
        The template, shape (m,).
    where : str
        What to name in messages (the option or file the values came from).
    allow_zeros : bool
        Accept all zeros (one channel of a joint kernel may be flat).
    """
    try:
        kernel = np.asarray(list(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise MotifscanError(f"{where}: the kernel must be a list of numbers") from None
    if kernel.ndim != 1:
        raise MotifscanError(f"{where}: the kernel must be a flat list of numbers")
    if kernel.size == 0:
        raise MotifscanError(f"{where}: the kernel is empty")
    bad = np.flatnonzero(~np.isfinite(kernel))
    if bad.size:
        raise MotifscanError(f"{where}: kernel value {bad[0] + 1} is {kernel[bad[0]]}; every value must be finite")
    if not allow_zeros and not np.any(kernel):
        raise MotifscanError(f"{where}: the kernel is all zeros, so it has no shape to match")
    return kernel


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MotifscanError(f"{where}: {text.strip()!r} is not a number") from None


@dataclass(frozen=True)
class Kernel:
    """A named kernel (template).

    Attributes
    ----------
    name : str
        What motifs found with it are labelled (the ``kernel`` output column).
    values : tuple of tuple of float
        One row of m values per channel: a single row for a one-channel kernel, one row per
        channel for a joint kernel.
    channels : tuple of str
        The channel name of each row of a joint kernel (matched to the signal's channels
        by name, or by position when none of the names occurs); empty for a one-channel
        kernel, which scans every channel on its own.
    weights : tuple of float
        The weight of each row of a joint kernel (>= 0; see docs/method.md, "Channel
        weights"); empty means every channel weighs 1.
    """

    name: str
    values: tuple
    channels: tuple = ()
    weights: tuple = ()
    # Where a kernel cut from a recording came from, e.g. "180 samples, rows 60-240 of
    # ecg.csv:ecg_mv" (--kernel-from); None for the others. Not part of its identity.
    origin: str | None = field(default=None, compare=False)

    @property
    def length(self) -> int:
        """Taps per channel, m."""
        return len(self.values[0])

    def array(self) -> np.ndarray:
        """The values as a float64 array of shape (C, m)."""
        return np.array(self.values, dtype=np.float64)
