"""Validation of the run options."""

import math
import re

import pytest

from motifscan.config import DEFAULT_THRESHOLD, DetectConfig
from motifscan.errors import MotifscanError


def test_defaults_and_span():
    config = DetectConfig(kernel=(1, 2, 3), dilation=2)
    assert config.p == 1.0 and config.threshold == DEFAULT_THRESHOLD
    assert config.span == 5 and config.gap == 5
    assert config.parameters()["min_gap"] == 5


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
