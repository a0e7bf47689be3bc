"""Generate ``ecg_mitdb_excerpt_labels.csv``: normal and ectopic beats of
``ecg_mitdb_excerpt_360hz.csv``, derived from the recording itself.

The excerpt comes without the database's beat annotations, so the labels are derived from
the signal, by a rule anyone can check on a plot:

1. R peaks: local maxima of ``ecg_mv`` at least half as high as its 98th percentile and at
   least 100 samples (0.28 s) apart (``scipy.signal.find_peaks``).
2. A beat is *ectopic* (``negative``) when it comes early: its R-R interval from the
   previous beat is under 80 % of the median R-R interval (a premature beat, followed by a
   compensatory pause); every other beat is *normal* (``positive``). The first beat has no
   interval and counts as normal.
3. Each beat's window runs from 100 samples (0.28 s) before its R peak to 150 samples
   (0.42 s) after it: P wave, QRS complex and most of the T wave. Beats whose window leaves
   the recording are not labelled.

Every beat of the excerpt is labelled, as ``motifscan fit`` needs (unlabelled beats would
be mined as look-alikes). Run it again to regenerate the same file:

    python sample_data/make_ecg_labels.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BEFORE, AFTER = 100, 150  # samples before and after the R peak
PREMATURE = 0.8  # R-R under this share of the median: ectopic


def beats(ecg: np.ndarray) -> list[tuple[int, int, str]]:
    """``(start, end, "positive" | "negative")`` for every beat whose window fits."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(ecg, height=0.5 * np.percentile(ecg, 98), distance=100)
    intervals = np.diff(peaks)
    median = np.median(intervals)
    labels = []
    for index, peak in enumerate(peaks):
        early = index > 0 and intervals[index - 1] < PREMATURE * median
        if peak - BEFORE >= 0 and peak + AFTER <= ecg.size:
            labels.append((int(peak - BEFORE), int(peak + AFTER), "negative" if early else "positive"))
    return labels


def main() -> None:
    ecg = np.loadtxt(HERE / "ecg_mitdb_excerpt_360hz.csv", delimiter=",", skiprows=1, usecols=1)
    rows = "".join(f"{start},{end},{label}\n" for start, end, label in beats(ecg))
    (HERE / "ecg_mitdb_excerpt_labels.csv").write_text("start,end,label\n" + rows)


if __name__ == "__main__":
    main()
