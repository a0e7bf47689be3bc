"""motifscan's CPU scan against its peers, side by side, in one process on the same data.

    pip install "motifscan[bench]"
    python benchmarks/run.py                 # n = 1e5, 1e6, 1e7; m = 3, 16, 64, 256, 1024, 4096
    python benchmarks/run.py --quick         # n = 1e5, 1e6; m = 3, 64, 1024
    python benchmarks/run.py --n 1e7 --m 3 1024 --output table.md

For every signal length n and kernel length m it prints the best-of-N time (after a
warm-up call) in milliseconds of:

- motifscan's scan (``sliding_cosine``: window norms, cosine, score with p = 3 and scale)
  with the automatic method choice, and with the direct and the FFT method forced;
- ``stumpy.mass(k, x, normalize=False)`` turned into the same cosine and score (raw
  distance ``d`` gives ``w.k = (|w|^2 + |k|^2 - d^2) / 2``, with rolling sums of squares);
- ``stumpy.mass(k, x)``, z-normalized, as users run it for shape search (a different
  measure: timed, not compared for error);
- ``scipy.signal.correlate(x, k, mode="valid", method="fft")`` with rolling norms;
- the memory floor: one ``numpy.copyto`` of the signal plus one write of an output array;

and the ratios peer / motifscan (auto) and motifscan (auto) / floor. Then it prints the
largest absolute error of each cosine against a ``numpy.longdouble`` reference on the
three signals of ``precision_signals`` (a random walk, 1e6 + noise, segments 1e6 apart in
scale). Timings are of a random walk; the kernel is Gaussian noise.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from timing import best_time

P = 3.0  # sharpness used throughout (p*p = 9: an integer power, as for any whole p)
ERROR_SAMPLES = 20_000


def rolling_sumsq(x: np.ndarray, m: int) -> np.ndarray:
    """Sums of squares of every window by a cumulative sum: the usual O(n) way."""
    c = np.concatenate(([0.0], np.cumsum(x * x)))
    return np.maximum(c[m:] - c[:-m], 0.0)


def to_score(dot: np.ndarray, sumsq: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and sharpened score from dot products and window sums of squares."""
    norm = np.sqrt(sumsq) * np.linalg.norm(kernel)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.clip(np.where(norm > 0, dot / norm, 0.0), -1.0, 1.0)
    return np.sign(cosine) * np.abs(cosine) ** (P * P), cosine


def peers():
    """name -> function(x, kernel) returning the cosine (or None for a different measure)."""
    import scipy.signal
    import stumpy

    def stumpy_raw(x, kernel):
        d = stumpy.mass(kernel, x, normalize=False)
        sumsq = rolling_sumsq(x, kernel.shape[0])
        dot = (sumsq + np.dot(kernel, kernel) - d * d) / 2
        return to_score(dot, sumsq, kernel)[1]

    def stumpy_z(x, kernel):
        stumpy.mass(kernel, x)
        return None

    def scipy_fft(x, kernel):
        dot = scipy.signal.correlate(x, kernel, mode="valid", method="fft")
        return to_score(dot, rolling_sumsq(x, kernel.shape[0]), kernel)[1]

    return {"stumpy raw": stumpy_raw, "stumpy z": stumpy_z, "scipy fft": scipy_fft}


def ours():
    from motifscan.similarity import sliding_cosine

    def method(backend):
        return lambda x, kernel: sliding_cosine(x, kernel, P, 1, backend).cosine

    return {"auto": method("auto"), "direct": method("numba"), "fft": method("fft")}


def memory_floor(x: np.ndarray):
    copy = np.empty_like(x)
    out = np.empty_like(x)
    copy.fill(0.0)
    out.fill(0.0)

    def floor():
        np.copyto(copy, x)
        out.fill(1.0)

    return floor


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba

    return (f"{cpu}, {os.cpu_count()} logical cores, {numba.get_num_threads()} threads; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}")


