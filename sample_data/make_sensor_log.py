"""Generate ``sensor_log.csv``: a one-hour, 1 Hz load-cell log with planted pulses.

The log has what real sensor data has: a drifting baseline, measurement noise, and a
second channel (temperature) that never holds the pulse. Six copies of the pulse in
``pulse_kernel.txt`` are planted at different sizes and signs; ``PLANTED`` lists them, and
the tests check that ``motifscan detect`` finds exactly these. Run it again to regenerate
the same file (fixed seed):

    python sample_data/make_sensor_log.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = 3600
PULSE = np.array([0.0, 2.0, 5.0, 8.0, 6.0, 3.0, 1.0, 0.0])
#: (start sample, amplitude) of each planted pulse; a negative amplitude is an inverted pulse.
PLANTED = [(300, 1.0), (910, 0.25), (1500, -0.6), (2210, 2.0), (2800, -0.3), (3300, 0.5)]


def make_log(seed: int = 20251114) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (seconds since start, load, temperature), each of shape (SAMPLES,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES, dtype=np.float64)
    baseline = 0.05 + 0.1 * np.sin(2 * np.pi * t / 2400.0) + 0.00002 * t
    load = baseline + rng.normal(0.0, 0.03, SAMPLES)
    for start, amplitude in PLANTED:
        load[start : start + PULSE.size] += amplitude * PULSE
    temperature = 21.0 + 0.5 * np.sin(2 * np.pi * t / 3600.0) + rng.normal(0.0, 0.05, SAMPLES)
    return t, load, temperature


def main() -> None:
    t, load, temperature = make_log()
    stamps = np.datetime64("2025-03-14T08:00:00") + t.astype("timedelta64[s]")
    lines = ["time,load_kn,temperature_c"]
    lines += [f"{s},{p:.4f},{c:.3f}" for s, p, c in zip(stamps.astype(str), load, temperature)]
    (HERE / "sensor_log.csv").write_text("\n".join(lines) + "\n")
    (HERE / "pulse_kernel.txt").write_text("\n".join(f"{v:g}" for v in PULSE) + "\n")


if __name__ == "__main__":
    main()
