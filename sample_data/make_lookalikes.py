"""Generate ``lookalikes.csv`` and ``lookalikes_labels.csv``: a shape among look-alikes.

The recording (one channel ``value``, 12 000 samples) is coloured noise holding 24 noisy,
slightly time-warped copies of a shape -- a wide hump followed by a narrow one -- at
different sizes, and 24 *look-alikes*: the same wide hump followed by a narrow one a little
earlier and lower, which a plain cosine with the average shape can hardly tell apart.
``lookalikes_labels.csv`` lists every event (``start,end,label`` with label ``positive`` or
``negative``). The first quarter of the file (rows 0-2999) holds exactly 5 of each, so
``motifscan fit ... --split 0.25`` learns from 5 positives and 5 negatives and is judged on
the other 19 + 19. Run it again to regenerate the same files (fixed seed):

    python sample_data/make_lookalikes.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = 12_000
LENGTH = 40  # samples per event
TRAINING_ROWS = 3_000  # the first quarter
EVENTS = 24  # of each kind
SEED = 20261123


def shape(t: np.ndarray, second_at: float = 0.68, second_height: float = 0.8) -> np.ndarray:
    """The event on t in [0, 1]: a wide hump, then a narrow one at ``second_at``."""
    return np.exp(-(((t - 0.3) / 0.13) ** 2)) + second_height * np.exp(-(((t - second_at) / 0.07) ** 2))


def event(rng: np.random.Generator, positive: bool) -> np.ndarray:
    """One noisy, warped, scaled copy of the shape (or of its look-alike), LENGTH samples."""
    t = np.linspace(0.0, 1.0, LENGTH)
    warped = t + rng.uniform(-0.04, 0.04) * np.sin(np.pi * t)  # a slight, smooth time warp
    if positive:
        values = shape(warped)
    else:
        values = shape(warped, second_at=rng.uniform(0.58, 0.62), second_height=rng.uniform(0.6, 0.75))
    return rng.uniform(0.6, 1.6) * values


def starts(rng: np.random.Generator, count: int, low: int, high: int) -> np.ndarray:
    """``count`` event starts in [low, high - LENGTH), at least 2 * LENGTH apart."""
    room = high - low - LENGTH - (count - 1) * 2 * LENGTH  # free samples to share out
    cuts = np.sort(rng.integers(0, room, count))
    return low + cuts + np.arange(count) * 2 * LENGTH


def make_recording(seed: int = SEED) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Return (values of shape (SAMPLES,), [(start, "positive" | "negative"), ...])."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.06, SAMPLES)
    values = np.empty(SAMPLES)
    values[0] = noise[0]
    for i in range(1, SAMPLES):  # AR(1) coloured noise, as sensors have
        values[i] = 0.5 * values[i - 1] + noise[i]
    training = starts(rng, 10, 0, TRAINING_ROWS)
    held_out = starts(rng, 2 * EVENTS - 10, TRAINING_ROWS, SAMPLES)
    kinds = np.array([True] * 5 + [False] * 5)
    rng.shuffle(kinds)
    later = np.array([True] * (EVENTS - 5) + [False] * (EVENTS - 5))
    rng.shuffle(later)
    labels = []
    for start, positive in zip(np.concatenate([training, held_out]), np.concatenate([kinds, later])):
        values[start : start + LENGTH] += event(rng, bool(positive))
        labels.append((int(start), "positive" if positive else "negative"))
    return values, labels


def make_drifting_recording(seed: int, stretch: float = 0.05) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """A harder recording, as a real sensor gives: the same events on a drifting baseline,
    each stretched in time by up to ``stretch`` (5 %) and scaled 1-3 times.

    The baseline is a slow sine (period 4 000 samples, amplitude 2) plus a random walk, so it
    moves by more than an event's height within a few events. A stretched event lasts
    ``round(LENGTH * stretch)`` samples and is labelled so (``start, end``), so the labels
    do not all have the same length. As in :func:`make_recording`, the first
    ``TRAINING_ROWS`` rows hold 5 positives and 5 negatives.

    Returns
    -------
    values : float64 array, shape (SAMPLES,)
    labels : list of (start, end, "positive" | "negative")
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.06, SAMPLES)
    values = np.empty(SAMPLES)
    values[0] = noise[0]
    for i in range(1, SAMPLES):
        values[i] = 0.5 * values[i - 1] + noise[i]
    rows = np.arange(SAMPLES)
    values += 2.0 * np.sin(2 * np.pi * rows / 4000 + rng.uniform(0, 2 * np.pi))
    values += np.cumsum(rng.normal(0.0, 0.02, SAMPLES))
    training = starts(rng, 10, 0, TRAINING_ROWS)
    held_out = starts(rng, 2 * EVENTS - 10, TRAINING_ROWS, SAMPLES)
    kinds = np.array([True] * 5 + [False] * 5)
    rng.shuffle(kinds)
    later = np.array([True] * (EVENTS - 5) + [False] * (EVENTS - 5))
    rng.shuffle(later)
    labels = []
    for start, positive in zip(np.concatenate([training, held_out]), np.concatenate([kinds, later])):
        length = int(round(LENGTH * rng.uniform(1 - stretch, 1 + stretch)))
        t = np.linspace(0.0, 1.0, length)
        if positive:
            shaped = shape(t)
        else:
            shaped = shape(t, second_at=rng.uniform(0.58, 0.62), second_height=rng.uniform(0.6, 0.75))
        values[start : start + length] += rng.uniform(1.0, 3.0) * shaped
        labels.append((int(start), int(start + length), "positive" if positive else "negative"))
    return values, labels


def main() -> None:
    values, labels = make_recording()
    (HERE / "lookalikes.csv").write_text("value\n" + "".join(f"{v:.4f}\n" for v in values))
    (HERE / "lookalikes_labels.csv").write_text(
        "start,end,label\n" + "".join(f"{s},{s + LENGTH},{label}\n" for s, label in labels)
    )


if __name__ == "__main__":
    main()