def time_table(ns, ms, repeat, budget_s, skip_z_above, out) -> None:
    print("| n | m | auto | direct | FFT | stumpy raw | stumpy z | scipy fft | floor | "
          "raw/auto | z/auto | scipy/auto | auto/floor |", file=out)
    print("|---" * 13 + "|", file=out)
    mine, theirs = ours(), peers()
    for n in ns:
        x = np.cumsum(np.random.default_rng(0).standard_normal(n))
        floor = best_time(memory_floor(x), repeat, budget_s) * 1e3
        for m in ms:
            if m > n:
                continue
            kernel = np.random.default_rng(m).standard_normal(m)
            row = {name: best_time(lambda f=f: f(x, kernel), repeat, budget_s) * 1e3 for name, f in mine.items()}
            for name, f in theirs.items():
                if name == "stumpy z" and n * m > skip_z_above:
                    row[name] = float("nan")
                    continue
                row[name] = best_time(lambda f=f: f(x, kernel), repeat, budget_s) * 1e3
            auto = row["auto"]
            cells = [f"{n:.0e}", str(m)] + [f"{row[k]:.3g}" for k in
                     ("auto", "direct", "fft", "stumpy raw", "stumpy z", "scipy fft")]
            cells += [f"{floor:.3g}", f"{row['stumpy raw'] / auto:.1f}x",
                      f"{row['stumpy z'] / auto:.1f}x", f"{row['scipy fft'] / auto:.1f}x",
                      f"{auto / floor:.1f}x"]
            print("| " + " | ".join(cells) + " |", file=out, flush=True)


def error_table(ms, out) -> None:
    from motifscan.similarity.reference import precision_signals, sliding_cosine_longdouble

    signals = precision_signals(ERROR_SAMPLES)
    methods = {**ours(), **{k: v for k, v in peers().items() if k != "stumpy z"}}
    print(f"\nMax abs error of the cosine vs numpy.longdouble ({ERROR_SAMPLES} samples each):\n", file=out)
    print("| signal | m | " + " | ".join(methods) + " |", file=out)
    print("|---" * (len(methods) + 2) + "|", file=out)
    for name, x in signals.items():
        for m in ms:
            kernel = np.random.default_rng(m).standard_normal(m)
            exact = sliding_cosine_longdouble(x, kernel)
            errors = [np.nanmax(np.abs(f(x, kernel) - exact)) for f in methods.values()]
            print(f"| {name} | {m} | " + " | ".join(f"{e:.1e}" for e in errors) + " |", file=out, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", nargs="+", type=float, default=None, help="signal lengths")
    parser.add_argument("--m", nargs="+", type=int, default=None, help="kernel lengths")
    parser.add_argument("--quick", action="store_true", help="a smaller grid, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls after the warm-up")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="stop repeating a measurement after this many seconds")
    parser.add_argument("--skip-z-above", type=float, default=2e9,
                        help="skip z-normalized stumpy.mass above this n*m (it takes minutes)")
    parser.add_argument("--no-errors", action="store_true", help="skip the error table")
    parser.add_argument("--output", help="also write the tables (Markdown) to this file")
    args = parser.parse_args(argv)
    ns = [int(n) for n in (args.n or ([1e5, 1e6] if args.quick else [1e5, 1e6, 1e7]))]
    ms = args.m or ([3, 64, 1024] if args.quick else [3, 16, 64, 256, 1024, 4096])
    repeat = args.repeat or (3 if args.quick else 7)

    class Tee:
        def __init__(self, *streams):
            self.streams = streams

        def write(self, text):
            for stream in self.streams:
                stream.write(text)

        def flush(self):
            for stream in self.streams:
                stream.flush()

    outputs = [sys.stdout] + ([open(args.output, "w")] if args.output else [])
    out = Tee(*outputs)
    print(f"Machine: {machine()}\nTimes in ms (best of up to {repeat} after a warm-up), p = {P:g}; "
          f"ratios are peer / motifscan auto and auto / memory floor.\n", file=out)
    time_table(ns, ms, repeat, args.budget, args.skip_z_above, out)
    if not args.no_errors:
        error_table(ms, out)
    for stream in outputs[1:]:
        stream.close()


if __name__ == "__main__":
    main()
