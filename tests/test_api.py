"""The Python API: motifscan.scan, motifscan.detect, motifscan.motifs_to_frame."""

import numpy as np
import pandas as pd
import pytest

import motifscan
from motifscan.similarity.reference import sliding_cosine_reference

SEED = [0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, -1, -2, -3, 0, 0, 0, 0, 0.2, 0.4, 0.6,
        0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 3, 2, 1, 0, 0, 0, 0]


def test_detect_seed_example():
    motifs = motifscan.detect(SEED, [1, 2, 3], p=9)
    assert [(m.start, m.sign, round(m.scale, 12)) for m in motifs] == [(4, 1, 1.0), (11, -1, -1.0), (18, 1, 0.2)]
    assert isinstance(motifs[0], motifscan.Motif)


def test_scan_matches_reference_for_1d_and_2d():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 2))
    scores = motifscan.scan(x, [1, -1, 2], p=2, dilation=2)
    assert scores.shape == (496, 2)
    for c in range(2):
        ref = sliding_cosine_reference(x[:, c], np.array([1.0, -1, 2]), 2, 2).score
        np.testing.assert_allclose(scores[:, c], ref, atol=1e-13)
    assert motifscan.scan(x[:, 0], [1, 2]).shape == (499,)


def test_detect_dataframe_with_datetime_index_and_frame_output():
    index = pd.date_range("2025-01-01", periods=len(SEED), freq="s")
    frame = pd.DataFrame({"v": SEED, "label": ["x"] * len(SEED)}, index=index)
    motifs = motifscan.detect(frame, [1, 2, 3], p=9, sign="negative")
    assert [m.start for m in motifs] == [11]
    assert motifs[0].time == np.datetime64("2025-01-01T00:00:11")
    table = motifscan.motifs_to_frame(motifs)
    assert list(table.columns) == ["channel", "start", "end", "score", "cosine", "sign", "scale", "time"]
    assert table.loc[0, "channel"] == "v"


def test_bad_arguments_raise_motifscan_error():
    with pytest.raises(motifscan.MotifscanError, match="^p must be"):
        motifscan.detect(SEED, [1, 2, 3], p=float("nan"))
    with pytest.raises(motifscan.MotifscanError, match="all zeros"):
        motifscan.scan(SEED, [0, 0])
    with pytest.raises(motifscan.MotifscanError):
        motifscan.scan(np.ones((2, 2, 2)), [1, 2])


def test_method_conv_scans_and_detects_on_the_plain_convolution():
    activations = motifscan.scan(SEED, [1, 2, 3], method="conv")
    np.testing.assert_allclose(activations, np.correlate(SEED, [1, 2, 3], "valid"), rtol=1e-15)
    motifs = motifscan.detect(SEED, [1, 2, 3], p=9, method="conv")
    assert [(m.start, m.activation) for m in motifs] == [(4, 14), (11, -14), (25, 12), (31, 12)]
    assert "activation" in motifscan.motifs_to_frame(motifs).columns


def test_a_fitted_kernel_brings_its_p_threshold_and_metric(tmp_path):
    from motifscan.io.kernels import FittedKernel

    seed = np.zeros(39)
    seed[4:7], seed[11:14], seed[18:21], seed[25:28] = [1, 2, 3], [-1, -2, -3], [0.2, 0.4, 0.6], 2
    fitted = FittedKernel(np.array([1.0, 1.0, 9.0]), 2.0, 0.99, metric=np.array([1.0, 1.0, 0.0]))
    path = tmp_path / "k.json"
    path.write_text(fitted.to_json())
    loaded = motifscan.read_kernel(path)
    assert isinstance(loaded, motifscan.FittedKernel)
    assert [m.start for m in motifscan.detect(seed, loaded)] == [25]
    # Given arguments win over the fitted kernel's: (2, 3) of [2, 3, 0] is close to (1, 1).
    assert [m.start for m in motifscan.detect(seed, loaded, threshold=0.9)] == [5, 12, 19, 25]
    assert motifscan.scan(seed, loaded)[25] == pytest.approx(1.0, abs=1e-12)
    plain_cosine = 22 / np.sqrt(12 * 83)  # [2, 2, 2] against [1, 1, 9]
    assert motifscan.scan(seed, loaded, metric=[1, 1, 1])[25] == pytest.approx(plain_cosine ** 4, rel=1e-12)
