"""The general scan (several kernels, --normalize, --noise-floor, joint channels): the Numba
backend against the NumPy oracle, and the oracle against first principles and STUMPY."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from motifscan.similarity import span
from motifscan.similarity.multi import estimate_noise_floor, scan_kernels
from motifscan.similarity.multi_cpu import positions_per_block, scan_kernels_numba
from motifscan.similarity.reference import scan_kernels_reference, sliding_cosine_reference
from strategies import cosine_tolerance, score_tolerance, signals

NORMALIZE = ["none", "center", "zscore"]


@st.composite
def kernel_banks(draw, channels: int):
    """K kernels of C channels and m taps, none constant (so every mode accepts them)."""
    k = draw(st.integers(1, 4))
    m = draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bank = rng.standard_normal((k, channels, m)) * 10.0 ** draw(st.integers(-5, 5))
    bank[:, :, 0] += 1.0 * np.abs(bank).max()  # never constant, whatever the draw
    return bank


def centring_condition(signal, m, dilation):
    """How much centring amplifies round-off, per position: the largest over channels of
    ``max|w| / max|w - mean(w)|``.

    A window's mean is rounded relative to the window's magnitude, its deviations are what
    the centred cosine is made of: on ``1e301 * (1 + 1e-6 noise)`` two correct computations
    of r differ by about 1e6 times the uncentred bound. Constant and unscored windows get 1
    (constant ones are exactly 0 in every backend).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.atleast_2d(signal)
    windows = sliding_window_view(x, span(m, dilation), axis=1)[:, :, ::dilation]
    with np.errstate(all="ignore"):
        scaled = windows / np.max(np.abs(windows), axis=2, keepdims=True)
        spread = np.max(np.abs(scaled - scaled.mean(axis=2, keepdims=True)), axis=2)
        condition = 1.0 / spread
    condition = np.where(np.isfinite(condition), condition, 1.0)
    return np.maximum(condition.max(axis=0), 1.0)


def assert_scans_close(fast, ref, taps, p, cosine_tol=None, condition=1.0):
    """``fast`` equals ``ref`` within ``cosine_tol`` in cosine (default: the direct scans'
    bound, four times the plain one as centring adds a subtraction per sample) times
    ``condition`` (per position, see :func:`centring_condition`), and the bounds it implies
    on score, scale and distance."""
    base = cosine_tolerance(taps) * 4 if cosine_tol is None else cosine_tol
    tol_c = np.broadcast_to(base * np.asarray(condition, dtype=float), ref[0].score.shape)
    for f, r in zip(fast, ref):
        assert type(f) is type(r)
        unscored = np.isnan(r.score)
        for name in r._fields:
            np.testing.assert_array_equal(np.isnan(getattr(f, name)), unscored, err_msg=name)
        ok = ~unscored
        bad_at = np.flatnonzero(np.abs(f.cosine - r.cosine) > tol_c)
        assert bad_at.size == 0, (bad_at[:3], f.cosine[bad_at[:3]], r.cosine[bad_at[:3]])
        assert np.all(np.abs(f.score[ok] - r.score[ok]) <= score_tolerance(taps, p, tol_c[ok]))
        both = ok & np.isfinite(r.scale) & np.isfinite(f.scale)
        scale = np.maximum(np.abs(r.scale[both]), 1e-300)
        # scale = r |w| / |k|: relative error of the cosine's order unless the window is
        # (nearly) orthogonal to the kernel; bound it by the larger of the two scales.
        assert np.all(
            np.abs(f.scale[both] - r.scale[both]) <= tol_c[both] * 8 * np.maximum(scale, scale.max(initial=0.0))
        )
        if hasattr(r, "distance"):
            # d = sqrt(2M(1 - r)): |dd| <= M |dr| / d, and <= sqrt(2M |dr|) near d = 0.
            d = r.distance[ok]
            bound = np.minimum(taps * tol_c[ok] / np.maximum(d, 1e-300), np.sqrt(2 * taps * tol_c[ok])) + 1e-12
            assert np.all(np.abs(f.distance[ok] - d) <= bound)


