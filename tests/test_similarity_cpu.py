"""The Numba backend against the NumPy oracle on hostile inputs."""

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.suppression import candidate_mask
from motifscan.scan_plan import LARGE_OFFSET_COSINE
from motifscan.similarity import cpu, sliding_candidates, sliding_cosine, span
from motifscan.similarity.cpu import BLOCK as _RUN
from motifscan.similarity.cpu import (
    FUSED_MARGIN,
    FUSED_TAPS,
    fused_bounds,
    integer_power,
    sliding_cosine_numba,
    sliding_dot_numba,
    window_sumsq,
)
from motifscan.similarity.reference import (
    candidates_of_track,
    precision_signals,
    sliding_cosine_longdouble,
    sliding_cosine_reference,
    sliding_dot_reference,
)
from strategies import assert_dots_close, assert_tracks_close, kernels, signals


@settings(max_examples=150, deadline=None)
@given(signals(), kernels(), st.integers(1, 5), st.sampled_from([0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 9.0, 12.5]))
def test_numba_equals_reference(x, kernel, dilation, p):
    if x.size < span(kernel.size, dilation):
        return
    fast = sliding_cosine_numba(x, kernel, p, dilation)
    ref = sliding_cosine_reference(x, kernel, p, dilation)
    assert_tracks_close(fast, ref, x, kernel, p, dilation)


def test_scales_in_the_subnormal_range():
    # A window of ~1e-17 against a kernel of 1.3e294: every scale is ~1e-311, where float64
    # keeps only an absolute step of 5e-324 (found by the property test above).
    x = np.random.default_rng(37).standard_normal(31) * 1e-16  # (a seed where the two differ)
    kernel = np.array([1.3154536e294])
    fast = sliding_cosine_numba(x, kernel, 0.5, 1)
    ref = sliding_cosine_reference(x, kernel, 0.5, 1)
    assert np.all(np.abs(ref.scale) < np.finfo(np.float64).tiny)
    assert_tracks_close(fast, ref, x, kernel, 0.5, 1)


def test_run_boundaries_do_not_matter():
    # Outputs are computed in runs of _RUN positions by separate prange tasks.
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal(3 * _RUN + 17))
    x[_RUN - 1] = np.nan
    x[2 * _RUN : 2 * _RUN + 40] = 0.0
    kernel = rng.standard_normal(9)
    fast = sliding_cosine_numba(x, kernel, 2.0, 3)
    ref = sliding_cosine_reference(x, kernel, 2.0, 3)
    assert_tracks_close(fast, ref, x, kernel, 2.0, 3)


def test_mixed_magnitudes_inside_one_window():
    x = np.array([1e300, 1e-300, 1.0, -1e300, 5e-324, 0.0, 1e-200, 1e-200], dtype=float)
    kernel = np.array([1.0, -2.0])
    fast = sliding_cosine_numba(x, kernel, 1.0, 1)
    ref = sliding_cosine_reference(x, kernel, 1.0, 1)
    assert np.isfinite(fast.cosine).all()
    assert_tracks_close(fast, ref, x, kernel, 1.0, 1)
    # The last window, (1e-200, 1e-200), underflows when squared: it must still score.
    assert fast.cosine[-1] == np.float64(-1 / np.sqrt(10)).round(15) or abs(fast.cosine[-1] + 1 / np.sqrt(10)) < 1e-15


@pytest.mark.parametrize("m", [1, 2, 3, 5, 7, 8, 9, 12, FUSED_TAPS, FUSED_TAPS + 1, 23, 37, 64, 100])
def test_both_norm_paths_at_run_boundaries(m):
    # Up to FUSED_TAPS taps the squares are summed with the dot product, above by doubling.
    run = _RUN
    rng = np.random.default_rng(m)
    x = 1e6 + rng.standard_normal(2 * run + 3 * m + 5)
    x[run + 1] = np.inf
    kernel = rng.standard_normal(m)
    for dilation in (1, 2, 7):
        if x.size >= span(m, dilation):
            fast = sliding_cosine_numba(x, kernel, 3.0, dilation)
            ref = sliding_cosine_reference(x, kernel, 3.0, dilation)
            assert_tracks_close(fast, ref, x, kernel, 3.0, dilation)


def doubled_sumsq(x, m, dilation):
    """The windows' sums of squares by doubling, level by level, in NumPy: ``s1 = x**2``,
    ``s2[i] = s1[i] + s1[i + d]``, ...; the pieces named by m's binary digits added narrowest
    first."""
    n_out = x.size - (m - 1) * dilation
    current, result, taken, width, rest = x * x, np.zeros(n_out), 0, 1, m
    while True:
        if rest & 1:
            result = result + current[taken * dilation : taken * dilation + n_out]
            taken += width
        rest >>= 1
        if rest == 0:
            return result
        shift = width * dilation
        current = current[:-shift] + current[shift:]
        width *= 2


