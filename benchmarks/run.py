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

Then, per normalisation, the targets of the second speed round (``--modes``, on by
default; n = 8.64e6 and m = 3 .. 4096 with ``--round2``):

- ``none``: ``sliding_cosine`` against STUMPY raw ``mass`` turned into the cosine (>= 3x);
- ``center``: ``scan_kernels(..., normalize="center")`` against ObsPy's
  ``correlate_template(x, k, normalize="full")`` (>= 2x);
- ``zscore``: ``scan_kernels(..., normalize="zscore")`` against ``stumpy.mass(k, x)``
  (>= 20x);

and template banks: ``motifscan.detect`` of K centred kernels of one length in one run (one
forward FFT per segment, K products and inverse transforms; window norms shared) against a
Python loop calling ObsPy's ``correlate_template`` once per kernel (>= 5x at K = 16,
m = 200, n = 2e6), and the time of the bank for K = 1, 4, 16, 64, 256. ``--bank-peak K N``
(with ``--round2``: 256 kernels over 8.64e6 samples) runs one such bank in a fresh process
and prints its time and peak resident memory (target: <= 60 s, <= 1 GiB).

Last, detect at memory speed (``--no-detect`` skips it; n = 1e7 with ``--round2``):
``motifscan.detect`` of one kernel on a random walk in memory (the fused candidate test)
against the same run on full score tracks, the direct scan's bare dot products
(``sliding_dot_numba``) and one ``numpy.copyto`` of the signal (targets: <= 3x the copy at
m = 3, <= 1.2x the dots at every m).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

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

    return (
        f"{cpu}, {os.cpu_count()} logical cores, {numba.get_num_threads()} threads; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}"
    )


def time_table(ns, ms, repeat, budget_s, skip_z_above, out) -> None:
    print(
        "| n | m | auto | direct | FFT | stumpy raw | stumpy z | scipy fft | floor | "
        "raw/auto | z/auto | scipy/auto | auto/floor |",
        file=out,
    )
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
            cells = [f"{n:.0e}", str(m)] + [
                f"{row[k]:.3g}" for k in ("auto", "direct", "fft", "stumpy raw", "stumpy z", "scipy fft")
            ]
            cells += [
                f"{floor:.3g}",
                f"{row['stumpy raw'] / auto:.1f}x",
                f"{row['stumpy z'] / auto:.1f}x",
                f"{row['scipy fft'] / auto:.1f}x",
                f"{auto / floor:.1f}x",
            ]
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


#: Target ratios peer / motifscan of the second speed round, per normalisation.
MODE_TARGETS = {"none": 3.0, "center": 2.0, "zscore": 20.0}


def mode_peers():
    """normalisation -> (peer name, function(x, kernel)) timed against motifscan's scan."""
    import stumpy

    def stumpy_raw(x, kernel):
        d = stumpy.mass(kernel, x, normalize=False)
        sumsq = rolling_sumsq(x, kernel.shape[0])
        return to_score((sumsq + np.dot(kernel, kernel) - d * d) / 2, sumsq, kernel)[1]

    def obspy(x, kernel):
        import warnings

        from obspy.signal.cross_correlation import correlate_template

        with warnings.catch_warnings():  # its sqrt of rolling sums goes negative on walks
            warnings.simplefilter("ignore", RuntimeWarning)
            return correlate_template(x, kernel, mode="valid", normalize="full", method="auto")

    def stumpy_z(x, kernel):
        return stumpy.mass(kernel, x)

    return {"none": ("stumpy raw", stumpy_raw), "center": ("obspy", obspy), "zscore": ("stumpy z", stumpy_z)}


def our_mode(normalize):
    from motifscan.similarity import sliding_cosine
    from motifscan.similarity.multi import scan_kernels

    if normalize == "none":
        return lambda x, kernel: sliding_cosine(x, kernel, P, 1, "auto").cosine
    return lambda x, kernel: scan_kernels(x, kernel[None], P, 1, normalize, 0.0, "auto")[0].cosine


def mode_table(ns, ms, repeat, budget_s, skip_z_above, out) -> None:
    print(
        "\nEvery normalisation against its peer (target ratio: none >= 3x STUMPY raw, center >= 2x "
        "ObsPy correlate_template, zscore >= 20x STUMPY z):\n",
        file=out,
    )
    print(
        "| n | m | none | stumpy raw | ratio | center | obspy | ratio | zscore | stumpy z | ratio | targets met |",
        file=out,
    )
    print("|---" * 12 + "|", file=out)
    theirs = mode_peers()
    for n in ns:
        x = np.cumsum(np.random.default_rng(0).standard_normal(n))
        for m in ms:
            if m > n:
                continue
            kernel = np.random.default_rng(m).standard_normal(m)
            cells, met = [f"{n:.3g}", str(m)], []
            for normalize, (name, peer) in theirs.items():
                mine = best_time(lambda: our_mode(normalize)(x, kernel), repeat, budget_s) * 1e3
                if name == "stumpy z" and n * m > skip_z_above:
                    cells += [f"{mine:.3g}", "–", "–"]
                    continue
                other = best_time(lambda: peer(x, kernel), repeat, budget_s) * 1e3
                ratio = other / mine
                cells += [f"{mine:.3g}", f"{other:.3g}", f"{ratio:.1f}x"]
                met.append(normalize if ratio >= MODE_TARGETS[normalize] else f"**not {normalize}**")
            print("| " + " | ".join(cells + [", ".join(met)]) + " |", file=out, flush=True)


