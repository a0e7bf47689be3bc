"""The CUDA backend against the NumPy oracle, run in the CUDA simulator.

The simulator executes the kernel as Python, one thread per CUDA thread, so these tests use
small inputs and, mostly, a small tile shape that puts several blocks, several tap passes
and several chunks (streams) into a signal of a few hundred samples. They run only with
``NUMBA_ENABLE_CUDASIM=1`` in the environment, which ``test_gpu_simulator.py`` sets for a
separate pytest process, so the simulator never slows down or leaks into the other tests.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
        reason="needs NUMBA_ENABLE_CUDASIM=1 (run by test_gpu_simulator.py)",
    ),
    # The simulator evaluates the kernel with NumPy scalars, which warn where a GPU
    # silently overflows to inf (and the rescue path then takes over).
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

from click.testing import CliRunner  # noqa: E402

from motifscan.similarity import sliding_cosine, span  # noqa: E402
from motifscan.similarity.reference import sliding_cosine_reference  # noqa: E402
from strategies import assert_tracks_close, kernels, signals  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# 4 threads x 2 positions per block; 12 shared samples leave an overlap of 4, and 3 shared
# taps force several passes over a kernel longer than 3.
SMALL = dict(threads=4, per_thread=2, samples=12, taps=3)


def cuda_track(x, kernel, p, dilation, chunk=None, **shape):
    from motifscan.similarity.gpu import DEFAULT_SHAPE, TileShape, sliding_cosine_cuda

    tile_shape = TileShape(**shape) if shape else DEFAULT_SHAPE
    return sliding_cosine_cuda(x, kernel, p, dilation, shape=tile_shape, chunk=chunk)


@settings(max_examples=30, deadline=None)
@given(
    signals(max_size=90),
    kernels(max_size=7),
    st.integers(1, 6),
    st.sampled_from([0.5, 1.0, 3.0, 9.0]),
    st.integers(5, 40),
)
def test_cuda_equals_reference(x, kernel, dilation, p, chunk):
    if x.size < span(kernel.size, dilation):
        return
    fast = cuda_track(x, kernel, p, dilation, chunk=chunk, **SMALL)
    assert_tracks_close(fast, sliding_cosine_reference(x, kernel, p, dilation), x, kernel, p, dilation)


@settings(max_examples=8, deadline=None)
@given(signals(min_size=20, max_size=300), kernels(max_size=12), st.integers(1, 3), st.sampled_from([1.0, 3.0]))
def test_default_tile_shape_equals_reference(x, kernel, dilation, p):
    if x.size < span(kernel.size, dilation):
        return
    fast = cuda_track(x, kernel, p, dilation)
    assert_tracks_close(fast, sliding_cosine_reference(x, kernel, p, dilation), x, kernel, p, dilation)


def hostile_signal(n=200, seed=3):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal(n))
    x[17] = np.nan  # NaN windows
    x[40] = np.inf
    x[50:110] = 0.0  # zero-norm windows, longer than any span below
    x[120:135] = 1e300 * rng.standard_normal(15)  # squares overflow
    x[140:160] = 1e-300 * rng.standard_normal(20)  # squares underflow
    x[165:175] = 5.0  # constant
    return x


# (m, dilation): several tap passes (m > 3 shared taps), and dilations 5 and 9 beyond the
# small shape's overlap of 4 samples, so one tap per pass.
@pytest.mark.parametrize("m, dilation", [(1, 1), (3, 2), (7, 1), (7, 5), (4, 9)])
def test_nan_zero_huge_tiny_windows_tap_passes_and_dilation(m, dilation):
    x = hostile_signal()
    kernel = np.random.default_rng(m).standard_normal(m)
    fast = cuda_track(x, kernel, 2.0, dilation, chunk=23, **SMALL)
    ref = sliding_cosine_reference(x, kernel, 2.0, dilation)
    assert_tracks_close(fast, ref, x, kernel, 2.0, dilation)
    assert np.isnan(fast.score).any() and (fast.score == 0).any()
    assert np.isfinite(fast.cosine[~np.isnan(ref.cosine)]).all()


def test_results_agree_with_the_cpu_backend_and_do_not_depend_on_chunks():
    x = hostile_signal(seed=5)
    kernel = np.array([1.0, -2.0, 0.5, 3.0])
    cpu = sliding_cosine(x, kernel, 3.0, 2, backend="numba")
    tracks = [cuda_track(x, kernel, 3.0, 2, chunk=chunk, **SMALL) for chunk in (11, 1000)]
    for track in tracks:
        assert_tracks_close(track, cpu, x, kernel, 3.0, 2)
        for name in ("score", "cosine", "scale"):  # same kernel, same chunking-free sums
            np.testing.assert_array_equal(getattr(track, name), getattr(tracks[0], name))


def test_mixed_magnitudes_inside_one_window():
    x = np.array([1e300, 1e-300, 1.0, -1e300, 5e-324, 0.0, 1e-200, 1e-200])
    kernel = np.array([1.0, -2.0])
    fast = cuda_track(x, kernel, 1.0, 1, **SMALL)
    assert np.isfinite(fast.cosine).all()
    assert_tracks_close(fast, sliding_cosine_reference(x, kernel, 1.0, 1), x, kernel, 1.0, 1)
    assert abs(fast.cosine[-1] + 1 / np.sqrt(10)) < 1e-15


def test_dispatcher_runs_the_cuda_backend():
    x = hostile_signal()
    kernel = np.array([1.0, 2.0, 3.0])
    track = sliding_cosine(x, kernel, 2.0, 1, backend="cuda")
    assert_tracks_close(track, sliding_cosine_reference(x, kernel, 2.0, 1), x, kernel, 2.0, 1)


def cli(*args):
    from motifscan.cli import cli as command

    return CliRunner().invoke(command, [str(a) for a in args])


def test_detect_on_the_gpu_reports_the_same_motifs_and_says_so():
    log = ROOT / "sample_data" / "sensor_log.csv"
    args = [
        "detect",
        log,
        "--kernel-file",
        ROOT / "sample_data" / "pulse_kernel.txt",
        "--p",
        "3",
        "--column",
        "load_kn",
        "--format",
        "json",
        "--block-rows",
        "700",
    ]
    gpu = cli(*args, "--device", "gpu")
    cpu = cli(*args, "--device", "cpu")
    assert gpu.exit_code == 0 and cpu.exit_code == 0, gpu.output + cpu.output
    gpu_doc, cpu_doc = json.loads(gpu.stdout), json.loads(cpu.stdout)
    assert gpu_doc["device"] == "gpu" and cpu_doc["device"] == "cpu"
    assert [m["start"] for m in gpu_doc["motifs"]] == [m["start"] for m in cpu_doc["motifs"]]
    for a, b in zip(gpu_doc["motifs"], cpu_doc["motifs"]):
        assert abs(a["score"] - b["score"]) < 1e-12 and abs(a["scale"] - b["scale"]) < 1e-12 * abs(b["scale"])


def test_scores_on_the_gpu_match_the_cpu_across_blocks(tmp_path):
    seed = ROOT / "sample_data" / "seed.csv"
    outputs = {}
    for device in ("gpu", "cpu"):
        out = tmp_path / f"{device}.parquet"
        result = cli(
            "scores",
            seed,
            "--kernel",
            "1,2,3",
            "--p",
            "9",
            "--dilation",
            "2",
            "--block-rows",
            "10",
            "--device",
            device,
            "--output",
            out,
        )
        assert result.exit_code == 0, result.output
        import pyarrow.parquet as pq

        outputs[device] = pq.read_table(out).to_pandas()
    np.testing.assert_allclose(outputs["gpu"].to_numpy(float), outputs["cpu"].to_numpy(float), rtol=0, atol=1e-13)


def test_auto_never_picks_the_simulator():
    from motifscan.similarity.device import resolve_device

    assert resolve_device("auto", "auto", 10**12, 100) == "numba"  # a CPU backend
    assert resolve_device("gpu", "auto", 10, 3) == "cuda"


def test_fused_test_compiles_for_the_gpu_and_decides_as_the_cpu():
    # The candidate test of a scan that only detects is plain Python shared by both
    # devices, like finish_window: compiled for CUDA it marks the same windows to finish.
    import numba.cuda

    # The simulator swaps the module global ``cuda`` of a kernel for its own, not a closure.
    globals()["cuda"] = numba.cuda
    from motifscan.similarity.cpu import _fused_test, fused_bounds
    from motifscan.similarity.window import fused_test

    device_test = numba.cuda.jit(device=True)(fused_test)

    @numba.cuda.jit
    def mark(dot, sumsq, lower, near_lower, near_upper, finish, near):
        i = cuda.grid(1)  # noqa: F821 (the module global set above)
        if i < dot.shape[0]:
            f, c = device_test(dot[i], sumsq[i], lower, near_lower, near_upper)
            finish[i] = f
            near[i] = c

    rng = np.random.default_rng(3)
    sumsq = np.abs(rng.standard_normal(200)) * 10.0 ** rng.integers(-310, 310, 200)
    sumsq[:8] = [0.0, np.nan, np.inf, 1e-200, 1e200, 1e-201, 1e201, 5e-324]
    dot = rng.uniform(-1, 1, 200) * np.sqrt(sumsq)
    lower = fused_bounds(0.5, 9.0)
    near_lower, near_upper = 0.99**2 * (1 - 1e-9), 0.99**2 * (1 + 1e-9)
    dot[8:12] = np.sqrt(sumsq[8:12] * np.array([lower, 0.99**2, 1.0, 0.0]))  # at the bounds
    finish = np.zeros(200, np.uint8)
    near = np.zeros(200, np.uint8)
    mark[4, 64](dot, sumsq, lower, near_lower, near_upper, finish, near)
    chosen = np.zeros(200, np.uint8)
    counted = _fused_test(dot, sumsq, lower, near_lower, near_upper, chosen)
    np.testing.assert_array_equal(finish, chosen)
    assert counted & 0xFFFFFFFF == finish.sum() and counted >> 32 == near.sum()
    assert finish[:3].all() and finish[5:8].all()  # zero, NaN, inf and out-of-range sums
