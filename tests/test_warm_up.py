"""The warm-up of the compiled scan: its waits end, its failures reach the caller's thread.

The faults are injected at the step that fails under `ulimit -v` (loading Numba, SciPy and
OpenBLAS): a load that never returns, or one that raises.
"""

import signal
import subprocess
import sys
import threading
import time

import pytest

import motifscan.warm_up as warm_up
from motifscan.errors import MotifscanError
from motifscan.warm_up import WarmUp, address_space_limit, load_here


@pytest.fixture
def stuck_loading(monkeypatch):
    """The loading blocks until the test ends (OpenBLAS that cannot get its memory)."""
    release = threading.Event()
    monkeypatch.setattr(warm_up, "load_compiled_scan", release.wait)
    yield
    release.set()


def test_a_loading_that_never_ends_is_not_waited_for_forever(stuck_loading):
    ran = []
    warm = WarmUp(lambda: ran.append(True))
    started = time.monotonic()
    with pytest.raises(MotifscanError, match="^not enough memory to load the compiled scan: the loading did not end"):
        warm.wait(0.5)
    assert 0.5 <= time.monotonic() - started < 5 and ran == []


def test_settle_gives_a_stuck_loading_a_few_seconds_only(stuck_loading, monkeypatch):
    monkeypatch.setattr(warm_up, "WARM_UP_SETTLE_S", 0.3)
    warm = WarmUp(lambda: None)
    started = time.monotonic()
    warm.settle()  # never raises
    assert 0.3 <= time.monotonic() - started < 5


def test_a_failed_loading_is_raised_in_the_waiting_thread(monkeypatch):
    def refused():
        # What loading Numba's compiler library under a small `ulimit -v` raises.
        raise OSError("Could not find/load shared object file 'libllvmlite.so'")

    monkeypatch.setattr(warm_up, "load_compiled_scan", refused)
    ran = []
    with pytest.raises(MotifscanError, match="^not enough memory to load the compiled scan: Could not find/load"):
        WarmUp(lambda: ran.append(True)).wait()
    assert ran == []  # nothing is warmed after a failed load


def test_an_error_of_the_warming_itself_is_left_to_the_first_scan():
    def broken():
        raise ValueError("raised again by the first real scan")

    warm = WarmUp(broken)
    warm.wait()  # no error here


def test_a_finished_warm_up_is_waited_for_at_once():
    ran = []
    warm = WarmUp(lambda: ran.append(True))
    warm.wait()
    assert ran == [True]
    started = time.monotonic()
    warm.wait(0.0)
    warm.settle()
    assert time.monotonic() - started < 0.5


def test_the_address_space_limit_is_the_one_the_process_runs_under():
    assert address_space_limit() is None or address_space_limit() > 0
    code = "from motifscan.warm_up import address_space_limit; print(address_space_limit())"
    limited = subprocess.run(
        ["bash", "-c", f'ulimit -v 4000000 && "{sys.executable}" -c "{code}"'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert limited.stdout.split() == [str(4_000_000 * 1024)], limited.stderr


def test_a_warm_up_without_a_thread_leaves_the_loading_to_the_first_scan(monkeypatch):
    def refused(self):
        raise RuntimeError("can't start new thread")  # what `ulimit -v` leads to

    monkeypatch.setattr(threading.Thread, "start", refused)
    ran = []
    warm = WarmUp(lambda: ran.append(True))
    warm.wait()
    warm.settle()
    assert ran == []


def test_loading_here_gives_the_stop_signals_their_default_action_meanwhile(monkeypatch):
    def stop(signum, frame):
        raise AssertionError("not called")

    seen = []
    monkeypatch.setattr(warm_up, "load_compiled_scan", lambda: seen.append(signal.getsignal(signal.SIGTERM)))
    before = signal.signal(signal.SIGTERM, stop)
    try:
        load_here()
        assert seen == [signal.SIG_DFL] and signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_failed_load_here_is_the_one_line_error_and_puts_the_handlers_back(monkeypatch):
    def refused():
        raise ImportError("libopenblas.so: failed to map segment from shared object")

    monkeypatch.setattr(warm_up, "load_compiled_scan", refused)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(MotifscanError, match="^not enough memory to load the compiled scan: libopenblas.so: failed"):
        load_here()
    assert signal.getsignal(signal.SIGINT) is before


def test_the_loading_step_loads_openblas_too():
    # Numba's compiler imports scipy.linalg (OpenBLAS) on its first compilation: under
    # `ulimit -v` that loading hung the warm-up after the step meant to take it first.
    code = "import sys, motifscan.warm_up as w; w.load_compiled_scan(); print('scipy.linalg' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.stdout.split() == ["True"], loaded.stderr
