"""Which processor runs a scan: the CPU backends or the CUDA backend on an NVIDIA GPU.

This module is imported on every run, so it never imports ``numba.cuda`` unless a GPU is
asked for (``device="gpu"``) or worth asking about (``device="auto"`` with large work and
the ``gpu`` extra installed): a CPU run of the base install never loads the CUDA target.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, pure Python, for tests) a GPU is
"present": ``device="gpu"`` runs the CUDA kernel in the simulator, while ``device="auto"``
never picks it, since the simulator is thousands of times slower than the CPU backends.
"""

from __future__ import annotations

import functools
import importlib.util
import os

from motifscan.choices import DEVICES, check_choice
from motifscan.errors import MotifscanError
from motifscan.similarity import resolve_backend


#: ``device="auto"`` runs on the GPU only from this many multiply-adds (positions x kernel
#: taps) on. A GPU run first pays for creating the CUDA context and loading the compiled
#: kernel (a few tenths of a second) and then moves 32 bytes per position over the bus (8 in,
#: 24 out); the multicore CPU backend needs well under a nanosecond per multiply-add. Below
#: a few billion multiply-adds the CPU finishes before the GPU has started. This is an
#: estimate from those costs, to be tuned with ``benchmarks/gpu_scan.py``.
GPU_MIN_WORK = 4_000_000_000


def simulated() -> bool:
    """True when numba.cuda is (or will be) the CUDA simulator."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def gpu_problem() -> str | None:
    """None when the CUDA backend can run here, else what is missing, in a few words."""
    try:
        from numba import cuda
    except Exception as error:  # ImportError, or a broken CUDA package failing on import
        return f"numba.cuda is not available ({_first_line(error)}); install motifscan[gpu]"
    if simulated():
        return None
    try:
        count = len(cuda.gpus)
    except Exception as error:  # numba raises CudaSupportError when the driver is missing
        return f"no CUDA driver ({_first_line(error)})"
    if count == 0:
        return "no CUDA device found"
    if not cuda.is_available():
        return (
            "numba.cuda cannot compile for the GPU (the CUDA toolkit's NVVM library was "
            "not found); install motifscan[gpu]"
        )
    return None


def _first_line(error: Exception) -> str:
    lines = [line.strip().rstrip(":.") for line in str(error).splitlines() if line.strip()]
    # numba's driver errors start with a generic "Error at driver init:" line.
    if len(lines) > 1 and lines[0].lower().startswith("error at driver init"):
        lines = lines[1:]
    return lines[0] if lines else type(error).__name__


def gpu_name() -> str:
    """The name of the GPU that runs the CUDA backend (``CUDA simulator`` under it)."""
    if simulated():
        return "CUDA simulator"
    from numba import cuda

    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def require_gpu(option: str = "device gpu") -> None:
    """Raise MotifscanError naming what is missing when the CUDA backend cannot run.

    ``option`` is how the request was made, e.g. ``"device gpu"`` or ``"backend cuda"``.
    """
    problem = gpu_problem()
    if problem is not None:
        raise MotifscanError(f"{option}: {problem}", (option.split()[0],))


def _gpu_worth_it(rows: int | None, kernel_length: int) -> bool:
    if rows is None or rows * kernel_length < GPU_MIN_WORK or simulated():
        return False
    # Without the gpu extra the base install has no CUDA toolkit: do not even load numba.cuda.
    if importlib.util.find_spec("numba_cuda") is None:
        return False
    return gpu_problem() is None


def resolve_device(
    device: str, backend: str, rows: int | None, kernel_length: int, normalize: str = "none", plain: bool = False
) -> str:
    """The concrete backend of a run, from ``--device`` and ``--backend``.

    ``gpu`` (or ``backend="cuda"``) runs the CUDA backend and fails with a
    MotifscanError naming what is missing when it cannot; ``cpu`` runs the CPU backend that
    ``backend`` names; ``auto`` takes the GPU only for an ``auto`` backend, a usable GPU
    and at least :data:`GPU_MIN_WORK` multiply-adds (so never for a stream of unknown
    length), and the CPU otherwise. ``rows`` is an upper bound on the signal's length;
    ``normalize`` and ``plain`` pick the direct/FFT crossover (:func:`resolve_backend`).
    """
    check_choice("device", device, DEVICES)
    if device == "gpu" or backend == "cuda":
        if device == "cpu":
            raise MotifscanError("backend cuda runs on the GPU: use device gpu or auto", ("backend", "device"))
        if backend not in ("auto", "cuda"):
            raise MotifscanError(f"backend {backend} runs on the CPU: use device cpu or auto", ("backend", "device"))
        require_gpu("device gpu" if device == "gpu" else "backend cuda")
        return "cuda"
    if device == "auto" and backend == "auto" and _gpu_worth_it(rows, kernel_length):
        return "cuda"
    return resolve_backend(backend, rows, kernel_length, normalize, plain)


def device_of(backend: str) -> str:
    """``"gpu"`` for the CUDA backend, ``"cpu"`` for the others."""
    return "gpu" if backend == "cuda" else "cpu"