@settings(max_examples=80, deadline=None)
@given(signals(specials=False), st.integers(1, 300), st.integers(1, 4))
def test_window_sumsq_adds_in_the_doubling_order(x, m, dilation):
    # The first levels are summed straight from the samples (fewer passes); the bits must be
    # those of the level-by-level doubling.
    if x.size < span(m, dilation):
        return
    x = np.clip(x, -1e150, 1e150)
    out = np.empty(x.size - span(m, dilation) + 1)
    window_sumsq(x, m, dilation, out)
    np.testing.assert_array_equal(out, doubled_sumsq(x, m, dilation))


@settings(max_examples=60, deadline=None)
@given(signals(specials=False), st.integers(1, 70), st.integers(1, 4))
def test_window_sumsq_never_cancels(x, m, dilation):
    # Every term is non-negative: the relative error is a few eps whatever the signal did.
    if x.size < span(m, dilation):
        return
    x = np.clip(x, -1e150, 1e150)  # keep the squares finite
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(x.astype(np.longdouble), span(m, dilation))[:, ::dilation]
    exact = np.sum(windows * windows, axis=1)
    out = np.empty(windows.shape[0])
    window_sumsq(x, m, dilation, out)
    normal = exact > 1e-280  # below, squares lose digits to underflow (rescued elsewhere)
    rel = np.abs(out[normal] - exact[normal]) / exact[normal]
    assert np.all(rel <= 2 * (np.log2(m) + 2) * np.finfo(float).eps)


@pytest.mark.parametrize("m", [3, 16, 64, 256])
def test_precision_signals(m):
    # The three signals of docs/method.md against a long-double reference: 1e-9 is the
    # project's promise; the direct sums stay within a few eps * m of it.
    kernel = np.random.default_rng(m).standard_normal(m)
    for name, x in precision_signals(6000, seed=m).items():
        err = np.max(np.abs(sliding_cosine_numba(x, kernel, 1.0, 1).cosine - sliding_cosine_longdouble(x, kernel)))
        assert err <= 1e-9, (name, err)
        assert err <= 4 * (m + 4) * np.finfo(float).eps, (name, err)


@settings(max_examples=100, deadline=None)
@given(signals(), kernels(), st.integers(1, 5))
def test_sliding_dot_equals_reference(x, kernel, dilation):
    if x.size < span(kernel.size, dilation):
        return
    assert_dots_close(
        sliding_dot_numba(x, kernel, dilation), sliding_dot_reference(x, kernel, dilation), x, kernel, dilation
    )


def test_no_two_compiled_kernels_share_a_cache_entry():
    # Numba keys its cache by function name and source line, not by options: a serial twin
    # made from the parallel kernel's own function would load the other's machine code (and
    # a large scan would then run on one thread).
    import importlib
    import pkgutil

    import motifscan.similarity
    from numba.core.registry import CPUDispatcher

    owners: dict = {}
    for module_info in pkgutil.iter_modules(motifscan.similarity.__path__):
        if module_info.name in ("gpu", "device"):
            continue
        module = importlib.import_module(f"motifscan.similarity.{module_info.name}")
        for name, value in vars(module).items():
            cache = getattr(value, "_cache", None)
            if isinstance(value, CPUDispatcher) and hasattr(cache, "_impl"):
                owners.setdefault((cache._cache_path, cache._impl._filename_base), set()).add(name)
    assert {"_sliding_cosine", "_sliding_cosine_serial"} <= {name for names in owners.values() for name in names}
    shared = {key: names for key, names in owners.items() if len(names) > 1}
    assert not shared


def test_a_small_first_scan_does_not_cache_the_large_scans_code(tmp_path):
    # The first scan of a fresh cache is small (runs on the calling thread): it must leave
    # the parallel kernel's cache entry alone.
    import subprocess
    import sys

    # The plain dot products: the twin that compiles fastest.
    code = "import numpy as np; from motifscan.similarity import cpu; cpu.sliding_dot_numba(np.arange(50.0), np.ones(3), 1)"
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=environment, timeout=600)
    indexes = sorted(path.name.split("-")[0] for path in tmp_path.rglob("cpu._sliding_dot*.nbi"))
    assert indexes == ["cpu._sliding_dot_serial"]


@pytest.mark.parametrize("serial_positions", [0, 1 << 30])
def test_parallel_and_serial_scans_agree_with_the_reference(monkeypatch, serial_positions):
    # Small inputs run on one thread (cpu.SERIAL_POSITIONS), large ones in a prange: force each.
    from motifscan.similarity import cpu

    monkeypatch.setattr(cpu, "SERIAL_POSITIONS", serial_positions)
    rng = np.random.default_rng(11)
    x = 1e6 + np.cumsum(rng.standard_normal(3 * _RUN + 29))
    x[_RUN + 3] = np.nan
    for m in (3, FUSED_TAPS + 5):
        kernel = rng.standard_normal(m)
        ref = sliding_cosine_reference(x, kernel, 3.0, 2)
        assert_tracks_close(sliding_cosine_numba(x, kernel, 3.0, 2), ref, x, kernel, 3.0, 2)
        assert_dots_close(sliding_dot_numba(x, kernel, 2), sliding_dot_reference(x, kernel, 2), x, kernel, 2)


