"""Runs ``test_similarity_gpu.py`` in its own pytest process under the CUDA simulator.

``NUMBA_ENABLE_CUDASIM`` is read when numba.cuda is first imported, so the simulator needs
a fresh process; running it apart also keeps its slowness and its numba.cuda import away
from every other test.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="the simulator tests run directly in this process"
)
def test_cuda_backend_in_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(TESTS / "test_similarity_gpu.py")],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = completed.stdout[-4000:] + completed.stderr[-2000:]
    assert completed.returncode == 0, report
    assert " passed" in report and "skipped" not in report, report
