"""Choosing the device: CPU unless a GPU is asked for or clearly worth it; clear errors."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import motifscan
from motifscan.cli import cli
from motifscan.errors import MotifscanError
from motifscan.similarity.device import GPU_MIN_WORK, device_of, resolve_device

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "sample_data" / "seed.csv")
# The environment of a plain CPU machine: no simulator standing in for a GPU.
PLAIN_ENV = {name: value for name, value in os.environ.items() if name != "NUMBA_ENABLE_CUDASIM"}


def python(code: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env or PLAIN_ENV, capture_output=True, text=True, timeout=120
    )


def test_cpu_and_small_auto_runs_pick_the_cpu_backends():
    assert resolve_device("cpu", "auto", 10, 3) == "numpy"
    assert resolve_device("cpu", "auto", None, 3) == "numba"
    assert resolve_device("cpu", "numba", 10, 3) == "numba"
    assert resolve_device("auto", "auto", 10, 3) == "numpy"
    assert resolve_device("auto", "auto", None, 3) == "numba"  # a stream of unknown length
    assert resolve_device("auto", "numba", GPU_MIN_WORK, 1) == "numba"  # an explicit CPU backend wins
    assert device_of("numba") == "cpu" and device_of("numpy") == "cpu" and device_of("cuda") == "gpu"


@pytest.mark.parametrize(
    "device, backend, message",
    [
        ("cpu", "cuda", "^backend cuda runs on the GPU"),
        ("gpu", "numba", "^backend numba runs on the CPU"),
        ("gpu", "numpy", "^backend numpy runs on the CPU"),
        ("tpu", "auto", "^device must be one of auto, cpu, gpu"),
    ],
)
def test_contradictory_options_are_errors(device, backend, message):
    with pytest.raises(MotifscanError, match=message):
        resolve_device(device, backend, 10, 3)


def test_python_api_checks_the_device():
    with pytest.raises(MotifscanError, match="^device must be one of"):
        motifscan.scan(np.arange(10.0), [1, 2], device="tpu")
    with pytest.raises(MotifscanError, match="^backend cuda runs on the GPU"):
        motifscan.detect(np.arange(10.0), [1, 2], backend="cuda", device="cpu")
    assert motifscan.scan(np.arange(10.0), [1, 2], device="cpu").shape == (9,)


def test_json_report_says_the_cpu_ran():
    result = CliRunner().invoke(
        cli, ["detect", SEED, "--kernel", "1,2,3", "--p", "9", "--format", "json", "--device", "cpu"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["device"] == "cpu"
    result = CliRunner().invoke(cli, ["detect", SEED, "--kernel", "1,2,3", "--device", "tpu"])
    assert result.exit_code == 2 and "--device" in result.output


def test_cpu_runs_never_import_numba_cuda():
    code = (
        "import sys\n"
        "from motifscan.cli import cli\n"
        f"for device in ('auto', 'cpu'):\n"
        f"    try:\n"
        f"        cli.main(['detect', {SEED!r}, '--kernel', '1,2,3', '--p', '9', '--device', device])\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, done.code\n"
        "import motifscan, numpy\n"
        "motifscan.scan(numpy.arange(1e5), [1, 2, 3])  # numba backend\n"
        "print('numba.cuda' in sys.modules)\n"
        "from motifscan.similarity.device import resolve_device, GPU_MIN_WORK\n"
        "print(resolve_device('auto', 'auto', GPU_MIN_WORK, 1))\n"
        "print('numba.cuda' in sys.modules)\n"
    )
    completed = python(code)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[-3] == "False", "a CPU run imported numba.cuda"
    if importlib.util.find_spec("numba_cuda") is None:
        # The base install: even work large enough for a GPU stays on the CPU, unprobed.
        assert lines[-2:] == ["numba", "False"]


def run_gpu_detect(prelude="", command=("detect",)):
    code = (
        "import sys\n" + prelude + "from motifscan.cli import main\n"
        f"sys.argv = ['motifscan', *{list(command)!r}, {SEED!r}, '--kernel', '1,2,3', '--device', 'gpu']\n"
        "main()\n"
    )
    return python(code)


def test_device_gpu_without_numba_cuda_names_it():
    completed = run_gpu_detect(prelude="sys.modules['numba.cuda'] = None  # as if it were not installed\n")
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "motifscan: error: --device gpu: numba.cuda is not available (import of numba.cuda halted; "
        "None in sys.modules); install motifscan[gpu]"
    ]


@pytest.mark.parametrize("command", [("detect",), ("scores", "--output", "track.csv")])
def test_device_gpu_without_a_gpu_names_what_is_missing(command, tmp_path):
    completed = run_gpu_detect(f"import os; os.chdir({str(tmp_path)!r})\n", command)
    if completed.returncode == 0:
        pytest.skip("this machine has a usable GPU")
    assert completed.returncode == 2 and completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert line.startswith("motifscan: error: --device gpu: ")
    assert any(what in line for what in ("no CUDA driver", "no CUDA device", "numba.cuda", "NVVM")), line
    assert list(tmp_path.iterdir()) == []  # no partial output file


def test_auto_keeps_normalized_floored_and_joint_scans_on_the_cpu(monkeypatch):
    # The GPU runs the plain scan only: with a usable GPU and work enough for it, --device
    # auto must still take the CPU for the other scans instead of refusing them.
    from motifscan.config import DetectConfig
    from motifscan.scanning import StreamScanner
    from motifscan.similarity import device

    monkeypatch.setattr(device, "_gpu_worth_it", lambda rows, taps: True)
    rows = 10 * GPU_MIN_WORK
    assert StreamScanner(["x"], DetectConfig(kernel=(1, 2, 3)), rows).backend == "cuda"
    for options in ({"normalize": "center"}, {"noise_floor": 0.5}):
        assert StreamScanner(["x"], DetectConfig(kernel=(1, 2, 3), **options), rows).backend == "numba"
    with pytest.raises(MotifscanError, match="plain scan only"):
        StreamScanner(["x"], DetectConfig(kernel=(1, 2, 3), normalize="center", device="gpu"), rows)
