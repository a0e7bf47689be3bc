"""Kernel parsing from the command line and from files."""

import json

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.io.excerpt import kernel_from_recording
from motifscan.kernel import Kernel, check_kernel
from motifscan.io.kernels import (
    collect_kernels,
    kernels_from_file,
    parse_kernel,
    parse_named_kernel,
    read_kernel,
    read_kernel_file,
)
from motifscan.similarity.metric import project
from motifscan.io.fitted_kernels import FittedKernel


def test_parse_kernel_with_negatives_and_spaces():
    assert list(parse_kernel("-1, 2,-3.5")) == [-1.0, 2.0, -3.5]
    assert list(parse_kernel("1e-3,2E2")) == [0.001, 200.0]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        (" , ", "empty"),
        ("1,,3", "value 2 is missing"),
        ("1,a,3", "'a' is not a number"),
        ("0,0,0", "all zeros"),
        ("1,nan,3", "value 2 is nan"),
        ("1,inf", "value 2 is inf"),
    ],
)
def test_bad_kernel_text(text, fragment):
    with pytest.raises(MotifscanError, match=fragment) as error:
        parse_kernel(text)
    assert "--kernel" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("1\n2\n3\n", [1, 2, 3]),
        ("# a rising edge\nvalue\n1\n-2\n3\n", [1, -2, 3]),
        ("1,2,3\n", [1, 2, 3]),
        ("[1, 2.5, -3]", [1, 2.5, -3]),
        ('{"kernel": [4, 5]}', [4, 5]),
        ("1\t2\t3\n", [1, 2, 3]),
    ],
)
def test_kernel_file_forms(tmp_path, content, expected):
    path = tmp_path / "k.txt"
    path.write_text(content)
    assert list(read_kernel_file(str(path))) == expected