@pytest.mark.parametrize("p", [0.5, 1.5, 2.5, 12.5, 0.7, 1.1])
def test_half_integer_p_is_powered_like_pow(p):
    # p a multiple of 1/2 takes |c| ** 0.25 (two square roots) raised by repeated squaring;
    # other p take pow. Both agree with pow within a few ulps per factor of 4 p².
    p2, power = integer_power(p)
    assert power == (-round(4 * p2) if (4 * p2).is_integer() else 0)
    x = np.random.default_rng(6).standard_normal(5000)
    kernel = np.array([1.0, -2.0, 0.5, 3.0])
    fast = sliding_cosine_numba(x, kernel, p, 1)
    expected = np.sign(fast.cosine) * np.abs(fast.cosine) ** p2
    np.testing.assert_allclose(fast.score, expected, rtol=8 * (4 * p2 + 4) * np.finfo(float).eps, atol=1e-300)


def fused_against_full(x, kernel, p, dilation, threshold, backend="numba"):
    """The fused scan and the reference made from the full track of the same backend: the
    finished windows hold every candidate and every unscored window, with the full scan's
    exact values, and everything detection counts comes out the same."""
    full = sliding_cosine(x, kernel, p, dilation, backend)
    fused = sliding_candidates(x, kernel, p, dilation, backend, threshold, LARGE_OFFSET_COSINE)
    ref = candidates_of_track(full, threshold, LARGE_OFFSET_COSINE)
    assert fused.length == ref.length == full.score.shape[0]
    assert np.all(np.diff(fused.position) > 0)
    # Bit for bit the full scan's results where finished (NaN where it has NaN).
    for got, whole in zip(fused[1:4], full):
        assert np.array_equal(got, whole[fused.position], equal_nan=True)
    assert np.isin(ref.position, fused.position).all()
    for sign in ("any", "positive", "negative"):
        chosen = fused.position[candidate_mask(fused.score, threshold, sign)]
        assert np.array_equal(chosen, np.flatnonzero(candidate_mask(full.score, threshold, sign)))
    assert np.count_nonzero(np.isnan(fused.score)) == np.count_nonzero(np.isnan(full.score))
    near = fused.near_unit_cosine + np.count_nonzero(np.abs(fused.cosine) > LARGE_OFFSET_COSINE)
    assert near == np.count_nonzero(np.abs(full.cosine) > LARGE_OFFSET_COSINE)
    return full


@settings(max_examples=150, deadline=None)
@given(
    signals(),
    kernels(),
    st.integers(1, 4),
    st.sampled_from([0.5, 0.7, 1.0, 1.5, 3.0, 9.0, 12.5]),
    st.sampled_from([0.0, 1e-300, 0.1, 0.5, 0.9, 0.999, 1.0]),
    st.integers(0, 2**32 - 1),
)
def test_fused_candidates_equal_the_full_track(x, kernel, dilation, p, threshold, seed):
    if x.size < span(kernel.size, dilation):
        return
    full = fused_against_full(x, kernel, p, dilation, threshold)
    # Ties: a threshold equal to a window's |score| (and one ulp either side) is decided
    # as the full computation decides it.
    scored = np.abs(full.score[np.isfinite(full.score) & (full.score != 0)])
    if scored.size:
        tie = float(np.random.default_rng(seed).choice(scored))
        for t in (tie, np.nextafter(tie, 0.0), np.nextafter(tie, 2.0)):
            fused_against_full(x, kernel, p, dilation, float(t))


@pytest.mark.parametrize("m", [1, 3, FUSED_TAPS, FUSED_TAPS + 1, 64])
def test_fused_candidates_across_run_boundaries(m, monkeypatch):
    # Planted copies straddling every run boundary of the parallel and the serial scan.
    rng = np.random.default_rng(m)
    kernel = rng.standard_normal(m)
    run = cpu.fused_run(m)  # shorter runs for short kernels
    x = rng.standard_normal(3 * run + 2 * m) * 0.1
    for start in (run - m // 2, 2 * run - 1, 2 * run + m + 3):
        x[start : start + m] += 5.0 * kernel
    for serial in (0, 1 << 30):
        monkeypatch.setattr(cpu, "SERIAL_POSITIONS", serial)
        full = fused_against_full(x, kernel, 3.0, 1, 0.5)
        assert np.count_nonzero(np.abs(full.score) >= 0.5) >= 3


def test_fused_bounds_lower_the_threshold_by_the_margin():
    assert fused_bounds(0.0, 9.0) == 0.0
    assert fused_bounds(1e-300, 1.0) == 0.0  # below FUSED_LOWEST: every window finished
    assert fused_bounds(0.5, 9.0) == pytest.approx(0.5 ** (2 / 9) * (1 - FUSED_MARGIN), rel=1e-15)
    assert fused_bounds(0.5, 9.0) < 0.5 ** (2 / 9)