def bank_table(n, m, ks, repeat, budget_s, out) -> None:
    """Detect with K centred kernels in one run against a loop of ObsPy calls."""
    import motifscan

    _, obspy = mode_peers()["center"]
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal(n))
    print(
        f"\nTemplate banks: detect with K centred kernels of {m} taps in one run, n = {n:.3g}, p = {P:g}, "
        f"threshold 0.9 (target at K = 16, m = 200, n = 2e6: >= 5x the ObsPy loop):\n",
        file=out,
    )
    print("| K | motifscan detect (ms) | ms per kernel | ObsPy loop (ms) | ratio | load |", file=out)
    print("|---" * 6 + "|", file=out)
    for k in ks:
        bank = {f"k{i}": rng.standard_normal(m) for i in range(k)}
        mine = (
            best_time(lambda: motifscan.detect(x, bank, p=P, threshold=0.9, normalize="center"), repeat, budget_s) * 1e3
        )
        loop = "–"
        ratio = "–"
        if k <= 16:
            other = best_time(lambda: [obspy(x, kernel) for kernel in bank.values()], repeat, budget_s) * 1e3
            loop, ratio = f"{other:.4g}", f"{other / mine:.1f}x"
        print(f"| {k} | {mine:.4g} | {mine / k:.3g} | {loop} | {ratio} | {load()} |", file=out, flush=True)


#: The child process of :func:`bank_peak`: one bank detected in a fresh process, its time
#: and peak resident memory (``ru_maxrss``, KiB on Linux) printed as one line.
_BANK_PEAK_CHILD = """
import resource, sys, time
import numpy as np
import motifscan
n, m, k = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
x = np.cumsum(rng.standard_normal(n))
bank = {f"k{i}": rng.standard_normal(m) for i in range(k)}
motifscan.detect(x[: 16 * m], {"warm": rng.standard_normal(m)}, p=3.0, threshold=0.9, normalize="center")
start = time.perf_counter()
motifs = motifscan.detect(x, bank, p=3.0, threshold=0.9, normalize="center")
seconds = time.perf_counter() - start
# VmHWM is this process's own peak: Linux carries ru_maxrss over an exec from the parent
# it was spawned from (a benchmark process of 1 GB made every child report 1 GB).
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(seconds, peak, len(motifs))
"""


def bank_peak(n: int, m: int, k: int, out) -> None:
    """One bank of ``k`` centred kernels of ``m`` taps over ``n`` samples, detected in a fresh
    process (so the peak resident memory is the bank's): seconds and peak RSS."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", _BANK_PEAK_CHILD, str(n), str(m), str(k)], capture_output=True, text=True, check=True
    )
    seconds, peak_mib, motifs = result.stdout.split()
    print(
        f"\nOne bank in a fresh process (detect, K = {k} centred kernels of {m} taps, n = {n:.3g}, "
        f"p = {P:g}, threshold 0.9; target <= 60 s and <= 1 GiB at K = 256, n = 8.64e6; load {load()}):\n",
        file=out,
    )
    print("| K | n | seconds | peak RSS (MiB) | motifs |\n|---|---|---|---|---|", file=out)
    print(f"| {k} | {n:.3g} | {float(seconds):.1f} | {float(peak_mib):.0f} | {motifs} |", file=out, flush=True)


def load() -> str:
    """The 1-minute load average (other processes share the cores and inflate every time)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


class _Onlooker:
    """A watch that looks at nothing: a watched detection scans full score tracks."""

    def signal_block(self, block):
        pass

    def score_block(self, block):
        pass