def test_kernel_file_column_choice(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("k,acc_x,acc_y\n0,1.5,2\n1,-1,3\n")
    assert list(read_kernel_file(str(path), "acc_y")) == [2, 3]
    with pytest.raises(MotifscanError, match="3 columns .*--kernel-column"):
        read_kernel_file(str(path))
    with pytest.raises(MotifscanError, match="no column 'gyro'"):
        read_kernel_file(str(path), "gyro")


def test_real_kernel_file_from_sample_data(sample_data):
    kernel = read_kernel_file(str(sample_data / "kernel_basicmotions_walking.csv"), "acc_x")
    assert kernel.shape == (30,) and kernel[0] == pytest.approx(1.245053)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "empty"),
        ("1\nx\n3\n", "line 2.*'x' is not a number"),
        ('[1, "a"]', "list of numbers"),
        ("[1, 2", "not valid JSON"),
        ('{"rise": [1, "x"]}', "kernel 'rise' must be a list of numbers"),
        ("{}", "names no kernel"),
        ("[0, 0]", "all zeros"),
        ("[]", "empty"),
        ("a,b\n1,2\n3\n", "line 3: expected 2 fields"),
        ("value\n", "header but no values"),
    ],
)
def test_bad_kernel_files(tmp_path, content, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(MotifscanError, match=fragment) as error:
        read_kernel_file(str(path))
    assert str(path) in str(error.value)


def test_missing_kernel_file_and_option_conflicts(tmp_path):
    with pytest.raises(MotifscanError, match="no such kernel file"):
        read_kernel_file(str(tmp_path / "nope.txt"))
    with pytest.raises(MotifscanError, match="kernel is required"):
        collect_kernels()
    with pytest.raises(MotifscanError, match="--kernel-column needs --kernel-file"):
        collect_kernels(["1,2"], columns=["x"])


def test_check_kernel_rejects_non_flat():
    with pytest.raises(MotifscanError, match="flat"):
        check_kernel(np.ones((2, 2)), "k")


def test_named_kernels_from_options_and_files(tmp_path):
    assert parse_named_kernel("rise=1,2,3", "kernel") == Kernel("rise", ((1.0, 2.0, 3.0),))
    assert parse_named_kernel("-1,2", "kernel").name == "kernel"
    named = tmp_path / "shapes.json"
    named.write_text('{"rise": [1, 2, 3], "fall": [3, 2, 1]}')
    table = tmp_path / "pulse.csv"
    table.write_text("up,down\n1,3\n2,2\n3,1\n")
    kernels = collect_kernels(["1,2"], [str(named), str(table)])
    assert [k.name for k in kernels] == ["kernel1", "rise", "fall", "up", "down"]
    assert [k.name for k in collect_kernels(["5,6"])] == ["kernel"]
    assert [k.name for k in collect_kernels((), [str(table)], ["down"])] == ["down"]
    lone = tmp_path / "pulse_kernel.txt"
    lone.write_text("1\n2\n")
    assert [k.name for k in collect_kernels((), [str(lone)])] == ["pulse_kernel"]


def test_joint_kernel_from_a_file(tmp_path, sample_data):
    (walk,) = kernels_from_file(
        str(sample_data / "kernel_basicmotions_walking.csv"), joint=True, channels=["acc_x", "acc_z"]
    )
    assert walk.name == "kernel_basicmotions_walking" and walk.channels == ("acc_x", "acc_z")
    assert walk.array().shape == (2, 30) and walk.values[0][0] == pytest.approx(1.245053)
    headerless = tmp_path / "xyz.csv"
    headerless.write_text("1,2,0\n2,1,0\n")
    assert kernels_from_file(str(headerless), joint=True)[0].channels == ("column1", "column2", "column3")
    ragged = tmp_path / "ragged.json"
    ragged.write_text('{"x": [1, 2], "y": [1, 2, 3]}')
    with pytest.raises(MotifscanError, match="columns of one length"):
        kernels_from_file(str(ragged), joint=True)


def test_kernel_cut_from_a_recording(sample_data):
    log = sample_data / "sensor_log.csv"
    by_rows = kernel_from_recording(f"{log}:load_kn@300:308")
    by_time = kernel_from_recording(f"{log}:load_kn@time=2025-03-14T08:05:00:2025-03-14T08:05:08")
    assert by_rows.name == "load_kn@300:308" and by_rows.length == 8 and by_rows.values == by_time.values
    assert by_rows.origin == f"8 samples, rows 300-308 of {log}:load_kn"
    assert by_time.origin == (
        f"8 samples, rows 300-308 (time 2025-03-14T08:05:00 to 2025-03-14T08:05:07) of {log}:load_kn"
    )
    seconds = kernel_from_recording(f"walk={sample_data / 'basicmotions_interleaved_10hz.csv'}:acc_x@time=5:8")
    assert seconds.name == "walk" and seconds.length == 30  # time_s in [5, 8): 30 rows at 10 Hz
    joint = kernel_from_recording(
        f"{sample_data / 'basicmotions_interleaved_10hz.csv'}@time=5:8", joint=True, channels=["acc_x", "acc_y"]
    )
    assert joint.channels == ("acc_x", "acc_y") and joint.array().shape == (2, 30)


@pytest.mark.parametrize("time_name", ["t_s", "time_s", "sample"])
def test_a_range_is_rows_whatever_the_time_column_is_called(tmp_path, time_name):
    """Renaming the time column never turns rows into seconds (a 64 800-sample kernel)."""
    ecg = tmp_path / "ecg.csv"
    ecg.write_text(f"{time_name},ecg_mv\n" + "".join(f"{i / 360:.6f},{np.sin(i / 9):.4f}\n" for i in range(400)))
    kernel = kernel_from_recording(f"{ecg}:ecg_mv@60:240")
    assert kernel.length == 180 and kernel.origin == f"180 samples, rows 60-240 of {ecg}:ecg_mv"
    assert kernel.values[0][0] == pytest.approx(np.sin(60 / 9), abs=1e-4)
    if time_name == "sample":  # not a time name: --time-column declares it
        kernel = kernel_from_recording(f"{ecg}:ecg_mv@time=0.5:1", time_column="sample")
    else:
        kernel = kernel_from_recording(f"{ecg}:ecg_mv@time=0.5:1")
    assert kernel.length == 180 and kernel.origin.startswith("180 samples, rows 180-360")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("{ecg}:ecg_mv@0.5:1", "'0.5:1' are not rows START:END (whole numbers)"),
        ("{ecg}:ecg_mv@time=0.5:1", "has no time column for the range time=0.5:1"),
        ("{ecg}:ecg_mv@secs=1:2", "a range is START:END (rows) or time=START:END"),
    ],
)
def test_bad_kernel_from_ranges(tmp_path, spec, fragment):
    ecg = tmp_path / "ecg.csv"
    ecg.write_text("ecg_mv\n" + "".join(f"{np.sin(i / 9):.4f}\n" for i in range(400)))
    with pytest.raises(MotifscanError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        kernel_from_recording(spec.format(ecg=ecg))


def test_time_column_applies_to_the_kernel_file_when_it_has_that_column(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("clock,v\n" + "".join(f"{10 + i},{i % 7}\n" for i in range(50)))
    assert kernel_from_recording(f"{log}:v@time=20:25", time_column="clock").values[0] == (3, 4, 5, 6, 0)
    other = tmp_path / "other.csv"  # no column 'clock': its rows are still rows
    other.write_text("v\n" + "".join(f"{i % 7}\n" for i in range(50)))
    assert kernel_from_recording(f"{other}:v@10:15", time_column="clock").values[0] == (3, 4, 5, 6, 0)


# Fitted kernel files (motifscan fit) -------------------------------------------------------


FITTED = {
    "format": "motifscan-kernel",
    "version": 1,
    "values": [0.1, 2.0, 3.0],
    "p": 2.5,
    "threshold": 0.4,
    "normalize": "none",
    "metric": {"kind": "full", "values": [[1, 0, 0], [0, 1, 0.5]]},
    "training": {"positives": 5},
}


def fitted_with(**changes) -> dict:
    document = {**FITTED, **changes}
    return {key: value for key, value in document.items() if value is not ...}


#: (document or text, fragment of the one-line message): every way a fitted kernel file can be
#: malformed, each caught with a message naming what is wrong. Also used by test_cli.
MALFORMED_FITTED = [
    ('{"format": "motifscan-kernel", "version": 1,', "not valid JSON"),
    (fitted_with(format="other"), 'unknown kernel file format "other"'),
    (fitted_with(version=2), "version 2 is not supported"),
    (fitted_with(version=...), "version null is not supported"),
    (fitted_with(version=True), "version true is not supported"),
    (fitted_with(threshold=...), 'has no "threshold"'),
    (fitted_with(values=...), 'has no "values"'),
    (fitted_with(tresh=0.5), 'unknown key "tresh"'),
    (fitted_with(values="1,2,3"), '"values" must be a list of numbers'),
    (fitted_with(values=[1, "a", 3]), '"values" must be a list of numbers'),
    (fitted_with(values=[]), "the kernel is empty"),
    (fitted_with(values=[0, 0, 0]), "all zeros"),
    (fitted_with(p=0), '"p" must be greater than 0'),
    (fitted_with(p="9"), '"p" must be a finite number'),
    (fitted_with(p=True), '"p" must be a finite number'),
    (fitted_with(threshold=1.5), '"threshold" must lie in \\[0, 1\\]'),
    (
        '{"format": "motifscan-kernel", "version": 1, "values": [1, 2], "p": NaN, "threshold": 0.5, '
        '"normalize": "none", "metric": null, "training": {}}',
        '"p" must be a finite number, got NaN',
    ),
    (fitted_with(normalize="minmax"), '"normalize" must be one of none, center, zscore, got "minmax"'),
    (fitted_with(sign="both"), '"sign" must be one of any, positive, negative, got "both"'),
    (fitted_with(metric=[1, 2, 3]), '"metric" must be null or an object'),
    (fitted_with(metric={"kind": "circular", "values": [1, 2, 3]}), "metric kind must be one of"),
    (fitted_with(metric={"kind": "diagonal", "values": [1, 2]}), "diagonal metric: the metric must have 3 values"),
    (fitted_with(metric={"kind": "diagonal", "values": [[1, 2, 3]]}), "must be a list of numbers"),
    (fitted_with(metric={"kind": "full", "values": [1, 2, 3]}), "must be a list of rows of numbers"),
    (fitted_with(metric={"kind": "full", "values": [[1, 2, 3], [1, 2]]}), "rows of the full metric differ"),
    (fitted_with(metric={"kind": "full", "values": [[0, 0, 0]]}), "all zeros"),
    (fitted_with(metric={"kind": "diagonal", "values": [1, 0, 0]}, values=[0, 1, 1]), "maps the kernel to zero"),
    (fitted_with(training=[]), '"training" must be a JSON object'),
]


def write_document(path, document) -> str:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_fitted_kernel_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(1)
    kernel = FittedKernel(
        rng.standard_normal(5),
        3.7,
        0.123456789,
        "none",
        rng.standard_normal((5, 5)),
        {"positives": 5, "loss": [0.5, 0.01]},
    )
    path = tmp_path / "k.json"
    path.write_text(kernel.to_json())
    back = read_kernel(str(path))
    assert isinstance(back, FittedKernel)
    np.testing.assert_array_equal(back.values, kernel.values)
    np.testing.assert_array_equal(back.metric, kernel.metric)
    assert (back.p, back.threshold, back.normalize, back.training) == (3.7, 0.123456789, "none", kernel.training)
    np.testing.assert_array_equal(read_kernel_file(str(path)), kernel.values)
    document = json.loads(path.read_text())
    assert list(document)[:2] == ["format", "version"] and document["metric"]["kind"] == "full"
    diagonal = FittedKernel(np.ones(3), 1.0, 0.5, metric=np.array([1.0, 2.0, 3.0]))
    path.write_text(diagonal.to_json())
    assert read_kernel(str(path)).metric.shape == (3,)
    assert json.loads(FittedKernel(np.ones(3), 1.0, 0.5).to_json())["metric"] is None


def test_fitted_normalize_and_sign_round_trip_and_sign_may_be_absent(tmp_path):
    kernel = FittedKernel(np.array([1.0, 3.0, 2.0]), 2.0, 0.5, "center", np.array([1.0, 2.0, 1.0]), {}, "positive")
    path = tmp_path / "k.json"
    path.write_text(kernel.to_json())
    back = read_kernel(str(path))
    assert (back.normalize, back.sign) == ("center", "positive")
    # Files written before fitted kernels had a sign match either sign.
    assert read_kernel(write_document(tmp_path / "old.json", FITTED)).sign == "any"


def test_scan_metric_folds_the_centring_into_the_metric():
    rng = np.random.default_rng(2)
    values, windows = rng.standard_normal(6), rng.standard_normal((4, 6)) + 5.0
    for metric in (rng.uniform(0.5, 2, 6), rng.standard_normal((6, 6))):
        kernel = FittedKernel(values, 1.0, 0.5, "center", metric)
        folded = kernel.scan_metric()
        assert folded.shape == (6, 6)
        projected = project(windows - windows.mean(axis=1, keepdims=True), metric)
        np.testing.assert_allclose(windows @ folded.T, projected, atol=1e-12)
        assert FittedKernel(values, 1.0, 0.5, "none", metric).scan_metric() is metric


def test_a_plain_json_object_is_still_a_plain_kernel(tmp_path):
    path = write_document(tmp_path / "k.json", {"kernel": [1, 2, 3]})
    assert list(read_kernel(path)) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("document, fragment", MALFORMED_FITTED)
def test_malformed_fitted_kernel_files(tmp_path, document, fragment):
    path = write_document(tmp_path / "fitted.json", document)
    with pytest.raises(MotifscanError, match=fragment) as error:
        read_kernel(path)
    assert str(error.value).startswith(path) and "\n" not in str(error.value)


def test_kernel_column_does_not_apply_to_a_fitted_kernel(tmp_path):
    path = write_document(tmp_path / "fitted.json", FITTED)
    with pytest.raises(MotifscanError, match="--kernel-column does not apply"):
        read_kernel(path, "a")


def test_kernel_files_on_stdin_are_read_once(monkeypatch):
    # A kernel file is first tried as a fitted kernel file, then read in the plain forms:
    # both looks at "-" must see the same text, not an exhausted stream.
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n2\n3\n"))
    np.testing.assert_array_equal(read_kernel("-"), [1.0, 2.0, 3.0])
    fitted = FittedKernel(np.array([1.0, -2.0, 0.5]), 3.0, 0.4)
    monkeypatch.setattr(sys, "stdin", io.StringIO(fitted.to_json()))
    assert read_kernel("-").p == 3.0


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("# pulse kernel\n# cut by hand\n", "only comments"),
        ("[" * 100_000, "nests deeper than"),
        ('{"a": ' + "[" * 100_000, "nests deeper than"),
    ],
)
def test_hostile_kernel_files_give_one_line(tmp_path, content, fragment):
    path = tmp_path / "hostile.json"
    path.write_text(content)
    with pytest.raises(MotifscanError, match=fragment) as error:
        read_kernel(str(path))
    assert str(path) in str(error.value)


