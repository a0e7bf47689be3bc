"""The Python API: motifscan.scan, motifscan.detect, motifscan.motifs_to_frame."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import motifscan
from motifscan.similarity.reference import sliding_cosine_reference

SEED = [
    0,
    0,
    0,
    0,
    1,
    2,
    3,
    0,
    0,
    0,
    0,
    -1,
    -2,
    -3,
    0,
    0,
    0,
    0,
    0.2,
    0.4,
    0.6,
    0,
    0,
    0,
    0,
    2,
    2,
    2,
    0,
    0,
    0,
    0,
    3,
    2,
    1,
    0,
    0,
    0,
    0,
]


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
    from motifscan.io.fitted_kernels import FittedKernel

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
    assert motifscan.scan(seed, loaded, metric=[1, 1, 1])[25] == pytest.approx(plain_cosine**4, rel=1e-12)


def test_arguments_after_the_kernel_are_keyword_only():
    with pytest.raises(TypeError):
        motifscan.detect(SEED, [1, 2, 3], 9)
    with pytest.raises(TypeError):
        motifscan.scan(SEED, [1, 2, 3], 9)


def test_scan_of_a_series_or_frame_is_indexed_like_the_input_at_each_window_start():
    index = pd.date_range("2025-01-01", periods=len(SEED), freq="s")
    series = pd.Series(SEED, index=index, name="v")
    scores = motifscan.scan(series, [1, 2, 3], p=9)
    assert isinstance(scores, pd.Series) and scores.name == "v"
    assert list(scores.index) == list(index[: len(SEED) - 2])
    assert scores.loc["2025-01-01T00:00:04"] == pytest.approx(1.0)
    frame = pd.DataFrame({"a": SEED, "b": [-v for v in SEED]}, index=index)
    both = motifscan.scan(frame, [1, 2, 3], p=9)
    assert isinstance(both, pd.DataFrame) and list(both.columns) == ["a", "b"]
    np.testing.assert_array_equal(both["a"].to_numpy(), -both["b"].to_numpy())
    assert both.index.equals(index[: len(SEED) - 2])


def test_scan_full_gives_every_track_like_the_scores_command():
    tracks = motifscan.scan(SEED, [1, 2, 3], p=9, full=True)
    assert list(tracks.columns) == ["signal_score", "signal_cosine", "signal_scale"]
    reference = sliding_cosine_reference(np.array(SEED), np.array([1.0, 2, 3]), 9, 1)
    np.testing.assert_allclose(tracks["signal_scale"], reference.scale, atol=1e-13)
    z = motifscan.scan(pd.DataFrame({"v": SEED}), [1, 2, 3], normalize="zscore", full=True)
    assert "v_distance" in z.columns
    conv = motifscan.scan(SEED, [1, 2, 3], method="conv", full=True)
    np.testing.assert_allclose(conv["signal_activation"], np.correlate(SEED, [1, 2, 3], "valid"), rtol=1e-15)


def joint_recording():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(0, 0.05, 200), "y": rng.normal(0, 0.05, 200)})
    shape = pd.DataFrame({"x": [0.0, 1, 2, 1, 0], "y": [2.0, 1, 0, -1, -2]})
    frame.iloc[50:55] += shape.to_numpy()
    frame.iloc[120:125] += 0.5 * shape.to_numpy()
    return frame, shape


def test_a_2d_kernel_is_a_joint_kernel_matched_by_column_never_flattened():
    frame, shape = joint_recording()
    motifs = motifscan.detect(frame, shape, joint=True, p=3, threshold=0.9)
    assert [m.start for m in motifs] == [50, 120]
    # Columns in another order are matched by name.
    assert [m.start for m in motifscan.detect(frame, shape[["y", "x"]], joint=True, p=3, threshold=0.9)] == [50, 120]
    # An (m, c) array is matched by position, like a 2-D signal's channel0, channel1, ...
    assert [m.start for m in motifscan.detect(frame.to_numpy(), shape.to_numpy(), joint=True, p=3, threshold=0.9)] == [
        50,
        120,
    ]
    with pytest.raises(motifscan.MotifscanError, match="joint kernel: pass joint=True"):
        motifscan.detect(frame, shape.to_numpy())
    with pytest.raises(motifscan.MotifscanError, match="one kernel of shape"):
        motifscan.scan(frame, shape)


def test_min_channels_scores_a_joint_window_over_the_channels_present():
    frame, shape = joint_recording()
    frame.iloc[51:53, 1] = np.nan  # y is missing during the first event
    plain = motifscan.detect(frame, shape, joint=True, p=3, threshold=0.9)
    assert [m.start for m in plain] == [120] and plain[0].channels is None
    for block_rows in (None, 17):
        motifs, summary = motifscan.detect(
            frame, shape, joint=True, p=3, threshold=0.9, min_channels=1, block_rows=block_rows, summary=True
        )
        assert [(m.start, m.channel, m.channels) for m in motifs] == [(50, "x+y", "x"), (120, "x+y", "x+y")]
        # The windows holding a missing y sample, scored on x alone.
        assert summary.partial_windows == 6 and summary.skipped_windows == 0


def test_detect_can_return_the_runs_summary():
    x = np.array(SEED + [np.nan] + SEED)
    motifs, summary = motifscan.detect(x, [1, 2, 3], p=9, summary=True)
    assert len(motifs) == 6
    assert summary.samples == x.size and summary.skipped_windows == 3 and summary.device == "cpu"


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert motifscan.__version__ == version("motifscan")


# The command line and the Python API decide settings in one place (config.kernel_settings):
# for any options they report the same motifs.

LOOKALIKES = Path(__file__).resolve().parents[1] / "sample_data" / "lookalikes.csv"


def fitted_kernel_file(directory: Path, normalize: str, metric: bool) -> Path:
    from motifscan.io.fitted_kernels import FittedKernel

    values = np.sin(np.linspace(0, np.pi, 12)) + np.linspace(0, 0.3, 12)
    path = directory / f"fitted-{normalize}-{metric}.kernel.json"
    path.write_text(
        FittedKernel(
            values, 2.0, 0.8, normalize=normalize, metric=np.linspace(0.5, 1.5, 12) if metric else None
        ).to_json()
    )
    return path


def cli_motifs(arguments: list[str]):
    from click.testing import CliRunner

    from motifscan.cli import cli

    result = CliRunner().invoke(cli, ["detect", str(LOOKALIKES), "--format", "json", *arguments])
    if result.exit_code == 2:
        return "error: " + result.output.strip().splitlines()[-1].removeprefix("motifscan: error: ")
    assert result.exit_code in (0, 1), result.output
    return [(m["start"], m["sign"], m["score"]) for m in json.loads(result.stdout)["motifs"]]


def api_motifs(kernel, options: dict):
    try:
        motifs = motifscan.detect(pd.read_csv(LOOKALIKES), kernel, **options)
    except motifscan.MotifscanError as error:
        return "error: " + error.command_line_message()
    return [(m.start, m.sign, m.score) for m in motifs]


def same_motifs(first, second) -> bool:
    """Equal errors, or equal motifs with scores equal to the 12 digits JSON writes."""
    if isinstance(first, str) or isinstance(second, str):
        return first == second
    return [m[:2] for m in first] == [m[:2] for m in second] and [m[2] for m in first] == pytest.approx(
        [m[2] for m in second], rel=1e-11, abs=1e-15
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kernel=st.sampled_from(["plain", "fitted", "fitted-metric"]),
    p=st.sampled_from([None, 1.0, 3.0]),
    threshold=st.sampled_from([None, 0.3, 0.9]),
    sign=st.sampled_from(["any", "positive", "negative"]),
    min_gap=st.sampled_from([None, 0, 7]),
    top=st.sampled_from([None, 3]),
    method=st.sampled_from(["cosine", "conv"]),
    normalize=st.sampled_from([None, "none", "center", "zscore"]),
    dilation=st.sampled_from(["1", "2", "1..2"]),
)
def test_the_command_line_and_the_api_report_the_same_motifs(
    tmp_path, kernel, p, threshold, sign, min_gap, top, method, normalize, dilation
):
    options = dict(
        p=p,
        threshold=threshold,
        sign=sign,
        min_gap=min_gap,
        top=top,
        method=method,
        normalize=normalize,
        dilation=dilation,
    )
    arguments = [f"--{name.replace('_', '-')}={value}" for name, value in options.items() if value is not None]
    if kernel == "plain":
        values = [0.0, 1, 3, 1, 0, -1, -2, -1]
        arguments.append("--kernel=" + ",".join(map(str, values)))
    else:
        path = fitted_kernel_file(
            tmp_path, "center" if kernel == "fitted-center" else "none", kernel == "fitted-metric"
        )
        values = motifscan.read_kernel(path)
        arguments.append(f"--kernel-file={path}")
    from_cli, from_api = cli_motifs(arguments), api_motifs(values, options)
    assert same_motifs(from_cli, from_api), (from_cli, from_api)


def test_a_fitted_kernel_with_conv_uses_the_convolutions_own_threshold(tmp_path):
    """A fitted threshold is a cut-off on |score|; the convolution's is a fraction of the
    strongest |activation|, 0.5 unless given, on the command line and in the API alike."""
    path = fitted_kernel_file(tmp_path, "none", False)
    from_cli = cli_motifs([f"--kernel-file={path}", "--method=conv"])
    from_api = api_motifs(motifscan.read_kernel(path), {"method": "conv"})
    assert same_motifs(from_cli, from_api) and len(from_api) > 2
    assert from_api == api_motifs(motifscan.read_kernel(path).values, {"method": "conv", "p": 2.0})


def test_detect_keeps_the_zone_of_a_tz_aware_index():
    index = pd.date_range("2025-01-01T10:00", periods=len(SEED), freq="s", tz="Europe/Berlin")
    motifs = motifscan.detect(pd.DataFrame({"v": SEED}, index=index), [1, 2, 3], p=9, sign="negative")
    assert [m.start for m in motifs] == [11]
    assert motifs[0].time == pd.Timestamp("2025-01-01T10:00:11", tz="Europe/Berlin")
    assert str(motifs[0].time.tz) == "Europe/Berlin"
