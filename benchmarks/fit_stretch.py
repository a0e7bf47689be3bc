"""Does stretching the events in time hurt ``motifscan fit``? Held-out F1 by stretch.

    python benchmarks/fit_stretch.py [SEEDS]        # default 6

The drifting recordings of ``benchmarks/fit_quality.py`` (``sample_data/make_lookalikes.py``)
made with each event stretched in time by up to 0, 5 (the benchmark's), 10 and 15 %; the
noise, the baseline and the events' places are the same for every stretch. ``fit`` learns
from the 5 positives and 5 negatives of the first quarter (``--split 0.25 --normalize
center``, no metric) and is judged on the other 19 positives among 19 look-alikes. Printed:
the held-out F1 of the written detector for each seed, and the lowest.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fit_quality import generator  # noqa: E402

from motifscan.training import FitConfig, run_fit  # noqa: E402

STRETCHES = (0.0, 0.05, 0.10, 0.15)


def held_out_f1(values, labels, folder: Path) -> float:
    recording, labels_file = folder / "recording.csv", folder / "labels.csv"
    recording.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    labels_file.write_text("start,end,label\n" + "".join(f"{s},{e},{label}\n" for s, e, label in labels))
    report = run_fit(FitConfig(str(recording), labels=str(labels_file), split=0.25, normalize="center")).report
    return report["evaluation"]["fitted" if report["kept"] == "fitted" else "starting_point"]["f1"]


def main() -> None:
    module = generator()
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    seeds = [module.SEED, *range(1, count)]
    print(f"{'stretch':>8s} " + " ".join(f"{seed:>9d}" for seed in seeds) + f" {'lowest':>7s}")
    with tempfile.TemporaryDirectory() as folder:
        for stretch in STRETCHES:
            scores = [
                held_out_f1(*module.make_drifting_recording(seed, stretch=stretch), Path(folder)) for seed in seeds
            ]
            print(f"{stretch:8.0%} " + " ".join(f"{f1:9.3f}" for f1 in scores) + f" {min(scores):7.3f}")


if __name__ == "__main__":
    main()
