"""CUDA backend (numba.cuda): the CPU backend's arithmetic, one tile of windows per block.

Kernel
    Each thread block scores ``threads * per_thread`` consecutive window positions (a
    *tile*). Thread ``t`` owns positions ``t, t + threads, t + 2 * threads, ...`` of the
    tile, so consecutive threads read consecutive shared-memory words (no bank conflicts)
    and every thread keeps ``per_thread`` independent dot/sum-of-squares accumulators in
    registers. The kernel taps are consumed in passes: each pass loads, into shared memory,
    as many taps as fit and the signal samples they need (the tile plus the overlap
    ``(taps - 1) * dilation``), with coalesced reads from global memory. Sums run tap by
    tap in the same order as on the CPU; a window whose sum of squares is not a comfortable
    normal number is rescued by :func:`motifscan.similarity.window.finish_window`, the
    very function the CPU backend compiles, so NaN/inf, zero and 1e+-300 windows get the
    same treatment. Everything is float64.

Host
    The signal is cut into chunks of window positions (plus the ``span - 1`` samples of
    overlap each chunk needs, so chunk boundaries cannot change a result) and the chunks
    are spread over a few CUDA streams: while one chunk's samples are copied to the
    device, another's kernel runs and a third's scores are copied back. Copies go through
    page-locked staging buffers, which the driver can transfer asynchronously; buffers
    and device memory are kept between calls, so a stream of blocks allocates once.
    Device memory use is bounded by the chunk size, never by the signal's length.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass

import numpy as np
from numba import cuda, float64

from motifscan.similarity import ScoreTrack, span
from motifscan.similarity.device import require_gpu
from motifscan.similarity.reference import unit_kernel
from motifscan.similarity.window import finish_window

_finish = cuda.jit(device=True)(finish_window)


@dataclass(frozen=True)
class TileShape:
    """Compile-time shape of the kernel's thread block and shared-memory buffers.

    Attributes
    ----------
    threads : int
        Threads per block.
    per_thread : int
        Window positions per thread; a tile is ``threads * per_thread`` positions.
    samples : int
        Signal samples held in shared memory, >= the tile. What is left over the tile is
        the overlap, which decides how many taps one pass can take:
        ``1 + (samples - tile) // dilation``.
    taps : int
        Kernel taps held in shared memory per pass.
    """

    threads: int = 128
    per_thread: int = 8
    samples: int = 4096
    taps: int = 1024

    @property
    def tile(self) -> int:
        return self.threads * self.per_thread


#: 128 threads x 8 positions: 16 float64 accumulators per thread stay in registers, and
#: 4096 + 1024 float64 of shared memory (40 KiB) fit the 48 KiB every CUDA GPU gives a
#: block without opting in, so a kernel of up to 3073 taps (dilation 1) takes one pass.
DEFAULT_SHAPE = TileShape()

#: Window positions per chunk: at least enough blocks to fill a large GPU, at most a size
#: that keeps each stream's buffers (32 bytes per position) to 128 MiB.
MIN_CHUNK = 1 << 18
MAX_CHUNK = 1 << 22
#: Streams in flight: enough to overlap a copy in, a kernel and a copy out.
STREAMS = 3


@functools.cache
def _compile(shape: TileShape):
    """The CUDA kernel for one tile shape (compiled on first launch, cached on disk)."""
    threads, per_thread = shape.threads, shape.per_thread
    tile, shared_samples, shared_taps = shape.tile, shape.samples, shape.taps
    if shared_samples < tile:
        raise ValueError("the shared signal buffer must hold at least one tile")

    @cuda.jit(cache=True)
    def scan_tile(x, unit, kernel_norm, dilation, p2, score, cosine, scale):
        samples = cuda.shared.array(shared_samples, float64)
        taps = cuda.shared.array(shared_taps, float64)
        dot = cuda.local.array(per_thread, float64)
        sumsq = cuda.local.array(per_thread, float64)
        t = cuda.threadIdx.x
        first = cuda.blockIdx.x * tile
        n_in = x.shape[0]
        m = unit.shape[0]
        for r in range(per_thread):
            dot[r] = 0.0
            sumsq[r] = 0.0
        per_pass = min(shared_taps, 1 + (shared_samples - tile) // dilation)
        for j0 in range(0, m, per_pass):
            count = min(per_pass, m - j0)
            offset = first + j0 * dilation
            needed = tile + (count - 1) * dilation
            for k in range(t, needed, threads):
                # Past the end only positions beyond the last window read: they are dropped.
                sample = offset + k
                samples[k] = x[sample] if sample < n_in else 0.0
            for k in range(t, count, threads):
                taps[k] = unit[j0 + k]
            cuda.syncthreads()
            for j in range(count):
                u = taps[j]
                base = t + j * dilation
                for r in range(per_thread):
                    v = samples[base + r * threads]
                    dot[r] += v * u
                    sumsq[r] += v * v
            cuda.syncthreads()
        for r in range(per_thread):
            i = first + t + r * threads
            if i < score.shape[0]:
                s, c, a = _finish(x, i, dilation, unit, dot[r], sumsq[r], kernel_norm, p2)
                score[i] = s
                cosine[i] = c
                scale[i] = a

    return scan_tile


class _Lane:
    """One CUDA stream with its page-locked staging buffers and device buffers."""

    def __init__(self, positions: int, samples: int):
        self.positions = positions
        self.samples = samples
        self.stream = cuda.stream()
        self.host_in = cuda.pinned_array(samples, dtype=np.float64)
        self.device_in = cuda.device_array(samples, dtype=np.float64, stream=self.stream)
        self.host_out = [cuda.pinned_array(positions, dtype=np.float64) for _ in range(3)]
        self.device_out = [cuda.device_array(positions, dtype=np.float64, stream=self.stream) for _ in range(3)]
        self.pending = None  # (destination arrays, first position, count) of the chunk in flight

    def fits(self, positions: int, samples: int) -> bool:
        return positions <= self.positions and samples <= self.samples

    def submit(self, kernel, shape, signal, start, count, halo, unit, kernel_norm, dilation, p2, out):
        """Queue chunk ``start .. start + count`` on this lane's stream; returns at once."""
        samples = count + halo
        self.host_in[:samples] = signal[start : start + samples]
        device_in = self.device_in[:samples]
        device_in.copy_to_device(self.host_in[:samples], stream=self.stream)
        device_out = [array[:count] for array in self.device_out]
        blocks = (count + shape.tile - 1) // shape.tile
        kernel[blocks, shape.threads, self.stream](device_in, unit, kernel_norm, dilation, p2, *device_out)
        for device, host in zip(device_out, self.host_out):
            device.copy_to_host(host[:count], stream=self.stream)
        self.pending = (out, start, count)

    def collect(self) -> None:
        """Wait for the chunk in flight, if any, and copy its results into place."""
        if self.pending is None:
            return
        self.stream.synchronize()
        out, start, count = self.pending
        for destination, host in zip(out, self.host_out):
            destination[start : start + count] = host[:count]
        self.pending = None