def test_a_kernel_file_larger_than_the_cap_is_refused(tmp_path, monkeypatch):
    from motifscan.io import kernels

    monkeypatch.setattr(kernels, "KERNEL_FILE_MAX_BYTES", 100)
    path = tmp_path / "big.txt"
    path.write_text("1\n" * 50)  # exactly 100 bytes: still a kernel
    assert read_kernel(str(path)).size == 50
    path.write_text("1\n" * 51)
    with pytest.raises(MotifscanError, match="larger than"):
        read_kernel(str(path))


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_kernel_file_exits_2_without_growing(device):
    # Read whole, /dev/zero fills the memory; the cap stops the read after 64 MiB.
    import subprocess
    import sys
    from pathlib import Path

    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    seed = Path(__file__).resolve().parents[1] / "sample_data" / "seed.csv"
    done = subprocess.run(
        [sys.executable, "-m", "motifscan", "detect", str(seed), "--kernel-file", device],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "larger than 64 MiB" in done.stderr and device in done.stderr


def test_joint_kernel_weights_from_json_and_a_csv_weights_row(tmp_path):
    from motifscan.io.kernels import kernels_from_file

    table = tmp_path / "k.csv"
    table.write_text("x,y,z\nweights,2,0.5,0\n1,0,3\n2,1,2\n")
    (kernel,) = kernels_from_file(str(table), joint=True)
    assert kernel.values == ((1.0, 2.0), (0.0, 1.0), (3.0, 2.0)) and kernel.weights == (2.0, 0.5, 0.0)
    # Picked columns keep their own weights.
    (kernel,) = kernels_from_file(str(table), ["z", "x"], joint=True)
    assert kernel.channels == ("z", "x") and kernel.weights == (0.0, 2.0)
    document = tmp_path / "k.json"
    document.write_text('{"x": [1, 2], "y": [0, 1], "weights": {"y": 3}}')
    (kernel,) = kernels_from_file(str(document), joint=True)
    assert kernel.weights == (1.0, 3.0)  # unnamed channels weigh 1
    document.write_text('{"x": [1, 2], "y": [0, 1], "weights": [0.5, 1]}')
    assert kernels_from_file(str(document), joint=True)[0].weights == (0.5, 1.0)
    for text, message in (
        ('{"x": [1, 2], "weights": {"q": 1}}', "names 'q', which is not a column"),
        ('{"x": [1, 2], "weights": {"x": "a"}}', "must be a number"),
        ('{"x": [1, 2], "weights": 3}', "must be an object"),
    ):
        document.write_text(text)
        with pytest.raises(MotifscanError, match=message):
            kernels_from_file(str(document), joint=True)
    table.write_text("x,y\nweights,1,1\nweights,1,2\n1,0\n")
    with pytest.raises(MotifscanError, match="line 3: a second weights row"):
        kernels_from_file(str(table), joint=True)
