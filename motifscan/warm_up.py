"""Loading the compiled scan in a thread, and waiting for it without hanging.

Importing Numba (which loads SciPy and its OpenBLAS) and the cached machine code takes a
good part of a second, so :class:`~motifscan.scanning.StreamScanner` does it in a thread
while the first block is read. Under an address-space limit (``ulimit -v``) that loading
can fail, or never end: OpenBLAS that cannot get its memory never returns. Whoever waits
for it must neither wait for ever nor miss a signal, and a failure must reach the caller's
thread, where it becomes the one-line error of :mod:`motifscan.errors`.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from motifscan.errors import MotifscanError

#: Seconds :meth:`WarmUp.wait` gives the loading before it calls the run out of memory. A
#: normal load takes about a second, compiling every kernel afresh (no cache) under heavy
#: load a minute at most; one that has not ended by then is stuck.
WARM_UP_WAIT_S = 300.0
#: Seconds :meth:`WarmUp.settle` waits when a run ends, whatever happened: a thread still
#: inside the compiler when the interpreter shuts down could crash it, but a stuck one must
#: not hold up the end of the run.
WARM_UP_SETTLE_S = 5.0
#: How long one wait lasts before the next: a signal's handler runs between two.
_WAIT_SLICE_S = 0.1


def load_compiled_scan() -> None:
    """Import the compiled backends: Numba, and SciPy's BLAS (OpenBLAS, whose start-up takes
    a buffer per thread), which Numba's compiler imports on its first compilation. The step of
    the warm-up that needs the most memory at once, and the one that can hang under
    ``ulimit -v``: OpenBLAS loops for a buffer it cannot get."""
    # Numba first: under a small limit its compiler library is refused cleanly, before
    # OpenBLAS would start looping.
    import motifscan.similarity.cpu  # noqa: F401
    import scipy.linalg  # noqa: F401


def load_here() -> None:
    """Load the compiled scan in the calling thread, with its failure the one-line error.

    For a process under an address-space limit, before anything else takes its share, with
    OpenBLAS held to one thread (``OPENBLAS_NUM_THREADS``, unless set): the loading then
    rarely fails, and when it does it is "not enough memory ...". Native code
    that never returns holds the interpreter's lock, so no Python signal handler could run
    while it loads: in the main thread, SIGINT, SIGTERM and SIGHUP take their default action
    meanwhile, and end the process (a shell reports 128 + the signal's number; a temporary
    output file left is removed by the next run).
    """
    import os
    import signal

    # OpenBLAS takes a buffer for each of its threads as it starts, and loops for ever when
    # the limit refuses one (seen at 500 MiB); the scan uses no BLAS: one thread, unless the
    # user chose otherwise.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    keep_one_malloc_arena()
    held = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) not in (signal.SIG_IGN, signal.SIG_DFL, None):
                held[number] = signal.signal(number, signal.SIG_DFL)
    try:
        load_compiled_scan()
    except (ImportError, OSError, MemoryError) as error:
        raise _too_little_memory(" ".join(str(error).split()) or type(error).__name__) from None
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)


#: glibc's ``mallopt`` parameter for the most malloc arenas a process keeps.
_M_ARENA_MAX = -8


def keep_one_malloc_arena() -> None:
    """Let glibc's malloc keep one arena, for a process under an address-space limit.

    Each thread that allocates at the same time as another gets an arena of its own, and each
    arena reserves 64 MiB of address space; the dozen threads of pyarrow, Numba and OpenBLAS
    take most of a limit such as ``ulimit -v 819200`` that way, and glibc then aborts a thread
    ("cannot allocate memory for thread-local data", exit 127), where nothing can turn it into
    one line. With one arena the same run ends with "out of memory" or finishes. Nothing to
    do without glibc (``mallopt`` missing).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 1)


def address_space_limit() -> int | None:
    """The process's address-space limit in bytes (``ulimit -v``), or None when there is none."""
    try:
        import resource
    except ImportError:  # not on this system (Windows): no limit to speak of
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def _too_little_memory(detail: str) -> MotifscanError:
    limit = address_space_limit()
    said = "" if limit is None else f"; the address space is limited to {limit >> 20} MiB (ulimit -v)"
    return MotifscanError(f"not enough memory to load the compiled scan: {detail}{said}")


class WarmUp:
    """``warm`` run in a daemon thread after :func:`load_compiled_scan`.

    An error of the loading (the system refused memory or a shared library) is kept and
    raised by :meth:`wait` in the caller's thread as a :class:`MotifscanError` ("not enough
    memory ..."); any other error of ``warm`` is dropped (the first real scan raises it
    again, in the caller's thread).
    """

    def __init__(self, warm: Callable[[], None]):
        self._warm = warm
        self._error: MotifscanError | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="motifscan-warm-up", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:  # "can't start new thread" (`ulimit -v`): the first scan loads it
            self._thread = None

    def _run(self) -> None:
        try:
            load_compiled_scan()
        except (ImportError, OSError, MemoryError) as error:
            self._error = _too_little_memory(" ".join(str(error).split()) or type(error).__name__)
            return
        try:
            self._warm()
        except Exception:  # the first real scan raises it again, in the caller's thread
            pass

    def _join(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the thread, in short waits; whether it has ended."""
        thread = self._thread
        if thread is None:
            return True
        deadline = time.monotonic() + seconds
        while thread.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            thread.join(min(left, _WAIT_SLICE_S))
        self._thread = None
        return True

    def wait(self, seconds: float | None = None) -> None:
        """Wait for the warm-up, at most ``seconds`` (default :data:`WARM_UP_WAIT_S`); raise
        its loading error, or "not enough memory" when it has not ended by then. A signal
        (SIGTERM, Ctrl-C) is handled while it waits."""
        if not self._join(WARM_UP_WAIT_S if seconds is None else seconds):
            waited = WARM_UP_WAIT_S if seconds is None else seconds
            raise _too_little_memory(f"the loading did not end in {waited:g} s")
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        """Wait at most :data:`WARM_UP_SETTLE_S` for the warm-up; never raises (the run is
        ending anyway, perhaps with another error)."""
        self._join(WARM_UP_SETTLE_S)