def detect_table(n, ms, threshold, repeat, budget_s, out) -> None:
    """In-memory ``detect`` (the fused candidate test) against the same run on full score
    tracks, the bare dot products of the direct scan, and a memory copy of the signal."""
    import motifscan
    from motifscan.config import DetectConfig
    from motifscan.pipeline import Detection
    from motifscan.signal import signal_from_arrays
    from motifscan.similarity.cpu import sliding_dot_numba

    x = np.cumsum(np.random.default_rng(0).standard_normal(n))
    copy = np.empty_like(x)
    copy.fill(0.0)
    print(
        f"\nDetect at memory speed: motifscan.detect(x, kernel, p={P:g}, threshold={threshold:g}) of a random "
        f"walk in memory, n = {n:.3g} (targets: m = 3 detect <= 3x a memory copy; detect <= 1.2x the bare dot "
        f"products at every m):\n",
        file=out,
    )
    print(
        "| m | motifs | detect (ms) | full-track detect (ms) | bare dots (ms) | memory copy (ms) | "
        "detect/copy | detect/dots | full/detect |",
        file=out,
    )
    print("|---" * 9 + "|", file=out)
    memory = best_time(lambda: np.copyto(copy, x), repeat, budget_s) * 1e3
    for m in ms:
        if m > n:
            continue
        kernel = np.random.default_rng(m).standard_normal(m)
        config = DetectConfig(kernel=tuple(kernel), p=P, threshold=threshold)
        motifs = motifscan.detect(x, kernel, p=P, threshold=threshold)
        fused = best_time(lambda: motifscan.detect(x, kernel, p=P, threshold=threshold), repeat, budget_s) * 1e3
        full = (
            best_time(
                lambda: list(Detection(signal_from_arrays({"x": x}), config, watch=_Onlooker())), repeat, budget_s
            )
            * 1e3
        )
        dots = best_time(lambda: sliding_dot_numba(x, kernel, 1), repeat, budget_s) * 1e3
        cells = [str(m), str(len(motifs))] + [f"{value:.3g}" for value in (fused, full, dots, memory)]
        cells += [f"{fused / memory:.1f}x", f"{fused / dots:.2f}x", f"{full / fused:.1f}x"]
        print("| " + " | ".join(cells) + " |", file=out, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", nargs="+", type=float, default=None, help="signal lengths")
    parser.add_argument("--m", nargs="+", type=int, default=None, help="kernel lengths")
    parser.add_argument("--quick", action="store_true", help="a smaller grid, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls after the warm-up")
    parser.add_argument(
        "--budget", type=float, default=3.0, help="stop repeating a measurement after this many seconds"
    )
    parser.add_argument(
        "--skip-z-above",
        type=float,
        default=2e9,
        help="skip z-normalized stumpy.mass above this n*m (it takes minutes)",
    )
    parser.add_argument("--no-errors", action="store_true", help="skip the error table")
    parser.add_argument("--output", help="also write the tables (Markdown) to this file")
    parser.add_argument("--no-modes", action="store_true", help="skip the per-normalisation table")
    parser.add_argument(
        "--mode-n",
        nargs="+",
        type=float,
        default=None,
        help="signal lengths of the per-normalisation table (default: those of --n)",
    )
    parser.add_argument(
        "--round2",
        action="store_true",
        help="the targets' grid: n = 8.64e6, m = 3 .. 4096 per normalisation, banks of "
        "K = 1 .. 256 kernels of 200 taps over n = 2e6",
    )
    parser.add_argument("--bank-n", type=float, default=None, help="signal length of the bank table")
    parser.add_argument("--bank-m", type=int, default=200, help="kernel length of the bank table")
    parser.add_argument("--bank-k", nargs="+", type=int, default=None, help="bank sizes (default 1 4 16)")
    parser.add_argument(
        "--bank-peak",
        nargs=2,
        type=float,
        default=None,
        metavar=("K", "N"),
        help="one bank of K kernels over N samples in a fresh process: time and peak RSS (with --round2: 256 8.64e6)",
    )
    parser.add_argument("--no-detect", action="store_true", help="skip the in-memory detect table")
    parser.add_argument(
        "--detect-n", type=float, default=None, help="signal length of the detect table (default 1e7 with --round2)"
    )
    parser.add_argument("--detect-threshold", type=float, default=0.5, help="threshold of the detect table")
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
    print(
        f"Machine: {machine()}; load average {load()} at the start\nTimes in ms (best of up to {repeat} after a warm-up), p = {P:g}; "
        f"ratios are peer / motifscan auto and auto / memory floor.\n",
        file=out,
    )
    time_table(ns, ms, repeat, args.budget, args.skip_z_above, out)
    if not args.no_errors:
        error_table(ms, out)
    if not args.no_modes:
        mode_ns = [int(n) for n in (args.mode_n or ([8.64e6] if args.round2 else ns))]
        mode_ms = [3, 8, 16, 32, 64, 128, 200, 256, 512, 1024, 2000, 4096] if args.round2 and not args.m else ms
        mode_table(mode_ns, mode_ms, repeat, args.budget, args.skip_z_above, out)
        bank_n = int(args.bank_n or (2e6 if args.round2 else max(ns)))
        bank_ks = args.bank_k or ([1, 4, 16, 64, 256] if args.round2 else [1, 4, 16])
        bank_table(bank_n, min(args.bank_m, bank_n // 4), bank_ks, repeat, args.budget, out)
    peak = args.bank_peak or ((256, 8.64e6) if args.round2 else None)
    if peak is not None:
        bank_peak(int(peak[1]), min(args.bank_m, int(peak[1]) // 4), int(peak[0]), out)
    if not args.no_detect:
        detect_n = int(args.detect_n or (1e7 if args.round2 else max(ns)))
        detect_table(detect_n, ms, args.detect_threshold, repeat, args.budget, out)
    for stream in outputs[1:]:
        stream.close()


if __name__ == "__main__":
    main()