# Lanes are kept between calls: page-locked and device allocations are slow, and a run
# scans block after block of the same size. The lock keeps concurrent calls off each
# other's buffers.
_lanes: list[_Lane] = []
_lanes_lock = threading.Lock()


def _get_lanes(wanted: int, positions: int, samples: int) -> list[_Lane]:
    global _lanes
    if len(_lanes) < wanted or not all(lane.fits(positions, samples) for lane in _lanes[:wanted]):
        _lanes = []  # free the old buffers before allocating larger ones
        _lanes = [_Lane(positions, samples) for _ in range(wanted)]
    return _lanes[:wanted]


def chunk_positions(n_out: int) -> int:
    """Positions per chunk: about a quarter of the work, between MIN_CHUNK and MAX_CHUNK.

    Four chunks let the streams overlap copies and compute even for one pipeline block.
    """
    return max(MIN_CHUNK, min(MAX_CHUNK, -(-n_out // 4)))


def sliding_cosine_cuda(
    signal: np.ndarray,
    kernel: np.ndarray,
    p: float,
    dilation: int,
    *,
    shape: TileShape = DEFAULT_SHAPE,
    chunk: int | None = None,
) -> ScoreTrack:
    """CUDA version of :func:`motifscan.similarity.reference.sliding_cosine_reference`.

    Same arguments and result; assumes ``n >= span``. Agrees with the reference within
    round-off (see ``docs/method.md``, "Tolerances"). ``shape`` and ``chunk`` (positions
    per chunk, default :func:`chunk_positions`) change the speed, never the result.

    Raises
    ------
    MotifscanError
        When no usable GPU is present (naming what is missing).
    """
    require_gpu("backend cuda")
    halo = span(kernel.shape[0], dilation) - 1
    n_out = signal.shape[0] - halo
    unit, kernel_norm = unit_kernel(kernel)
    kernel_function = _compile(shape)
    out = (np.empty(n_out), np.empty(n_out), np.empty(n_out))
    chunk = chunk_positions(n_out) if chunk is None else chunk
    starts = range(0, n_out, chunk)
    p2 = float(p) * float(p)
    with _lanes_lock:
        lanes = _get_lanes(min(STREAMS, len(starts)), min(chunk, n_out), min(chunk, n_out) + halo)
        device_unit = cuda.to_device(unit)
        try:
            for index, start in enumerate(starts):
                lane = lanes[index % len(lanes)]
                lane.collect()
                lane.submit(
                    kernel_function,
                    shape,
                    signal,
                    start,
                    min(chunk, n_out - start),
                    halo,
                    device_unit,
                    float(kernel_norm),
                    int(dilation),
                    p2,
                    out,
                )
            for lane in lanes:
                lane.collect()
        finally:
            # After an error (or Ctrl-C) no copy may still be using the staging buffers
            # when the next call fills them.
            for lane in lanes:
                lane.pending = None
                with contextlib.suppress(Exception):
                    lane.stream.synchronize()
    return ScoreTrack(*out)
