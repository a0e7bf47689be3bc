"""Kernel parsing from the command line and from files."""

import json

import numpy as np
import pytest

from motifscan.errors import MotifscanError
from motifscan.io.kernels import check_kernel, kernel_from_text_or_file, parse_kernel, read_kernel_file


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
        ("[1, \"a\"]", "list of numbers"),
        ("[1, 2", "not valid JSON"),
        ('{"values": [1]}', "\"kernel\" list"),
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
    with pytest.raises(MotifscanError, match="either --kernel or --kernel-file"):
        kernel_from_text_or_file("1,2", "k.txt")
    with pytest.raises(MotifscanError, match="kernel is required"):
        kernel_from_text_or_file(None, None)
    with pytest.raises(MotifscanError, match="--kernel-column needs --kernel-file"):
        kernel_from_text_or_file("1,2", None, "x")


def test_check_kernel_rejects_non_flat():
    with pytest.raises(MotifscanError, match="flat"):
        check_kernel(np.ones((2, 2)), "k")
