"""Validation of the run options."""

import math
import re

import pytest

from fractions import Fraction

from motifscan.config import DEFAULT_THRESHOLD, DetectConfig
from motifscan.batch_config import BatchConfig
from motifscan.option_values import parse_min_gap
from motifscan.errors import MotifscanError


def test_defaults_and_span():
    config = DetectConfig(kernel=(1, 2, 3), dilation=2)
    assert config.p == 1.0 and config.threshold == DEFAULT_THRESHOLD
    # The default gap is half the span, rounded up: ceil(5 / 2) = 3.
    assert config.span == 5 and config.gap == 3
    assert config.parameters()["min_gap"] == "0.5span"
    assert DetectConfig(kernel=(1, 2, 3), min_gap=7).parameters()["min_gap"] == 7


@pytest.mark.parametrize(
    "text, span, step, samples",
    [
        ("0", 10, None, 0),
        ("12", 10, None, 12),
        (12, 10, None, 12),
        ("0.25span", 295, None, 74),  # ceil(73.75)
        ("0.25span", 8, None, 2),
        ("0.25span", 4, None, 2),  # at least 2: a gap of 1 suppresses nothing
        ("0.1span", 1, None, 1),  # (but not more than a span of 1)
        ("0span", 10, None, 0),
        ("0.3span", 10, None, 3),  # exactly 3 (0.3 * 10 in floats is 3.0000000000000004)
        ("1span", 30, None, 30),
        ("250ms", 10, 1 / 360, 90),  # 0.25 s at 360 Hz: exactly 90 samples, not 91
        ("0.3s", 10, 0.1, 3),
        ("0.35s", 10, 0.1, 4),  # rounded up to whole samples
        ("2min", 10, 1.0, 120),
        ("1h", 10, 60.0, 60),
        ("1d", 10, 3600.0, 24),
    ],
)
def test_min_gap_forms_in_samples(text, span, step, samples):
    assert parse_min_gap(text).samples_for(span, step) == samples


def test_min_gap_forms_are_told_apart():
    assert parse_min_gap("0.25span").span_fraction == Fraction(1, 4)
    assert parse_min_gap("250ms").seconds == 0.25 and parse_min_gap("250ms").is_time
    assert parse_min_gap(" 10 ").samples == 10 and not parse_min_gap("10").is_time


@pytest.mark.parametrize("value", ["2x", "-1", "span", "1.5", "ms", "", "1e999s", True, 1.5, -3])
def test_bad_min_gap_names_the_option(value):
    with pytest.raises(MotifscanError, match="^min_gap") as error:
        parse_min_gap(value)
    assert error.value.command_line_message().startswith("--min-gap")


def test_min_gap_time_is_refused_where_the_step_is_unknown():
    config = DetectConfig(kernel=(1, 2, 3), min_gap="2s")
    with pytest.raises(MotifscanError, match="--state and --dask"):
        BatchConfig(state="state.json").check_format("csv", config)
    with pytest.raises(MotifscanError, match="time column"):
        config.min_gap.samples_for(config.span)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"p": math.nan}, "--p must be a finite number greater than 0"),
        ({"p": 0}, "--p must be"),
        ({"p": -1}, "--p must be"),
        ({"p": math.inf}, "--p must be"),
        ({"threshold": -0.1}, "--threshold must be a finite number at least 0"),
        ({"threshold": 1.5}, "--threshold must be at most 1"),
        ({"threshold": math.nan}, "--threshold"),
        ({"dilation": 0}, "--dilation must be at least 1"),
        ({"dilation": 1.5}, "--dilation must be a whole number"),
        ({"min_gap": -1}, "--min-gap must be at least 0"),
        ({"top": 0}, "--top must be at least 1"),
        ({"sign": "up"}, "--sign must be one of any, positive, negative"),
        ({"backend": "gpu"}, "--backend"),
        ({"kernel": (0, 0)}, "all zeros"),
        ({"kernel": ()}, "empty"),
        ({"block_rows": 0}, "--block-rows"),
    ],
)
def test_bad_options_name_the_parameter_and_the_command_line_its_option(changes, fragment):
    options = {"kernel": (1, 2, 3)} | changes
    with pytest.raises(MotifscanError) as raised:
        DetectConfig(**options)
    # The library speaks of its parameters (min_gap), the command line of its options (--min-gap).
    python_fragment = fragment.replace("--min-gap", "min_gap").replace("--block-rows", "block_rows").replace("--", "")
    assert re.search(python_fragment, str(raised.value)) and "--" not in str(raised.value)
    assert re.search(fragment, raised.value.command_line_message())


def test_config_is_frozen():
    config = DetectConfig(kernel=(1, 2))
    with pytest.raises(AttributeError):
        config.p = 3


def test_method_is_checked_and_reported():
    assert DetectConfig(kernel=(1, 2)).parameters()["method"] == "cosine"
    assert DetectConfig(kernel=(1, 2), method="conv").method == "conv"
    with pytest.raises(MotifscanError, match="method must be one of cosine, conv"):
        DetectConfig(kernel=(1, 2), method="fft")


def test_learned_metric_is_checked_and_frozen():
    config = DetectConfig(kernel=(1, 2, 3), metric=[[1, 0, 0], [0, 1, 0]])
    assert config.metric == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)) and config.metric_kind == "full"
    assert DetectConfig(kernel=(1, 2, 3), metric=[1, 2, 3]).metric_kind == "diagonal"
    assert "metric" not in DetectConfig(kernel=(1, 2, 3)).parameters()
    with pytest.raises(MotifscanError, match="3 values"):
        DetectConfig(kernel=(1, 2, 3), metric=[1, 2])
    with pytest.raises(MotifscanError, match="scanned on the CPU"):
        DetectConfig(kernel=(1, 2, 3), metric=[1, 2, 3], device="gpu")
    with pytest.raises(MotifscanError, match="^backend fft: a learned metric is scanned with numpy or numba"):
        DetectConfig(kernel=(1, 2, 3), metric=[1, 2, 3], backend="fft")
