"""False alarms per hour against K for ``--threshold mad:K`` on the real recordings of sample_data.

    python benchmarks/mad_false_alarms.py         # the table of docs/method.md

Both recordings are scanned with ``p = 1`` and ``--normalize center`` (the spread of the
cosine on unrelated windows is what mad:K measures; at higher p it shrinks towards 0), the
other options at their defaults (``--sign any``: an inverted beat is a false alarm too).

- ECG (MIT-BIH excerpt, 360 Hz, 20.8 s): the kernel is one beat, cut at 0.1-0.8 s of the
  recording. A beat (``ecg_mitdb_excerpt_labels.csv``) is found by a motif starting within
  0.1 s of its labelled window; a motif near no labelled beat is a false alarm.
- BasicMotions (10 Hz, 400 s, ``activity`` labels every row): the walking template as
  shipped, ``--joint`` over acc_x, acc_y and acc_z. A walking segment (one ``test_index``)
  is found by a motif whose window lies inside it; a motif whose window is not inside a
  walking segment is a false alarm.

The recordings are short, so a false alarm per hour is extrapolated: one false alarm in
the 20.8 s of ECG counts as 173 per hour. Both are shorter than the reference stretch
(100 000 windows), so each track's threshold is measured on the whole recording.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import motifscan  # noqa: E402

DATA = ROOT / "sample_data"
FS_ECG = 360
BEAT_TOLERANCE = 36  # samples: 0.1 s
FACTORS = (1.5, 2, 3, 4, 5, 10)


def ecg_rows():
    frame = pd.read_csv(DATA / "ecg_mitdb_excerpt_360hz.csv")
    signal = frame["ecg_mv"].to_numpy()
    labels = pd.read_csv(DATA / "ecg_mitdb_excerpt_labels.csv")
    beats = labels.loc[labels["label"] == "positive", "start"].to_numpy()
    kernel = signal[int(0.1 * FS_ECG) : int(0.8 * FS_ECG)]
    hours = len(signal) / FS_ECG / 3600
    for factor in FACTORS:
        motifs, summary = motifscan.detect(
            signal, kernel, threshold=f"mad:{factor:g}", normalize="center", summary=True
        )
        starts = np.array([motif.start for motif in motifs], dtype=int)
        near = np.abs(starts[:, None] - beats[None, :]) <= BEAT_TOLERANCE
        found = int(np.count_nonzero(near.any(axis=0)))
        false_alarms = int(np.count_nonzero(~near.any(axis=1)))
        (threshold,) = summary.thresholds.values()
        yield factor, threshold, len(motifs), f"{found} of {len(beats)} beats", false_alarms, false_alarms / hours


def walking_rows():
    frame = pd.read_csv(DATA / "basicmotions_interleaved_10hz.csv")
    channels = ["acc_x", "acc_y", "acc_z"]
    table = pd.read_csv(DATA / "kernel_basicmotions_walking.csv")
    kernel = {"walking": {name: table[name].to_numpy() for name in channels}}
    walking = frame["activity"].to_numpy() == "walking"
    segment = frame["test_index"].to_numpy()
    segments = sorted(set(segment[walking]))
    hours = (frame["time_s"].iloc[-1] - frame["time_s"].iloc[0] + 0.1) / 3600
    for factor in FACTORS:
        motifs, summary = motifscan.detect(
            frame[channels], kernel, joint=True, threshold=f"mad:{factor:g}", normalize="center", summary=True
        )
        inside = [
            bool(walking[m_.start] and walking[m_.end - 1] and segment[m_.start] == segment[m_.end - 1])
            for m_ in motifs
        ]
        found = len({segment[m_.start] for m_, ok in zip(motifs, inside) if ok})
        false_alarms = inside.count(False)
        (threshold,) = summary.thresholds.values()
        yield (
            factor,
            threshold,
            len(motifs),
            f"{found} of {len(segments)} walking segments",
            false_alarms,
            false_alarms / hours,
        )


def main() -> None:
    print("| recording, kernel | K | threshold | motifs | found | false alarms | per hour |")
    print("|---|---|---|---|---|---|---|")
    for label, rows in (
        ("ECG (20.8 s), one beat cut at 0.1–0.8 s", ecg_rows()),
        ("BasicMotions (400 s), walking template, `--joint` x, y, z", walking_rows()),
    ):
        for index, (factor, threshold, motifs, found, false_alarms, per_hour) in enumerate(rows):
            name = label if index == 0 else ""
            print(f"| {name} | {factor:g} | {threshold:.3f} | {motifs} | {found} | {false_alarms} | {per_hour:.0f} |")


if __name__ == "__main__":
    main()
