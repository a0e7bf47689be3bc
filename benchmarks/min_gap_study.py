"""Which default ``--min-gap``? Candidate gaps measured on the real recordings of sample_data.

    python benchmarks/min_gap_study.py            # the table of docs/method.md

Each cell of the table is "found / hidden / extra" for one gap (``--min-gap``), given as a
fraction of the span as the command line takes it.

Kernels are cut as one full event (one heart beat, one stride), so events of the same kind
come about one span apart, sometimes closer. For each recording and each candidate gap the
table counts the true events that were reported, the true events hidden by the gap (a
candidate at or above the threshold lay on them but a stronger motif within the gap
suppressed it), and the extra motifs (a second motif on an event already reported, or on no
event at all).

True events:

- ECG (MIT-BIH excerpt, 360 Hz): R peaks, found as the peaks of the baseline-free signal
  (the signal minus two median filters of 0.2 s and 0.6 s) at least 0.25 s apart with a
  prominence of half the 99.5th percentile. The kernel is the first beat, one median
  R-R interval long, starting 100 samples (0.28 s) before its R peak; a motif is on a
  beat when its start + 100 lies within 36 samples (0.1 s) of the R peak.
- BasicMotions (10 Hz, ``activity`` labels every row), the 30-sample templates as shipped
  (about three strides) and their first period alone (one stride, as the issue's kernels
  were cut): a kernel's events are the strides
  in the 10 s segments of its activity: the peaks of the score at least one stride period
  apart (the period is the first peak of the kernel's autocorrelation) inside a segment
  of that activity. A motif is on an event when it lies within half a period of it; a
  motif whose window is not inside a segment of the kernel's activity is on no event.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import find_peaks, medfilt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import motifscan  # noqa: E402

DATA = ROOT / "sample_data"
FS_ECG = 360
R_OFFSET = 100  # samples from the ECG kernel's start to its R peak
R_TOLERANCE = 36  # 0.1 s


#: The candidate gaps: none, STUMPY's exclusion zone m/4 (= a quarter of the span at
#: dilation 1), aeon's L/2, three quarters, and the old default, the span.
GAPS = ("1", "0.25span", "0.5span", "0.75span", "1span")
GAP_NAMES = {
    "1": "1 (none)",
    "0.25span": "0.25span (STUMPY m/4)",
    "0.5span": "0.5span (aeon L/2)",
    "0.75span": "0.75span",
    "1span": "1span (old default)",
}


def ecg_case():
    frame = pd.read_csv(DATA / "ecg_mitdb_excerpt_360hz.csv")
    signal = frame["ecg_mv"].to_numpy()
    baseline = medfilt(medfilt(signal, 71), 215)
    clean = signal - baseline
    peaks, _ = find_peaks(clean, distance=int(0.25 * FS_ECG), prominence=0.5 * np.percentile(clean, 99.5))
    length = int(np.median(np.diff(peaks)))
    start = peaks[0] - R_OFFSET
    kernel = signal[start : start + length]

    def evaluate(motifs, candidates, track):
        starts = np.array([m.start for m in motifs], dtype=int)
        matched = [np.flatnonzero(np.abs(starts + R_OFFSET - r) <= R_TOLERANCE) for r in peaks]
        found = sum(1 for hit in matched if hit.size)
        on_beat = {int(i) for hit in matched for i in hit[:1]}
        near = np.array(sorted(candidates), dtype=int)
        detectable = sum(1 for r in peaks if near.size and np.any(np.abs(near + R_OFFSET - r) <= R_TOLERANCE))
        return len(peaks), found, detectable - found, len(motifs) - len(on_beat)

    yield (
        "ECG ecg_mv, beat kernel",
        signal,
        kernel,
        dict(normalize="center"),
        length,
        length,
        evaluate,
        f"{len(peaks)} beats, R-R {np.diff(peaks).min()}..{np.diff(peaks).max()} samples",
    )


def stride_period(kernel: np.ndarray) -> int:
    """First peak of the autocorrelation of the kernel (summed over its channels)."""
    centred = kernel - kernel.mean(axis=0)
    acf = sum(np.correlate(c, c, "full")[len(c) - 1 :] for c in centred.T)
    lags, _ = find_peaks(acf)
    return int(lags[0]) if lags.size else len(kernel)


def motions_cases():
    frame = pd.read_csv(DATA / "basicmotions_interleaved_10hz.csv")
    activity = frame["activity"].to_numpy()
    segment = frame["test_index"].to_numpy()
    for name in ("walking", "running"):
        table = pd.read_csv(DATA / f"kernel_basicmotions_{name}.csv")
        for channels, cut in (
            (["acc_x"], False),
            (["acc_x", "acc_y", "acc_z"], False),
            (["acc_x"], True),
            (["acc_x", "acc_y", "acc_z"], True),
        ):
            kernel = table[channels].to_numpy()
            period = stride_period(kernel)
            if cut:  # one period of the template: a kernel cut as one full stride
                kernel = kernel[:period]
            m = kernel.shape[0]
            mine = activity == name

            def evaluate(motifs, candidates, score, mine=mine, period=period, m=m):
                inside = np.array(
                    [mine[i] and mine[i + m - 1] and segment[i] == segment[i + m - 1] for i in range(len(score))]
                )
                events, _ = find_peaks(np.where(inside, score, 0), height=THRESHOLD, distance=period)
                starts = np.array([m_.start for m_ in motifs], dtype=int)
                matched = [np.flatnonzero(np.abs(starts - e) <= period // 2) for e in events]
                found = sum(1 for hit in matched if hit.size)
                on_event = {int(i) for hit in matched for i in hit[:1]}
                return len(events), found, len(events) - found, len(motifs) - len(on_event)

            label = (
                f"BasicMotions {'+'.join(channels)}, {name} kernel"
                + (" (one period)" if cut else "")
                + (" (--joint)" if len(channels) > 1 else "")
            )
            options = dict(normalize="center")
            if len(channels) > 1:
                kernel_arg = {name: {c: kernel[:, i] for i, c in enumerate(channels)}}
                options["joint"] = True
                signal = frame[channels]
            else:
                kernel_arg = kernel[:, 0]
                signal = frame[channels[0]].to_numpy()
            yield (label, signal, kernel_arg, options, m, m, evaluate, f"period {period} samples")


THRESHOLD = 0.5


def main() -> None:
    rows = []
    for label, signal, kernel, options, m, span, evaluate, note in [*ecg_case(), *motions_cases()]:
        # Every candidate (a gap of 0 keeps them all), and |score| at each: 0 elsewhere.
        every = motifscan.detect(signal, kernel, threshold=THRESHOLD, min_gap=0, **options)
        candidates = {motif.start: abs(motif.score) for motif in every}
        track = np.zeros(len(signal) - span + 1)
        track[list(candidates)] = list(candidates.values())
        cells = []
        for gap in GAPS:
            motifs = motifscan.detect(signal, kernel, threshold=THRESHOLD, min_gap=gap, **options)
            events, found, hidden, extra = evaluate(motifs, candidates, track)
            cells.append(f"{found} / **{hidden}** / {extra}")
        rows.append(f"| {label} ({note}; span {span}) | {events} | " + " | ".join(cells) + " |")
    print("| recording, kernel | true events | " + " | ".join(GAP_NAMES[gap] for gap in GAPS) + " |")
    print("|---|---|" + "---|" * len(GAPS))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
