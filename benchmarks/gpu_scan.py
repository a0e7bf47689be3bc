"""The CUDA backend against the CPU backend and an independent GPU baseline (CuPy).

    python benchmarks/gpu_scan.py                       # n = 1e7, 1e8, 1e9; m = 3, 64, 1024, 4096
    python benchmarks/gpu_scan.py --n 1e8 --m 64 1024   # the sizes the docs quote
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_scan.py --smoke   # checks the script, no GPU

Needs an NVIDIA GPU and ``pip install "motifscan[gpu]"``; CuPy (``cupy-cuda12x``) is
optional. For every signal length n and kernel length m (random-walk signal, normal
kernel, p = 3, dilation 1) it prints, best of ``--repeat`` runs after a warm-up:

- ``cpu``: the Numba ``prange`` backend, all cores (skipped above ``--cpu-max-work``
  multiply-adds, where it would take minutes);
- ``gpu``: the CUDA backend as the pipeline calls it: host array in, score track out, so
  the transfers over the bus are included;
- ``kernel``: the CUDA kernel alone on data already in GPU memory;
- ``cupy``: CuPy computing the same cosine from two ``cupyx.scipy.signal.correlate`` calls
  (dot products, and sums of squares against a kernel of ones), data in GPU memory. It is
  a speed baseline only: a running sum of squares is not as accurate as ours.

and the ratios cpu/gpu, cpu/kernel and cupy/kernel. When the CPU ran, it also checks that
the GPU's score track equals the CPU's within the tolerances of ``docs/method.md``.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from timing import best_time

EPS = np.finfo(np.float64).eps


def cupy_cosine(cp, signal, kernel, p):
    """score, cosine, scale of every window from two correlations (no NaN handling)."""
    from cupyx.scipy.signal import correlate

    norm = float(cp.linalg.norm(kernel))
    dot = correlate(signal, kernel / norm, mode="valid", method="auto")
    sumsq = correlate(signal * signal, cp.ones(kernel.shape[0]), mode="valid", method="auto")
    window_norm = cp.sqrt(cp.maximum(sumsq, 0.0))
    cosine = cp.clip(cp.where(window_norm > 0, dot / window_norm, 0.0), -1.0, 1.0)
    return cp.sign(cosine) * cp.abs(cosine) ** (p * p), cosine, dot / norm


def agreement(gpu, cpu, m: int, p: float) -> str:
    """``max |Δcosine|`` and ``max |Δscore|`` against their bounds from docs/method.md."""
    same_nan = all(np.array_equal(np.isnan(a), np.isnan(b)) for a, b in zip(gpu, cpu))
    ok = ~np.isnan(cpu.score)
    d_cosine = float(np.max(np.abs(gpu.cosine[ok] - cpu.cosine[ok]), initial=0.0))
    d_score = float(np.max(np.abs(gpu.score[ok] - cpu.score[ok]), initial=0.0))
    bound = 4 * (m + 4) * EPS
    equal = same_nan and d_cosine <= bound and d_score <= bound * max(p * p, 1.0)
    return f"{'equal' if equal else 'DIFFERENT'} (max dcos {d_cosine:.1e}, bound {bound:.1e})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, nargs="+", default=[1e7, 1e8, 1e9])
    parser.add_argument("--m", type=int, nargs="+", default=[3, 64, 1024, 4096])
    parser.add_argument("--p", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cpu-max-work", type=float, default=2e11, help="skip the CPU backend above this many multiply-adds"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.m, args.repeat = [3000], [3, 8], 1

    from numba import cuda

    from motifscan.similarity.cpu import sliding_cosine_numba
    from motifscan.similarity.device import gpu_name, require_gpu
    from motifscan.similarity.gpu import DEFAULT_SHAPE, _compile, sliding_cosine_cuda
    from motifscan.similarity.reference import unit_kernel

    from motifscan.errors import MotifscanError

    try:
        require_gpu()
    except MotifscanError as error:
        raise SystemExit(f"gpu_scan: {error}") from None
    try:
        import cupy as cp
    except ImportError:
        cp = None
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    print(f"GPU: {gpu_name()}")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores")
    print(f"CuPy: {cp.__version__ if cp else 'not installed'}")
    print(f"p = {args.p:g}, dilation 1, float64, best of {args.repeat}; times in seconds\n")
    header = (
        f"{'n':>13} {'m':>5} {'cpu':>9} {'gpu':>9} {'kernel':>9} {'cupy':>9} "
        f"{'cpu/gpu':>8} {'cpu/kern':>8} {'cupy/kern':>9}  agreement"
    )
    print(header)
    rng = np.random.default_rng(0)
    p2 = args.p * args.p
    for n in (int(v) for v in args.n):
        walk = np.cumsum(rng.standard_normal(n))
        for m in args.m:
            kernel = rng.standard_normal(m)
            n_out = n - m + 1
            gpu_track = None

            def run_gpu():
                nonlocal gpu_track
                gpu_track = sliding_cosine_cuda(walk, kernel, args.p, 1)

            gpu = best_time(run_gpu, args.repeat)

            kernel_time = cupy_time = cpu = None
            if n * 32 < 0.8 * _free_gpu_memory(cuda, simulated):
                unit, kernel_norm = unit_kernel(kernel)
                device_signal = cuda.to_device(walk)
                device_unit = cuda.to_device(unit)
                outputs = [cuda.device_array(n_out) for _ in range(3)]
                scan_tile = _compile(DEFAULT_SHAPE)
                blocks = (n_out + DEFAULT_SHAPE.tile - 1) // DEFAULT_SHAPE.tile
                kernel_time = best_time(
                    lambda: scan_tile[blocks, DEFAULT_SHAPE.threads](
                        device_signal, device_unit, kernel_norm, 1, p2, *outputs
                    ),
                    args.repeat,
                    synchronize=cuda.synchronize,
                )
                del device_signal, outputs
                if cp is not None:
                    cp_signal, cp_kernel = cp.asarray(walk), cp.asarray(kernel)
                    cupy_time = best_time(
                        lambda: cupy_cosine(cp, cp_signal, cp_kernel, args.p),
                        args.repeat,
                        synchronize=cp.cuda.Device().synchronize,
                    )
                    del cp_signal, cp_kernel
                    cp.get_default_memory_pool().free_all_blocks()

            check = ""
            if n_out * m <= args.cpu_max_work:
                cpu_track = None

                def run_cpu():
                    nonlocal cpu_track
                    cpu_track = sliding_cosine_numba(walk, kernel, args.p, 1)

                cpu = best_time(run_cpu, args.repeat)
                check = agreement(gpu_track, cpu_track, m, args.p)
                del cpu_track
            del gpu_track
            print(
                f"{n:>13,} {m:>5} {_s(cpu)} {_s(gpu)} {_s(kernel_time)} {_s(cupy_time)} "
                f"{_ratio(cpu, gpu):>8} {_ratio(cpu, kernel_time):>8} {_ratio(cupy_time, kernel_time):>9}  {check}",
                flush=True,
            )


def _free_gpu_memory(cuda, simulated: bool) -> float:
    if simulated:
        return float("inf")
    free, _total = cuda.current_context().get_memory_info()
    return float(free)


def _s(seconds) -> str:
    return f"{'-':>9}" if seconds is None else f"{seconds:>9.4f}"


def _ratio(a, b) -> str:
    return "-" if a is None or b is None else f"{a / b:.1f}x"


if __name__ == "__main__":
    main()