@settings(max_examples=80, deadline=None)
@given(
    signals(max_size=400),
    st.data(),
    st.integers(1, 3),
    st.sampled_from(NORMALIZE),
    st.sampled_from([0.0, 0.5, 1e-3]),
    st.sampled_from([1.0, 2.0, 9.0]),
)
def test_numba_equals_reference(x, data, dilation, normalize, noise_floor, p):
    bank = data.draw(kernel_banks(1))
    if x.size < span(bank.shape[2], dilation):
        return
    fast = scan_kernels_numba(x[None, :], bank, p, dilation, normalize, noise_floor)
    ref = scan_kernels_reference(x[None, :], bank, p, dilation, normalize, noise_floor)
    condition = 1.0 if normalize == "none" else centring_condition(x, bank.shape[2], dilation)
    assert_scans_close(fast, ref, bank.shape[2], p, condition=condition)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 3), st.data(), st.integers(1, 2), st.sampled_from(NORMALIZE))
def test_joint_numba_equals_reference(channels, data, dilation, normalize):
    signal = np.stack([data.draw(signals(min_size=300, max_size=300)) for _ in range(channels)])
    bank = data.draw(kernel_banks(channels))
    fast = scan_kernels_numba(signal, bank, 3.0, dilation, normalize, 0.1)
    ref = scan_kernels_reference(signal, bank, 3.0, dilation, normalize, 0.1)
    condition = 1.0 if normalize == "none" else centring_condition(signal, bank.shape[2], dilation)
    assert_scans_close(fast, ref, channels * bank.shape[2], 3.0, condition=condition)


@pytest.mark.parametrize("n_kernels", [1, 3])
def test_run_boundaries_do_not_matter(n_kernels):
    rng = np.random.default_rng(5)
    # Blocks of positions_per_block(K) positions run as separate tasks, with special
    # windows at the seams.
    block = positions_per_block(n_kernels)
    x = 1e6 + np.cumsum(rng.standard_normal((2, 9 * block + 33)), axis=1)
    x[0, block - 2] = np.nan
    x[:, 3 * block - 4 : 3 * block + 50] = 7.0
    x[1, 5 * block - 1 : 5 * block + 3] = 1e280
    bank = rng.standard_normal((n_kernels, 2, 6))
    for normalize in NORMALIZE:
        fast = scan_kernels_numba(x, bank, 2.0, 2, normalize, 0.0)
        ref = scan_kernels_reference(x, bank, 2.0, 2, normalize, 0.0)
        assert_scans_close(fast, ref, 12, 2.0)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 8, 13, 16, 33])
def test_one_kernel_loop_equals_the_bank_loop_bit_for_bit(m):
    # A bank of one kernel takes the fused loop of four and two taps per pass; in a bank of
    # two it takes the general loop. The sums are added in the same order: same bits.
    rng = np.random.default_rng(m)
    x = 1e3 + np.cumsum(rng.standard_normal((1, 5000)), axis=1)
    x[0, 700:720] = 5.0
    x[0, 1000] = np.nan
    bank = rng.standard_normal((2, 1, m))
    for normalize in ("center", "zscore"):
        (alone,) = scan_kernels_numba(x, bank[:1], 3.0, 2, normalize, 0.0)
        together = scan_kernels_numba(x, bank, 3.0, 2, normalize, 0.0)[0]
        for name in alone._fields:
            np.testing.assert_array_equal(getattr(alone, name), getattr(together, name), err_msg=name)


def test_plain_mode_equals_the_plain_scan():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(500)
    kernel = np.array([1.0, -2, 0.5, 3])
    plain = sliding_cosine_reference(x, kernel, 3.0, 2)
    for backend in ("numpy", "numba"):
        (track,) = scan_kernels(x, kernel[None, :], 3.0, 2, "none", 0.0, backend)
        np.testing.assert_allclose(track.score, plain.score, atol=1e-13)
        np.testing.assert_allclose(track.scale, plain.scale, atol=1e-13)


def test_several_kernels_equal_one_at_a_time():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3000)
    bank = rng.standard_normal((8, 1, 16))
    together = scan_kernels(x, bank, 2.0, 1, "center", 0.3, "numba")
    for kernel, track in zip(bank, together):
        (alone,) = scan_kernels(x, kernel[None], 2.0, 1, "center", 0.3, "numba")
        np.testing.assert_allclose(track.score, alone.score, rtol=0, atol=1e-14)


