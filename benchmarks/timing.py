"""Wall-clock timing shared by the benchmark scripts.

Every benchmark reports the best of a few calls after one untimed warm-up call, so Numba
compilation, FFT plans, CUDA context creation and first page faults are never counted, and
the best (not the mean) is the least disturbed by other work on the machine.
"""

from __future__ import annotations

import math
import time


def best_time(function, repeat: int = 3, budget_s: float = math.inf, synchronize=None) -> float:
    """Best wall time, in seconds, of up to ``repeat`` calls of ``function()``.

    Parameters
    ----------
    function : callable
        Called once untimed (warm-up), then timed.
    repeat : int
        Most timed calls; at least one is made.
    budget_s : float
        No further timed call once the timed calls together have taken this long.
    synchronize : callable, optional
        Called after each call and inside the clock, for work that returns before it is
        done (a GPU kernel launch).
    """
    function()
    if synchronize:
        synchronize()
    times = []
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        function()
        if synchronize:
            synchronize()
        times.append(time.perf_counter() - started)
        if sum(times) > budget_s:
            break
    return min(times)