def pearson_exact(window, kernel) -> float:
    """Pearson's r in long double with fsum'd two-pass sums."""
    w = np.asarray(window, dtype=np.longdouble)
    k = np.asarray(kernel, dtype=np.longdouble)
    dw = w - np.longdouble(math.fsum(window)) / len(window)
    dk = k - np.longdouble(math.fsum(kernel)) / len(kernel)
    return float(np.sum(dw * dk) / np.sqrt(np.sum(dw * dw) * np.sum(dk * dk)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_center_is_pearson_r_on_a_large_offset(backend):
    # 1e6 + noise: a running sum(x**2) - m*mean**2 would keep ~4 digits of the noise.
    rng = np.random.default_rng(3)
    x = 1e6 + rng.standard_normal(2000) + np.linspace(0, 50, 2000)
    kernel = rng.standard_normal(20)
    (track,) = scan_kernels(x, kernel[None, :], 1.0, 3, "center", 0.0, backend)
    for i in range(0, track.cosine.size, 37):
        window = x[i : i + span(20, 3) : 3]
        assert track.cosine[i] == pytest.approx(pearson_exact(window, kernel), abs=1e-13)
        assert track.cosine[i] == pytest.approx(np.corrcoef(window, kernel)[0, 1], abs=1e-9)


def test_center_scale_is_the_amplitude_of_the_centred_shape():
    kernel = np.array([1.0, 2, 3, 2])
    x = np.concatenate([np.zeros(5), 500 + 0.25 * kernel, np.zeros(5)])
    (track,) = scan_kernels(x, kernel[None, :], 9.0, 1, "center", 0.0, "numpy")
    assert track.score[5] == pytest.approx(1.0) and track.scale[5] == pytest.approx(0.25)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_constant_windows_score_zero_with_stumpy_distance(backend):
    x = np.array([1.0, 2, 3, 5, 5, 5, 5, 1e300, 1e300, 1e300, 0, 0, 0, 0, 2.5, np.nan, 1, 2, 1])
    kernel = np.array([[1.0, 3, 2]])
    (track,) = scan_kernels(x, kernel, 2.0, 1, "zscore", 0.0, backend)
    constant = [3, 4, 7, 10, 11]
    assert np.all(track.score[constant] == 0) and np.all(track.cosine[constant] == 0)
    assert np.all(track.distance[constant] == pytest.approx(math.sqrt(3)))
    assert np.isnan(track.score[[13, 14, 15]]).all() and np.isfinite(track.score[:13]).all()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_flat_runs_of_inexact_values_are_constant(backend):
    # 0.1 + 0.1 + ... is not 0.1 * m: a rounded mean must not leave ulp-sized deviations
    # whose "shape" would score anything but 0.
    x = np.concatenate([np.full(300, 0.1), np.linspace(0, 1, 50), np.full(300, -7.3)])
    (track,) = scan_kernels(x, np.arange(7.0)[None, :] ** 2, 2.0, 1, "center", 0.0, backend)
    assert np.all(track.cosine[:294] == 0) and np.all(track.cosine[350:] == 0)


@st.composite
def stumpy_inputs(draw):
    n = draw(st.integers(10, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "walk", "offset", "integers"]))
    x = {
        "normal": lambda: rng.standard_normal(n),
        "walk": lambda: np.cumsum(rng.standard_normal(n)),
        "offset": lambda: 1e3 + rng.standard_normal(n),
        "integers": lambda: rng.integers(-2, 3, n).astype(float),
    }[kind]()
    if draw(st.booleans()):  # a constant run
        a = draw(st.integers(0, n - 1))
        x[a : a + draw(st.integers(1, 40))] = draw(st.sampled_from([0.0, 1.0, -2.5]))
    m = draw(st.integers(3, min(20, n)))
    kernel = rng.standard_normal(m)
    return x, kernel


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(stumpy_inputs(), st.sampled_from(["numpy", "numba"]))
def test_zscore_distance_equals_stumpy_mass(data, backend):
    stumpy = pytest.importorskip("stumpy")
    x, kernel = data
    (track,) = scan_kernels(x, kernel[None, :], 1.0, 1, "zscore", 0.0, backend)
    expected = stumpy.mass(kernel, x, normalize=True)
    # Both are float64 computations of sqrt(2m(1 - r)); 1e-8 is the agreement the
    # documentation promises (errors grow as 1/d near d = 0, where no random window lies).
    np.testing.assert_allclose(track.distance, expected, rtol=0, atol=1e-8)


def test_noise_floor_follows_its_definition():
    rng = np.random.default_rng(4)
    x = np.concatenate([0.1 * rng.standard_normal(50), 5 * np.array([1.0, 2, 3]), 0.1 * rng.standard_normal(50)])
    kernel = np.array([1.0, 2, 3])
    q = 0.5
    (track,) = scan_kernels(x, kernel[None, :], 1.0, 1, "none", q, "numpy")
    (plain,) = scan_kernels(x, kernel[None, :], 1.0, 1, "none", 0.0, "numpy")
    for i in (10, 50, 51, 70):
        w = x[i : i + 3]
        expected = w @ kernel / ((np.linalg.norm(w) + q) * np.linalg.norm(kernel))
        assert track.score[i] == pytest.approx(expected, abs=1e-14)
    np.testing.assert_array_equal(track.cosine, plain.cosine)  # the cosine stays plain
    assert track.score[50] > 0.97 and np.abs(np.delete(track.score, range(48, 53))).max() < 0.5


def test_noise_floor_estimate():
    rng = np.random.default_rng(6)
    x = 3 * np.sin(np.arange(20_000) / 2000) + 0.2 * rng.standard_normal(20_000)
    x[::500] += 50  # rare events do not move it
    assert estimate_noise_floor(x[None, :], 16) == pytest.approx(0.2 * 4, rel=0.05)
    assert estimate_noise_floor(np.stack([x, 2 * x]), 16) == pytest.approx(0.2 * 4 * math.sqrt(5), rel=0.05)
    assert estimate_noise_floor(np.full((1, 10), np.nan), 4) == 0.0
    # Weighted channels (a joint kernel's weights): sqrt(m × sum a_c sigma_c²).
    weighted = estimate_noise_floor(np.stack([x, 2 * x]), 16, (1.0, 0.25))
    assert weighted == pytest.approx(estimate_noise_floor(x[None, :], 16) * math.sqrt(2), rel=1e-12)


def test_a_huge_offset_with_tiny_deviations_is_judged_by_its_conditioning():
    # 1e295 * (1 + 1e-11 noise): the deviations are 1e-11 of the window, so the mean's
    # rounding leaves them correct to ~1e-5 only, in every backend; the two differ by ~1e-7
    # in r, within the conditioning-scaled bound and far beyond the uncentred one.
    rng = np.random.default_rng(280)
    x = 1e295 * (1 + 1e-11 * rng.standard_normal(20))
    bank = np.array([[[2.0, 0.5]]])
    condition = centring_condition(x, 2, 1)
    assert np.all(condition > 1e10)
    for normalize in ("center", "zscore"):
        fast = scan_kernels_numba(x[None, :], bank, 2.0, 1, normalize, 0.0)
        ref = scan_kernels_reference(x[None, :], bank, 2.0, 1, normalize, 0.0)
        assert_scans_close(fast, ref, 2, 2.0, condition=condition)
        with pytest.raises(AssertionError):  # the uncentred bound would call it a bug
            assert_scans_close(fast, ref, 2, 2.0)


@pytest.mark.parametrize("m", [3, 20, 128, 600])
@pytest.mark.parametrize("normalize", ["center", "zscore"])
def test_one_pass_centred_scan_keeps_the_precision(m, normalize):
    # The direct centred scan subtracts a sample of each window, not its mean: on a random
    # walk, 1e6 + noise and segments 1e6 apart in scale its cosine must stay within 1e-9 of
    # a long-double two-pass Pearson's r (the project's promise; it is ~1e-14 in fact).
    from motifscan.similarity.reference import precision_signals, sliding_pearson_longdouble

    rng = np.random.default_rng(m)
    kernel = rng.standard_normal(m)
    for name, x in precision_signals(4000, seed=m).items():
        if name == "walk":
            # A spike on some windows' middle sample: the largest s2 / q a window can have.
            x = x.copy()
            x[1000 : 1000 + m] = x[1000]
            x[1000 + m // 2] += 1e3
        (track,) = scan_kernels_numba(x[None, :], kernel[None, None, :], 3.0, 1, normalize, 0.0)
        exact = sliding_pearson_longdouble(x, kernel)
        error = np.max(np.abs(track.cosine - exact))
        assert error <= 1e-9, (name, error)
